/**
 * Traffic through branchgate's ESP datapath against strongSwan 5.9.8
 * (kernel-libipsec) in the four-namespace lab (lab/topology.ts):
 *   branch 100.64.10.2 → cpe (branchgate, TUN bg0) → underlay → gw (strongSwan, IKE 198.51.100.2)
 *   → svc 100.64.20.2; "internet" 203.0.113.10 on gw's lo is never selected.
 * (a) branchgate initiator, routes [100.64.20.0/24]: ping both ways, iperf3 10 s TCP both ways,
 *     branchgate's status --json and strongSwan's child counters grow by at least the payload.
 * (c) same tunnel: 203.0.113.10 leaves cpe by wan0 (nft counters), never by bg0.
 * (b) branchgate responder (initiate: false; strongSwan initiates): the same traffic.
 * (d) full tunnel, routes [0.0.0.0/0], pinUnderlay, failMode closed: the endpoint is only reachable
 *     via 192.0.2.254, i.e. inside 128.0.0.0/1, so only the /32 pin keeps IKE/ESP out of the TUN.
 * One topology and one charon for the file; each role starts a fresh daemon.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { Branchgate, childSum, requireBuild, type BgStatusTunnel, type BgTunnelConfig } from './lab/branchgate.js';
import { Charon, type SwanChildSa, type SwanConn } from './lab/strongswan.js';
import { ADDR, createTopology, dumpRouting, IF, routeGet, waitRouteDev, type Topology } from './lab/topology.js';
import { expectPing, iperf3, linkStats, mbit, NftCounters, ping, requireTrafficTools } from './lab/traffic.js';
import { waitFor } from './lab/netns.js';

const IKE = 'aes256gcm16-prfsha256-ecp256';
const ESP = 'aes256gcm16';
const PSK = 'datapath-psk-8d2a71';
const TUNNEL = 'gw';
const CONN = 'branch';
const TUN = 'bg0';
const ANY = '0.0.0.0/0';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Mode {
  initiator: boolean;
  full?: boolean;
}

describe('branchgate ESP datapath ↔ strongSwan (kernel-libipsec)', () => {
  let topo: Topology | undefined;
  let gw: Charon | undefined;
  let bg: Branchgate | undefined;
  let nft: NftCounters | undefined;

  beforeAll(async () => {
    requireTrafficTools();
    requireBuild();
    topo = await createTopology({ tag: 'd' });
    gw = await Charon.start(topo.gw, { tag: 'dgw' });
    nft = await NftCounters.install(topo.cpe, {
      espOut: ['oifname', IF.wan, 'udp', 'dport', '4500'],
      clearToSvc: ['oifname', IF.wan, 'ip', 'daddr', ADDR.svcPrefix],
      internetViaWan: ['oifname', IF.wan, 'ip', 'daddr', ADDR.internet],
      internetViaTun: ['oifname', TUN, 'ip', 'daddr', ADDR.internet],
    });
  });

  afterAll(async () => {
    await bg?.stop().catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    await topo?.destroy();
  });

  const lab = (): { t: Topology; sw: Charon; counters: NftCounters } => {
    if (!topo || !gw || !nft) throw new Error('lab setup failed (see beforeAll error)');
    const t = topo;
    onTestFailed(async () => {
      const st = await bg?.cli(['status', '--json'], true).catch((e: Error) => ({ stdout: e.message }));
      console.error([bg?.logs(60) ?? '(branchgate not running)', `--- branchgate status --json ---\n${st?.stdout ?? ''}`,
        gw?.logSince(0, 60), await dumpRouting(t.cpe, 'cpe'), await dumpRouting(t.gw, 'gw')].join('\n'));
    });
    return { t, sw: gw, counters: nft };
  };

  /** Stops any previous daemon and SAs, loads the strongSwan side, starts branchgate, waits for both. */
  async function bringUp(t: Topology, sw: Charon, m: Mode): Promise<Branchgate> {
    await bg?.stop().catch(() => undefined);
    bg = undefined;
    await sw.terminateAll();
    const conn: SwanConn = {
      name: CONN, localAddrs: ADDR.gwIke, remoteAddrs: ADDR.cpeWan, localId: ADDR.gwIke, remoteId: ADDR.cpeWan, psk: PSK,
      proposals: [IKE], espProposals: [ESP], localTs: [m.full ? ANY : ADDR.svcPrefix], remoteTs: [ADDR.lanPrefix],
    };
    sw.writeConns([conn]);
    await sw.loadAll();
    const tunnel: BgTunnelConfig = {
      name: TUNNEL, localAddress: ADDR.cpeWan, remoteAddress: ADDR.gwIke, psk: PSK, ike: [IKE], esp: [ESP],
      initiate: m.initiator, dpd: 0, localTs: [ADDR.lanPrefix], remoteTs: [m.full ? ANY : ADDR.svcPrefix],
      interface: TUN, mtu: 1380, mssClamp: 1340, routes: [m.full ? ANY : ADDR.svcPrefix],
    };
    const routing = { failMode: m.full ? 'closed' : 'open', pinUnderlay: true };
    const d = await Branchgate.start(t.cpe, [tunnel], { tag: m.full ? 'dfull' : m.initiator ? 'dinit' : 'dresp', logLevel: 'info', extra: { routing } });
    bg = d;
    if (!m.initiator) await sw.initiate('net', CONN, 20);
    await Promise.all([d.waitEstablished(TUNNEL, 20_000), sw.waitEstablished(CONN, 20_000)]);
    await waitRouteDev(t.cpe, ADDR.svc, TUN);
    return d;
  }

  interface Snap { bg: BgStatusTunnel | undefined; sw: SwanChildSa | undefined; nft: Record<string, { packets: number }> }
  async function snap(d: Branchgate, sw: Charon, counters: NftCounters): Promise<Snap> {
    const sa = (await sw.listSas()).find((s) => s.name === CONN);
    return { bg: await d.status(TUNNEL), sw: sa?.children.find((c) => c.state === 'INSTALLED'), nft: await counters.readAll(['espOut', 'clearToSvc', 'internetViaWan', 'internetViaTun']) };
  }
  const fmt = (s: Snap): string =>
    `branchgate ${JSON.stringify(s.bg?.children.map((c) => ({ spiIn: c.spiIn, pIn: c.packetsIn, pOut: c.packetsOut, bIn: c.bytesIn, bOut: c.bytesOut })))}; ` +
    `strongSwan pkts in/out ${s.sw?.packetsIn}/${s.sw?.packetsOut}; nft ${JSON.stringify(s.nft)}`;

  /** Ping both ways, then iperf3 10 s each way; every counter must account for what crossed. */
  async function trafficBothWays(label: string, t: Topology, sw: Charon, counters: NftCounters, d: Branchgate): Promise<void> {
    const s0 = await snap(d, sw, counters);
    const ctx = async (what: string): Promise<string> => `${label}: ${what}; counters before: ${fmt(s0)}; now: ${fmt(await snap(d, sw, counters))}`;
    for (const [from, to, what] of [[t.branch, ADDR.svc, 'branch → svc'], [t.svc, ADDR.branch, 'svc → branch']] as const) {
      const p = await ping(from, to, 3);
      if (p.received !== 3) throw new Error(`${await ctx(`ping ${what} through the tunnel got ${p.received}/3 replies`)}\n${p.output}`);
    }
    const fwd = await iperf3(t.branch, t.svc, ADDR.svc, { seconds: 10 }).catch(async (e: Error) => {
      throw new Error(`${await ctx('iperf3 branch → svc')}\n${e.message}`);
    });
    const rev = await iperf3(t.branch, t.svc, ADDR.svc, { seconds: 10, reverse: true }).catch(async (e: Error) => {
      throw new Error(`${await ctx('iperf3 svc → branch (-R)')}\n${e.message}`);
    });
    console.log(`[datapath] ${label}: iperf3 TCP 10 s branch→svc ${mbit(fwd.bitsPerSecond)} Mbit/s (retr ${fwd.retransmits ?? '?'}), ` +
      `svc→branch ${mbit(rev.bitsPerSecond)} Mbit/s`);
    expect(fwd.bitsPerSecond, 'branch → svc throughput').toBeGreaterThan(0);
    expect(rev.bitsPerSecond, 'svc → branch throughput').toBeGreaterThan(0);

    const s1 = await snap(d, sw, counters);
    const delta = (k: 'packetsIn' | 'packetsOut' | 'bytesIn' | 'bytesOut'): number => childSum(s1.bg, k) - childSum(s0.bg, k);
    const why = `before: ${fmt(s0)}\nafter: ${fmt(s1)}`;
    // 3 echo requests + 3 echo replies each way, plus every TCP payload byte that arrived
    expect(delta('packetsOut'), `branchgate packetsOut delta\n${why}`).toBeGreaterThanOrEqual(6);
    expect(delta('packetsIn'), `branchgate packetsIn delta\n${why}`).toBeGreaterThanOrEqual(6);
    expect(delta('bytesOut'), `branchgate bytesOut delta ≥ iperf3 branch→svc payload ${fwd.bytes}\n${why}`).toBeGreaterThanOrEqual(fwd.bytes);
    expect(delta('bytesIn'), `branchgate bytesIn delta ≥ iperf3 svc→branch payload ${rev.bytes}\n${why}`).toBeGreaterThanOrEqual(rev.bytes);
    // strongSwan's child (replaced only by a rekey, which these lifetimes never trigger)
    expect(s1.sw?.spiIn, `strongSwan child unchanged\n${why}`).toBe(s0.sw?.spiIn);
    expect((s1.sw?.bytesIn ?? 0) - (s0.sw?.bytesIn ?? 0), `strongSwan bytes-in delta\n${why}`).toBeGreaterThanOrEqual(fwd.bytes);
    expect((s1.sw?.bytesOut ?? 0) - (s0.sw?.bytesOut ?? 0), `strongSwan bytes-out delta\n${why}`).toBeGreaterThanOrEqual(rev.bytes);
    // on the wire: ESP-in-UDP 4500 out of wan0, and nothing for svc in the clear
    expect((s1.nft.espOut?.packets ?? 0) - (s0.nft.espOut?.packets ?? 0), `UDP 4500 packets out of wan0\n${why}`).toBeGreaterThanOrEqual(6);
    expect((s1.nft.clearToSvc?.packets ?? 0) - (s0.nft.clearToSvc?.packets ?? 0), `cleartext packets to ${ADDR.svcPrefix} out of wan0\n${why}`).toBe(0);
  }

  it('(a) branchgate initiator, routes [100.64.20.0/24]: ping and iperf3 10 s both ways through the tunnel', async () => {
    const { t, sw, counters } = lab();
    const d = await bringUp(t, sw, { initiator: true });
    await trafficBothWays('branchgate initiator', t, sw, counters, d);
  }, 70_000);

  it('(c) a prefix that is not selected leaves by the normal route, not through the tunnel', async () => {
    const { t, sw, counters } = lab();
    const d = bg ?? (await bringUp(t, sw, { initiator: true }));
    expect((await routeGet(t.cpe, ADDR.svc)).dev, 'selected prefix goes into the TUN').toBe(TUN);
    const r = await routeGet(t.cpe, ADDR.internet);
    expect(r.dev, `cpe: ip route get ${ADDR.internet} → ${r.raw}`).toBe(IF.wan);
    const s0 = await snap(d, sw, counters);
    const wan0 = await linkStats(t.cpe, IF.wan);
    const p = await ping(t.branch, ADDR.internet, 5);
    expect(p.received, `branch → ${ADDR.internet} over the underlay\n${p.output}`).toBe(5);
    const s1 = await snap(d, sw, counters);
    const why = `before: ${fmt(s0)}\nafter: ${fmt(s1)}`;
    const n = (s: Snap, k: string): number => s.nft[k]?.packets ?? 0;
    expect(n(s1, 'internetViaTun') - n(s0, 'internetViaTun'), `packets to ${ADDR.internet} routed into ${TUN}\n${why}`).toBe(0);
    expect(n(s1, 'internetViaWan') - n(s0, 'internetViaWan'), `packets to ${ADDR.internet} out of wan0\n${why}`).toBeGreaterThanOrEqual(5);
    expect((await linkStats(t.cpe, IF.wan)).txPackets - wan0.txPackets, 'wan0 tx packets').toBeGreaterThanOrEqual(5);
    expect(childSum(s1.bg, 'packetsOut') - childSum(s0.bg, 'packetsOut'), `tunnel packetsOut while pinging ${ADDR.internet}\n${why}`).toBeLessThan(5);
  }, 40_000);

  it('(b) branchgate responder (strongSwan initiates): ping and iperf3 10 s both ways through the tunnel', async () => {
    const { t, sw, counters } = lab();
    const d = await bringUp(t, sw, { initiator: false });
    const sa = await sw.waitEstablished(CONN);
    expect(sa.initiator, 'strongSwan is the initiator').toBe(true);
    await trafficBothWays('branchgate responder', t, sw, counters, d);
  }, 70_000);

  it('(d) full tunnel (routes [0.0.0.0/0], pinUnderlay): stays up 10 s and through traffic, down/up re-establishes', async () => {
    const { t, sw, counters } = lab();
    const d = await bringUp(t, sw, { initiator: true, full: true });
    const upAt = Date.now();
    const first = await d.tunnel(TUNNEL);
    // everything from the LAN goes into the TUN, except the outer packets to the endpoint (the /32 pin)
    const pin = await routeGet(t.cpe, ADDR.gwIke);
    expect([pin.dev, pin.via], `cpe: ip route get ${ADDR.gwIke} → ${pin.raw} (the underlay pin)`).toEqual([IF.wan, ADDR.router]);
    await waitRouteDev(t.cpe, ADDR.internet, TUN);
    await expectPing(t.branch, ADDR.svc, 3, 'full tunnel: branch → svc');
    const s0 = await snap(d, sw, counters);
    await expectPing(t.branch, ADDR.internet, 3, `full tunnel: branch → ${ADDR.internet} (gw answers from its lo, through the tunnel)`);
    const s1 = await snap(d, sw, counters);
    expect((s1.nft.internetViaTun?.packets ?? 0) - (s0.nft.internetViaTun?.packets ?? 0), `full tunnel: ${ADDR.internet} into ${TUN}\n${fmt(s1)}`).toBeGreaterThanOrEqual(3);
    expect((s1.nft.internetViaWan?.packets ?? 0) - (s0.nft.internetViaWan?.packets ?? 0), 'full tunnel: nothing to the internet in the clear').toBe(0);

    await sleep(Math.max(0, 10_000 - (Date.now() - upAt)));
    const later = await d.status(TUNNEL);
    const sa = (await sw.listSas()).find((s) => s.name === CONN);
    expect(later?.state, `full tunnel still established after 10 s: ${JSON.stringify(later)}`).toBe('established');
    expect(sa?.state, 'strongSwan IKE SA after 10 s').toBe('ESTABLISHED');
    expect((await d.tunnel(TUNNEL))?.ike?.spiI, 'same IKE SA (not re-established behind our back)').toBe(first?.ike?.spiI);
    await expectPing(t.branch, ADDR.svc, 3, 'full tunnel after 10 s');

    // down: failMode closed blackholes the full tunnel (no leak to wan0); up: IKE must get out via the pin
    await d.down(TUNNEL);
    await waitFor('strongSwan to see the IKE SA deleted', async () => ((await sw.listSas()).length === 0 ? true : undefined), 10_000);
    const s2 = await snap(d, sw, counters);
    const leak = await ping(t.branch, ADDR.internet, 2);
    const s3 = await snap(d, sw, counters);
    expect(leak.received, `failMode closed: no reply while down\n${leak.output}`).toBe(0);
    expect((s3.nft.internetViaWan?.packets ?? 0) - (s2.nft.internetViaWan?.packets ?? 0), 'failMode closed: nothing leaked to wan0 while down').toBe(0);
    await d.up(TUNNEL);
    const again = await d.waitEstablished(TUNNEL, 20_000);
    await sw.waitEstablished(CONN, 10_000);
    expect(again.ike?.spiI, 'a new IKE SA after down/up').not.toBe(first?.ike?.spiI);
    await waitRouteDev(t.cpe, ADDR.svc, TUN);
    await expectPing(t.branch, ADDR.svc, 3, 'full tunnel after down/up');
  }, 60_000);
});
