/**
 * Proves the four-namespace datapath lab (lab/topology.ts) with strongSwan on BOTH ends:
 * a strongSwan "cpe" (kernel-libipsec) instead of branchgate, and the strongSwan endpoint in gw.
 * branch 100.64.10.2 → cpe → underlay → gw (IKE 198.51.100.2) → svc 100.64.20.2.
 *
 * Also the userspace-IPsec reference point for the benchmarks: the iperf3 rates of
 * libipsec ↔ libipsec on this machine are printed as one line (`[reference] …`).
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { Charon, type SwanConn } from './lab/strongswan.js';
import { ADDR, createTopology, dumpRouting, IF, routeGet, type Topology } from './lab/topology.js';
import { expectPing, iperf3, linkStats, mbit, ping, requireTrafficTools } from './lab/traffic.js';

const IKE = 'aes256gcm16-prfsha256-ecp256';
const ESP = 'aes256gcm16';
const PSK = 'topology-psk-4f1e9c';

describe('datapath lab: strongSwan cpe ↔ strongSwan gw (reference)', () => {
  let topo: Topology | undefined;
  let cpe: Charon | undefined;
  let gw: Charon | undefined;

  beforeAll(async () => {
    requireTrafficTools();
    topo = await createTopology({ tag: 'r' });
    [cpe, gw] = await Promise.all([Charon.start(topo.cpe, { tag: 'rcpe' }), Charon.start(topo.gw, { tag: 'rgw' })]);
  });

  afterAll(async () => {
    await Promise.allSettled([cpe?.stop(), gw?.stop()]);
    await topo?.destroy();
  });

  it('ping both ways and iperf3 both ways cross the libipsec tunnel; unselected traffic stays on the underlay', async () => {
    if (!topo || !cpe || !gw) throw new Error('lab setup failed (see beforeAll error)');
    const t = topo;
    onTestFailed(async () => {
      console.error([cpe?.logSince(0, 80), gw?.logSince(0, 80), await dumpRouting(t.cpe, 'cpe'), await dumpRouting(t.gw, 'gw')].join('\n'));
    });
    const common = { psk: PSK, proposals: [IKE], espProposals: [ESP] };
    cpe.writeConns([{
      ...common, name: 'lab', localAddrs: ADDR.cpeWan, remoteAddrs: ADDR.gwIke, localId: ADDR.cpeWan, remoteId: ADDR.gwIke,
      localTs: [ADDR.lanPrefix], remoteTs: [ADDR.svcPrefix],
    } satisfies SwanConn]);
    gw.writeConns([{
      ...common, name: 'lab', localAddrs: ADDR.gwIke, remoteAddrs: ADDR.cpeWan, localId: ADDR.gwIke, remoteId: ADDR.cpeWan,
      localTs: [ADDR.svcPrefix], remoteTs: [ADDR.lanPrefix],
    } satisfies SwanConn]);
    await Promise.all([cpe.loadAll(), gw.loadAll()]);
    await cpe.initiate('net', 'lab');
    await Promise.all([cpe.waitEstablished('lab'), gw.waitEstablished('lab')]);

    // libipsec steers the remote selectors into ipsec0 through table 220
    expect((await routeGet(t.cpe, ADDR.svc)).dev, 'cpe route to svc').toBe('ipsec0');
    expect((await routeGet(t.gw, ADDR.branch)).dev, 'gw route to branch').toBe('ipsec0');

    await expectPing(t.branch, ADDR.svc, 3, 'branch → svc through the tunnel');
    await expectPing(t.svc, ADDR.branch, 3, 'svc → branch through the tunnel');

    const fwd = await iperf3(t.branch, t.svc, ADDR.svc, { seconds: 5 });
    const rev = await iperf3(t.branch, t.svc, ADDR.svc, { seconds: 5, reverse: true });
    console.log(`[reference] strongSwan↔strongSwan libipsec, ${ESP}, iperf3 TCP 5 s: branch→svc ${mbit(fwd.bitsPerSecond)} Mbit/s ` +
      `(retr ${fwd.retransmits ?? '?'}), svc→branch ${mbit(rev.bitsPerSecond)} Mbit/s`);
    expect(fwd.bitsPerSecond).toBeGreaterThan(0);
    expect(rev.bitsPerSecond).toBeGreaterThan(0);

    const child = (await cpe.listSas()).find((s) => s.name === 'lab')?.children[0];
    expect(child?.packetsOut, 'strongSwan cpe child packets-out').toBeGreaterThan(1000);
    expect(child?.packetsIn, 'strongSwan cpe child packets-in').toBeGreaterThan(1000);

    // 203.0.113.10 is not selected: it leaves by the normal route (wan0), not into ipsec0
    expect((await routeGet(t.cpe, ADDR.internet)).dev).toBe(IF.wan);
    const [before, wanBefore] = [(await cpe.listSas())[0]?.children[0]?.packetsOut ?? 0, await linkStats(t.cpe, IF.wan)];
    const p = await ping(t.branch, ADDR.internet, 5);
    expect(p.received, p.output).toBe(5);
    const after = (await cpe.listSas())[0]?.children[0]?.packetsOut ?? 0;
    expect(after - before, 'tunnel packets-out while pinging the internet address').toBeLessThan(5);
    expect((await linkStats(t.cpe, IF.wan)).txPackets - wanBefore.txPackets).toBeGreaterThanOrEqual(5);
  }, 60_000);
});
