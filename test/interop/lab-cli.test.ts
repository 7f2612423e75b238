/**
 * `branchgate lab up` (the built CLI, as a user runs it) brings the whole
 * lab up in under a minute with traffic flowing from the branch host through the tunnel to a
 * service host; `lab status` reports it; `lab down` leaves no namespace, process, route or file.
 *
 * It uses the lab's fixed names (bglab-*), so it refuses to run while someone's lab is up
 * rather than tear it down. Its directory is a fresh one under the system temp dir.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeMissing, missingPrereqs } from '../../src/lab/prereqs.js';
import { labPlan, LAB_PREFIX } from '../../src/lab/plan.js';
import { swanctlConf } from '../../src/lab/strongswan.js';
import { INTERNET_LAB } from '../../src/lab/internet.js';
import { BIN, REPO_ROOT as REPO, requireBuild } from './lab/branchgate.js';
import { requirePrereqs, run } from './lab/netns.js';

const BIRD = ['/usr/sbin/bird', '/usr/bin/bird'].find((p) => existsSync(p));

interface LabState { processes: { name: string; pid: number }[]; cpeSocket: string }

const cli = (args: string[], timeoutMs = 90_000) => run([process.execPath, BIN, ...args], { timeoutMs, allowFail: true });
const labNamespaces = async (): Promise<string[]> =>
  (await run(['ip', 'netns', 'list'])).stdout.split('\n').map((l) => l.split(/\s+/)[0] ?? '').filter((n) => n.startsWith(LAB_PREFIX));
const nsRun = (ns: string, argv: string[]) => run(['ip', 'netns', 'exec', ns, ...argv], { allowFail: true, timeoutMs: 20_000 });
const hostNet = async (): Promise<string> =>
  (await Promise.all([['ip', '-4', 'route', 'show', 'table', 'all'], ['ip', 'rule'], ['ip', '-br', 'link'], ['nft', 'list', 'tables']]
    .map(async (c) => (await run(c, { allowFail: true })).stdout))).join('\n---\n');
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

describe('plan and prerequisites (no root needed)', () => {
  it('names every namespace bglab-*, uses lab addresses only, and gives the pair two PSKs and two BGP addresses', () => {
    const p = labPlan({ endpoints: 2, nat: true, endpoint: 'strongswan', dpd: 1, dir: '/x' });
    expect(p.namespaces.every((n) => n.startsWith('bglab-'))).toBe(true);
    expect(new Set(p.endpoints.map((e) => e.psk)).size).toBe(2);
    expect(p.endpoints.map((e) => e.bgpAddress)).toEqual(['100.64.0.2', '100.64.0.3']);
    const lab = /^(192\.0\.2\.|198\.51\.100\.|203\.0\.113\.|100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\.)/;
    const sendable = [p.branch.address, p.cpe.wanAddress, p.cpe.gateway, p.cpe.bgpAddress, p.internet,
      ...p.endpoints.flatMap((e) => [e.publicAddress, e.routerAddress, e.bgpAddress, e.svcAddress, e.svcGateway])];
    for (const a of sendable) expect(a, a).toMatch(lab);
  });

  it('the endpoint\'s swanctl.conf carries GSA\'s Default table and never remote_ts 0.0.0.0/0', () => {
    const text = swanctlConf([{ name: 'cpe', localAddress: '198.51.100.2', remoteAddress: '%any', localId: '198.51.100.2', remoteId: '192.0.2.2',
      psk: 'x"y', localTs: ['0.0.0.0/0'], remoteTs: ['100.64.10.0/24', '100.64.0.1/32'] }]);
    expect(text).toContain('proposals = aes256gcm16-prfsha384-modp2048s256, aes128gcm16-prfsha256-modp2048s256, aes256-sha384-modp2048s256, aes128-sha256-modp2048s256, aes256gcm16-prfsha384-modp2048, aes128gcm16-prfsha256-modp2048, aes256-sha384-modp2048, aes128-sha256-modp2048');
    expect(text).toContain('esp_proposals = aes256gcm16-noesn, aes192gcm16-noesn, aes128gcm16-noesn');
    expect(text).toContain('remote_ts = 100.64.10.0/24, 100.64.0.1/32');
    expect(text).toContain('secret = "x\\"y"');
    expect(() => swanctlConf([{ name: 'a b', localAddress: '1.2.3.4', remoteAddress: '%any', localId: 'x', remoteId: 'y', psk: 'p', localTs: [], remoteTs: [] }])).toThrow(/name/);
  });

  it('a missing package is named with the exact apt-get line', () => {
    const m = missingPrereqs({ endpoint: 'strongswan' }, { uid: 0, exists: () => false, bin: () => undefined });
    const text = describeMissing(m);
    expect(text).toContain('`bird` (package bird2)');
    expect(text).toMatch(/apt-get install -y iproute2 util-linux nftables bird2 iputils-ping iperf3 procps charon-systemd strongswan-swanctl libcharon-extra-plugins libstrongswan-standard-plugins\n/);
    expect(text).toContain('/dev/net/tun');
    expect(missingPrereqs({ endpoint: 'branchgate' }, { uid: 1000, exists: () => true, bin: () => '/usr/bin/x' }).map((x) => x.what)).toEqual([
      'root privileges (network namespaces, TUN devices, UDP 500): run it with sudo',
    ]);
  });
});

describe('branchgate lab up / status / down (as root, real namespaces)', () => {
  let dir = '';
  let before = '';

  beforeAll(async () => {
    if (!BIRD) throw new Error('bird is not installed: apt-get install -y bird2 (interop tests never skip)');
    requirePrereqs();
    requireBuild();
    const up = await labNamespaces();
    if (up.length) throw new Error(`a lab is already up (${up.join(', ')}): run \`branchgate lab down\` before this test`);
    dir = mkdtempSync(join(tmpdir(), 'bglabtest-'));
    rmSync(dir, { recursive: true }); // lab up creates it
    before = await hostNet();
  });

  afterAll(async () => {
    if (dir) await cli(['lab', 'down', '--dir', dir]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  let state: LabState | undefined;

  it('lab up (zone-redundant pair, NAT) completes in under 60 s and prints what to try', async () => {
    const t0 = Date.now();
    const r = await cli(['lab', 'up', '--endpoints', '2', '--nat', '--dpd', '1', '--dir', dir]);
    const seconds = (Date.now() - t0) / 1000;
    console.log(`[lab-cli] lab up --endpoints 2 --nat --dpd 1: exit ${r.code} in ${seconds.toFixed(1)} s`);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(seconds).toBeLessThan(60);
    expect(r.stdout).toContain('try:');
    expect(r.stdout).toContain('ping -c 3 100.64.21.2');
    expect(r.stdout).toContain(`status --socket ${join(dir, 'cpe.sock')}`);
    state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as LabState;
    expect(state.processes.map((x) => x.name.split(' ')[0])).toEqual(['charon', 'bird', 'charon', 'bird', 'branchgate']);
  }, 90_000);

  it('traffic flows from the branch host through each tunnel to its service host; other traffic takes the default route', async () => {
    // a pair: both zones announce both service prefixes, so each is an ECMP route over bg0 and bg1
    for (const prefix of ['100.64.21.0/24', '100.64.22.0/24', '13.107.6.152/31']) {
      const route = (await nsRun('bglab-cpe', ['ip', 'route', 'show', prefix])).stdout;
      expect(route, `route to ${prefix}`).toMatch(/nexthop dev bg0[\s\S]*nexthop dev bg1/);
    }
    for (const svc of ['100.64.21.2', '100.64.22.2']) {
      const p = await nsRun('bglab-branch', ['ping', '-n', '-c', '3', '-i', '0.2', '-W', '2', svc]);
      expect(p.code, p.stdout).toBe(0);
    }
    expect((await nsRun('bglab-cpe', ['ip', 'route', 'get', '203.0.113.10'])).stdout).toMatch(/dev wan0\b/);
    expect((await nsRun('bglab-branch', ['ping', '-n', '-c', '2', '-i', '0.2', '-W', '2', '203.0.113.10'])).code).toBe(0);
    // ESP counters moved: the CPE's status shows packets both ways on both tunnels
    const st = await cli(['status', '--json', '--socket', state!.cpeSocket]);
    const doc = JSON.parse(st.stdout) as { tunnels: { name: string; state: string; children: { packetsIn: number; packetsOut: number }[] }[] };
    for (const t of doc.tunnels) {
      expect(t.state).toBe('established');
      expect(t.children.reduce((a, c) => a + c.packetsIn, 0), `${t.name} packetsIn`).toBeGreaterThanOrEqual(3);
    }
    const iperf = await nsRun('bglab-svc1', ['iperf3', '-s', '-D', '-1']);
    expect(iperf.code).toBe(0);
    await new Promise((r) => setTimeout(r, 300));
    const c = await nsRun('bglab-branch', ['iperf3', '-c', '100.64.21.2', '-t', '2', '-J']);
    expect(c.code, c.stdout.slice(0, 500)).toBe(0);
    const bps = (JSON.parse(c.stdout) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second;
    console.log(`[lab-cli] iperf3 branch → svc1 through the lab tunnel: ${(bps / 1e6).toFixed(0)} Mbit/s`);
    expect(bps).toBeGreaterThan(1e6);
  }, 60_000);

  it('lab status shows every process running, both tunnels and both BGP sessions; a second lab up refuses', async () => {
    const s = await cli(['lab', 'status', '--dir', dir]);
    expect(s.code, s.stdout + s.stderr).toBe(0);
    expect(s.stdout).toMatch(/^lab up since/);
    expect(s.stdout).not.toContain('DEAD');
    expect(s.stdout).toMatch(/gsa1\s+established/);
    expect(s.stdout).toMatch(/gsa2\s+established/);
    expect(s.stdout).toMatch(/100\.64\.0\.2\s+Established\s+received 27/);
    expect(s.stdout).toMatch(/100\.64\.0\.3\s+Established\s+received 27/);
    const again = await cli(['lab', 'up', '--dir', dir]);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('a lab is already up');
  }, 30_000);

  it('zone failover in the lab: kill gsa1\'s charon and BIRD; after DPD the routes collapse onto bg1 and both service hosts still answer', async () => {
    const pids = (await run(['ip', 'netns', 'pids', 'bglab-gsa1'])).stdout.split(/\s+/).filter(Boolean).map(Number);
    expect(pids.length, 'charon and BIRD in bglab-gsa1').toBeGreaterThanOrEqual(2);
    const t0 = Date.now();
    for (const pid of pids) process.kill(pid, 'SIGKILL');
    for (;;) {
      const r = (await nsRun('bglab-cpe', ['ip', 'route', 'show', '100.64.21.0/24'])).stdout;
      if (r.includes('dev bg1') && !r.includes('dev bg0')) break;
      expect(Date.now() - t0, `routes still on bg0 after the kill: ${r}`).toBeLessThan(10_000);
      await new Promise((res) => setTimeout(res, 100));
    }
    console.log(`[lab-cli] gsa1 killed: routes on bg1 only after ${Date.now() - t0} ms (dpd 1 s)`);
    for (const svc of ['100.64.21.2', '100.64.22.2']) {
      const p = await nsRun('bglab-branch', ['ping', '-n', '-c', '3', '-i', '0.2', '-W', '2', svc]);
      expect(p.code, `${svc} after the failover\n${p.stdout}`).toBe(0);
    }
    const s = await cli(['lab', 'status', '--dir', dir]);
    expect(s.code, 'degraded').toBe(1);
    expect(s.stdout).toMatch(/lab DEGRADED/);
    expect(s.stdout).toMatch(/DEAD +pid \d+ +charon \(gsa1\)/);
  }, 30_000);

  it('lab down leaves no namespace, process, route or file behind', async () => {
    const pids = state!.processes.map((x) => x.pid);
    const r = await cli(['lab', 'down', '--dir', dir]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('deleted 7 namespaces');
    expect(await labNamespaces()).toEqual([]);
    await new Promise((res) => setTimeout(res, 300));
    expect(pids.filter(alive), 'lab processes still alive').toEqual([]);
    const stray = (await run(['pgrep', '-f', dir], { allowFail: true })).stdout.trim();
    expect(stray, 'processes mentioning the lab dir').toBe('');
    expect(existsSync(dir), `${dir} removed`).toBe(false);
    expect(await hostNet(), 'host routes, rules, links and nft tables unchanged').toBe(before);
    // (other tests may be writing to the temp dir at the same time: only the lab's own names count)
    expect(readdirSync(tmpdir()).filter((f) => f.startsWith('bglab') && f !== dir.split('/').pop()), 'lab temp files').toEqual([]);
    const s = await cli(['lab', 'status', '--dir', dir]);
    expect(s.stdout).toContain('the lab is down');
    const d2 = await cli(['lab', 'down', '--dir', dir]);
    expect(d2.code).toBe(0);
    expect(d2.stdout).toContain('nothing to do');
  }, 30_000);
});

describe('branchgate lab up --endpoint branchgate (branchgate as the GSA-like responder)', () => {
  let dir = '';
  beforeAll(async () => {
    if (!BIRD) throw new Error('bird is not installed: apt-get install -y bird2 (interop tests never skip)');
    requirePrereqs();
    requireBuild();
    const up = await labNamespaces();
    if (up.length) throw new Error(`a lab is already up (${up.join(', ')}): run \`branchgate lab down\` before this test`);
    dir = mkdtempSync(join(tmpdir(), 'bglabtest-'));
    rmSync(dir, { recursive: true });
  });
  afterAll(async () => {
    if (dir) await cli(['lab', 'down', '--dir', dir]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('comes up with BGP over a branchgate ↔ branchgate tunnel, carries traffic, and goes away', async () => {
    const t0 = Date.now();
    const r = await cli(['lab', 'up', '--endpoint', 'branchgate', '--dir', dir]);
    console.log(`[lab-cli] lab up --endpoint branchgate: exit ${r.code} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain('branchgate 198.51.100.2');
    const p = await nsRun('bglab-branch', ['ping', '-n', '-c', '3', '-i', '0.2', '-W', '2', '100.64.21.2']);
    expect(p.code, p.stdout).toBe(0);
    expect((await nsRun('bglab-cpe', ['ip', 'route', 'get', '13.107.6.152'])).stdout).toMatch(/dev bg0\b/);
    const s = await cli(['lab', 'status', '--dir', dir]);
    expect(s.stdout).toMatch(/branchgate responder \(gsa1\)/);
    expect(s.stdout).toMatch(/100\.64\.0\.2\s+Established\s+received 26/);
    const d = await cli(['lab', 'down', '--dir', dir]);
    expect(d.code, d.stderr).toBe(0);
    expect(await labNamespaces()).toEqual([]);
    expect(existsSync(dir)).toBe(false);
  }, 90_000);
});

describe("the README's lab command: scripts/try-lab.sh", () => {
  let dir = '';
  beforeAll(async () => {
    requirePrereqs();
    requireBuild();
    const up = await labNamespaces();
    if (up.length) throw new Error(`a lab is already up (${up.join(', ')}): run \`branchgate lab down\` before this test`);
    dir = mkdtempSync(join(tmpdir(), 'bglabtest-'));
    rmSync(dir, { recursive: true });
  });
  afterAll(async () => {
    if (dir) await cli(['lab', 'down', '--dir', dir]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('installs what it needs, brings the lab up, pings through the tunnel and prints status', async () => {
    const r = await run(['bash', join(REPO, 'scripts', 'try-lab.sh')], {
      timeoutMs: 180_000, allowFail: true, env: { ...process.env, BRANCHGATE_LAB_DIR: dir },
    });
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toMatch(/3 packets transmitted, 3 received/);
    // `status` (human form) lists the lab's tunnel as established.
    expect(r.stdout).toMatch(/gsa1\s+established/);
  }, 200_000);
});

/**
 * `branchgate lab up --profile internet` (docs/lab.md "Internet Access"), in this file so it never
 * runs at the same time as the other bglab-* labs: the endpoint announces 0.0.0.0/1 + 128.0.0.0/1;
 * the branch reaches "the internet" through the tunnel, the bypass prefix and host name directly
 * through the ISP namespace, IPv6 is blocked; `lab down` removes everything, /etc/netns/bglab-cpe
 * included. The full acceptance (every route form, outages, SIGKILL) is gsa-internet.test.ts.
 */
const labCounter = async (ns: string, name: string) => {
  const r = await nsRun(ns, ['nft', '-j', 'list', 'counter', 'inet', 'bgtlab', name]);
  return (JSON.parse(r.stdout) as { nftables: { counter?: { packets: number } }[] }).nftables.find((x) => x.counter)?.counter?.packets ?? 0;
};

describe('branchgate lab up --profile internet --internet-routes split', () => {
  let dir = '';

  beforeAll(async () => {
    if (!BIRD) throw new Error('bird is not installed: apt-get install -y bird2 (interop tests never skip)');
    requirePrereqs();
    requireBuild();
    const up = (await run(['ip', 'netns', 'list'])).stdout.split('\n').filter((l) => l.startsWith(LAB_PREFIX));
    if (up.length) throw new Error(`a lab is already up (${up.join(', ')}): run \`branchgate lab down\` before this test`);
    dir = mkdtempSync(join(tmpdir(), 'bglabinet-'));
    rmSync(dir, { recursive: true });
  });

  afterAll(async () => {
    if (dir) await cli(['lab', 'down', '--dir', dir]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('comes up; internet through the tunnel, bypass direct via the ISP, IPv6 blocked; down removes it all', async () => {
    const t0 = Date.now();
    const r = await cli(['lab', 'up', '--profile', 'internet', '--internet-routes', 'split', '--dpd', '1', '--dir', dir]);
    console.log(`[lab-internet] lab up --profile internet --internet-routes split: exit ${r.code} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout).toContain(`ping -c 3 ${INTERNET_LAB.hostnameAddr}`);
    // Counters at the ISP (bglab-wan): what arrives from the CPE other than IKE/ESP.
    const nft = (...a: string[]) => nsRun('bglab-wan', ['nft', ...a]);
    await nft('add', 'table', 'inet', 'bgtlab');
    await nft('add', 'chain', 'inet', 'bgtlab', 'pre', '{', 'type', 'filter', 'hook', 'prerouting', 'priority', '0', ';', 'policy', 'accept', ';', '}');
    for (const [name, m] of [['internet', ['ip', 'daddr', '203.0.113.10']], ['bypass', ['ip', 'daddr', '198.18.0.0/24']], ['v6', ['ip6', 'saddr', INTERNET_LAB.branch6]]] as const) {
      await nft('add', 'counter', 'inet', 'bgtlab', name);
      await nft('add', 'rule', 'inet', 'bgtlab', 'pre', 'iifname', 'wan0', ...m, 'counter', 'name', name);
    }
    expect((await nsRun('bglab-cpe', ['ip', 'route', 'get', '203.0.113.10', 'from', '100.64.10.2', 'iif', 'lan0'])).stdout).toMatch(/dev bg0\b/);
    const ping = (dst: string, v6 = false) => nsRun('bglab-branch', ['ping', ...(v6 ? ['-6'] : []), '-n', '-c', '3', '-i', '0.2', '-W', '1', dst]);
    expect((await ping('203.0.113.10')).code, 'the internet through the tunnel').toBe(0);
    expect(await labCounter('bglab-wan', 'internet'), 'nothing direct from the CPE to the internet').toBe(0);
    for (const dst of [INTERNET_LAB.directHost, INTERNET_LAB.hostnameAddr]) expect((await ping(dst)).code, `bypass ${dst}`).toBe(0);
    expect(await labCounter('bglab-wan', 'bypass'), 'bypass traffic direct at the ISP').toBeGreaterThanOrEqual(6);
    expect((await ping(INTERNET_LAB.host6, true)).code, 'IPv6 blocked').not.toBe(0);
    expect(await labCounter('bglab-wan', 'v6'), 'no IPv6 from the branch at the ISP').toBe(0);
    const d = await cli(['lab', 'down', '--dir', dir]);
    expect(d.code, d.stderr).toBe(0);
    expect(existsSync('/etc/netns/bglab-cpe'), 'the CPE\'s resolv.conf directory removed').toBe(false);
  }, 120_000);
});
