/**
 * sd_notify: what the Notifier sends and when (in-memory transport, fake timers), and the native
 * sender delivering datagrams to a real unix datagram socket, by path and abstract ('@').
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Notifier, nativeTransport, notifierFromEnv, statusSummary, watchdogIntervalMs } from '../../../src/systemd/notify.js';
import type { StatusDocument, TunnelDoc } from '../../../src/control/status.js';
import { NotifySocket } from '../../helpers/notify-socket.js';

const t = (name: string, state: TunnelDoc['state']): TunnelDoc =>
  ({ name, state, local: null, remote: null, natDetected: false, ike: null, children: [], routes: [] });
const doc = (tunnels: TunnelDoc[], bgp?: string[]): StatusDocument => ({ version: '0', nativeFastPath: true, tunnels,
  ...(bgp ? { bgp: { neighbors: bgp.map((state, i) => ({ address: `192.0.2.${i + 1}`, state, received: 0, advertised: 0 })) } } : {}) });

afterEach(() => vi.useRealTimers());

describe('Notifier', () => {
  it('STATUS says tunnels and BGP sessions up out of configured', () => {
    expect(statusSummary(doc([t('a', 'established'), t('b', 'rekeying')], ['Established', 'Established']))).toBe('2/2 tunnels established, BGP 2/2');
    expect(statusSummary(doc([t('a', 'connecting'), t('b', 'established')]))).toBe('1/2 tunnels established');
  });

  it('READY=1 with STATUS first, STATUS only on change, WATCHDOG=1 every half WATCHDOG_USEC, STOPPING=1 ends both', () => {
    vi.useFakeTimers();
    const sent: string[] = [];
    let d = doc([t('a', 'connecting')]);
    const n = new Notifier({ transport: { send: (m) => sent.push(m) }, status: () => d, watchdogMs: watchdogIntervalMs({ WATCHDOG_USEC: '3000000' }, 1), statusEveryMs: 1000 });
    n.ready();
    expect(sent).toEqual(['READY=1\nSTATUS=0/1 tunnels established']);
    vi.advanceTimersByTime(1000);
    expect(sent.length).toBe(1); // unchanged: no STATUS
    d = doc([t('a', 'established')]);
    vi.advanceTimersByTime(1000);
    expect(sent.filter((m) => m.startsWith('STATUS='))).toEqual(['STATUS=1/1 tunnels established']);
    vi.advanceTimersByTime(1000); // 3 s since READY: the first watchdog ping (1.5 s) and the second (3 s)
    expect(sent.filter((m) => m === 'WATCHDOG=1').length).toBe(2);
    n.stopping();
    expect(sent.at(-1)).toBe('STOPPING=1\nSTATUS=stopping');
    const before = sent.length;
    vi.advanceTimersByTime(10_000);
    expect(sent.length).toBe(before);
  });

  it('a failing transport is reported once, never thrown', () => {
    vi.useFakeTimers();
    const errors: unknown[] = [];
    const n = new Notifier({ transport: { send: () => { throw new Error('ECONNREFUSED'); } }, status: () => doc([]), watchdogMs: 10, onError: (e) => errors.push(e) });
    n.ready();
    vi.advanceTimersByTime(100);
    expect(errors.length).toBe(1);
    n.stopping();
  });

  it('watchdog only for this process (WATCHDOG_PID) and a positive WATCHDOG_USEC', () => {
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '20000000' }, 42)).toBe(10_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '20000000', WATCHDOG_PID: '42' }, 42)).toBe(10_000);
    expect(watchdogIntervalMs({ WATCHDOG_USEC: '20000000', WATCHDOG_PID: '7' }, 42)).toBeNull();
    expect(watchdogIntervalMs({ WATCHDOG_USEC: 'x' }, 42)).toBeNull();
    expect(watchdogIntervalMs({}, 42)).toBeNull();
  });

  it('without NOTIFY_SOCKET nothing is set up; with it the variables are taken out of the environment', () => {
    expect(notifierFromEnv({}, () => doc([]), () => undefined)).toBeNull();
    const env: NodeJS.ProcessEnv = { NOTIFY_SOCKET: '@bg-unit-none', WATCHDOG_USEC: '1000000', WATCHDOG_PID: String(process.pid), KEEP: '1' };
    expect(notifierFromEnv(env, () => doc([]), () => undefined)).not.toBeNull();
    expect(env).toEqual({ KEEP: '1' });
  });
});

describe('native sdNotify', () => {
  let dir = '';
  const sockets: NotifySocket[] = [];
  afterEach(() => {
    for (const s of sockets.splice(0)) s.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('sends to a filesystem socket and to an abstract one (@name)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'bg-notify-'));
    for (const path of [join(dir, 'notify.sock'), `@bg-notify-unit-${process.pid}`]) {
      const s = await NotifySocket.bind(path);
      sockets.push(s);
      const tr = nativeTransport(path);
      expect(tr, 'native addon built (npm run build:native)').not.toBeNull();
      tr!.send('READY=1\nSTATUS=test');
      for (let i = 0; i < 100 && s.messages.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(s.assignments()).toEqual(['READY=1', 'STATUS=test']);
    }
  });

  it('a socket nobody listens on is an error with the errno', () => {
    const tr = nativeTransport(join(tmpdir(), `bg-notify-none-${process.pid}.sock`))!;
    expect(() => tr.send('READY=1')).toThrow(/sendto: No such file or directory/);
    expect(() => nativeTransport('relative')!.send('READY=1')).toThrow(/absolute or start with @/);
  });
});
