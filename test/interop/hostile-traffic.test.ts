/**
 * Hostile traffic at a running daemon while a real tunnel carries
 * traffic (test/interop/lab/hostile-*.ts; docs/hardening.md).
 *
 *   branch ── cpe (branchgate, native dataplane, /metrics) ══ gw (strongSwan, router) ══ atk ── (blast)
 *
 * 1. 1,000,000 datagrams (BGT_HOSTILE_COUNT) from the attacker namespace, twelve kinds (MIX in
 *    hostile-gen.ts: mutated captured IKE, fresh IKE_SA_INITs from spoofed sources, ESP with wrong
 *    SPIs, bad ICVs, replays of live ESP, truncated, oversized, unknown exchange types, wrong length
 *    fields), paced by blast.c, while iperf3 and ping run through the tunnel. The daemon stays up,
 *    logs no unhandled error, the tunnel stays established with the same SPIs every second,
 *    traffic flows every second, RSS comes back within 10 % once half-open SAs expired, and every
 *    datagram sent is accounted for: lost on the way, dropped by the kernel at the socket, counted
 *    by the daemon under a reason, or answered.
 * 3. Replayed ESP is counted as replay; ESP for the SA a rekey deleted as unknown SPI; strongSwan
 *    with the wrong PSK never gets an SA installed.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { join } from 'node:path';
import { Branchgate, requireBuild, type BgTunnelConfig } from './lab/branchgate.js';
import { Charon } from './lab/strongswan.js';
import { ADDR, createTopology, waitRouteDev, type Topology } from './lab/topology.js';
import { SITE_ESP, SITE_IKE, siteConn, siteTunnel } from './lab/site.js';
import { iperf3, longestStallSeconds, ping, type IperfResult } from './lab/traffic.js';
import { scrape } from './lab/metrics-scrape.js';
import { makeTempDir } from './lab/netns.js';
import { ATK, HostileCounters, addAttacker, requireHostileTools, procMemory, snmp, udpSocketDrops } from './lab/hostile-lab.js';
import { blast, captureEsp, compileBlast, writeRecords } from './lab/hostile-blast.js';
import { MIX, generate } from './lab/hostile-gen.js';
import { account, formatAccounting, total, type Snapshot } from './lab/hostile-report.js';
import { INSPECT, TunnelSampler, collectGarbage, daemonLogProblems } from './lab/hostile-watch.js';

const PSK = 'hostile-real-tunnel-psk-6a1f';
const RESP_PSK = 'hostile-responder-psk-93c0';
const TUNNEL = 'gw';
const METRICS = '127.0.0.1:9477';
const COUNT = Number(process.env.BGT_HOSTILE_COUNT ?? 1_000_000);
const RATE = Number(process.env.BGT_HOSTILE_RATE ?? 40_000);
/** The pool blast cycles through: COUNT / DIVISOR records, each sent DIVISOR times. */
const DIVISOR = 20;
const HALF_OPEN_EXPIRY_S = 30; // src/ike/sa.ts HALF_OPEN_TIMEOUT_MS
/** How long after the blast memory is measured (default: the half-open expiry + 5 s). */
const SETTLE_S = Number(process.env.BGT_HOSTILE_SETTLE_S ?? HALF_OPEN_EXPIRY_S + 5);

describe('hostile traffic at a running daemon', () => {
  let topo: Topology | undefined;
  let atk: string | undefined;
  let gw: Charon | undefined;
  let bg: Branchgate | undefined;
  let counters: HostileCounters | undefined;
  let blastBin: string | undefined;

  beforeAll(async () => {
    requireHostileTools();
    requireBuild();
    const compiling = compileBlast();
    topo = await createTopology({ tag: 'h' });
    atk = await addAttacker(topo);
    gw = await Charon.start(topo.gw, { tag: 'hgw' });
    gw.writeConns([siteConn('branch', PSK)]);
    await gw.loadAll();
    const tunnels: BgTunnelConfig[] = [
      siteTunnel(TUNNEL, PSK),
      {
        // a %any responder on the same address: what the IKE_SA_INIT flood and the wrong-PSK peer aim at
        name: 'any', localAddress: ADDR.cpeWan, remoteAddress: '%any', remoteId: '%any', psk: RESP_PSK, initiate: false, dpd: 0,
        ike: [SITE_IKE, 'aes256-sha256-ecp256', 'aes256gcm16-prfsha256-modp2048'], esp: [SITE_ESP], localTs: ['100.64.30.0/24'], remoteTs: ['100.64.31.0/24'],
        interface: 'bg1', mtu: 1380,
      },
    ];
    // the inspector (namespace loopback only) lets the test force a full GC before measuring memory
    bg = await Branchgate.start(topo.cpe, tunnels, { tag: 'host', logLevel: 'info', extra: { control: { metrics: METRICS } }, env: { NODE_OPTIONS: `--inspect=${INSPECT}` } });
    await Promise.all([bg.waitEstablished(TUNNEL, 20_000), gw.waitEstablished('branch', 20_000)]);
    await waitRouteDev(topo.cpe, ADDR.svc, 'bg0');
    // the production datapath: ESP is opened by the native engine's own threads
    const status = JSON.parse((await bg.cli(['status', '--json'])).stdout) as { nativeFastPath?: boolean };
    if (status.nativeFastPath !== true) throw new Error('the daemon runs without the native fast path; this harness measures the production datapath');
    counters = await HostileCounters.install(topo.cpe);
    blastBin = await compiling;
  }, 120_000);

  afterAll(async () => {
    await bg?.stop().catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    await topo?.destroy();
  });

  async function snapshot(): Promise<Snapshot> {
    const [samples, nft, udpDrops, kernel] = await Promise.all([scrape(topo!.cpe, METRICS), counters!.read(), udpSocketDrops(topo!.cpe), snmp(topo!.cpe)]);
    return { samples, nft, udpDrops, snmp: kernel };
  }

  async function liveSpiIn(): Promise<number> {
    const t = await bg!.tunnel(TUNNEL);
    const spi = t?.children[0]?.spiIn;
    if (!spi) throw new Error(`no Child SA on ${TUNNEL}: ${JSON.stringify(t)}`);
    return Number.parseInt(spi.replace(/^0x/, ''), 16);
  }

  it(`${COUNT.toLocaleString('en-US')} hostile datagrams: the daemon and the tunnel stay up, memory returns, every datagram is accounted for`, async () => {
    if (!topo || !atk || !bg || !blastBin) throw new Error('lab setup failed (see beforeAll error)');
    const d = bg;
    onTestFailed(() => console.error(d.logs(80)));
    const t0 = Date.now();
    const pid = d.pid()!;
    const spi = await liveSpiIn();
    // live ESP towards the daemon, to replay: the replies to a fast ping through the tunnel
    const replays = await captureEsp(topo.gw, 'wan0', ADDR.gwIke, ADDR.cpeWan, 300, 6, () => ping(topo!.branch, ADDR.svc, 200, { intervalS: 0.01 }));
    expect(replays.length).toBeGreaterThan(50);
    for (const r of replays) expect(new DataView(r.buffer, r.byteOffset).getUint32(0)).toBe(spi);
    const gen = generate({ cpe: ADDR.cpeWan, peer: ADDR.gwIke, liveSpi: spi, replays, divisor: (1_000_000 * DIVISOR) / COUNT, seed: 8 });
    const file = join(makeTempDir('hostile'), 'records.bin');
    writeRecords(file, gen.records);

    // traffic for the whole run: iperf3 at a moderate rate and a ping, both through the tunnel
    const seconds = Math.ceil((COUNT + COUNT / DIVISOR) / RATE) + 20;
    const traffic: Promise<[IperfResult, Awaited<ReturnType<typeof ping>>]> = Promise.all([
      iperf3(topo.branch, topo.svc, ADDR.svc, { seconds, bitrate: '20M' }),
      ping(topo.branch, ADDR.svc, seconds * 5, { intervalS: 0.2 }),
    ]);
    // warm-up: one pass over the pool, so code paths, buffers and allocator arenas exist before
    // the baseline (the criterion is about what an attack leaves behind, not first use)
    await blast(blastBin, atk, file, gen.records.length, RATE, { seed: 2 });
    await new Promise((r) => setTimeout(r, 3000));
    await collectGarbage(topo.cpe);
    const memBefore = procMemory(pid);
    const before = await snapshot();
    const heapBefore = total(before.samples, 'nodejs_heap_size_used_bytes');
    const sampler = TunnelSampler.start(d.socket, TUNNEL);

    // whole cycles of the pool, so every category goes out in its exact share
    const sent = await blast(blastBin, atk, file, gen.records.length * DIVISOR, RATE, { seed: 3 });
    const blastEnd = Date.now();
    await new Promise((r) => setTimeout(r, 3000)); // the daemon drains its socket queues
    const after = await snapshot();
    const [iperf, pinged] = await traffic;
    const samples = sampler.stop();

    const acc = account(sent.sent, before, after);
    console.log(`hostile traffic: ${sent.sent.toLocaleString('en-US')} datagrams (${sent.packets.toLocaleString('en-US')} packets with fragments) in ${sent.seconds.toFixed(1)} s ` +
      `(${Math.round(sent.sent / sent.seconds).toLocaleString('en-US')}/s), blast errors ${sent.errors} ${JSON.stringify(sent.errnos)}\n` +
      formatAccounting(acc, gen.pool, DIVISOR, MIX));
    const quiet = iperf.intervals.filter((i) => i.bytes === 0).map((i) => `${i.start.toFixed(0)}–${i.end.toFixed(0)} s`);
    console.log(`traffic: iperf3 ${(iperf.bitsPerSecond / 1e6).toFixed(1)} Mbit/s, seconds without data: ${quiet.length ? quiet.join(', ') : 'none'}; ` +
      `ping ${pinged.received}/${pinged.transmitted}; tunnel samples ${samples.length}, ` +
      `states ${JSON.stringify(TunnelSampler.histogram(samples))}`);

    // Acceptance 1 (soft: every failure is reported, and memory is still measured below)
    expect.soft(() => process.kill(pid, 0), 'the daemon process is alive').not.toThrow();
    expect.soft(daemonLogProblems(d), 'unhandled errors in the daemon log').toEqual([]);
    expect.soft(samples.length).toBeGreaterThanOrEqual(Math.floor(sent.seconds) - 1);
    expect.soft(samples.filter((s) => s.state !== 'established' && s.state !== 'rekeying'), 'samples not established').toEqual([]);
    expect.soft(new Set(samples.map((s) => s.spis)).size, 'IKE SPIs changed without a rekey').toBe(1);
    expect.soft(longestStallSeconds(iperf.intervals), `iperf3 seconds without data: ${quiet.join(', ')}`).toBe(0);
    expect.soft(pinged.received).toBeGreaterThan(0);
    // every datagram accounted for
    expect.soft(sent.errors).toBe(0);
    expect.soft(acc.ikeUnaccounted, 'IKE messages the engine neither counted nor answered').toBe(0);
    expect.soft(acc.unaccounted, 'datagrams sent but not accounted for').toBe(0);
    expect.soft(acc.kernelDropsMetric, 'the daemon\'s kernel-drop metric agrees with /proc/net/udp').toBe(acc.kernelDrops);

    // memory, once the half-open SAs the flood created have expired
    const series: string[] = [];
    const mbs = (b: number) => (b / 2 ** 20).toFixed(0);
    while (Date.now() - blastEnd < SETTLE_S * 1000) {
      await new Promise((r) => setTimeout(r, 5000));
      const heap = total(await scrape(topo.cpe, METRICS), 'nodejs_heap_size_used_bytes');
      series.push(`${((Date.now() - blastEnd) / 1000).toFixed(0)} s: RSS ${mbs(procMemory(pid).rss)} heap ${mbs(heap)}`);
    }
    console.log(`memory after the blast (MiB): ${series.join('; ')}`);
    const memNoGc = procMemory(pid);
    await collectGarbage(topo.cpe);
    const memAfter = procMemory(pid);
    const heapAfter = total((await scrape(topo.cpe, METRICS)), 'nodejs_heap_size_used_bytes');
    const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
    console.log(`memory (after a full GC): RSS ${mb(memBefore.rss)} before → ${mb(memAfter.rss)} ${SETTLE_S} s after (${mb(memNoGc.rss)} before that GC; peak VmHWM ${mb(memAfter.hwm)}); ` +
      `heap used ${mb(heapBefore)} → ${mb(heapAfter)}; wall time of this test ${((Date.now() - t0) / 1000).toFixed(0)} s`);
    expect.soft(memAfter.rss, `RSS after (${mb(memAfter.rss)}) within 10 % of before (${mb(memBefore.rss)})`).toBeLessThanOrEqual(memBefore.rss * 1.1);
    expect((await bg.tunnel(TUNNEL))?.state).toBe('established');
  }, 400_000);

  /** ESP drops of one reason between two snapshots (branchgate_esp_datagrams_dropped_total), or the tunnel counter for replay. */
  function espDrops(before: Snapshot, after: Snapshot, reason: string): number {
    const name = 'branchgate_esp_datagrams_dropped_total';
    const has = after.samples.some((s) => s.name === name);
    if (!has && reason === 'replay') return total(after.samples, 'branchgate_tunnel_replay_drops_total') - total(before.samples, 'branchgate_tunnel_replay_drops_total');
    if (!has) throw new Error(`this build exports no ${name}{reason}: ESP drops by reason (unknown SPI) are not visible`);
    const pick = (x: Snapshot) => x.samples.filter((s) => s.name === name && s.labels.reason === reason).reduce((a, s) => a + s.value, 0);
    return pick(after) - pick(before);
  }

  it('replayed ESP is counted as replay, ESP for the SA a rekey deleted as unknown SPI, a wrong PSK installs nothing', async () => {
    if (!topo || !atk || !bg || !blastBin) throw new Error('lab setup failed (see beforeAll error)');
    const d = bg;
    onTestFailed(() => console.error(d.logs(60)));
    const N = 500;
    const oldSpi = await liveSpiIn();
    const caps = await captureEsp(topo.gw, 'wan0', ADDR.gwIke, ADDR.cpeWan, 100, 5, () => ping(topo!.branch, ADDR.svc, 60, { intervalS: 0.02 }));
    expect(caps.length).toBeGreaterThan(20);
    const file = join(makeTempDir('replay'), 'replays.bin');
    writeRecords(file, caps.map((payload) => ({ src: ADDR.gwIke, sport: 4500, dst: ADDR.cpeWan, dport: 4500, flags: 0, spiOffset: 0, payload })));

    // RFC 4303 §3.4.3: every one was received already, so each is a replay
    let before = await snapshot();
    expect((await blast(blastBin, atk, file, N, 5000)).sent).toBe(N);
    await new Promise((r) => setTimeout(r, 500));
    let after = await snapshot();
    const replayed = espDrops(before, after, 'replay');

    // a Child rekey deletes the old SA (2 s after the switch, README "SA lifecycle"): its SPI is unknown now
    expect((await d.rekey(TUNNEL, { wait: true })).code).toBe(0);
    const newSpi = await liveSpiIn();
    expect(newSpi).not.toBe(oldSpi);
    await new Promise((r) => setTimeout(r, 4000));
    before = await snapshot();
    expect((await blast(blastBin, atk, file, N, 5000)).sent).toBe(N);
    await new Promise((r) => setTimeout(r, 500));
    after = await snapshot();
    console.log(`replays: ${N} sent, replay drops +${replayed}; after the rekey (${oldSpi.toString(16)} → ${newSpi.toString(16)}): ${N} sent for the old SPI, ` +
      `ESP drops ${JSON.stringify(account(N, before, after).espDrops)}`);
    expect.soft(replayed).toBe(N);
    expect.soft(espDrops(before, after, 'unknown-spi')).toBe(N);
    expect(await ping(topo.branch, ADDR.svc, 5, { intervalS: 0.1 })).toMatchObject({ received: 5 });

    // a strongSwan initiator with the wrong PSK against the %any responder tunnel
    const wrong = await Charon.start(atk, { tag: 'hwr' });
    try {
      const mark = wrong.logMark();
      wrong.writeConns([{
        name: 'wrong', localAddrs: ATK.atk, remoteAddrs: ADDR.cpeWan, localId: ATK.atk, remoteId: ADDR.cpeWan, psk: 'not-the-responder-psk-0000',
        proposals: [SITE_IKE], espProposals: [SITE_ESP], localTs: ['100.64.31.0/24'], remoteTs: ['100.64.30.0/24'],
      }]);
      await wrong.loadAll();
      const r = await wrong.swanctl(['--initiate', '--child', 'net', '--ike', 'wrong', '--timeout', '10'], { allowFail: true, timeoutMs: 20_000 });
      expect(r.code, `strongSwan with the wrong PSK must fail:\n${r.stdout}`).not.toBe(0);
      const any = await d.tunnel('any');
      expect(any?.children ?? [], 'Child SAs on the responder tunnel').toEqual([]);
      expect(any?.state).not.toBe('established');
      expect((await wrong.listSas()).filter((x) => x.state === 'ESTABLISHED')).toEqual([]);
      const ours = d.logRecords().filter((l) => /AUTHENTICATION_FAILED|pre-shared key/.test(String(l.msg)));
      expect(ours.length, 'our log names the authentication failure').toBeGreaterThan(0);
      expect(wrong.logSince(mark, 400)).toMatch(/AUTHENTICATION_FAILED/);
    } finally {
      await wrong.stop();
    }
  }, 120_000);
});
