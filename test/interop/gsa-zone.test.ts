/**
 * A zone-redundant pair (docs/gsa-reference.md §5). One branchgate CPE,
 * two tunnels to two strongSwan endpoints with two PSKs, two BGP sessions from one CPE BGP
 * address (100.64.0.1) to two GSA BGP speakers (100.64.0.2, 100.64.0.3), active/standby
 * (multipath off: the first neighbor's routes win), then active/active (ECMP). With iperf3 (and a 20 Hz ping) running, the
 * active endpoint's charon and BIRD are SIGKILLed; DPD (dpd: 1s) declares it dead, daemon-bgp
 * disables that neighbor, and BIRD moves the routes to the other tunnel.
 *
 *   branch ─ cpe (bg0 → gw1, bg1 → gw2) ─ wan ─┬─ gw1 (charon + BIRD) ─┬─ svc 100.64.20.10
 *                                               └─ gw2 (charon + BIRD) ─┘
 *                                                  gw1 ══ backbone ══ gw2
 *
 * The GSA side of the emulation: both endpoints reach the service host; the service host
 * answers through gw1, and each endpoint that has lost its tunnel forwards the branch's traffic
 * over a "backbone" link to the other (GSA's own network does this for real). Only the CPE's
 * failover is under test.
 *
 * Lab addresses only; Microsoft 365 prefixes exist only as routes.
 */
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { M365_PREFIXES, renderGsaPeerConfig } from '../../src/bgp/gsa-peer.js';
import { GSA_DEFAULT_PHASE1, GSA_DEFAULT_PHASE2 } from '../../src/config/profiles.js';
import { Branchgate, childSum, requireBuild, type BgTunnelConfig } from './lab/branchgate.js';
import { Charon } from './lab/strongswan.js';
import { routeGet } from './lab/topology.js';
import { iperf3, mbit, requireTrafficTools } from './lab/traffic.js';
import {
  addAddress, addVeth, createNamespace, deleteNamespace, exec, makeTempDir, run, sweepStale, trackProcess, uniqueName, waitFor,
} from './lab/netns.js';

const BIRD = ['/usr/sbin/bird', '/usr/bin/bird'].find((p) => existsSync(p));
const LAN = '100.64.10.0/24';
const BRANCH = '100.64.10.2';
const SVC = '100.64.20.10';
const SVC_PREFIX = '100.64.20.0/24';
const CPE_WAN = '192.0.2.1';
const CPE_BGP = '100.64.0.1';
const ANNOUNCED = [...M365_PREFIXES, SVC_PREFIX];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Zone { i: number; name: string; ns: string; ike: string; router: string; bgp: string; psk: string; tun: string; svcLink: string; svcSide: string; charon?: Charon }

describe('GSA zone redundancy: two tunnels, two BGP sessions, failover on DPD', () => {
  const made: string[] = [];
  let branch = '';
  let cpe = '';
  let wan = '';
  let svc = '';
  let dir = '';
  let bg: Branchgate | undefined;
  const zones: Zone[] = [1, 2].map((i) => ({
    i, name: `gsa${i}`, ns: '', ike: `198.51.100.${(i - 1) * 8 + 2}`, router: `198.51.100.${(i - 1) * 8 + 1}`,
    bgp: `100.64.0.${i + 1}`, psk: `zone-${i}-psk-${i === 1 ? '7a1c' : '93fe'}`, tun: `bg${i - 1}`,
    svcLink: `100.64.3${i}.1`, svcSide: `100.64.3${i}.2`,
  }));

  const ns = async (tag: string): Promise<string> => {
    const n = await createNamespace(uniqueName(tag));
    made.push(n);
    // asymmetric paths on the GSA side are intended (see the header): no reverse-path filter
    for (const k of ['all', 'default']) await exec(n, ['sysctl', '-q', '-w', `net.ipv4.conf.${k}.rp_filter=0`]);
    return n;
  };

  /** charon (GSA Default crypto, GSA-like selectors) and BIRD (GSA's BGP speaker) in zone z. */
  async function startZone(z: Zone): Promise<void> {
    z.charon = await Charon.start(z.ns, { tag: `zgw${z.i}` });
    z.charon.writeConns([{
      name: 'cpe', localAddrs: z.ike, remoteAddrs: CPE_WAN, localId: z.ike, remoteId: CPE_WAN, psk: z.psk,
      proposals: GSA_DEFAULT_PHASE1.map((r) => r.proposal), espProposals: GSA_DEFAULT_PHASE2.map((r) => r.proposal),
      localTs: ['0.0.0.0/0'], remoteTs: [LAN, `${CPE_BGP}/32`],
    }]);
    await z.charon.loadAll();
    const conf = join(dir, `${z.name}-bird.conf`);
    writeFileSync(conf, renderGsaPeerConfig({ address: z.bgp, cpeAddress: CPE_BGP, cpeAsn: 65010, interface: 'ipsec0', extra: [SVC_PREFIX] }));
    trackProcess(spawn('ip', ['netns', 'exec', z.ns, BIRD!, '-f', '-c', conf, '-s', join(dir, `${z.name}.ctl`)], { stdio: 'ignore' }));
  }

  /** (Re)starts the CPE: two tunnels with dpd 1s, two neighbors; multipath = active/active. */
  async function startCpe(multipath: boolean): Promise<void> {
    await bg?.stop().catch(() => undefined);
    const tunnels: BgTunnelConfig[] = zones.map((z) => ({
      name: z.name, localAddress: CPE_WAN, remoteAddress: z.ike, psk: z.psk, profile: 'gsa-default',
      dpd: '1s', interface: z.tun, mtu: 1380, mssClamp: 1340, routes: [],
    }));
    bg = await Branchgate.start(cpe, tunnels, {
      tag: multipath ? 'zcpeaa' : 'zcpeas', logLevel: 'info',
      extra: {
        routing: { failMode: 'open', pinUnderlay: true },
        bgp: {
          asn: 65010, address: CPE_BGP, advertise: [LAN], holdTime: 9, multipath,
          neighbors: zones.map((z) => ({ address: z.bgp, asn: 65476, tunnel: z.name })),
        },
      },
    });
  }

  beforeAll(async () => {
    if (!BIRD) throw new Error('bird is not installed: apt-get install -y bird2 (interop tests never skip)');
    requireTrafficTools();
    requireBuild();
    sweepStale();
    dir = makeTempDir('gsazone');
    branch = await ns('zbr');
    cpe = await ns('zcpe');
    wan = await ns('zwan');
    svc = await ns('zsvc');
    for (const z of zones) z.ns = await ns(`zgw${z.i}`);

    await addVeth(branch, 'lan0', cpe, 'lan0');
    await addAddress(branch, 'lan0', `${BRANCH}/24`);
    await exec(branch, ['ip', 'route', 'add', 'default', 'via', '100.64.10.1']);
    await addAddress(cpe, 'lan0', '100.64.10.1/24');
    await addVeth(cpe, 'wan0', wan, 'wan0');
    await addAddress(cpe, 'wan0', `${CPE_WAN}/24`);
    await exec(cpe, ['ip', 'route', 'add', 'default', 'via', '192.0.2.254']);
    await exec(cpe, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    await addAddress(wan, 'wan0', '192.0.2.254/24');
    await exec(wan, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    await addAddress(svc, 'lo', `${SVC}/32`);
    for (const z of zones) {
      await addVeth(wan, `z${z.i}`, z.ns, 'up0');
      await addAddress(wan, `z${z.i}`, `${z.router}/29`);
      await addAddress(z.ns, 'up0', `${z.ike}/29`);
      await exec(z.ns, ['ip', 'route', 'add', 'default', 'via', z.router]);
      await addAddress(z.ns, 'lo', `${z.bgp}/32`);
      await exec(z.ns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
      await addVeth(z.ns, 'svc0', svc, `s${z.i}`);
      await addAddress(z.ns, 'svc0', `${z.svcLink}/30`);
      await addAddress(svc, `s${z.i}`, `${z.svcSide}/30`);
      await exec(z.ns, ['ip', 'route', 'add', `${SVC}/32`, 'via', z.svcSide]);
    }
    await exec(svc, ['ip', 'route', 'add', 'default', 'via', zones[0]!.svcLink]);
    // GSA's backbone between the zones: a zone without its tunnel hands the branch's traffic over
    await addVeth(zones[0]!.ns, 'bb0', zones[1]!.ns, 'bb0');
    await addAddress(zones[0]!.ns, 'bb0', '100.64.30.1/30');
    await addAddress(zones[1]!.ns, 'bb0', '100.64.30.2/30');
    await exec(zones[0]!.ns, ['ip', 'route', 'add', LAN, 'via', '100.64.30.2', 'metric', '1000']);
    await exec(zones[1]!.ns, ['ip', 'route', 'add', LAN, 'via', '100.64.30.1', 'metric', '1000']);

    for (const z of zones) await startZone(z);
    await startCpe(false);
  }, 90_000);

  afterAll(async () => {
    await bg?.stop().catch(() => undefined);
    for (const z of zones) await z.charon?.stop().catch(() => undefined);
    for (const n of made.reverse()) await deleteNamespace(n);
  });

  const diag = () => onTestFailed(async () => {
    const st = await bg?.cli(['status', '--json'], true).catch((e: Error) => ({ stdout: e.message }));
    const r = await exec(cpe, ['ip', 'route'], { allowFail: true });
    console.error([bg?.logs(80), `--- status ---\n${st?.stdout}`, `--- cpe routes ---\n${r.stdout}`, ...zones.map((z) => z.charon?.logSince(0, 30))].join('\n'));
  });

  interface Doc { tunnels: { name: string; state: string; children: { packetsIn: number; packetsOut: number; bytesIn: number; bytesOut: number }[] }[]; bgp?: { neighbors: { address: string; state: string; received: number }[] } }
  const status = async (): Promise<Doc> => JSON.parse((await bg!.cli(['status', '--json'])).stdout) as Doc;

  const waitAllUp = () => waitFor('both tunnels established and both neighbors Established', async () => {
    const d = await status();
    return d.tunnels.every((t) => t.state === 'established') && d.bgp?.neighbors.length === 2 &&
      d.bgp.neighbors.every((n) => n.state === 'Established' && n.received === ANNOUNCED.length) ? d : undefined;
  }, 40_000, 250);

  interface Failover { deadMs: number; movedMs: number; pingGapS: number; zeroIntervals: number; lostS: number; intervals: string; dead: boolean }

  /**
   * iperf3 branch → svc for 25 s with a 20 Hz ping alongside; at 4 s every process of the zone
   * carrying the traffic is SIGKILLed (its charon and BIRD). Measures when the CPE's route to the
   * service moves to the other tunnel, the longest ping gap, and iperf3's 1 s intervals.
   */
  async function failover(label: string, pickVictim: () => Promise<Zone>): Promise<Failover> {
    const before = await status();
    // Long enough for TCP to recover after its retransmit backoff: under load the RTO starts near
    // 1 s, so retries after a ~3 s outage can fall at 7 and 15 s after the kill (a 15 s run once
    // ended before the stream came back although ping had recovered after 2.9 s).
    const SECONDS = 25;
    const KILL_AT = 4000;
    const PING_N = (SECONDS - 1) * 20;
    const pingP = exec(branch, ['ping', '-n', '-i', '0.05', '-c', String(PING_N), '-W', '1', SVC], { allowFail: true, timeoutMs: (SECONDS + 10) * 1000 });
    const perfP = iperf3(branch, svc, SVC, { seconds: SECONDS });
    await sleep(KILL_AT);
    const victim = await pickVictim();
    const other = zones.find((z) => z !== victim)!;
    const pids = (await run(['ip', 'netns', 'pids', victim.ns])).stdout.split(/\s+/).filter(Boolean).map(Number);
    const killedAt = Date.now();
    for (const pid of pids) process.kill(pid, 'SIGKILL'); // charon and BIRD: everything running in the zone
    let movedAt = 0;
    while (Date.now() - killedAt < 10_000) {
      // every next hop of the service prefix on the surviving tunnel (ECMP: the dead one's hop gone)
      const r = (await exec(cpe, ['ip', 'route', 'show', SVC_PREFIX], { allowFail: true })).stdout;
      if (r.includes(`dev ${other.tun}`) && !r.includes(`dev ${victim.tun}`)) {
        movedAt = Date.now();
        break;
      }
      await sleep(50);
    }
    const [perf, ping] = await Promise.all([perfP, pingP]);
    const after = await status();
    const got = new Set([...ping.stdout.matchAll(/icmp_seq=(\d+)/g)].map((m) => Number(m[1])));
    let gap = 0;
    let cur = 0;
    for (let q = 1; q <= PING_N; q++) {
      cur = got.has(q) ? 0 : cur + 1;
      gap = Math.max(gap, cur);
    }
    const normal = perf.intervals.slice(1, 4).map((i) => i.bytes).sort((a, b) => a - b)[1] ?? 0;
    const lostS = perf.intervals.reduce((a, i) => a + Math.max(0, 1 - i.bytes / Math.max(1, normal)) * (i.end - i.start), 0);
    const log = (await exec(cpe, ['cat', bg!.stdoutPath], { allowFail: true })).stdout;
    const deadLine = log.split('\n').find((l) => l.includes('"event":"dpd-dead"') && l.includes(`"tunnel":"${victim.name}"`) &&
      Date.parse(/"time":"([^"]+)"/.exec(l)?.[1] ?? '') >= killedAt - 100);
    const dead = deadLine !== undefined;
    const deadAt = deadLine ? Date.parse(/"time":"([^"]+)"/.exec(deadLine)?.[1] ?? '') : 0;
    const f: Failover = {
      deadMs: deadAt ? deadAt - killedAt : -1, movedMs: movedAt ? movedAt - killedAt : -1, pingGapS: gap * 0.05, zeroIntervals: perf.intervals.filter((i) => i.bytes === 0).length,
      lostS, intervals: perf.intervals.map((i) => mbit(i.bitsPerSecond)).join(' '), dead,
    };
    console.log(`[gsa-zone] ${label}, dpd 1s: SIGKILL ${victim.name}'s charon+BIRD at t=${KILL_AT / 1000}s; dpd-dead after ${f.deadMs} ms; route to ${SVC} on ${other.tun} after ` +
      `${f.movedMs} ms; ping (20 Hz) longest gap ${f.pingGapS.toFixed(2)} s; iperf3 1 s intervals (Mbit/s): ${f.intervals}; ` +
      `zero intervals ${f.zeroIntervals}, lost ≈ ${lostS.toFixed(2)} s of throughput; total ${mbit(perf.bitsPerSecond)} Mbit/s; dpd-dead logged: ${dead}`);

    expect(movedAt, 'the route moved to the other tunnel').toBeGreaterThan(0);
    expect(dead, `the engine declared ${victim.name} dead (DPD)`).toBe(true);
    expect(perf.intervals.slice(-2).every((i) => i.bytes > 0), `iperf3 recovered: ${perf.intervals.map((i) => i.bytes).join(' ')}`).toBe(true);
    const out = (d: Doc, n: string) => childSum(d.tunnels.find((t) => t.name === n) as never, 'bytesOut');
    expect(out(after, other.name) - out(before, other.name), 'the surviving tunnel carried the traffic after the kill').toBeGreaterThan(perf.bytes / 10);
    // The target is 3 s. The engine's DPD gives up 2.4 s after the last inbound packet with dpd 1s
    // (src/ike/retransmit.ts livenessPolicy); BGP then moves the routes within milliseconds. The
    // bound leaves 1 s for a loaded 2-core machine; the measured value is printed above.
    expect(f.pingGapS, 'interruption (20 Hz ping)').toBeLessThan(3.5);
    expect(after.bgp?.neighbors.find((n) => n.address === victim.bgp)?.state, 'the dead zone\'s neighbor is down').not.toBe('Established');
    expect(after.bgp?.neighbors.find((n) => n.address === other.bgp)?.state).toBe('Established');
    return f;
  }

  it('active/standby: both tunnels and both BGP sessions come up; the first neighbor is active', async () => {
    diag();
    await waitAllUp();
    await waitFor(`${SVC} via bg0`, async () => ((await routeGet(cpe, SVC)).dev === 'bg0' ? true : undefined), 10_000);
    expect((await routeGet(cpe, '13.107.6.153')).dev).toBe('bg0');
    const p = await exec(branch, ['ping', '-n', '-c', '3', '-i', '0.2', SVC], { allowFail: true });
    expect(p.code, p.stdout).toBe(0);
  }, 60_000);

  it('active/standby: the active endpoint is SIGKILLed during iperf3; traffic continues through the standby tunnel', async () => {
    diag();
    await failover('active/standby', async () => zones[0]!);
  }, 60_000);

  it('active/active (ECMP): the endpoint carrying the flow is SIGKILLed during iperf3; traffic continues through the other', async () => {
    diag();
    // bring the killed zone back, restart the CPE with multipath
    await zones[0]!.charon?.stop().catch(() => undefined);
    await startZone(zones[0]!);
    await startCpe(true);
    await waitAllUp();
    const hops = await waitFor('ECMP over bg0 and bg1', async () => {
      const r = (await exec(cpe, ['ip', 'route', 'show', SVC_PREFIX])).stdout;
      return /nexthop dev bg0/.test(r) && /nexthop dev bg1/.test(r) ? r : undefined;
    }, 15_000);
    expect(hops).toMatch(/nexthop dev bg0[\s\S]*nexthop dev bg1/);
    await failover('active/active', async () => {
      // the flow's tunnel: this CPE started just now, so its bytesOut is almost all iperf3's
      const now = await status();
      const sent = zones.map((z) => childSum(now.tunnels.find((t) => t.name === z.name) as never, 'bytesOut'));
      return sent[0]! >= sent[1]! ? zones[0]! : zones[1]!;
    });
  }, 90_000);
});
