/**
 * `branchgate run` under a systemd-like supervisor: the test binds a real NOTIFY_SOCKET (unix
 * datagram) and sets WATCHDOG_USEC as systemd does for Type=notify + WatchdogSec=. The daemon,
 * tunnelled to strongSwan in a namespace, must send READY=1 with its first STATUS= only after
 * setup, then STATUS= as the tunnel comes up, WATCHDOG=1 at half the interval, STOPPING=1 on
 * SIGTERM. A bad config exits 2 (RestartPreventExitStatus=2) and never says READY.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { BIN, Branchgate, requireBuild } from './lab/branchgate.js';
import { siteConn, siteTunnel } from './lab/site.js';
import { Charon } from './lab/strongswan.js';
import { createTopology, type Topology } from './lab/topology.js';
import { makeTempDir, removeTempDir, requirePrereqs, run, waitFor } from './lab/netns.js';
import { NotifySocket } from '../helpers/notify-socket.js';

const PSK = 'systemd-notify-psk-4be1d07a93';
const WATCHDOG_USEC = 400_000; // pings every 200 ms

describe('sd_notify from a live daemon', () => {
  let topo: Topology | undefined;
  let gw: Charon | undefined;
  let dir = '';
  const sockets: NotifySocket[] = [];

  beforeAll(async () => {
    requirePrereqs();
    requireBuild();
    dir = makeTempDir('ntfy');
    topo = await createTopology({ tag: 'n' });
    gw = await Charon.start(topo.gw, { tag: 'ngw' });
    gw.writeConns([siteConn('branch', PSK)]);
    await gw.loadAll();
  }, 60_000);

  afterAll(async () => {
    for (const s of sockets) s.close();
    await gw?.stop().catch(() => undefined);
    await topo?.destroy();
    if (dir) removeTempDir(dir);
  });

  it('READY=1 after setup with STATUS=, STATUS= when the tunnel is up, WATCHDOG=1 every 200 ms, STOPPING=1', async () => {
    if (!topo) throw new Error('lab setup failed (see beforeAll error)');
    const ns = await NotifySocket.bind(join(dir, 'notify.sock'));
    sockets.push(ns);
    const started = Date.now();
    const bg = await Branchgate.start(topo.cpe, [siteTunnel('branch', PSK)], { tag: 'notify', logLevel: 'info',
      env: { NOTIFY_SOCKET: ns.path, WATCHDOG_USEC: String(WATCHDOG_USEC) } });
    onTestFailed(() => console.error(bg.logs(40), ns.assignments()));
    try {
      await bg.waitEstablished('branch');
      await waitFor('STATUS=1/1 tunnels established', async () => (ns.assignments().includes('STATUS=1/1 tunnels established') ? true : undefined), 5000, 50);
      await new Promise((r) => setTimeout(r, 1200));
      const a = ns.assignments();
      // READY is the first thing systemd hears, with the status at that moment.
      expect(a[0]).toBe('READY=1');
      expect(a[1]).toMatch(/^STATUS=[01]\/1 tunnels established$/);
      const up = a.indexOf('STATUS=1/1 tunnels established');
      expect(up).toBeGreaterThan(0);
      // Watchdog pings only after READY, about every 200 ms for as long as it ran.
      const pings = ns.messages.filter((m) => m.text === 'WATCHDOG=1');
      expect(a.indexOf('WATCHDOG=1')).toBeGreaterThan(0);
      const span = (pings.at(-1)!.at - pings[0]!.at) / 1000;
      console.log(`sd_notify: READY ${ns.messages[0]!.at - started} ms after launch; ${pings.length} WATCHDOG=1 in ${span.toFixed(2)} s`);
      expect(pings.length).toBeGreaterThanOrEqual(Math.floor(span / 0.2) - 1);
      expect(pings.length).toBeLessThanOrEqual(Math.ceil(span / 0.2) + 2);
    } finally {
      await bg.stop();
    }
    expect(ns.assignments().slice(-2)).toEqual(['STOPPING=1', 'STATUS=stopping']);
  }, 60_000);

  it('a bad config exits 2 and never sends READY=1', async () => {
    const ns = await NotifySocket.bind(join(dir, 'notify-bad.sock'));
    sockets.push(ns);
    const cfg = join(dir, 'bad.yaml');
    writeFileSync(cfg, 'tunnels:\n  - name: t\n    remoteAddress: 198.51.100.300\n    psk: "not-a-real-key-but-long-enough"\n');
    const r = await run([process.execPath, BIN, 'run', '--config', cfg], { allowFail: true, timeoutMs: 20_000,
      env: { ...process.env, NOTIFY_SOCKET: ns.path, WATCHDOG_USEC: String(WATCHDOG_USEC) } });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\.yaml:3:\d+: tunnels\.0\.remoteAddress/);
    await new Promise((r2) => setTimeout(r2, 300));
    expect(ns.messages).toEqual([]);
  }, 30_000);
});
