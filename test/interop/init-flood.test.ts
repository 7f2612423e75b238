/**
 * Under an IKE_SA_INIT flood of 5,000 datagrams/s from spoofed sources, a
 * legitimate initiator still establishes its tunnel within 5 s, and the responder issued cookies
 * (RFC 7296 §2.6).
 *
 *   cpe (branchgate, `%any` responder, default limits) ══ gw (strongSwan initiator, router) ══ atk (blast)
 *
 * blast sends fresh IKE_SA_INITs (new nonce and KE value per record, a new SPI and a new source
 * in 100.64.128.0/17 per datagram) for 12 s; 3 s in, strongSwan starts its connection. Measured:
 * from `swanctl --initiate` to both sides established. Checked: the daemon's
 * `branchgate_ike_datagrams_dropped_total{reason="cookie-required"}` grew, and strongSwan's log
 * shows it got our N(COOKIE) and sent its IKE_SA_INIT again with it as the first payload.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { join } from 'node:path';
import { Branchgate, requireBuild } from './lab/branchgate.js';
import { Charon } from './lab/strongswan.js';
import { ADDR, createTopology, type Topology } from './lab/topology.js';
import { SITE_ESP, SITE_IKE, siteConn } from './lab/site.js';
import { scrape } from './lab/metrics-scrape.js';
import { makeTempDir, waitFor } from './lab/netns.js';
import { HostileCounters, addAttacker, requireHostileTools, udpSocketDrops } from './lab/hostile-lab.js';
import { blast, compileBlast, writeRecords } from './lab/hostile-blast.js';
import { initFloodRecords } from './lab/hostile-gen.js';
import { byLabel } from './lab/hostile-report.js';
import { daemonLogProblems } from './lab/hostile-watch.js';

const PSK = 'init-flood-responder-psk-5d2e';
const METRICS = '127.0.0.1:9477';
const RATE = 5000;
const FLOOD_S = 12;
const START_AFTER_S = 3;

describe('IKE_SA_INIT flood from spoofed sources', () => {
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
    topo = await createTopology({ tag: 'f' });
    atk = await addAttacker(topo, 'fatk');
    gw = await Charon.start(topo.gw, { tag: 'fgw' });
    gw.writeConns([siteConn('legit', PSK)]);
    await gw.loadAll();
    bg = await Branchgate.start(topo.cpe, [{
      name: 'any', localAddress: ADDR.cpeWan, remoteAddress: '%any', remoteId: '%any', psk: PSK, initiate: false, dpd: 0,
      ike: [SITE_IKE], esp: [SITE_ESP], localTs: [ADDR.lanPrefix], remoteTs: [ADDR.svcPrefix], interface: 'bg0', mtu: 1380,
    }], { tag: 'flood', logLevel: 'info', extra: { control: { metrics: METRICS } } });
    counters = await HostileCounters.install(topo.cpe);
    blastBin = await compiling;
  }, 120_000);

  afterAll(async () => {
    await bg?.stop().catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    await topo?.destroy();
  });

  it(`a legitimate initiator establishes within 5 s during ${RATE.toLocaleString('en-US')} spoofed IKE_SA_INIT/s, and gets a cookie`, async () => {
    if (!topo || !atk || !gw || !bg || !blastBin || !counters) throw new Error('lab setup failed (see beforeAll error)');
    const d = bg;
    const sw = gw;
    onTestFailed(() => console.error(`${d.logs(40)}\n${sw.logSince(0, 80)}`));
    const t0 = Date.now();
    const file = join(makeTempDir('flood'), 'inits.bin');
    writeRecords(file, initFloodRecords(ADDR.cpeWan, 2000, 5));
    const dropsBefore = byLabel(await scrape(topo.cpe, METRICS), 'branchgate_ike_datagrams_dropped_total', 'reason');
    const nftBefore = await counters.read();
    const mark = gw.logMark();
    const kernelBefore = (await udpSocketDrops(topo.cpe)).total;

    const flood = blast(blastBin, atk, file, RATE * FLOOD_S, RATE, { seed: 11 });
    await new Promise((r) => setTimeout(r, START_AFTER_S * 1000));
    const started = Date.now();
    const initiated = gw.swanctl(['--initiate', '--child', 'net', '--ike', 'legit', '--timeout', '15'], { allowFail: true, timeoutMs: 25_000 });
    const ours = await waitFor('the responder tunnel established', async () => {
      const t = await d.tunnel('any');
      return t?.state === 'established' && t.children.length > 0 ? Date.now() : undefined;
    }, 15_000, 100).catch((e: Error) => e);
    const theirs = await initiated;
    const theirsAt = Date.now();
    const sent = await flood;
    const samples = await scrape(topo.cpe, METRICS);
    const drops = byLabel(samples, 'branchgate_ike_datagrams_dropped_total', 'reason');
    const dropsDelta = Object.fromEntries(Object.entries(drops).map(([k, v]) => [k, v - (dropsBefore[k] ?? 0)]).filter(([, v]) => v !== 0));
    const nftAfter = await counters.read();
    const nftDelta = Object.fromEntries(Object.entries(nftAfter).map(([k, v]) => [k, v - (nftBefore[k] ?? 0)]).filter(([, v]) => v !== 0));
    const kernelDrops = (await udpSocketDrops(topo.cpe)).total - kernelBefore;
    const log = gw.logSince(mark, 5000);
    const tookMs = typeof ours === 'number' ? ours - started : NaN;
    console.log(`flood: ${sent.sent.toLocaleString('en-US')} IKE_SA_INITs in ${sent.seconds.toFixed(1)} s ` +
      `(${Math.round(sent.sent / sent.seconds).toLocaleString('en-US')}/s, errors ${sent.errors}); legitimate initiator: ` +
      `${Number.isNaN(tookMs) ? `not established (${(ours as Error).message})` : `branchgate established ${tookMs} ms`} after swanctl --initiate, ` +
      `swanctl returned after ${theirsAt - started} ms (exit ${theirs.code}); IKE drops ${JSON.stringify(dropsDelta)}; ` +
      `arrivals and answers (nft) ${JSON.stringify(nftDelta)}; kernel socket drops ${kernelDrops}; wall time ${((Date.now() - t0) / 1000).toFixed(0)} s`);

    expect(sent.errors).toBe(0);
    expect(sent.seconds).toBeGreaterThanOrEqual(FLOOD_S - 1);
    expect(sent.sent / sent.seconds).toBeGreaterThanOrEqual(RATE * 0.97);
    expect(Number.isNaN(tookMs) ? Infinity : tookMs, 'time from initiate to established (ms)').toBeLessThanOrEqual(5000);
    expect(theirs.code, `swanctl --initiate:\n${theirs.stdout}${theirs.stderr}`).toBe(0);
    expect(dropsDelta['cookie-required'] ?? 0, 'IKE_SA_INITs answered with a cookie').toBeGreaterThan(0);
    // strongSwan got our N(COOKIE) and retried with it first (RFC 7296 §2.6)
    expect(log).toMatch(/parsed IKE_SA_INIT response 0 \[ N\(COOKIE\) \]/);
    expect(log).toMatch(/generating IKE_SA_INIT request 0 \[ N\(COOKIE\) SA KE No/);
    expect(daemonLogProblems(d)).toEqual([]);
  }, 90_000);
});
