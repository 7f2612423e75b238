/**
 * GSA Internet Access (docs/gsa.md "Internet Access"): the whole branch behind the security edge.
 * The daemon (dist/, `branchgate run`) in the CPE namespace, strongSwan 5.9.8 + BIRD playing GSA
 * in gw, announcing "the whole internet" in each of the forms GSA may use; the underlay router
 * in the middle plays the ISP (tcpdump there is the leak detector). Lab: lab/internet-lab.ts.
 *
 * Three daemon runs, one per route form:
 *   1. 0.0.0.0/0, defaultRoute: security, ipv6: block — carries the 60 s iperf3 run; the endpoint
 *      is killed and the ISP must see no branch packet to the internet until the tunnel is back;
 *      then a graceful stop must leave the host exactly as it was.
 *   2. 0.0.0.0/1 + 128.0.0.0/1, productivity — killed endpoint: traffic goes direct within the
 *      DPD bound and back into the tunnel when it returns.
 *   3. 3,552 /12s, security, ipv6: allow — SIGKILL (daemon and its BIRD, as systemd's
 *      KillMode=control-group does), restart, stop: the host again as it was.
 * Every run: internet traffic through the tunnel (counted at the endpoint), a bypass prefix and a
 * bypass host name (dnsmasq on the ISP side) direct (tcpdump at the ISP, not at the endpoint).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { renderGsaPeerConfig } from '../../src/bgp/gsa-peer.js';
import { GSA_DEFAULT_PHASE1, GSA_DEFAULT_PHASE2 } from '../../src/config/profiles.js';
import { Branchgate, requireBuild, type BgTunnelConfig } from './lab/branchgate.js';
import { Charon, type SwanConn } from './lab/strongswan.js';
import { ADDR, createTopology, dumpRouting, routeGet, type Topology } from './lab/topology.js';
import { iperf3, mbit, ping, requireTrafficTools } from './lab/traffic.js';
import { addAddress, exec, makeTempDir, run, trackProcess, waitFor } from './lab/netns.js';
import { addInternetLab, Capture, hostState, INET, pinger, type InternetLab } from './lab/internet-lab.js';
import { internetRoutes } from '../../src/lab/internet-routes.js';
import { statusSchemaProblems } from '../helpers/status-schema.js';
import { one, scrape } from './lab/metrics-scrape.js';

const BIRD = ['/usr/sbin/bird', '/usr/bin/bird'].find((p) => existsSync(p));
const DNSMASQ = ['/usr/sbin/dnsmasq', '/usr/bin/dnsmasq'].find((p) => existsSync(p));
const PSK = 'gsa-internet-lab-psk-7d2a';
const TUNNEL = 'gsa';
const CONN = 'cpe';
const TUN = 'bg0';
const CPE_BGP = '100.64.0.1';
const GSA_BGP = '100.64.0.2';
const CPE_ASN = 65010;
const METRICS = '127.0.0.1:9478';
const INTERNET = ADDR.internet; // 203.0.113.10, on gw's lo: "the internet", reachable both ways

type Form = 'default' | 'split' | 'many';
interface StatusDoc {
  bgp?: { neighbors: { address: string; state: string; received?: number }[] };
  internet?: {
    gsaRoutes?: { state: string; reason?: string; since?: string };
    bypass: { installed: string[]; hostnames: { name: string; addresses: string[]; lastResolved: string | null; error: string | null }[] };
    ipv6: { policy: string; dropped: number | null };
  };
}

describe('GSA Internet Access: whole internet over BGP, bypass, precedence, IPv6', () => {
  let topo: Topology | undefined;
  let lab: InternetLab | undefined;
  let gw: Charon | undefined;
  let peer: ChildProcess | undefined;
  let bg: Branchgate | undefined;
  let cap: Capture | undefined;
  let cap6: Capture | undefined;
  let dir = '';
  let baseline = '';

  const startPeer = async (form: Form) => {
    const conf = join(dir, `gsa-bird-${form}.conf`);
    writeFileSync(conf, renderGsaPeerConfig({ address: GSA_BGP, cpeAddress: CPE_BGP, cpeAsn: CPE_ASN, interface: 'ipsec0', prefixes: internetRoutes(form) }));
    peer = spawn('ip', ['netns', 'exec', topo!.gw, BIRD!, '-f', '-c', conf, '-s', join(dir, 'gsa.ctl')], { stdio: 'ignore' });
    trackProcess(peer);
  };
  const killPeer = async () => {
    const p = peer;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const gone = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGKILL');
    await gone;
  };

  const tunnel: BgTunnelConfig = {
    name: TUNNEL, localAddress: ADDR.cpeWan, remoteAddress: ADDR.gwIke, psk: PSK, profile: 'gsa-default',
    dpd: '1s', interface: TUN, mtu: 1380, mssClamp: 1340, routes: [],
  };
  const extra = (defaultRoute: 'security' | 'productivity', ipv6: 'block' | 'allow') => ({
    gsa: { profiles: ['microsoft', 'internet'] },
    routing: { failMode: 'open', pinUnderlay: true, defaultRoute },
    control: { metrics: METRICS },
    bgp: { asn: CPE_ASN, address: CPE_BGP, advertise: [ADDR.lanPrefix], holdTime: 9, neighbors: [{ address: GSA_BGP, asn: 65476, tunnel: TUNNEL }] },
    bypass: [INET.bypassPrefix, INET.hostname],
    ipv6: { policy: ipv6, branchPrefixes: [INET.lan6] },
  });
  const startDaemon = (tag: string, defaultRoute: 'security' | 'productivity', ipv6: 'block' | 'allow') =>
    Branchgate.start(topo!.cpe, [tunnel], { tag, logLevel: 'info', extra: extra(defaultRoute, ipv6) });

  beforeAll(async () => {
    if (!BIRD) throw new Error('bird is not installed: apt-get install -y bird2 (interop tests never skip)');
    if (!DNSMASQ) throw new Error('dnsmasq is not installed: apt-get install -y dnsmasq-base (interop tests never skip)');
    requireTrafficTools();
    requireBuild();
    topo = await createTopology({ tag: 'ia', middle: 'router' });
    lab = await addInternetLab(topo);
    dir = makeTempDir('gsainet');
    await addAddress(topo.gw, 'lo', `${GSA_BGP}/32`);
    // The endpoint counts what arrives through the tunnel (prerouting sees local and forwarded).
    const nft = (...a: string[]) => exec(topo!.gw, ['nft', ...a]);
    await nft('add', 'table', 'inet', 'bgtia');
    await nft('add', 'chain', 'inet', 'bgtia', 'pre', '{', 'type', 'filter', 'hook', 'prerouting', 'priority', '0', ';', 'policy', 'accept', ';', '}');
    for (const [name, match] of [['viaTun', ['ip', 'daddr', INTERNET]], ['bypassViaTun', ['ip', 'daddr', '198.18.0.0/24']]] as const) {
      await nft('add', 'counter', 'inet', 'bgtia', name);
      await nft('add', 'rule', 'inet', 'bgtia', 'pre', 'iifname', 'ipsec0', ...match, 'counter', 'name', name);
    }
    gw = await Charon.start(topo.gw, { tag: 'iagw' });
    const conn: SwanConn = {
      name: CONN, localAddrs: ADDR.gwIke, remoteAddrs: ADDR.cpeWan, localId: ADDR.gwIke, remoteId: ADDR.cpeWan, psk: PSK,
      proposals: GSA_DEFAULT_PHASE1.map((r) => r.proposal), espProposals: GSA_DEFAULT_PHASE2.map((r) => r.proposal),
      localTs: ['0.0.0.0/0'], remoteTs: [ADDR.lanPrefix, `${CPE_BGP}/32`], extra: { dpd_delay: '5s' },
    };
    gw.writeConns([conn]);
    await gw.loadAll();
    cap = await Capture.start(lab.isp, 'wan0', `ip and (dst host ${INTERNET} or dst net 198.18.0.0/24)`);
    cap6 = await Capture.start(lab.isp, 'wan0', `ip6 and src host ${INET.branch6}`);
    baseline = await hostState(topo.cpe);
  }, 60_000);

  afterAll(async () => {
    await bg?.stop().catch(() => undefined);
    await cap?.stop();
    await cap6?.stop();
    await killPeer();
    await gw?.stop().catch(() => undefined);
    await lab?.destroy();
    await topo?.destroy();
  });

  const ready = () => {
    if (!topo || !gw || !bg || !cap || !cap6 || !lab) throw new Error('lab setup failed (see beforeAll error)');
    const d = bg;
    const t = topo;
    onTestFailed(async () => {
      const st = await d.cli(['status', '--json'], true).catch((e: Error) => ({ stdout: e.message }));
      const cpeBird = await run(['birdc', '-s', join(d.dir, 'control.bird.ctl'), 'show', 'protocols', 'all'], { allowFail: true });
      const gwBird = await run(['birdc', '-s', join(dir, 'gsa.ctl'), 'show', 'protocols', 'all', 'cpe'], { allowFail: true });
      console.error([d.logs(80), `--- status --json ---\n${st.stdout}`, `--- cpe birdc ---\n${cpeBird.stdout}${cpeBird.stderr}`, `--- gw birdc ---\n${gwBird.stdout}${gwBird.stderr}`, await dumpRouting(t.cpe, 'cpe'),
        (await exec(t.cpe, ['ip', 'route', 'show', 'table', '249'], { allowFail: true })).stdout.split('\n').slice(0, 20).join('\n')].join('\n'));
    });
    return { t, d, sw: gw, cap, cap6, isp: lab.isp };
  };
  const status = async (d: Branchgate) => JSON.parse((await d.cli(['status', '--json'])).stdout) as StatusDoc;
  const counter = async (name: string) => {
    const r = await exec(topo!.gw, ['nft', '-j', 'list', 'counter', 'inet', 'bgtia', name]);
    return (JSON.parse(r.stdout) as { nftables: { counter?: { packets: number } }[] }).nftables.find((x) => x.counter)?.counter?.packets ?? 0;
  };
  const waitGsa = (d: Branchgate, n: number, timeoutMs = 30_000) => waitFor(`BGP Established with ${n} prefixes and GSA's routes accepted`, async () => {
    const s = await status(d);
    const nb = s.bgp?.neighbors.find((x) => x.address === GSA_BGP);
    return nb?.state === 'Established' && nb.received === n && s.internet?.gsaRoutes?.state === 'accepted' ? s : undefined;
  }, timeoutMs, 250);
  const viaTunnel = () => waitFor('the branch\'s internet traffic routed into bg0', async () =>
    ((await routeGet(topo!.cpe, INTERNET, ADDR.branch)).dev === TUN ? true : undefined), 10_000, 100);

  /** Acceptance 1 for one form: through the tunnel, IKE/ESP on the underlay, bypass direct. */
  const throughTunnelAndBypass = async (form: Form, iperfSeconds: number) => {
    const { t, d, sw, cap: c } = ready();
    await Promise.all([d.waitEstablished(TUNNEL, 20_000), sw.waitEstablished(CONN, 20_000)]);
    const s = await waitGsa(d, internetRoutes(form).length, form === 'many' ? 60_000 : 30_000);
    expect(statusSchemaProblems(s), 'status --json against schema/status.schema.json').toEqual([]);
    await viaTunnel();
    expect((await routeGet(t.cpe, ADDR.gwIke)).dev, 'the endpoint keeps the underlay (its /32 pin)').toBe('wan0');
    expect((await routeGet(t.cpe, INET.dns)).dev, 'the name server keeps the underlay (its /32 pin)').toBe('wan0');
    const t0 = Date.now();
    const v0 = await counter('viaTun');
    const p = await ping(t.branch, INTERNET, 5, { intervalS: 0.2 });
    expect(p.received, `branch → ${INTERNET} through the tunnel\n${p.output}`).toBe(5);
    const perf = await iperf3(t.branch, t.gw, INTERNET, { seconds: iperfSeconds });
    const stalls = perf.intervals.filter((i) => i.bytes === 0).length;
    const v1 = await counter('viaTun');
    expect(v1 - v0, 'the endpoint counted the branch\'s internet packets arriving through the tunnel').toBeGreaterThanOrEqual(5 + perf.intervals.length);
    expect(stalls, 'iperf3: no second without data').toBe(0);
    expect(c.since(t0, new RegExp(`> ${INTERNET.replace(/\./g, '\\.')}\\.`)), 'the ISP saw no branch packet to the internet').toEqual([]);
    const tun = await d.tunnel(TUNNEL);
    expect(tun?.state, 'the tunnel stayed established (its IKE/ESP kept the underlay)').toBe('established');
    // Bypass: a prefix and a host name go direct, whatever GSA advertises.
    const host = s.internet?.bypass.hostnames.find((h) => h.name === INET.hostname);
    expect(host?.addresses, 'the bypass host name resolved through the lab DNS').toEqual([INET.hostnameAddr]);
    expect(host?.lastResolved).not.toBeNull();
    const b0 = await counter('bypassViaTun');
    const t1 = Date.now();
    for (const dst of [INET.directHost, INET.hostnameAddr]) {
      const q = await ping(t.branch, dst, 3, { intervalS: 0.2 });
      expect(q.received, `branch → bypass ${dst} direct\n${q.output}`).toBe(3);
      const seen = await waitFor(`the ISP sees the bypass traffic to ${dst}`, async () => {
        const n = c.since(t1, new RegExp(`> ${dst.replace(/\./g, '\\.')}:`)).length;
        return n >= 3 ? n : undefined;
      }, 3000, 100).catch(() => c.since(t1, new RegExp(`> ${dst.replace(/\./g, '\\.')}:`)).length);
      expect(seen, `the ISP saw the bypass traffic to ${dst}`).toBeGreaterThanOrEqual(3);
    }
    expect(await counter('bypassViaTun') - b0, 'no bypass packet at the endpoint').toBe(0);
    console.log(`[gsa-internet] form ${form}: ${internetRoutes(form).length} prefixes accepted; iperf3 ${iperfSeconds} s through the tunnel ` +
      `${mbit(perf.bitsPerSecond)} Mbit/s, ${stalls} s without data; endpoint counted ${v1 - v0} packets; bypass ${INET.directHost} and ${INET.hostname} direct`);
  };

  /** Kill the endpoint (charon + BIRD), bring it back after holdMs; returns the timeline (ms from the kill). */
  const outage = async (form: Form, holdMs: number) => {
    const { d, sw } = ready();
    const killedAt = Date.now();
    await sw.kill();
    await killPeer();
    const deadAt = await waitFor('the daemon noticed the dead endpoint', async () => ((await d.tunnel(TUNNEL))?.state !== 'established' ? Date.now() : undefined), 15_000, 50);
    await new Promise((r) => setTimeout(r, Math.max(0, holdMs - (Date.now() - killedAt))));
    const restartAt = Date.now();
    await sw.restart();
    await startPeer(form);
    await d.waitEstablished(TUNNEL, 30_000);
    const upAt = Date.now();
    await waitGsa(d, internetRoutes(form).length);
    await viaTunnel();
    return { killedAt, dead: deadAt - killedAt, restart: restartAt - killedAt, up: upAt - killedAt, back: Date.now() - killedAt };
  };

  it('run 1 (0.0.0.0/0, security): internet through the tunnel with a 60 s iperf3, bypass direct', async () => {
    await startPeer('default');
    bg = await startDaemon('ia1', 'security', 'block');
    await throughTunnelAndBypass('default', 60);
  }, 150_000);

  it('run 1: ipv6 block drops what the branch sends to the internet, counted exactly', async () => {
    const { t, d, cap6: c } = ready();
    const before = one(await scrape(t.cpe, METRICS), 'branchgate_ipv6_dropped_total', {});
    const t0 = Date.now();
    const p = await exec(t.branch, ['ping', '-6', '-n', '-c', '5', '-i', '0.2', '-W', '1', INET.host6], { allowFail: true });
    expect(p.stdout, 'no IPv6 reply').toMatch(/5 packets transmitted, 0 received/);
    const after = await waitFor('branchgate_ipv6_dropped_total +5', async () => {
      const v = one(await scrape(t.cpe, METRICS), 'branchgate_ipv6_dropped_total', {});
      return v !== undefined && v - (before ?? 0) >= 5 ? v : undefined;
    }, 10_000, 250);
    expect(after - (before ?? 0), 'the counter equals what was sent').toBe(5);
    await new Promise((r) => setTimeout(r, 300));
    expect(c.since(t0), 'zero IPv6 packets from the branch at the ISP').toEqual([]);
    expect(readFileSync(d.stdoutPath, 'utf8')).toMatch(/ipv6: dropping IPv6 from the branch/);
    // The bypass set and its last resolution, as metrics.
    const m = await scrape(t.cpe, METRICS);
    expect(one(m, 'branchgate_bypass_hostname_addresses', { hostname: INET.hostname })).toBe(1);
    expect(one(m, 'branchgate_bypass_hostname_last_resolved_timestamp_seconds', { hostname: INET.hostname })).toBeGreaterThan(Date.now() / 1000 - 600);
    expect(one(m, 'branchgate_bypass_hostname_resolving', { hostname: INET.hostname })).toBe(1);
    expect(one(m, 'branchgate_internet_gsa_routes_accepted')).toBe(1);
    console.log(`[gsa-internet] ipv6 block: 5 sent, ${after - (before ?? 0)} counted, 0 at the ISP`);
  }, 30_000);

  it('run 1: security — endpoint killed: no branch packet reaches the ISP until the tunnel is back', async () => {
    const { t, cap: c } = ready();
    const pings = pinger(t.branch, INTERNET, 0.05);
    await new Promise((r) => setTimeout(r, 500));
    const tl = await outage('default', 5000);
    await new Promise((r) => setTimeout(r, 1000));
    const out = await pings.stop();
    const leaked = c.since(tl.killedAt, new RegExp(`> ${INTERNET.replace(/\./g, '\\.')}:`));
    const replies = out.split('\n').filter((l) => /bytes from/.test(l)).map((l) => Number(/^\[(\d+\.\d+)\]/.exec(l)?.[1]) * 1000);
    const firstBack = replies.find((r) => r > tl.killedAt + tl.dead);
    console.log(`[gsa-internet] security: dpd-dead ${tl.dead} ms after the kill; endpoint restarted at ${tl.restart} ms; tunnel up at ${tl.up} ms; ` +
      `GSA's routes back at ${tl.back} ms; first reply through the tunnel at ${firstBack ? Math.round(firstBack - tl.killedAt) : '?'} ms; ${leaked.length} packets at the ISP`);
    expect(leaked, 'the ISP saw no branch packet to the internet while the tunnel was down').toEqual([]);
    expect(firstBack, 'traffic came back through the tunnel').toBeDefined();
  }, 90_000);

  it('run 1: stop leaves every route, rule, pin and nftables table as before', async () => {
    const { t, d } = ready();
    await d.stop();
    bg = undefined;
    expect(await hostState(t.cpe)).toBe(baseline);
  }, 30_000);

  it('run 2 (0.0.0.0/1 + 128.0.0.0/1, productivity): through the tunnel; endpoint killed: direct within the DPD bound, back after', async () => {
    await bg?.stop();
    await killPeer();
    await startPeer('split');
    bg = await startDaemon('ia2', 'productivity', 'block');
    await throughTunnelAndBypass('split', 5);
    const { t, cap: c } = ready();
    const pings = pinger(t.branch, INTERNET, 0.05);
    await new Promise((r) => setTimeout(r, 500));
    const tl = await outage('split', 6000);
    await new Promise((r) => setTimeout(r, 1500));
    const v0 = await counter('viaTun');
    const settled = Date.now();
    await new Promise((r) => setTimeout(r, 1000));
    await pings.stop();
    const direct = c.since(tl.killedAt, new RegExp(`> ${INTERNET.replace(/\./g, '\\.')}:`));
    const firstDirect = direct[0] ? Math.round(direct[0].t * 1000 - tl.killedAt) : undefined;
    const lastDirect = direct.length ? Math.round(direct[direct.length - 1]!.t * 1000 - tl.killedAt) : undefined;
    console.log(`[gsa-internet] productivity: dpd-dead ${tl.dead} ms; first packet direct at the ISP ${firstDirect} ms after the kill; ` +
      `endpoint restarted at ${tl.restart} ms, tunnel up ${tl.up} ms, GSA's routes back ${tl.back} ms; last direct packet ${lastDirect} ms ` +
      `(${lastDirect !== undefined ? lastDirect - tl.restart : '?'} ms after the restart); ${direct.length} packets went direct`);
    expect(firstDirect, 'traffic went direct').toBeDefined();
    // dpd 1 s: dead 2.32 s after the last authenticated packet (README "Liveness"), plus the
    // machine's load; BIRD withdraws at once, so traffic goes direct right after dpd-dead.
    expect(tl.dead, 'dpd-dead within 2.32 × dpd (+1.5 s for a loaded 2-core machine)').toBeLessThanOrEqual(3820);
    expect(firstDirect!, 'direct within 0.5 s of dpd-dead').toBeLessThanOrEqual(tl.dead + 500);
    expect(c.since(settled, new RegExp(`> ${INTERNET.replace(/\./g, '\\.')}:`)), 'back in the tunnel: nothing direct any more').toEqual([]);
    expect(await counter('viaTun') - v0, 'the endpoint counts the traffic again').toBeGreaterThan(5);
    await ready().d.stop();
    bg = undefined;
    expect(await hostState(t.cpe)).toBe(baseline);
  }, 150_000);

  it('run 3 (3,552 /12s, security, ipv6 allow): through the tunnel; IPv6 passes with a warning; SIGKILL + restart + stop leave nothing', async () => {
    await bg?.stop();
    await killPeer();
    await startPeer('many');
    bg = await startDaemon('ia3', 'security', 'allow');
    await throughTunnelAndBypass('many', 5);
    const { t, d, cap6: c, cap: c4 } = ready();
    const t0 = Date.now();
    const p = await exec(t.branch, ['ping', '-6', '-n', '-c', '5', '-i', '0.2', '-W', '1', INET.host6], { allowFail: true });
    expect(p.stdout, 'IPv6 passes with ipv6: allow').toMatch(/5 packets transmitted, 5 received/);
    const seen6 = await waitFor('the ISP sees the branch\'s IPv6', async () => (c.since(t0).length >= 5 ? c.since(t0).length : undefined), 3000, 100)
      .catch(() => c.since(t0).length);
    expect(seen6, 'the ISP saw the branch\'s IPv6').toBeGreaterThanOrEqual(5);
    expect(readFileSync(d.stdoutPath, 'utf8')).toMatch(/ipv6: allow — IPv6 traffic does not enter the tunnel and bypasses security evaluation/);
    // The underlay check: a policy rule of "someone else" sends the endpoint into bg0. GSA's
    // routes must be refused (security: held, nothing direct) and accepted again once it is gone.
    await exec(t.cpe, ['ip', 'route', 'add', 'default', 'dev', TUN, 'table', '4321']);
    await exec(t.cpe, ['ip', 'rule', 'add', 'pref', '100', 'to', ADDR.gwIke, 'lookup', '4321']);
    const refusedAt = Date.now();
    let removedAt = 0;
    const unroute = async () => {
      removedAt = Date.now();
      await exec(t.cpe, ['ip', 'rule', 'del', 'pref', '100'], { allowFail: true });
      await exec(t.cpe, ['ip', 'route', 'flush', 'table', '4321'], { allowFail: true });
    };
    let refused: { state: string; reason?: string; since?: string };
    try {
      refused = await waitFor('GSA\'s routes refused', async () => {
        const st = (await status(d)).internet?.gsaRoutes;
        return st?.state === 'refused' ? st : undefined;
      }, 10_000, 200);
      // ping without a deadline (-w would keep sending until replies come): 3 echoes, 1 s each
      const held = await exec(t.branch, ['ping', '-n', '-c', '3', '-i', '0.2', '-W', '1', INTERNET], { allowFail: true });
      expect(held.stdout, 'security: held while refused').toMatch(/3 packets transmitted, 0 received/);
    } finally {
      await unroute();
    }
    expect(refused.reason).toBe(`${ADDR.gwIke} resolves into tunnel interface ${TUN}`);
    expect(readFileSync(d.stdoutPath, 'utf8')).toContain(`internet access: GSA's routes refused: ${ADDR.gwIke} resolves into tunnel interface ${TUN}`);
    const back = await waitFor('GSA\'s routes accepted again', async () => ((await status(d)).internet?.gsaRoutes?.state === 'accepted' ? Date.now() : undefined), 10_000, 200);
    console.log(`[gsa-internet] underlay check: refused ${refused.since ? Date.parse(refused.since) - refusedAt : '?'} ms after the endpoint was routed into ${TUN}, accepted again ${back - removedAt} ms after it was removed (checked every 3 s)`);
    expect(c4.since(refusedAt, new RegExp(`> ${INTERNET.replace(/\./g, '\\.')}:`)), 'nothing direct while refused').toEqual([]);
    // SIGKILL the daemon and its BIRD (a service manager kills the whole group).
    const pids = (await run(['pgrep', '-f', d.configFile])).stdout.trim().split('\n').map(Number).filter((n) => n > 0);
    const children = (await run(['pgrep', '-P', pids.join(',')], { allowFail: true })).stdout.trim().split('\n').map(Number).filter((n) => n > 0);
    for (const pid of [...pids, ...children]) process.kill(pid, 'SIGKILL');
    await waitFor('daemon gone', async () => ((await run(['pgrep', '-f', d.configFile], { allowFail: true })).stdout.trim() === '' ? true : undefined), 5000, 100);
    expect(await hostState(t.cpe), 'the killed daemon left its rules and routes behind').not.toBe(baseline);
    await d.stop({ keepDir: false });
    bg = await startDaemon('ia4', 'security', 'allow');
    await bg.waitEstablished(TUNNEL, 30_000);
    await bg.stop();
    bg = undefined;
    expect(await hostState(t.cpe), 'restart + stop: every route, rule, pin and table gone; the branch\'s own routes as before').toBe(baseline);
  }, 150_000);
});
