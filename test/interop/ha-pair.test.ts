/**
 * docs/ha.md acceptance: two branchgate boxes on one LAN segment sharing the gateway address
 * 100.64.10.1 through VRRP (keepalived, supervised by each daemon), each with its own tunnel and
 * BGP session to one emulated GSA endpoint (branchgate as responder + its BIRD, route-based: the
 * endpoint's return traffic follows the BGP route to the branch LAN, as GSA's does).
 *
 *   branch ─┐                      ┌─ boxa (prio 200) ─ wan0 ─┐
 *           ├─ br0 (bridge, "lan") ┤                         ├─ wan ─ gw (branchgate responder,
 *           │                      └─ boxb (prio 100) ─ wan0 ─┘        BIRD) ─ svc 100.64.20.10
 *
 * 1. box failure: SIGKILL of every process of the master (branchgate, BIRD, keepalived) while
 *    a 20 Hz ping and iperf3 run from the branch; the gap and the endpoint's route are measured.
 * 2. tunnel failure on the master (its WAN cut at the underlay): the address moves within
 *    DPD's bound + 1 s; after the cut heals the master takes it back (preempt true).
 * 3. partition of the LAN between the boxes (bridge filter): split brain is reported by both
 *    boxes (status, log); after healing exactly one master remains.
 * 4. reload: a new priority reaches keepalived with SIGHUP (same process).
 * 5. stop: no keepalived, virtual address or route left behind.
 *
 * Lab addresses only; the Microsoft 365 prefixes never appear here.
 */
import { chownSync, existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { Branchgate, requireBuild, type BgTunnelConfig } from './lab/branchgate.js';
import { routeGet } from './lab/topology.js';
import { iperf3, mbit, requireTrafficTools } from './lab/traffic.js';
import { one, scrape } from './lab/metrics-scrape.js';
import { statusSchemaProblems } from '../helpers/status-schema.js';
import { addAddress, addVeth, createNamespace, deleteNamespace, exec, run, sweepStale, uniqueName, waitFor } from './lab/netns.js';

const BIRD = ['/usr/sbin/bird', '/usr/bin/bird'].find((p) => existsSync(p));
const KEEPALIVED = ['/usr/sbin/keepalived', '/usr/bin/keepalived'].find((p) => existsSync(p));
const LAN = '100.64.10.0/24';
const VIP = '100.64.10.1';
const BRANCH = '100.64.10.2';
const SVC = '100.64.20.10';
const SVC_PREFIX = '100.64.20.0/24';
const GW_IKE = '198.51.100.2';
const GW_BGP = '100.64.0.2';
const DPD = 1;
const ADVERT = 0.2;
const METRICS = '127.0.0.1:9479';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Box { name: 'a' | 'b'; ns: string; lan: string; wan: string; wanGw: string; bgp: string; priority: number; psk: string; port: string; gwTun: string; bg?: Branchgate }
interface HaDoc { role: string; priority: number; configuredPriority: number; healthy: boolean; splitBrain: boolean; virtualAddresses: string[]; keepalived: { running: boolean; pid?: number } }
interface Doc { tunnels: { name: string; state: string }[]; bgp?: { neighbors: { address: string; state: string; received: number; advertised: number }[] }; ha?: HaDoc }

describe('HA pair on VRRP (keepalived): box failure, tunnel failure, split brain, stop', () => {
  const made: string[] = [];
  let lan = '';
  let branch = '';
  let wan = '';
  let gw = '';
  let svc = '';
  let gwBg: Branchgate | undefined;
  const boxes: Box[] = [
    { name: 'a', ns: '', lan: '100.64.10.3', wan: '192.0.2.2', wanGw: '192.0.2.1', bgp: '100.64.0.1', priority: 200, psk: 'ha-box-a-psk-51c0', port: 'pa', gwTun: 'ta' },
    { name: 'b', ns: '', lan: '100.64.10.4', wan: '192.0.2.6', wanGw: '192.0.2.5', bgp: '100.64.0.5', priority: 100, psk: 'ha-box-b-psk-7e2d', port: 'pb', gwTun: 'tb' },
  ];
  const [A, B] = boxes as [Box, Box];
  const other = (x: Box) => (x === A ? B : A);

  const ns = async (tag: string): Promise<string> => {
    const n = await createNamespace(uniqueName(tag));
    made.push(n);
    return n;
  };

  const boxTunnels = (x: Box): BgTunnelConfig[] => [{
    name: 'gsa', localAddress: x.wan, remoteAddress: GW_IKE, psk: x.psk, profile: 'gsa-default',
    dpd: DPD, interface: 'bg0', mtu: 1380, mssClamp: 1340, routes: [],
  }];
  const boxExtra = (x: Box, priority = x.priority): Record<string, unknown> => ({
    ...(x === B ? { privileges: { user: 'nobody', group: 'nogroup' } } : {}),
    control: { metrics: METRICS },
    routing: { failMode: 'open', pinUnderlay: true },
    bgp: { asn: 65010, address: x.bgp, advertise: [LAN], holdTime: 9, neighbors: [{ address: GW_BGP, asn: 65476, tunnel: 'gsa' }] },
    ha: {
      interface: 'lan0', virtualAddresses: [`${VIP}/24`], routerId: 51, priority, peer: other(x).lan,
      advertInterval: ADVERT, preempt: true, probe: { peer: other(x).wan }, keepalived: KEEPALIVED,
    },
  });

  async function startBox(x: Box): Promise<void> {
    x.bg = await Branchgate.start(x.ns, boxTunnels(x), {
      tag: `habox${x.name}`, logLevel: 'info',
      // Box b drops root (privileges.user): its keepalived then runs as nobody with the kept
      // capabilities, CAP_NET_RAW included (docs/ha.md "Privileges").
      ...(x === B ? { beforeLaunch: (b: Branchgate) => chownSync(b.dir, 65534, 65534) } : {}),
      extra: boxExtra(x),
    });
  }

  const doc = async (bg: Branchgate): Promise<Doc> => JSON.parse((await bg.cli(['status', '--json'])).stdout) as Doc;
  const hasVip = async (x: Box): Promise<boolean> => (await exec(x.ns, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'lan0'], { allowFail: true })).stdout.includes(`${VIP}/24`);
  /** The endpoint's route back to the branch: which box's tunnel it uses. */
  const gwRoute = async (): Promise<string | undefined> => (await routeGet(gw, BRANCH).catch(() => ({ dev: undefined }))).dev;

  const waitHealthy = (x: Box, timeoutMs = 30_000) => waitFor(`box ${x.name}: tunnel and BGP up (ha.healthy)`, async () => {
    const d = await doc(x.bg!);
    return d.ha?.healthy && d.tunnels.every((t) => t.state === 'established') && d.bgp?.neighbors.every((n) => n.state === 'Established') ? d : undefined;
  }, timeoutMs, 200);

  const waitMaster = (x: Box, timeoutMs = 15_000) => waitFor(`box ${x.name} master with the address, box ${other(x).name} backup without it`, async () => {
    const [dx, dy] = [await doc(x.bg!), await doc(other(x).bg!)];
    return dx.ha?.role === 'master' && dy.ha?.role === 'backup' && (await hasVip(x)) && !(await hasVip(other(x))) ? true : undefined;
  }, timeoutMs, 100);

  beforeAll(async () => {
    if (!BIRD) throw new Error('bird is not installed: apt-get install -y bird2 (interop tests never skip)');
    if (!KEEPALIVED) throw new Error('keepalived is not installed: apt-get install -y keepalived (interop tests never skip)');
    requireTrafficTools();
    requireBuild();
    sweepStale();
    lan = await ns('haln');
    branch = await ns('habr');
    wan = await ns('hawn');
    gw = await ns('hagw');
    svc = await ns('hasv');
    for (const x of boxes) x.ns = await ns(`hab${x.name}`);

    // The LAN segment: a bridge in its own namespace, one port per host.
    await exec(lan, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
    await exec(lan, ['ip', 'link', 'set', 'br0', 'up']);
    const port = async (peerNs: string, portName: string) => {
      await addVeth(lan, portName, peerNs, 'lan0');
      await exec(lan, ['ip', 'link', 'set', portName, 'master', 'br0']);
    };
    await port(branch, 'pbr');
    await addAddress(branch, 'lan0', `${BRANCH}/24`);
    await exec(branch, ['ip', 'route', 'add', 'default', 'via', VIP]);
    await exec(wan, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    for (const x of boxes) {
      await port(x.ns, x.port);
      await addAddress(x.ns, 'lan0', `${x.lan}/24`);
      await addVeth(x.ns, 'wan0', wan, `w${x.name}`);
      await addAddress(x.ns, 'wan0', `${x.wan}/30`);
      await addAddress(wan, `w${x.name}`, `${x.wanGw}/30`);
      await exec(x.ns, ['ip', 'route', 'add', 'default', 'via', x.wanGw]);
      await exec(x.ns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    }
    await addVeth(wan, 'wgw', gw, 'up0');
    await addAddress(wan, 'wgw', '198.51.100.1/29');
    await addAddress(gw, 'up0', `${GW_IKE}/29`);
    await exec(gw, ['ip', 'route', 'add', 'default', 'via', '198.51.100.1']);
    await addAddress(gw, 'lo', `${GW_BGP}/32`);
    await exec(gw, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
    await addVeth(gw, 'svc0', svc, 's0');
    await addAddress(gw, 'svc0', '100.64.31.1/30');
    await addAddress(svc, 's0', '100.64.31.2/30');
    await addAddress(svc, 'lo', `${SVC}/32`);
    await exec(svc, ['ip', 'route', 'add', 'default', 'via', '100.64.31.1']);
    await exec(gw, ['ip', 'route', 'add', `${SVC}/32`, 'via', '100.64.31.2']);

    // The endpoint: one responder tunnel per box (its own TUN), BGP to both boxes; the route to
    // the branch LAN is whatever BGP says (no static route), like GSA's.
    gwBg = await Branchgate.start(gw, boxes.map((x) => ({
      name: `box${x.name}`, localAddress: GW_IKE, remoteAddress: x.wan, psk: x.psk, profile: 'gsa-default', initiate: false,
      dpd: DPD, interface: x.gwTun, mtu: 1380, mssClamp: 1340, routes: [], remoteTs: [LAN, `${x.bgp}/32`],
    })), {
      tag: 'hagw', logLevel: 'info',
      extra: {
        routing: { failMode: 'open', pinUnderlay: false },
        bgp: { asn: 65476, address: GW_BGP, advertise: [SVC_PREFIX], holdTime: 9, neighbors: boxes.map((x) => ({ address: x.bgp, asn: 65010, tunnel: `box${x.name}` })) },
      },
    });
    for (const x of boxes) await startBox(x);
    for (const x of boxes) await waitHealthy(x, 40_000);
    await waitMaster(A, 20_000);
    // Both boxes' status documents, master and backup, as schema/status.schema.json defines them.
    for (const x of boxes) expect(statusSchemaProblems(await doc(x.bg!)), `box ${x.name} status --json`).toEqual([]);
  }, 120_000);

  afterAll(async () => {
    for (const x of boxes) await x.bg?.stop().catch(() => undefined);
    await gwBg?.stop().catch(() => undefined);
    for (const n of made.reverse()) await deleteNamespace(n);
  });

  const diag = () => onTestFailed(async () => {
    const parts: string[] = [];
    for (const x of [...boxes]) {
      parts.push(x.bg?.logs(60) ?? '', `--- box ${x.name} status ---\n${(await x.bg?.cli(['status', '--json'], true))?.stdout}`);
      parts.push(`--- box ${x.name} addr ---\n${(await exec(x.ns, ['ip', '-4', '-o', 'addr'], { allowFail: true })).stdout}`);
    }
    parts.push(gwBg?.logs(40) ?? '', `--- gw routes ---\n${(await exec(gw, ['ip', 'route'], { allowFail: true })).stdout}`);
    console.error(parts.join('\n'));
  });

  it('both boxes hot: tunnel and BGP up on each; only the master announces the LAN and the endpoint routes to it', async () => {
    diag();
    await waitFor('endpoint routes the branch LAN through box a', async () => ((await gwRoute()) === A.gwTun ? true : undefined), 15_000);
    // The endpoint learns the LAN from box a only: box b (backup) has withdrawn it.
    const g = await waitFor('endpoint: both sessions Established, the LAN from box a only', async () => {
      const d = await doc(gwBg!);
      const n = (x: Box) => d.bgp!.neighbors.find((m) => m.address === x.bgp)!;
      return n(A).state === 'Established' && n(B).state === 'Established' && n(A).received === 1 ? d : undefined;
    }, 15_000);
    expect(g.bgp!.neighbors.find((m) => m.address === B.bgp)).toMatchObject({ state: 'Established', received: 0 });
    const p = await exec(branch, ['ping', '-n', '-c', '3', '-i', '0.2', SVC], { allowFail: true });
    expect(p.code, p.stdout).toBe(0);
    const metrics = (await doc(A.bg!)).ha!;
    expect(metrics).toMatchObject({ role: 'master', priority: 200, healthy: true, splitBrain: false, virtualAddresses: [`${VIP}/24`] });
    // Metrics: the role state set and the tracking input.
    const samples = await scrape(B.ns, METRICS);
    expect(one(samples, 'branchgate_ha_role', { role: 'backup' })).toBe(1);
    expect(one(samples, 'branchgate_ha_role', { role: 'master' })).toBe(0);
    expect(one(samples, 'branchgate_ha_priority')).toBe(100);
    expect(one(samples, 'branchgate_ha_healthy')).toBe(1);
    expect(one(samples, 'branchgate_ha_split_brain')).toBe(0);
    const hb = (await doc(B.bg!)).ha!;
    expect(hb).toMatchObject({ role: 'backup', priority: 100, healthy: true });
    // Box b dropped root: its keepalived runs as nobody with exactly NET_ADMIN, NET_BIND_SERVICE, NET_RAW.
    const st = readFileSync(`/proc/${hb.keepalived.pid}/status`, 'utf8');
    expect(/^Uid:\s+(\d+)/m.exec(st)?.[1]).toBe('65534');
    expect(/^CapEff:\s+([0-9a-f]+)/m.exec(st)?.[1]).toBe('0000000000003400');
  }, 40_000);

  it('tunnel failure on the master: the address moves within DPD\'s bound + 1 s; preempt brings it back when the tunnel returns', async () => {
    diag();
    const pingP = exec(branch, ['ping', '-n', '-i', '0.05', '-c', '300', '-W', '1', SVC], { allowFail: true, timeoutMs: 40_000 });
    await sleep(1000);
    // Cut box a's path to the endpoint at the underlay (both directions): the box stays up and
    // still reaches box b's WAN address (the split-brain probe's path), its tunnel dies.
    await nft(wan, 'add table ip hacut', 'add chain ip hacut cut { type filter hook forward priority 0 ; }',
      `add rule ip hacut cut ip saddr ${A.wan} ip daddr ${GW_IKE} drop`, `add rule ip hacut cut ip saddr ${GW_IKE} ip daddr ${A.wan} drop`);
    const cutAt = Date.now();
    const movedMs = await waitFor('address on box b', async () => ((await hasVip(B)) && !(await hasVip(A)) ? Date.now() - cutAt : undefined), 10_000, 50);
    const bound = 2.32 * DPD * 1000 + 1000;
    const aDoc = await doc(A.bg!);
    await exec(wan, ['nft', 'delete', 'table', 'ip', 'hacut']);
    const healedAt = Date.now();
    await waitHealthy(A, 30_000);
    const healthyMs = Date.now() - healedAt;
    await waitMaster(A, 10_000);
    const backMs = Date.now() - healedAt;
    const ping = await pingP;
    const gap = longestGap(ping.stdout, 300) * 0.05;
    console.log(`[ha] tunnel cut on master a: address on b after ${movedMs} ms (bound ${bound} ms = 2.32 × dpd ${DPD}s + 1 s); ` +
      `cut healed: a healthy after ${healthyMs} ms, master again (preempt) after ${backMs} ms; 20 Hz ping longest gap ${gap.toFixed(2)} s`);
    expect(movedMs).toBeLessThan(bound);
    // Unhealthy while b is healthy: a resigned (FAULT, priority-0 advert) rather than waiting for
    // b's Master_Down_Interval.
    expect(aDoc.ha).toMatchObject({ healthy: false, resigned: true, priority: 0, role: 'fault' });
    await waitFor('endpoint routes the branch LAN through box a again', async () => ((await gwRoute()) === A.gwTun ? true : undefined), 10_000);
  }, 60_000);

  it('box failure: SIGKILL of the master\'s branchgate, BIRD and keepalived; ping gap < 3 s, iperf3 resumes, return traffic goes to the new master', async () => {
    diag();
    const SECONDS = 14;
    const PING_N = (SECONDS - 1) * 20;
    const pingP = exec(branch, ['ping', '-n', '-i', '0.05', '-c', String(PING_N), '-W', '1', SVC], { allowFail: true, timeoutMs: (SECONDS + 10) * 1000 });
    const perfP = iperf3(branch, svc, SVC, { seconds: SECONDS });
    const mon = await B.bg!.monitor();
    await sleep(2200);
    const pids = (await run(['ip', 'netns', 'pids', A.ns])).stdout.split(/\s+/).filter(Boolean).map(Number);
    const names = pids.map((p) => { try { return readFileSync(`/proc/${p}/comm`, 'utf8').trim(); } catch { return '?'; } });
    const killedAt = Date.now();
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    const vipMs = await waitFor('address on box b', async () => ((await hasVip(B)) ? Date.now() - killedAt : undefined), 10_000, 50);
    const routeMs = await waitFor('endpoint routes the branch LAN through box b', async () => ((await gwRoute()) === B.gwTun ? Date.now() - killedAt : undefined), 10_000, 50);
    // With ECMP (bgp.multipath, the default) the dead box's next hop stays beside the new one
    // until the endpoint's DPD drops that session: measure when it is gone altogether.
    const deadHopMs = await waitFor('no next hop via box a at the endpoint', async () => {
      const r = (await exec(gw, ['ip', 'route', 'show', LAN], { allowFail: true })).stdout;
      return r.includes(`dev ${B.gwTun}`) && !r.includes(`dev ${A.gwTun}`) ? Date.now() - killedAt : undefined;
    }, 10_000, 50);
    const [perf, ping] = await Promise.all([perfP, pingP]);
    const gap = longestGap(ping.stdout, PING_N) * 0.05;
    console.log(`[ha] box failure: SIGKILL ${names.join(',')} in box a; address on b after ${vipMs} ms; endpoint's route to the LAN via b's tunnel after ${routeMs} ms, a's next hop gone after ${deadHopMs} ms; ` +
      `20 Hz ping longest gap ${gap.toFixed(2)} s; iperf3 1 s intervals (Mbit/s): ${perf.intervals.map((i) => mbit(i.bitsPerSecond)).join(' ')}`);
    expect(names).toEqual(expect.arrayContaining(['keepalived', 'bird']));
    expect(gap, 'longest ping gap (s)').toBeLessThan(3);
    expect(perf.intervals.slice(-2).every((i) => i.bytes > 0), 'iperf3 resumed').toBe(true);
    const g = await doc(gwBg!);
    expect(g.bgp!.neighbors.find((m) => m.address === B.bgp)).toMatchObject({ state: 'Established', received: 1 });
    expect((await doc(B.bg!)).ha).toMatchObject({ role: 'master' });
    const ev = await mon.wait('ha-role to master on box b', (e) => e.type === 'ha-role' && e.to === 'master', 2000);
    expect(ev.event).toMatchObject({ source: 'ha', from: 'backup', to: 'master' });
    expect(one(await scrape(B.ns, METRICS), 'branchgate_ha_role', { role: 'master' })).toBe(1);
    // Box a comes back: its own stale address is removed before keepalived starts, then it preempts.
    await A.bg!.stop({ graceMs: 100 }).catch(() => undefined);
    await startBox(A);
    await waitHealthy(A, 40_000);
    await waitMaster(A, 15_000);
  }, 120_000);

  it('LAN partition between the boxes: split brain detected, logged and in status; one master after healing', async () => {
    diag();
    await nft(lan, 'add table bridge hapart', 'add chain bridge hapart cut { type filter hook forward priority 0 ; }',
      `add rule bridge hapart cut iifname ${A.port} oifname ${B.port} drop`, `add rule bridge hapart cut iifname ${B.port} oifname ${A.port} drop`);
    const cutAt = Date.now();
    const both = await waitFor('both boxes report split brain', async () => {
      const [da, db] = [await doc(A.bg!), await doc(B.bg!)];
      return da.ha?.splitBrain && db.ha?.splitBrain ? { da, db, ms: Date.now() - cutAt } : undefined;
    }, 15_000, 100);
    expect(both.da.ha?.role).toBe('master');
    expect(both.db.ha?.role).toBe('master');
    const logged = (x: Box) => x.bg!.logRecords().some((r) => typeof r.msg === 'string' && r.msg.includes('SPLIT BRAIN'));
    expect(logged(A) && logged(B), 'split brain logged on both boxes').toBe(true);
    await exec(lan, ['nft', 'delete', 'table', 'bridge', 'hapart']);
    const healAt = Date.now();
    await waitMaster(A, 10_000);
    const oneMs = Date.now() - healAt;
    await waitFor('split brain cleared on both', async () => (!(await doc(A.bg!)).ha?.splitBrain && !(await doc(B.bg!)).ha?.splitBrain ? true : undefined), 10_000);
    await sleep(1500);
    const [da, db] = [await doc(A.bg!), await doc(B.bg!)];
    console.log(`[ha] LAN partition: split brain reported by both after ${both.ms} ms; after healing one master (a) after ${oneMs} ms`);
    expect([da.ha?.role, db.ha?.role].filter((r) => r === 'master')).toHaveLength(1);
    expect((await hasVip(A)) && !(await hasVip(B))).toBe(true);
  }, 60_000);

  it('reload: a new priority reaches keepalived (SIGHUP); box b with 250 takes the address', async () => {
    diag();
    const pid = (await doc(B.bg!)).ha!.keepalived.pid;
    B.bg!.writeConfig(boxTunnels(B), 'info', boxExtra(B, 250));
    const r = await B.bg!.cli(['reload']);
    expect(r.code, r.stderr).toBe(0);
    const t0 = Date.now();
    await waitMaster(B, 10_000);
    const d = (await doc(B.bg!)).ha!;
    console.log(`[ha] reload of box b with priority 250: master after ${Date.now() - t0} ms, same keepalived (pid ${pid} → ${d.keepalived.pid})`);
    expect(d).toMatchObject({ role: 'master', priority: 250, configuredPriority: 250 });
    expect(d.keepalived.pid, 'reloaded in place, not restarted').toBe(pid);
  }, 30_000);

  it('a keepalived that dies is restarted by branchgate (backoff 1 s) and rejoins as backup', async () => {
    diag();
    const before = (await doc(A.bg!)).ha!;
    expect(before.role).toBe('backup');
    const t0 = Date.now();
    process.kill(before.keepalived.pid!, 'SIGKILL');
    const after = await waitFor('box a: a new keepalived, backup again', async () => {
      const h = (await doc(A.bg!)).ha!;
      return h.keepalived.running && h.keepalived.pid !== before.keepalived.pid && h.role === 'backup' ? h : undefined;
    }, 10_000, 100);
    const ms = Date.now() - t0;
    const comms = (await run(['ip', 'netns', 'pids', A.ns])).stdout.split(/\s+/).filter(Boolean)
      .map((p) => { try { return readFileSync(`/proc/${p}/comm`, 'utf8').trim(); } catch { return ''; } });
    console.log(`[ha] keepalived SIGKILLed on box a: restarted and backup again after ${ms} ms (pid ${before.keepalived.pid} → ${after.keepalived.pid})`);
    expect(comms.filter((c) => c === 'keepalived'), 'one keepalived (parent + VRRP child), no orphan').toHaveLength(2);
    expect(await hasVip(A)).toBe(false);
    expect(await hasVip(B)).toBe(true);
  }, 30_000);

  it('stop on either box leaves no keepalived, virtual address or route behind', async () => {
    diag();
    for (const x of [B, A]) {
      const d = await doc(x.bg!);
      const kpid = d.ha!.keepalived.pid!;
      expect(kpid).toBeGreaterThan(0);
      const status = await x.bg!.stop({ keepDir: true });
      expect(status, `box ${x.name} exit status`).toBe(0);
      const pids = (await run(['ip', 'netns', 'pids', x.ns])).stdout.split(/\s+/).filter(Boolean);
      const comms = pids.map((p) => { try { return readFileSync(`/proc/${p}/comm`, 'utf8').trim(); } catch { return ''; } });
      expect(comms.filter((c) => c === 'keepalived' || c === 'bird'), `box ${x.name}: processes left`).toEqual([]);
      expect(await hasVip(x), `box ${x.name}: virtual address left`).toBe(false);
      const routes = (await exec(x.ns, ['ip', 'route', 'show', 'table', 'all'])).stdout.split('\n').filter((l) => /proto (249|bird)/.test(l));
      expect(routes, `box ${x.name}: routes left`).toEqual([]);
      const left = ['keepalived.conf', 'health', 'notify.fifo'].filter((f) => existsSync(`${x.bg!.dir}/ha/${f}`));
      expect(left, `box ${x.name}: HA runtime files left`).toEqual([]);
      if (x === B) await waitFor('box a holds the address once b stopped', async () => ((await hasVip(A)) ? true : undefined), 5000, 50);
    }
  }, 40_000);
});

async function nft(ns: string, ...commands: string[]): Promise<void> {
  for (const c of commands) await exec(ns, ['nft', c]);
}

/** The longest run of missing icmp_seq in 1..n. */
function longestGap(out: string, n: number): number {
  const got = new Set([...out.matchAll(/icmp_seq=(\d+)/g)].map((m) => Number(m[1])));
  let gap = 0;
  let cur = 0;
  for (let q = 1; q <= n; q++) {
    cur = got.has(q) ? 0 : cur + 1;
    gap = Math.max(gap, cur);
  }
  return gap;
}
