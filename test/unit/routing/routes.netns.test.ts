/**
 * RouteManager against the real kernel, inside network namespaces this test creates:
 *
 *   NS  (bgr<pid>)  lo; v0 192.0.2.1/24, default via 192.0.2.254; TUNs bgt0, bgt1 (no reader:
 *                   whatever is routed into them is counted as tx dropped)
 *   WAN (bgw<pid>)  v1 192.0.2.254/24 and .253; on lo the remote endpoint 203.0.113.5 and an
 *                   unselected destination 198.51.100.200
 *
 * The manager runs with `ip -n NS ...`. Needs root and iproute2; without them it fails, never skips.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.js';
import { createIpRunner, IpError, type IpRunner } from '../../../src/routing/ip.js';
import { RouteApplyError, RouteManager, type TunnelRouting } from '../../../src/routing/routes.js';

const NS = `bgr${process.pid}`;
const WAN = `bgw${process.pid}`;
const REMOTE = '203.0.113.5';

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
const nsIp = (...args: string[]): string => ip('-n', NS, ...args);

function teardown(): void {
  for (const n of [NS, WAN]) spawnSync('ip', ['netns', 'del', n], { stdio: 'ignore' });
}

function requirements(): void {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root (CAP_NET_ADMIN/CAP_SYS_ADMIN) to create network namespaces: run the tests as root');
  if (spawnSync('ip', ['-V'], { stdio: 'ignore' }).status !== 0) missing.push('iproute2 (`ip` on PATH): apt-get install iproute2');
  if (!existsSync('/dev/net/tun')) missing.push('/dev/net/tun (TUN support) for the tunnel interfaces');
  if (spawnSync('ping', ['-V'], { stdio: 'ignore' }).error) missing.push('ping (iputils-ping) to send test packets');
  if (missing.length > 0) throw new Error(`routes.netns.test cannot run; missing: ${missing.join('; ')}`);
}

function build(): void {
  teardown();
  ip('netns', 'add', NS);
  ip('netns', 'add', WAN);
  nsIp('link', 'set', 'lo', 'up');
  nsIp('link', 'add', 'v0', 'type', 'veth', 'peer', 'name', 'v1', 'netns', WAN);
  nsIp('addr', 'add', '192.0.2.1/24', 'dev', 'v0');
  nsIp('link', 'set', 'v0', 'up');
  ip('-n', WAN, 'link', 'set', 'lo', 'up');
  ip('-n', WAN, 'addr', 'add', '192.0.2.254/24', 'dev', 'v1');
  ip('-n', WAN, 'addr', 'add', '192.0.2.253/24', 'dev', 'v1');
  ip('-n', WAN, 'link', 'set', 'v1', 'up');
  ip('-n', WAN, 'addr', 'add', `${REMOTE}/32`, 'dev', 'lo');
  ip('-n', WAN, 'addr', 'add', '198.51.100.200/32', 'dev', 'lo');
  nsIp('route', 'add', 'default', 'via', '192.0.2.254');
  tun('bgt0');
  tun('bgt1');
}

function tun(name: string): void {
  nsIp('tuntap', 'add', 'dev', name, 'mode', 'tun');
  nsIp('link', 'set', name, 'up');
}

/** `ip route get` inside NS: where a packet to addr would go, or the kernel's refusal. */
function get(addr: string): { dev?: string; gateway?: string; error?: string } {
  const r = spawnSync('ip', ['-n', NS, '-json', 'route', 'get', addr], { encoding: 'utf8' });
  if (r.status !== 0) return { error: r.stderr.trim() };
  const [route] = JSON.parse(r.stdout) as { dev?: string; gateway?: string }[];
  return { dev: route?.dev, gateway: route?.gateway };
}
const UNDERLAY = { dev: 'v0', gateway: '192.0.2.254' };

/** Our routes as the kernel has them, as `ip route` prints them. */
function ours(): string[] {
  return nsIp('route', 'show', 'table', 'main', 'proto', '249').trim().split('\n').filter((l) => l !== '').map((l) => l.trim());
}

function ping(addr: string): boolean {
  return spawnSync('ip', ['netns', 'exec', NS, 'ping', '-c', '1', '-W', '1', '-n', '-q', addr], { stdio: 'ignore' }).status === 0;
}

function txDropped(dev: string): number {
  const [l] = JSON.parse(nsIp('-s', '-json', 'link', 'show', dev)) as { stats64: { tx: { dropped: number; packets: number } } }[];
  return (l?.stats64.tx.dropped ?? 0) + (l?.stats64.tx.packets ?? 0);
}

/** Wraps the real runner and records every command, to check order and that re-applying changes nothing. */
function recording(inner: IpRunner): IpRunner & { log: string[]; mutations(): string[] } {
  const log: string[] = [];
  return {
    log,
    mutations: () => log.filter((c) => / route (replace|del) /.test(` ${c} `)),
    run: (args) => {
      log.push(args.join(' '));
      return inner.run(args);
    },
  };
}

const T1: TunnelRouting = { name: 't1', interface: 'bgt0', routes: ['198.51.100.0/25', '100.64.0.0/10'], remote: REMOTE, failMode: 'open', pinUnderlay: true };

describe('RouteManager in a network namespace (real kernel)', () => {
  let rec: ReturnType<typeof recording>;
  let mgr: RouteManager;

  // A missing requirement must fail every test (vitest reports tests after a failed beforeAll as
  // skipped), so the error is kept and rethrown per test.
  let unusable: unknown;
  beforeAll(() => {
    try {
      requirements();
      build();
    } catch (err) {
      unusable = err;
      teardown();
    }
  });
  afterAll(() => teardown());
  beforeEach(async () => {
    if (unusable !== undefined) throw unusable;
    await new RouteManager({ runner: createIpRunner({ netns: NS }) }).cleanup();
    rec = recording(createIpRunner({ netns: NS }));
    mgr = new RouteManager({ runner: rec });
  });

  it('selected prefixes go into the tunnel; unselected ones and the endpoint leave by the underlay', async () => {
    const res = await mgr.setTunnel(T1, 'up');
    expect(res.problems).toEqual([]);
    expect(get('198.51.100.9')).toEqual({ dev: 'bgt0' });
    expect(get('100.64.200.1')).toEqual({ dev: 'bgt0' });
    expect(get('198.51.100.200')).toEqual(UNDERLAY);
    expect(get(REMOTE)).toEqual(UNDERLAY);
    expect(mgr.installed('t1')).toEqual(['198.51.100.0/25', '100.64.0.0/10']);
    // Real packets: the unselected destination answers through the underlay, the tunnel sees nothing.
    const before = txDropped('bgt0');
    expect(ping('198.51.100.200')).toBe(true);
    expect(txDropped('bgt0')).toBe(before);
    expect(ping('198.51.100.9')).toBe(false);
    expect(txDropped('bgt0')).toBeGreaterThan(before);
  });

  it('full tunnel: 0.0.0.0/0 as two halves, default route untouched, the endpoint still reachable through the pin', async () => {
    await mgr.setTunnel({ ...T1, routes: ['0.0.0.0/0'] }, 'up');
    expect(ours()).toEqual(['0.0.0.0/1 dev bgt0 scope link linkdown', '128.0.0.0/1 dev bgt0 scope link linkdown', `${REMOTE} via 192.0.2.254 dev v0`]);
    expect(nsIp('route', 'show', 'exact', '0.0.0.0/0').trim()).toBe('default via 192.0.2.254 dev v0');
    expect(get('198.51.100.200')).toEqual({ dev: 'bgt0' });
    expect(get(REMOTE)).toEqual(UNDERLAY);
    expect(ping(REMOTE)).toBe(true); // IKE/ESP to the endpoint would still flow: the tunnel can stay up
    expect(ping('198.51.100.200')).toBe(false);
    // The pin is installed before anything that could capture the endpoint.
    const m = rec.mutations();
    expect(m[0]).toMatch(new RegExp(`route replace ${REMOTE}/32 via 192.0.2.254 dev v0 proto 249`));
  });

  it('full tunnel without the pin captures the endpoint (why pinUnderlay exists)', async () => {
    const res = await mgr.setTunnel({ ...T1, routes: ['0.0.0.0/0'], pinUnderlay: false }, 'up');
    expect(res.problems.join('\n')).toMatch(/pinUnderlay is false/);
    expect(get(REMOTE)).toEqual({ dev: 'bgt0' });
    expect(ping(REMOTE)).toBe(false);
  });

  it('failMode closed blackholes the prefixes while down, swaps to the tunnel in place when up', async () => {
    const closed = { ...T1, failMode: 'closed' as const };
    await mgr.setTunnel(closed, 'down');
    expect(get('198.51.100.9').error).toMatch(/Invalid argument/);
    expect(ours()).toEqual(['blackhole 100.64.0.0/10', 'blackhole 198.51.100.0/25', `${REMOTE} via 192.0.2.254 dev v0`]);
    expect(get(REMOTE)).toEqual(UNDERLAY);
    expect(mgr.installed('t1')).toEqual([]);
    rec.log.length = 0;
    await mgr.setTunnel(closed, 'up');
    expect(rec.mutations().every((c) => c.includes('route replace'))).toBe(true); // no del: no window to leak
    expect(get('198.51.100.9')).toEqual({ dev: 'bgt0' });
  });

  it('failMode open withdraws the prefixes while down; the pin stays', async () => {
    await mgr.setTunnel(T1, 'up');
    const res = await mgr.setTunnel(T1, 'down');
    expect(res.removed.sort()).toEqual(['100.64.0.0/10 dev bgt0', '198.51.100.0/25 dev bgt0']);
    expect(get('198.51.100.9')).toEqual(UNDERLAY);
    expect(ours()).toEqual([`${REMOTE} via 192.0.2.254 dev v0`]);
  });

  it('re-applying the same state changes nothing', async () => {
    await mgr.setTunnel({ ...T1, routes: ['0.0.0.0/0', '198.51.100.0/25'] }, 'up');
    const before = ours();
    rec.log.length = 0;
    const res = await mgr.setTunnel({ ...T1, routes: ['0.0.0.0/0', '198.51.100.0/25'] }, 'up');
    expect(res).toEqual({ added: [], removed: [], problems: [] });
    expect(rec.mutations()).toEqual([]);
    expect(ours()).toEqual(before);
  });

  it('never overwrites a route it did not install (connected subnet, an admin static route)', async () => {
    nsIp('route', 'add', '100.64.0.0/10', 'via', '192.0.2.253');
    const lines: string[] = [];
    const log = createLogger({ level: 'info', stream: { write: (s: string) => void lines.push(s) } });
    mgr = new RouteManager({ runner: rec, log });
    const conflicting = { ...T1, routes: ['192.0.2.0/24', '100.64.0.0/10', '198.51.100.0/25'] };
    const res = await mgr.setTunnel(conflicting, 'up');
    await mgr.setTunnel(conflicting, 'up');
    const warned = lines.map((l) => JSON.parse(l) as { level: string; problem?: string }).filter((l) => l.level === 'warn');
    expect(warned.map((w) => w.problem)).toEqual(res.problems); // each problem logged once, not on every apply
    expect(res.problems.join('\n')).toMatch(/192\.0\.2\.0\/24 dev bgt0 not installed: the kernel already has `192\.0\.2\.0\/24 dev v0 proto kernel`/);
    expect(res.problems.join('\n')).toMatch(/100\.64\.0\.0\/10 dev bgt0 not installed/);
    expect(mgr.installed('t1')).toEqual(['198.51.100.0/25']);
    await mgr.cleanup();
    expect(nsIp('route', 'show', 'exact', '192.0.2.0/24')).toMatch(/dev v0 proto kernel/);
    expect(nsIp('route', 'show', 'exact', '100.64.0.0/10').trim()).toBe('100.64.0.0/10 via 192.0.2.253 dev v0');
    nsIp('route', 'del', '100.64.0.0/10');
  });

  it('re-resolves the pin when the underlay gateway changes, even under a full tunnel', async () => {
    const full = { ...T1, routes: ['0.0.0.0/0'] };
    await mgr.setTunnel(full, 'up');
    nsIp('route', 'replace', 'default', 'via', '192.0.2.253');
    try {
      rec.log.length = 0;
      await mgr.setTunnel(full, 'down');
      expect(get(REMOTE)).toEqual({ dev: 'v0', gateway: '192.0.2.253' });
      expect(rec.mutations().filter((c) => c.includes(REMOTE))).toEqual([`route replace ${REMOTE}/32 via 192.0.2.253 dev v0 proto 249 table main`]);
      // The kernel's own answer was our old pin (fibmatch: proto 249), so table main was searched without our routes.
      expect(rec.log).toContain(`-json route get fibmatch ${REMOTE}`);
      expect(rec.log).toContain('-json route show table main');
    } finally {
      nsIp('route', 'replace', 'default', 'via', '192.0.2.254');
    }
  });

  it('a vanished TUN: clear error naming the device, pin kept; routes return with the device', async () => {
    await mgr.setTunnel(T1, 'up');
    nsIp('tuntap', 'del', 'dev', 'bgt0', 'mode', 'tun'); // the kernel flushes routes through it
    try {
      const err = await mgr.setTunnel(T1, 'up').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(RouteApplyError);
      expect((err as Error).message).toMatch(/`ip -n bgr\d+ route replace 198\.51\.100\.0\/25 dev bgt0 proto 249 table main` failed: Cannot find device "bgt0" — interface bgt0 does not exist/);
      expect(ours()).toEqual([`${REMOTE} via 192.0.2.254 dev v0`]);
    } finally {
      tun('bgt0');
    }
    await mgr.setTunnel(T1, 'up');
    expect(get('198.51.100.9')).toEqual({ dev: 'bgt0' });
  });

  it('two tunnels: a backup that is up takes a prefix from a failed-closed primary', async () => {
    const t2: TunnelRouting = { ...T1, name: 't2', interface: 'bgt1', remote: '203.0.113.6', routes: ['198.51.100.0/25'] };
    await mgr.setTunnel({ ...T1, failMode: 'closed' }, 'down');
    await mgr.setTunnel(t2, 'up');
    expect(get('198.51.100.9')).toEqual({ dev: 'bgt1' });
    expect(get('100.64.0.1').error).toMatch(/Invalid argument/);
    expect(mgr.installed('t2')).toEqual(['198.51.100.0/25']);
    await mgr.removeTunnel('t2');
    expect(get('198.51.100.9').error).toMatch(/Invalid argument/);
    expect(ours()).not.toContain('203.0.113.6 via 192.0.2.254 dev v0');
  });

  it('removeTunnel deletes the pin last; cleanup leaves no route with our proto (also from an earlier run)', async () => {
    await mgr.setTunnel({ ...T1, routes: ['0.0.0.0/0'] }, 'up');
    rec.log.length = 0;
    await mgr.removeTunnel('t1');
    const m = rec.mutations();
    expect(m).toHaveLength(3);
    expect(m[2]).toContain(`route del ${REMOTE}/32 proto 249`);
    nsIp('route', 'add', '100.64.9.0/24', 'dev', 'bgt1', 'proto', '249'); // left by a crashed run
    await mgr.setTunnel({ ...T1, failMode: 'closed' }, 'down');
    await mgr.cleanup();
    expect(ours()).toEqual([]);
    expect(mgr.entries('t1')).toEqual([]);
    expect(nsIp('route', 'show', 'exact', '0.0.0.0/0').trim()).toBe('default via 192.0.2.254 dev v0');
  });

  it('ip errors quote the command and stderr and say what to fix (missing netns, missing ip, timeout)', async () => {
    const noNs = createIpRunner({ netns: `${NS}-absent` });
    await expect(noNs.run(['route', 'show'])).rejects.toThrow(/`ip -n bgr\d+-absent route show` failed: Cannot open network namespace .* — the network namespace does not exist/);
    const noIp = createIpRunner({ ipPath: '/nonexistent/ip' });
    await expect(noIp.run(['route', 'show'])).rejects.toThrow(/not found: install iproute2/);
    const slow = createIpRunner({ ipPath: 'sleep', timeoutMs: 100 });
    const err = await slow.run(['5']).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IpError);
    expect((err as Error).message).toMatch(/did not finish within 100 ms/);
  });
});
