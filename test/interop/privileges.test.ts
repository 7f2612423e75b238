/**
 * Least privilege: `branchgate run` started as root (as `sudo branchgate run` or a root
 * container would) with `privileges: { user: nobody, group: nogroup }`, in the CPE namespace of
 * the four-namespace lab, against strongSwan 5.9.8 (kernel-libipsec) and a GSA-like BIRD peer
 * over the tunnel (src/bgp/gsa-peer.ts).
 *
 * After setup the daemon must run as nobody on every thread, with exactly CAP_NET_ADMIN and
 * CAP_NET_BIND_SERVICE on its main thread (permitted, effective, bounding, ambient), and
 * everything that happens later must still work without root: ESP traffic, Child and IKE
 * rekeys, BIRD (started after the switch) reaching Established and being restarted by the
 * supervisor, routes following `down`/`up`, a `reload` that adds a tunnel (a new TUN device,
 * its routes, a pskFile the user must be able to read) and a clean stop that removes routes,
 * TUN devices and the control socket.
 *
 * The expected capability lines are the kernel's own format (proc(5)): bits 10 and 12 of
 * <linux/capability.h> (CAP_NET_BIND_SERVICE, CAP_NET_ADMIN) = 0x1400.
 */
import { spawn } from 'node:child_process';
import { chownSync, existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { stringify } from 'yaml';
import { M365_PREFIXES, renderGsaPeerConfig } from '../../src/bgp/gsa-peer.js';
import { BIN, Branchgate, requireBuild, type BgTunnelConfig } from './lab/branchgate.js';
import { Charon, type SwanConn } from './lab/strongswan.js';
import { ADDR, createTopology, dumpRouting, routeGet, waitRouteDev, type Topology } from './lab/topology.js';
import { ping, requireTrafficTools } from './lab/traffic.js';
import { addAddress, exec, makeTempDir, run, trackProcess, waitFor } from './lab/netns.js';

const BIRD = ['/usr/sbin/bird', '/usr/bin/bird'].find((p) => existsSync(p));
const IKE = 'aes256gcm16-prfsha256-ecp256';
const PSK = { a: 'priv-lab-psk-a-3e81', b: 'priv-lab-psk-b-77c2' };
const CPE_BGP = '100.64.0.1';
const GSA_BGP = '100.64.0.2';
const CPE_ASN = 65010;
/** Tunnel b's static route: a lab prefix nothing else uses. */
const B_PREFIX = '100.64.30.0/24';
const NOBODY = { uid: 65534, gid: 65534 };
/** proc(5) capability lines for exactly CAP_NET_BIND_SERVICE (10) + CAP_NET_ADMIN (12). */
const KEPT_HEX = '0000000000001400';

interface KRoute { dst: string; dev?: string; protocol?: string; type?: string }

const statusLine = (text: string, key: string): string => text.split('\n').find((l) => l.startsWith(`${key}:`))?.split(':')[1]?.trim() ?? '';

/** /proc/PID/task/TID/status of every thread, as read by this (root) test. */
function threads(pid: number): { tid: string; text: string }[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => ({ tid, text: readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8') }));
}

/** Direct children of pid named `name` (from /proc/*\/status PPid). */
function children(pid: number, name: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const s = readFileSync(`/proc/${e}/status`, 'utf8');
      if (statusLine(s, 'PPid') === String(pid) && statusLine(s, 'Name') === name) out.push(Number(e));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

const tunnelRoutes = async (ns: string, proto: string): Promise<KRoute[]> =>
  JSON.parse((await exec(ns, ['ip', '-j', 'route', 'show', 'proto', proto])).stdout || '[]') as KRoute[];

describe('least privilege: root → nobody after setup, and everything later still works', () => {
  let topo: Topology | undefined;
  let gw: Charon | undefined;
  let bg: Branchgate | undefined;
  let dir = '';
  const base = { localAddress: ADDR.cpeWan, remoteAddress: ADDR.gwIke, remoteId: ADDR.gwIke, ike: [IKE], esp: ['aes256gcm16'], dpd: '10s', mtu: 1380 };
  const tunnelA: BgTunnelConfig = { ...base, name: 'a', localId: 'fqdn:a.branch', psk: PSK.a, interface: 'bg0', routes: [ADDR.svcPrefix] };
  const extra = (privileges: Record<string, string>): Record<string, unknown> => ({
    privileges,
    routing: { failMode: 'open', pinUnderlay: true },
    bgp: { asn: CPE_ASN, address: CPE_BGP, advertise: [ADDR.lanPrefix], holdTime: 9, neighbors: [{ address: GSA_BGP, asn: 65476, tunnel: 'a' }] },
  });

  beforeAll(async () => {
    if (!BIRD) throw new Error('bird is not installed: apt-get install -y bird2 (interop tests never skip)');
    if (process.getuid?.() !== 0) throw new Error('this test starts branchgate as root and checks the switch to nobody: run it as root');
    requireTrafficTools();
    requireBuild();
    topo = await createTopology({ tag: 'p' });
    dir = makeTempDir('privpeer');
    await addAddress(topo.gw, 'lo', `${GSA_BGP}/32`);
    gw = await Charon.start(topo.gw, { tag: 'pgw' });
    const conn = { localAddrs: ADDR.gwIke, remoteAddrs: ADDR.cpeWan, localId: ADDR.gwIke, proposals: [IKE], espProposals: ['aes256gcm16'] };
    const conns: SwanConn[] = [
      { ...conn, name: 'A', remoteId: 'a.branch', psk: PSK.a, localTs: ['0.0.0.0/0'], remoteTs: [ADDR.lanPrefix, `${CPE_BGP}/32`] },
      { ...conn, name: 'B', remoteId: 'b.branch', psk: PSK.b, localTs: [ADDR.svcPrefix], remoteTs: [B_PREFIX], child: 'netb' },
    ];
    gw.writeConns(conns);
    await gw.loadAll();
    const peerConf = join(dir, 'gsa-bird.conf');
    writeFileSync(peerConf, renderGsaPeerConfig({ address: GSA_BGP, cpeAddress: CPE_BGP, cpeAsn: CPE_ASN, interface: 'ipsec0' }));
    trackProcess(spawn('ip', ['netns', 'exec', topo.gw, BIRD, '-f', '-c', peerConf, '-s', join(dir, 'gsa.ctl')], { stdio: 'ignore' }));
    bg = await Branchgate.start(topo.cpe, [tunnelA], {
      tag: 'priv', logLevel: 'debug', extra: extra({ user: 'nobody', group: 'nogroup' }),
      // The operator's part (docs/privileges.md): the socket's directory is the user's.
      beforeLaunch: (b) => chownSync(b.dir, NOBODY.uid, NOBODY.gid),
    });
    await bg.waitEstablished('a', 20_000);
  }, 60_000);

  afterAll(async () => {
    await bg?.stop().catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    await topo?.destroy();
  });

  const lab = () => {
    if (!topo || !gw || !bg) throw new Error('lab setup failed (see beforeAll error)');
    const t = topo;
    const d = bg;
    onTestFailed(async () => {
      console.error([d.logs(80), gw?.logSince(0, 40), await dumpRouting(t.cpe, 'cpe')].join('\n'));
    });
    return { t, d, sw: gw, pid: d.pid()! };
  };

  const neighbor = async (d: Branchgate) => {
    const doc = JSON.parse((await d.cli(['status', '--json'])).stdout) as { bgp?: { neighbors: { address: string; state: string; received: number }[] } };
    return doc.bgp?.neighbors.find((n) => n.address === GSA_BGP);
  };
  const waitBgp = (d: Branchgate, timeoutMs: number) => waitFor('BGP Established with every M365 prefix', async () => {
    const n = await neighbor(d);
    return n?.state === 'Established' && n.received === M365_PREFIXES.length ? n : undefined;
  }, timeoutMs, 250);

  it('every thread runs as nobody:nogroup; the main thread keeps exactly NET_ADMIN + NET_BIND_SERVICE', () => {
    const { d, pid } = lab();
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8')).toContain('branchgate.js');
    const all = threads(pid);
    // Node's own threads (V8 platform, libuv pool) and the native dataplane's two I/O threads.
    expect(all.length).toBeGreaterThanOrEqual(7);
    expect(all.some((x) => statusLine(x.text, 'Name') === 'bg-dp-tx'), 'the native dataplane threads are among them').toBe(true);
    for (const { tid, text } of all) {
      expect(statusLine(text, 'Uid').split(/\s+/), `thread ${tid} real/effective/saved/fs uid`).toEqual(['65534', '65534', '65534', '65534']);
      expect(statusLine(text, 'Gid').split(/\s+/), `thread ${tid} gids`).toEqual(['65534', '65534', '65534', '65534']);
      expect(statusLine(text, 'Groups'), `thread ${tid} supplementary groups`).toBe('65534');
    }
    const main = readFileSync(`/proc/${pid}/status`, 'utf8');
    for (const k of ['CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) expect(statusLine(main, k), k).toBe(KEPT_HEX);
    expect(statusLine(main, 'NoNewPrivs')).toBe('1');
    // Every other thread has no capability at all.
    for (const { text } of all.filter((x) => x.tid !== String(pid))) expect(statusLine(text, 'CapEff')).toBe('0000000000000000');
    const log = d.logRecords().find((r) => typeof r.msg === 'string' && r.msg.startsWith('dropped root'));
    expect(log?.msg).toBe('dropped root: running as nobody:nogroup with CAP_NET_BIND_SERVICE and CAP_NET_ADMIN');
    expect(d.logRecords().some((r) => typeof r.msg === 'string' && r.msg.startsWith('running as root')), 'no root warning').toBe(false);
  });

  it('the control socket is 0600 and owned by nobody', () => {
    const { d } = lab();
    const st = lstatSync(d.socket);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect([st.uid, st.gid]).toEqual([NOBODY.uid, NOBODY.gid]);
  });

  it('ESP carries ping; a Child rekey and an IKE rekey complete as nobody', async () => {
    const { t, d } = lab();
    await waitRouteDev(t.cpe, ADDR.svc, 'bg0');
    const p = await ping(t.branch, ADDR.svc, 3);
    expect(p.received, p.output).toBe(3);
    const child = await d.rekey('a', { wait: true });
    expect(child.code, child.stderr).toBe(0);
    expect(child.stdout).toMatch(/^a: Child SA rekeyed/);
    const ike = await d.rekey('a', { ike: true, wait: true });
    expect(ike.code, ike.stderr).toBe(0);
    expect(ike.stdout).toMatch(/^a: IKE SA rekeyed/);
    const q = await ping(t.branch, ADDR.svc, 3);
    expect(q.received, q.output).toBe(3);
  }, 60_000);

  it('BIRD, started after the switch as nobody with the two ambient capabilities, reaches Established and installs routes', async () => {
    const { t, d, pid } = lab();
    await waitBgp(d, 40_000);
    const [birdPid] = children(pid, 'bird');
    expect(birdPid, 'BIRD is the daemon\'s child').toBeDefined();
    const s = readFileSync(`/proc/${birdPid}/status`, 'utf8');
    expect(statusLine(s, 'Uid').split(/\s+/)).toEqual(['65534', '65534', '65534', '65534']);
    for (const k of ['CapEff', 'CapAmb', 'CapBnd']) expect(statusLine(s, k), `bird ${k}`).toBe(KEPT_HEX);
    // BIRD's kernel protocol wrote them: CAP_NET_ADMIN. A route lookup only, nothing is sent there.
    await waitFor('a BGP route in the kernel', async () => ((await routeGet(t.cpe, '13.107.6.153')).dev === 'bg0' ? true : undefined), 10_000);
  }, 60_000);

  it('the supervisor restarts a killed BIRD as nobody: it binds 179 and reaches Established again', async () => {
    const { t, d, pid } = lab();
    const [before] = children(pid, 'bird');
    process.kill(before!, 'SIGKILL');
    const after = await waitFor('a new BIRD', async () => children(pid, 'bird').find((p) => p !== before), 15_000);
    await waitBgp(d, 40_000);
    expect(statusLine(readFileSync(`/proc/${after}/status`, 'utf8'), 'Uid').split(/\s+/)[1]).toBe('65534');
    const listen = await exec(t.cpe, ['ss', '-Hltnp', 'sport', '= :179']);
    expect(listen.stdout, 'BIRD listens on TCP 179 (CAP_NET_BIND_SERVICE)').toContain(`pid=${after}`);
    await waitFor('the BGP routes back', async () => ((await routeGet(t.cpe, '13.107.6.153')).dev === 'bg0' ? true : undefined), 10_000);
  }, 70_000);

  it('down withdraws the tunnel\'s routes (failMode open), up re-installs them', async () => {
    const { t, d } = lab();
    expect((await tunnelRoutes(t.cpe, '249')).find((r) => r.dst === ADDR.svcPrefix)).toMatchObject({ dev: 'bg0' });
    await d.down('a');
    await waitFor('svc route withdrawn', async () => ((await tunnelRoutes(t.cpe, '249')).some((r) => r.dst === ADDR.svcPrefix) ? undefined : true), 10_000, 100);
    await d.up('a');
    await d.waitEstablished('a', 20_000);
    await waitRouteDev(t.cpe, ADDR.svc, 'bg0');
    const p = await ping(t.branch, ADDR.svc, 3);
    expect(p.received, p.output).toBe(3);
  }, 60_000);

  it('reload: an unreadable pskFile is named with the user; once readable, tunnel b gets its TUN and routes; privileges changes only ask for a restart', async () => {
    const { t, d, pid } = lab();
    const pskFile = join(d.dir, 'b.psk');
    writeFileSync(pskFile, `${PSK.b}\n`, { mode: 0o600 }); // root's: nobody cannot read it
    const tunnelB: BgTunnelConfig = { ...base, name: 'b', localId: 'fqdn:b.branch', pskFile, interface: 'bg1',
      localTs: [B_PREFIX], remoteTs: [ADDR.svcPrefix], routes: [B_PREFIX] } as unknown as BgTunnelConfig;
    // privileges without the group: a change that needs a restart.
    d.writeConfig([tunnelA, tunnelB], 'debug', extra({ user: 'nobody' }));
    const refused = await d.cli(['reload'], true);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`cannot read ${pskFile}: permission denied`);
    expect(refused.stderr).toContain(`${pskFile} is not readable by nobody (uid 65534), the user branchgate runs as since it dropped root at start`);
    expect((await exec(t.cpe, ['ip', 'link', 'show', 'bg1'], { allowFail: true })).code, 'nothing changed: no bg1').not.toBe(0);

    chownSync(pskFile, NOBODY.uid, NOBODY.gid);
    const ok = await d.cli(['reload']);
    expect(ok.stdout.split('\n')).toEqual(expect.arrayContaining(['a: unchanged, SAs kept', 'b: added, starting',
      'privileges: changed; restart branchgate to apply it (the daemon logged what it still runs as)']));
    expect(d.logRecords().some((r) => typeof r.msg === 'string' && r.msg.startsWith('reload: privileges changed from nobody:nogroup to nobody; that takes a restart'))).toBe(true);
    await d.waitEstablished('b', 20_000);
    expect((await exec(t.cpe, ['ip', '-j', 'link', 'show', 'bg1'])).stdout).toContain('"ifname":"bg1"');
    await waitRouteDev(t.cpe, B_PREFIX.replace('.0/24', '.1'), 'bg1');
    expect((await tunnelRoutes(t.cpe, '249')).find((r) => r.dst === B_PREFIX)).toMatchObject({ dev: 'bg1' });
    // Still nobody:nogroup with the same capabilities.
    const main = readFileSync(`/proc/${pid}/status`, 'utf8');
    expect(statusLine(main, 'Gid').split(/\s+/)[0]).toBe('65534');
    expect(statusLine(main, 'CapEff')).toBe(KEPT_HEX);
  }, 60_000);

  it('stops cleanly: exit 0, routes, TUN devices, BIRD and the control socket are gone', async () => {
    const { t, d, pid } = lab();
    const [birdPid] = children(pid, 'bird');
    const code = await d.stop({ keepDir: true });
    expect(code).toBe(0);
    expect(existsSync(d.socket), 'control socket removed by the unprivileged daemon').toBe(false);
    expect(await tunnelRoutes(t.cpe, '249')).toEqual([]);
    expect(await tunnelRoutes(t.cpe, 'bird')).toEqual([]);
    for (const dev of ['bg0', 'bg1']) expect((await exec(t.cpe, ['ip', 'link', 'show', dev], { allowFail: true })).code).not.toBe(0);
    expect(birdPid !== undefined && existsSync(`/proc/${birdPid}`)).toBe(false);
    const stopped = d.logRecords().find((r) => r.msg === 'stopped');
    expect(stopped).toBeDefined();
    bg = undefined;
    await run(['rm', '-rf', d.dir]);
  }, 30_000);
});

/**
 * The other way to run without root (packaging/branchgate.service): started directly as the
 * user with CAP_NET_ADMIN and CAP_NET_BIND_SERVICE as ambient capabilities, the bounding set cut
 * to them and no_new_privs, exactly what systemd's User=, AmbientCapabilities=,
 * CapabilityBoundingSet= and NoNewPrivileges= set up before exec (util-linux setpriv does it here,
 * there is no systemd in the test machine). And the same start without the capabilities.
 */
describe('started as the user itself (what the systemd unit does)', () => {
  let topo: Topology | undefined;
  let gw: Charon | undefined;
  let bg: Branchgate | undefined;
  const asNobody = (caps: string): string[] => ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups',
    '--inh-caps', caps, '--ambient-caps', caps, '--bounding-set', `-all,${caps}`, '--no-new-privs'];
  const tunnel: BgTunnelConfig = { localAddress: ADDR.cpeWan, remoteAddress: ADDR.gwIke, remoteId: ADDR.gwIke, ike: [IKE], esp: ['aes256gcm16'],
    name: 'a', localId: 'fqdn:a.branch', psk: PSK.a, interface: 'bg0', routes: [ADDR.svcPrefix], dpd: 0, localTs: [ADDR.lanPrefix], remoteTs: [ADDR.svcPrefix] };

  beforeAll(async () => {
    requireBuild();
    topo = await createTopology({ tag: 'q' });
    gw = await Charon.start(topo.gw, { tag: 'qgw' });
    gw.writeConns([{ localAddrs: ADDR.gwIke, remoteAddrs: ADDR.cpeWan, localId: ADDR.gwIke, proposals: [IKE], espProposals: ['aes256gcm16'],
      name: 'A', remoteId: 'a.branch', psk: PSK.a, localTs: [ADDR.svcPrefix], remoteTs: [ADDR.lanPrefix] }]);
    await gw.loadAll();
  }, 60_000);

  afterAll(async () => {
    await bg?.stop().catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    await topo?.destroy();
  });

  it('without CAP_NET_ADMIN it refuses to start at once, naming the capability', async () => {
    if (!topo) throw new Error('lab setup failed (see beforeAll error)');
    const cfgDir = makeTempDir('privnocap');
    const file = join(cfgDir, 'bg.yaml');
    writeFileSync(file, stringify({ control: { socket: join(cfgDir, 'c.sock') }, tunnels: [tunnel] }));
    chownSync(cfgDir, NOBODY.uid, NOBODY.gid);
    const r = await exec(topo.cpe, [...asNobody('+net_bind_service'), process.execPath, BIN, 'run', '--config', file], { allowFail: true, timeoutMs: 10_000 });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toBe('branchgate: CAP_NET_ADMIN is not effective: it is needed to create TUN devices and change routes ' +
      '(this process: uid 65534, effective capabilities: CAP_NET_BIND_SERVICE) — start it as root with privileges.user set, or grant ' +
      'the user the capabilities (systemd: AmbientCapabilities=CAP_NET_ADMIN CAP_NET_BIND_SERVICE; docker: --cap-add NET_ADMIN); see docs/privileges.md\n');
    expect(existsSync(join(cfgDir, 'c.sock'))).toBe(false);
  }, 30_000);

  it('with the two ambient capabilities: TUN, routes through ip, ESP traffic, and a clean stop, with nothing to switch', async () => {
    if (!topo) throw new Error('lab setup failed (see beforeAll error)');
    const t = topo;
    bg = await Branchgate.start(t.cpe, [tunnel], { tag: 'qcaps', launcher: asNobody('+net_admin,+net_bind_service'),
      beforeLaunch: (b) => chownSync(b.dir, NOBODY.uid, NOBODY.gid) });
    const d = bg;
    onTestFailed(() => console.error(d.logs(60)));
    await d.waitEstablished('a', 20_000);
    await waitRouteDev(t.cpe, ADDR.svc, 'bg0');
    const p = await ping(t.branch, ADDR.svc, 3);
    expect(p.received, p.output).toBe(3);
    const main = readFileSync(`/proc/${d.pid()}/status`, 'utf8');
    expect(statusLine(main, 'Uid').split(/\s+/)).toEqual(['65534', '65534', '65534', '65534']);
    expect(statusLine(main, 'CapEff')).toBe(KEPT_HEX);
    const msgs = d.logRecords().map((r) => r.msg);
    expect(msgs.some((m) => typeof m === 'string' && /^(dropped root|running as root|made )/.test(m)), 'nothing switched, nothing raised, no warning').toBe(false);
    const code = await d.stop({ keepDir: true });
    bg = undefined;
    expect(code).toBe(0);
    expect(existsSync(d.socket)).toBe(false);
    expect(await tunnelRoutes(t.cpe, '249')).toEqual([]);
    await run(['rm', '-rf', d.dir]);
  }, 60_000);
});
