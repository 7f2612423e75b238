/**
 * BGP over a REAL tunnel. The branchgate daemon (dist/, `branchgate run`
 * with a bgp: section) in the CPE namespace, strongSwan 5.9.8 (kernel-libipsec, GSA's Default
 * crypto table) in the endpoint namespace, and BIRD there playing GSA's BGP speaker
 * (src/bgp/gsa-peer.ts: ASN 65476, the 25 Microsoft 365 ranges + the lab's service prefix):
 *
 *   branch 100.64.10.2 ─ cpe (branchgate, bg0; BGP 100.64.0.1 on lo) ─ underlay ─ gw (charon + BIRD;
 *   BGP 100.64.0.2 on lo; IKE 198.51.100.2) ─ svc 100.64.20.2; "internet" 203.0.113.10 on gw's lo
 *
 * - the endpoint's traffic selectors are GSA-like on its own side (local_ts 0.0.0.0/0) but name
 *   only the branch LAN and the CPE's BGP address as remote_ts: with remote_ts 0.0.0.0/0
 *   kernel-libipsec would install a default route into ipsec0 in table 220 that captures its
 *   own LAN. branchgate proposes 0.0.0.0/0 both ways (GSA's setup) and accepts the narrowing.
 * - nothing is configured as a static route on the CPE (tunnel routes: []): every route into
 *   bg0 comes from BGP.
 * - packets go only to lab addresses; Microsoft prefixes are only looked up (`ip route get`).
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { M365_PREFIXES, renderGsaPeerConfig } from '../../src/bgp/gsa-peer.js';
import { GSA_DEFAULT_PHASE1, GSA_DEFAULT_PHASE2 } from '../../src/config/profiles.js';
import { Branchgate, childSum, requireBuild, type BgTunnelConfig } from './lab/branchgate.js';
import { Charon, type SwanConn } from './lab/strongswan.js';
import { ADDR, createTopology, dumpRouting, IF, routeGet, waitRouteDev, type Topology } from './lab/topology.js';
import { iperf3, mbit, NftCounters, ping, requireTrafficTools } from './lab/traffic.js';
import { addAddress, exec, makeTempDir, run, trackProcess, waitFor } from './lab/netns.js';
import { one, scrape } from './lab/metrics-scrape.js';

const BIRD = ['/usr/sbin/bird', '/usr/bin/bird'].find((p) => existsSync(p));
const PSK = 'gsa-bgp-lab-psk-5c1e';
const TUNNEL = 'gsa';
const CONN = 'cpe';
const TUN = 'bg0';
const CPE_BGP = '100.64.0.1';
const GSA_BGP = '100.64.0.2';
const CPE_ASN = 65010;
/** The exporter on the CPE namespace's own loopback. */
const METRICS = '127.0.0.1:9477';
const ANNOUNCED = [...M365_PREFIXES, ADDR.svcPrefix];

interface KRoute { dst: string; gateway?: string; dev?: string; protocol?: string }
interface StatusDoc { bgp?: { neighbors: { address: string; state: string; received?: number; advertised?: number }[] } }

const norm = (d: string): string => (d.includes('/') ? d : `${d}/32`);
const birdRoutes = async (ns: string): Promise<KRoute[]> =>
  JSON.parse((await exec(ns, ['ip', '-j', 'route', 'show', 'proto', 'bird'])).stdout || '[]') as KRoute[];

describe('GSA remote network: BGP over a real IKEv2 tunnel (branchgate ↔ strongSwan + BIRD)', () => {
  let topo: Topology | undefined;
  let gw: Charon | undefined;
  let bg: Branchgate | undefined;
  let nft: NftCounters | undefined;
  let dir = '';

  beforeAll(async () => {
    if (!BIRD) throw new Error('bird is not installed: apt-get install -y bird2 (interop tests never skip)');
    requireTrafficTools();
    requireBuild();
    topo = await createTopology({ tag: 'g' });
    dir = makeTempDir('gsabgp');
    await addAddress(topo.gw, 'lo', `${GSA_BGP}/32`);
    gw = await Charon.start(topo.gw, { tag: 'ggw' });
    const conn: SwanConn = {
      name: CONN, localAddrs: ADDR.gwIke, remoteAddrs: ADDR.cpeWan, localId: ADDR.gwIke, remoteId: ADDR.cpeWan, psk: PSK,
      proposals: GSA_DEFAULT_PHASE1.map((r) => r.proposal), espProposals: GSA_DEFAULT_PHASE2.map((r) => r.proposal),
      localTs: ['0.0.0.0/0'], remoteTs: [ADDR.lanPrefix, `${CPE_BGP}/32`],
      extra: { dpd_delay: '5s' },
    };
    gw.writeConns([conn]);
    await gw.loadAll();
    const peerConf = join(dir, 'gsa-bird.conf');
    writeFileSync(peerConf, renderGsaPeerConfig({ address: GSA_BGP, cpeAddress: CPE_BGP, cpeAsn: CPE_ASN, interface: 'ipsec0', extra: [ADDR.svcPrefix] }));
    trackProcess(spawn('ip', ['netns', 'exec', topo.gw, BIRD, '-f', '-c', peerConf, '-s', join(dir, 'gsa.ctl')], { stdio: 'ignore' }));
    nft = await NftCounters.install(topo.cpe, {
      espOut: ['oifname', IF.wan, 'udp', 'dport', '4500'],
      clearToSvc: ['oifname', IF.wan, 'ip', 'daddr', ADDR.svcPrefix],
      internetViaWan: ['oifname', IF.wan, 'ip', 'daddr', ADDR.internet],
      internetViaTun: ['oifname', TUN, 'ip', 'daddr', ADDR.internet],
    });
    const tunnel: BgTunnelConfig = {
      name: TUNNEL, localAddress: ADDR.cpeWan, remoteAddress: ADDR.gwIke, psk: PSK, profile: 'gsa-default',
      dpd: '10s', interface: TUN, mtu: 1380, mssClamp: 1340, routes: [],
    };
    bg = await Branchgate.start(topo.cpe, [tunnel], {
      tag: 'gcpe', logLevel: 'info',
      extra: {
        routing: { failMode: 'open', pinUnderlay: true },
        control: { metrics: METRICS },
        bgp: { asn: CPE_ASN, address: CPE_BGP, advertise: [ADDR.lanPrefix], holdTime: 9, neighbors: [{ address: GSA_BGP, asn: 65476, tunnel: TUNNEL }] },
      },
    });
  }, 60_000);

  afterAll(async () => {
    await bg?.stop().catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    await topo?.destroy();
  });

  const lab = () => {
    if (!topo || !gw || !bg || !nft) throw new Error('lab setup failed (see beforeAll error)');
    const t = topo;
    const d = bg;
    onTestFailed(async () => {
      const st = await d.cli(['status', '--json'], true).catch((e: Error) => ({ stdout: e.message }));
      const peer = await run(['birdc', '-s', join(dir, 'gsa.ctl'), 'show', 'protocols', 'all', 'cpe'], { allowFail: true });
      console.error([d.logs(80), `--- status --json ---\n${st.stdout}`, `--- gw birdc ---\n${peer.stdout}${peer.stderr}`,
        gw?.logSince(0, 60), await dumpRouting(t.cpe, 'cpe'), await dumpRouting(t.gw, 'gw')].join('\n'));
    });
    return { t, d, sw: gw, counters: nft };
  };

  const neighbor = async (d: Branchgate) => {
    const doc = JSON.parse((await d.cli(['status', '--json'])).stdout) as StatusDoc;
    return doc.bgp?.neighbors.find((n) => n.address === GSA_BGP);
  };
  const waitBgp = (d: Branchgate, timeoutMs: number) => waitFor('BGP Established with every announced prefix (status --json)', async () => {
    const n = await neighbor(d);
    return n?.state === 'Established' && n.received === ANNOUNCED.length ? n : undefined;
  }, timeoutMs, 250);

  it('the tunnel comes up with GSA\'s Default crypto and BGP reaches Established over it', async () => {
    const { d, sw } = lab();
    const t0 = Date.now();
    await Promise.all([d.waitEstablished(TUNNEL, 20_000), sw.waitEstablished(CONN, 20_000)]);
    const tunnelMs = Date.now() - t0;
    const n = await waitBgp(d, 30_000);
    console.log(`[gsa-bgp] tunnel established after ${tunnelMs} ms, BGP Established after ${Date.now() - t0} ms; ` +
      `received ${n.received}, advertised ${n.advertised}`);
    expect(n.advertised, 'the branch prefix is advertised').toBe(1);
    const sa = await sw.waitEstablished(CONN);
    expect(sa.encrAlg, 'GSA Default C1 (the first row) wins').toBe('AES_GCM_16');
    expect(sa.dhGroup).toBe('MODP_2048_256');
  }, 60_000);

  it('the announced prefixes are kernel routes via the TUN (nothing configured statically)', async () => {
    const { t } = lab();
    const routes = await waitFor('every announced prefix in the kernel', async () => {
      const r = await birdRoutes(t.cpe);
      return ANNOUNCED.every((p) => r.some((x) => norm(x.dst) === p)) ? r : undefined;
    }, 15_000);
    // On a point-to-point TUN the kernel keeps no gateway: the route is "dev bg0" (BIRD shows the next hop).
    for (const p of ANNOUNCED) expect(routes.find((r) => norm(r.dst) === p), p).toMatchObject({ dev: TUN });
    const cpeBird = await run(['birdc', '-s', join(bg!.dir, 'control.bird.ctl'), 'show', 'route', 'protocol', `bgp_${GSA_BGP.replace(/\./g, '_')}`]);
    const learned = cpeBird.stdout.match(/^\d+\.\d+\.\d+\.\d+\/\d+/gm) ?? [];
    expect([...learned].sort(), 'BIRD on the CPE learned exactly what the endpoint announced').toEqual([...ANNOUNCED].sort());
    // The next hop is GSA's BGP address, resolved recursively through the /32 on the TUN.
    expect(cpeBird.stdout).toMatch(new RegExp(`from ${GSA_BGP.replace(/\./g, '\\.')}\\].*\\n\\s+dev ${TUN}`));
    expect(routes.find((r) => r.dst === GSA_BGP), 'the /32 to GSA\'s BGP address through the tunnel').toMatchObject({ dev: TUN });
    // A route lookup only: no packet is ever sent to a Microsoft address.
    expect((await routeGet(t.cpe, '13.107.6.153')).dev).toBe(TUN);
    expect((await routeGet(t.cpe, '40.96.1.1')).dev).toBe(TUN);
    expect((await routeGet(t.cpe, ADDR.internet)).dev, 'unannounced destinations keep the default route').toBe(IF.wan);
  }, 30_000);

  it('traffic to an announced prefix goes through the tunnel; other traffic takes the default route', async () => {
    const { t, d, sw, counters } = lab();
    await waitRouteDev(t.cpe, ADDR.svc, TUN);
    const names = ['espOut', 'clearToSvc', 'internetViaWan', 'internetViaTun'];
    const n0 = await counters.readAll(names);
    const b0 = await d.status(TUNNEL);
    const s0 = (await sw.listSas()).find((s) => s.name === CONN)?.children[0];
    const p = await ping(t.branch, ADDR.svc, 5);
    expect(p.received, `branch → service host through the tunnel\n${p.output}`).toBe(5);
    const perf = await iperf3(t.branch, t.svc, ADDR.svc, { seconds: 3 });
    console.log(`[gsa-bgp] iperf3 branch → svc over the BGP-learned route: ${mbit(perf.bitsPerSecond)} Mbit/s`);
    const q = await ping(t.branch, ADDR.internet, 5);
    expect(q.received, `branch → ${ADDR.internet} over the underlay\n${q.output}`).toBe(5);
    const n1 = await counters.readAll(names);
    const b1 = await d.status(TUNNEL);
    const s1 = (await sw.listSas()).find((s) => s.name === CONN)?.children[0];
    const dn = (k: string): number => (n1[k]?.packets ?? 0) - (n0[k]?.packets ?? 0);
    const why = `nft before ${JSON.stringify(n0)} after ${JSON.stringify(n1)}`;
    expect(dn('espOut'), `ESP-in-UDP out of wan0\n${why}`).toBeGreaterThanOrEqual(5);
    expect(dn('clearToSvc'), `service traffic in the clear on wan0\n${why}`).toBe(0);
    expect(dn('internetViaTun'), `${ADDR.internet} into the tunnel\n${why}`).toBe(0);
    expect(dn('internetViaWan'), `${ADDR.internet} out of wan0\n${why}`).toBeGreaterThanOrEqual(5);
    expect(childSum(b1, 'bytesOut') - childSum(b0, 'bytesOut'), 'branchgate ESP bytes out ≥ iperf3 payload').toBeGreaterThanOrEqual(perf.bytes);
    expect((s1?.bytesIn ?? 0) - (s0?.bytesIn ?? 0), 'strongSwan ESP bytes in ≥ iperf3 payload').toBeGreaterThanOrEqual(perf.bytes);
  }, 60_000);

  it('the branch prefix is learned on the endpoint side', async () => {
    const { t } = lab();
    const r = await waitFor('the branch LAN in the endpoint\'s kernel', async () => (await birdRoutes(t.gw)).find((x) => x.dst === ADDR.lanPrefix), 15_000);
    expect(r).toMatchObject({ dev: 'ipsec0' });
    const show = await run(['birdc', '-s', join(dir, 'gsa.ctl'), 'show', 'route', 'protocol', 'cpe']);
    expect(show.stdout).toMatch(new RegExp(`${ADDR.lanPrefix.replace(/\./g, '\\.')} .*from ${CPE_BGP.replace(/\./g, '\\.')}\\].*\\n\\s+dev ipsec0`));
    expect(show.stdout.match(/^\d+\.\d+\.\d+\.\d+\/\d+/gm) ?? [], 'only the branch prefix is learned from the CPE').toEqual([ADDR.lanPrefix]);
    // and the endpoint reaches the branch through the tunnel
    const p = await ping(t.svc, ADDR.branch, 3);
    expect(p.received, p.output).toBe(3);
  }, 30_000);

  it('/metrics: the BGP session state and route counts match status', async () => {
    const { t, d } = lab();
    const n = await waitBgp(d, 15_000);
    const m = await scrape(t.cpe, METRICS);
    const who = { neighbor: GSA_BGP };
    expect(one(m, 'branchgate_bgp_session_state', { ...who, state: 'Established' })).toBe(1);
    expect(one(m, 'branchgate_bgp_session_state', { ...who, state: 'Idle' })).toBe(0);
    expect(one(m, 'branchgate_bgp_routes_received', who)).toBe(n.received);
    expect(one(m, 'branchgate_bgp_routes_advertised', who)).toBe(n.advertised);
    expect(n.advertised).toBe(1);
  }, 30_000);

  it('failMode open: tunnel down withdraws the BGP routes at once (traffic falls back to the default route); up brings them back', async () => {
    const { t, d } = lab();
    await d.down(TUNNEL);
    const gone = await waitFor('BGP routes withdrawn', async () => ((await birdRoutes(t.cpe)).some((r) => r.gateway === GSA_BGP) ? undefined : true), 5_000, 100);
    expect(gone).toBe(true);
    expect((await routeGet(t.cpe, '13.107.6.153')).dev, 'Microsoft prefixes fall back to the default route').toBe(IF.wan);
    // the service host is also reachable over the underlay (masqueraded), so the branch keeps working
    const p = await ping(t.branch, ADDR.svc, 3);
    expect(p.received, `fail open: branch → svc over the underlay\n${p.output}`).toBe(3);
    await d.up(TUNNEL);
    await d.waitEstablished(TUNNEL, 20_000);
    const n = await waitBgp(d, 30_000);
    expect(n.state).toBe('Established');
    await waitRouteDev(t.cpe, ADDR.svc, TUN);
  }, 70_000);
});
