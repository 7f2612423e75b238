/**
 * `branchgate lab up|down|status`: builds the plan of plan.ts in network namespaces, starts the
 * emulated GSA endpoints (strongSwan + BIRD, or branchgate as responder + BIRD) and the CPE
 * (branchgate with a bgp: section), waits until every tunnel and BGP session is up and traffic
 * flows, and records what it started in DIR/state.json so `down` and `status` need no guessing.
 *
 * `down` is idempotent and thorough: it stops the CPE daemon gracefully, then kills every
 * process left in any bglab-* namespace, deletes those namespaces (their veths, addresses and
 * routes go with them: the lab touches nothing in the host's own namespace), and removes DIR.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { renderGsaPeerConfig } from '../bgp/gsa-peer.js';
import { parseConfig, formatIssue } from '../config/load.js';
import { request } from '../control/client.js';
import type { StatusDocument } from '../control/status.js';
import { DEFAULT_LAB_DIR, labPlan, LAB_PREFIX, type LabEndpoint, type LabOptions, type LabPlan } from './plan.js';
import { describeMissing, missingPrereqs } from './prereqs.js';
import { charonArgv, charonBinary, strongswanConf, swanctlConf } from './strongswan.js';
import { buildInternetTopology, internetCpeKeys, internetServices, internetTryLines, removeInternetFiles } from './internet.js';
import { alive, bin, listNamespaces, namespacePids, nsRun, run, sleep, spawnDetached, tail, waitUntil } from './sys.js';

/** bin/branchgate.js of this installation (dist/lab/lab.js → ../../bin). */
export const BRANCHGATE_BIN = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'branchgate.js');

const MARKER = '.branchgate-lab';

export interface LabProcess {
  name: string;
  ns: string;
  pid: number;
  log: string;
}

export interface LabState {
  options: LabOptions;
  startedAt: string;
  namespaces: string[];
  processes: LabProcess[];
  cpeSocket: string;
}

export interface Out {
  write(s: string): unknown;
}

export class LabError extends Error {
  constructor(message: string, readonly exitCode: 1 | 2 = 1) {
    super(message);
  }
}

const statePath = (dir: string): string => join(dir, 'state.json');

export function readState(dir: string): LabState | undefined {
  try {
    return JSON.parse(readFileSync(statePath(dir), 'utf8')) as LabState;
  } catch {
    return undefined;
  }
}

function writeState(dir: string, s: LabState): void {
  writeFileSync(statePath(dir), `${JSON.stringify(s, null, 2)}\n`, { mode: 0o600 });
}

// ---------------------------------------------------------------------------------------------
// Topology.

async function sysctl(ns: string, kv: string): Promise<void> {
  await nsRun(ns, ['sysctl', '-q', '-w', kv]);
}

async function veth(nsA: string, ifA: string, nsB: string, ifB: string): Promise<void> {
  await run(['ip', 'link', 'add', ifA, 'netns', nsA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB]);
  await nsRun(nsA, ['ip', 'link', 'set', ifA, 'up']);
  await nsRun(nsB, ['ip', 'link', 'set', ifB, 'up']);
}

const addr = (ns: string, dev: string, cidr: string) => nsRun(ns, ['ip', 'addr', 'add', cidr, 'dev', dev]);
const route = (ns: string, ...args: string[]) => nsRun(ns, ['ip', 'route', 'replace', ...args]);

async function masquerade(ns: string, table: string, match: string[]): Promise<void> {
  await nsRun(ns, ['nft', 'add', 'table', 'ip', table]);
  await nsRun(ns, ['nft', 'add', 'chain', 'ip', table, 'post', '{', 'type', 'nat', 'hook', 'postrouting', 'priority', '100', ';', '}']);
  await nsRun(ns, ['nft', 'add', 'rule', 'ip', table, 'post', ...match, 'masquerade']);
}

async function buildTopology(p: LabPlan): Promise<void> {
  for (const ns of p.namespaces) {
    await run(['ip', 'netns', 'add', ns]);
    await nsRun(ns, ['ip', 'link', 'set', 'lo', 'up']);
  }
  const { branch, cpe, wan } = p.ns;
  await veth(branch, 'lan0', cpe, 'lan0');
  await veth(cpe, 'wan0', wan, 'wan0');
  await addr(branch, 'lan0', `${p.branch.address}/24`);
  await route(branch, 'default', 'via', p.branch.gateway);

  await addr(cpe, 'lan0', `${p.cpe.lanAddress}/24`);
  await addr(cpe, 'wan0', `${p.cpe.wanAddress}/24`);
  await route(cpe, 'default', 'via', p.cpe.gateway, 'dev', 'wan0');
  await sysctl(cpe, 'net.ipv4.ip_forward=1');
  // The branch's own internet breakout (its default route): masqueraded like any CPE does.
  await masquerade(cpe, 'bglab_nat', ['oifname', 'wan0', 'ip', 'saddr', p.lanPrefix]);

  await addr(wan, 'wan0', `${p.cpe.gateway}/24`);
  await addr(wan, 'lo', `${p.internet}/32`);
  await sysctl(wan, 'net.ipv4.ip_forward=1');
  if (p.options.nat) await masquerade(wan, 'bglab_nat', ['ip', 'saddr', `${p.cpe.wanAddress}/32`, 'oifname', '!=', 'wan0']);

  for (const e of p.endpoints) {
    await veth(wan, e.wanIf, e.ns, 'up0');
    await addr(wan, e.wanIf, `${e.routerAddress}/29`);
    await addr(e.ns, 'up0', `${e.publicAddress}/29`);
    await route(e.ns, 'default', 'via', e.routerAddress);
    await addr(e.ns, 'lo', `${e.bgpAddress}/32`);
    await sysctl(e.ns, 'net.ipv4.ip_forward=1');
    await veth(e.ns, 'lan0', e.svcNs, 'lan0');
    await addr(e.ns, 'lan0', `${e.svcGateway}/24`);
    await addr(e.svcNs, 'lan0', `${e.svcAddress}/24`);
    await route(e.svcNs, 'default', 'via', e.svcGateway);
  }
  if (p.backbone) {
    const [a, b] = p.endpoints as [LabEndpoint, LabEndpoint];
    const [aa, ba] = p.backbone.addresses;
    await veth(a.ns, 'bb0', b.ns, 'bb0');
    await addr(a.ns, 'bb0', `${aa}/${p.backbone.prefixLen}`);
    await addr(b.ns, 'bb0', `${ba}/${p.backbone.prefixLen}`);
    for (const [me, other, via] of [[a, b, ba], [b, a, aa]] as const) {
      // asymmetric paths are the point of the backbone: no reverse-path filter here
      for (const k of ['all', 'default', 'bb0', 'lan0', 'up0']) await sysctl(me.ns, `net.ipv4.conf.${k}.rp_filter=0`);
      await route(me.ns, other.svcPrefix, 'via', via);
      await route(me.ns, p.lanPrefix, 'via', via, 'metric', '1000');
    }
  }
  for (const e of p.endpoints) {
    const r = await nsRun(cpe, ['ping', '-n', '-c', '1', '-W', '2', e.publicAddress], { allowFail: true, timeoutMs: 5000 });
    if (r.code !== 0) throw new LabError(`the underlay does not work: ${cpe} cannot ping ${e.publicAddress}\n${r.stdout}${r.stderr}`);
  }
}

// ---------------------------------------------------------------------------------------------
// Configs.

/** The CPE's branchgate config: one tunnel per endpoint, GSA Default crypto, BGP to each. */
export function cpeConfig(p: LabPlan, dir: string, birdBin: string): Record<string, unknown> {
  return {
    log: { level: 'info' },
    control: { socket: join(dir, 'cpe.sock') },
    tunnels: p.endpoints.map((e) => ({
      name: e.name, localAddress: p.cpe.wanAddress, remoteAddress: e.publicAddress, psk: e.psk,
      profile: 'gsa-default', dpd: p.options.dpd, interface: e.cpeInterface, mtu: 1380, mssClamp: 1340, routes: [],
    })),
    routing: { failMode: 'open', pinUnderlay: true },
    bgp: {
      asn: p.cpe.asn, address: p.cpe.bgpAddress, advertise: [p.lanPrefix], holdTime: 9,
      neighbors: p.endpoints.map((e) => ({ address: e.bgpAddress, asn: e.asn, tunnel: e.name })),
      bird: { binary: birdBin, socket: join(dir, 'cpe.bird.ctl'), config: join(dir, 'cpe.bird.conf') },
    },
    ...internetCpeKeys(p),
  };
}

/** branchgate as the endpoint (--endpoint branchgate): a responder with GSA's Default table. */
export function responderConfig(p: LabPlan, e: LabEndpoint, dir: string): Record<string, unknown> {
  return {
    log: { level: 'info' },
    control: { socket: join(dir, 'branchgate.sock') },
    tunnels: [{
      name: 'cpe', localAddress: e.publicAddress, remoteAddress: '%any', remoteId: p.cpe.wanAddress, psk: e.psk,
      initiate: false, profile: 'gsa-default', dpd: 0, interface: 'bg0', mtu: 1380, mssClamp: 1340,
      routes: [p.lanPrefix, `${p.cpe.bgpAddress}/32`],
    }],
    routing: { failMode: 'open', pinUnderlay: false },
  };
}

function writeYaml(path: string, doc: Record<string, unknown>): void {
  const text = stringify(doc);
  const parsed = parseConfig(text, path, {});
  if (!parsed.ok) throw new LabError(`the generated config ${path} does not validate (a lab bug):\n${parsed.errors.map(formatIssue).join('\n')}`);
  writeFileSync(path, text, { mode: 0o600 });
}

// ---------------------------------------------------------------------------------------------
// up.

export interface UpResult {
  state: LabState;
  seconds: number;
}

async function cpeStatus(sock: string): Promise<StatusDocument> {
  const r = await request(sock, 'status', undefined, { timeoutMs: 3000 });
  if (!r.ok) throw new Error(r.error);
  return r.result as StatusDocument;
}

export async function labUp(opts: LabOptions, out: Out): Promise<UpResult> {
  const t0 = Date.now();
  const missing = missingPrereqs(opts);
  if (missing.length) throw new LabError(describeMissing(missing), 1);
  const p = labPlan(opts);
  const dir = resolve(opts.dir);
  if (dir === '/run' || dir.startsWith('/run/') || dir.startsWith('/var/run/')) {
    throw new LabError(`--dir ${dir}: the lab directory cannot be under /run (each charon mounts a private /run, which would hide it)`, 2);
  }
  const existing = (await listNamespaces()).filter((n) => n.startsWith(LAB_PREFIX));
  const old = readState(dir);
  if (old && existing.length === 0 && old.processes.every((x) => !alive(x.pid))) {
    // left behind by a reboot or a killed `lab up`: nothing of it runs any more
    await labDown(dir, { write: () => undefined });
  } else if (old || existing.length) {
    throw new LabError(`a lab is already up (${existing.length ? `namespaces ${existing.join(', ')}` : statePath(dir)}): run \`branchgate lab down${opts.dir === dir ? '' : ` --dir ${dir}`}\` first`, 1);
  }
  const birdBin = bin('bird')!;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  writeFileSync(join(dir, MARKER), 'created by branchgate lab up; removed by branchgate lab down\n');
  const state: LabState = { options: opts, startedAt: new Date().toISOString(), namespaces: p.namespaces, processes: [], cpeSocket: join(dir, 'cpe.sock') };
  writeState(dir, state);
  const started = (name: string, ns: string, pid: number, log: string) => {
    state.processes.push({ name, ns, pid, log });
    writeState(dir, state);
  };
  try {
    out.write(`building ${p.namespaces.length} namespaces (${p.namespaces.join(', ')})\n`);
    await buildTopology(p);
    await buildInternetTopology(p);
    const dns = internetServices(p, bin('dnsmasq') ?? 'dnsmasq');
    if (dns) started('dnsmasq (the ISP\'s DNS)', p.ns.wan, spawnDetached(dns.argv, join(dir, 'dnsmasq.log')), join(dir, 'dnsmasq.log'));

    for (const e of p.endpoints) {
      const d = join(dir, e.name);
      mkdirSync(d, { recursive: true, mode: 0o700 });
      if (opts.endpoint === 'strongswan') {
        const vici = join(d, 'charon.vici');
        mkdirSync(join(d, 'swanctl'), { recursive: true });
        writeFileSync(join(d, 'strongswan.conf'), strongswanConf({ logPath: join(d, 'charon.log'), vici }));
        writeFileSync(join(d, 'swanctl', 'swanctl.conf'), swanctlConf([{
          name: 'cpe', localAddress: e.publicAddress, remoteAddress: '%any', localId: e.publicAddress, remoteId: p.cpe.wanAddress,
          psk: e.psk, localTs: ['0.0.0.0/0'], remoteTs: [p.lanPrefix, `${p.cpe.bgpAddress}/32`], dpd: 10,
        }]), { mode: 0o600 });
        const pid = spawnDetached(charonArgv(e.ns, d, charonBinary()!), join(d, 'charon.out'));
        started(`charon (${e.name})`, e.ns, pid, join(d, 'charon.log'));
        await waitUntil(`charon in ${e.ns}`, async () => {
          if (!alive(pid)) throw new Error(`charon exited: ${tail(join(d, 'charon.out'), 10)}`);
          if (!existsSync(vici)) return undefined;
          return (await run(['swanctl', '--stats', '--uri', `unix://${vici}`], { allowFail: true })).code === 0 ? true : undefined;
        }, 15_000, 100);
        await run(['swanctl', '--load-all', '--noprompt', '--file', join(d, 'swanctl', 'swanctl.conf'), '--uri', `unix://${vici}`]);
      } else {
        const conf = join(d, 'branchgate.yaml');
        writeYaml(conf, responderConfig(p, e, d));
        const pid = spawnDetached(['ip', 'netns', 'exec', e.ns, process.execPath, BRANCHGATE_BIN, 'run', '--config', conf], join(d, 'branchgate.log'), d);
        started(`branchgate responder (${e.name})`, e.ns, pid, join(d, 'branchgate.log'));
        await waitUntil(`branchgate responder in ${e.ns}`, async () => {
          if (!alive(pid)) throw new Error(`it exited: ${tail(join(d, 'branchgate.log'), 10)}`);
          return existsSync(join(d, 'branchgate.sock')) ? true : undefined;
        }, 15_000, 100);
      }
      const birdConf = join(d, 'bird.conf');
      writeFileSync(birdConf, renderGsaPeerConfig({
        address: e.bgpAddress, cpeAddress: p.cpe.bgpAddress, cpeAsn: p.cpe.asn, asn: e.asn,
        interface: opts.endpoint === 'strongswan' ? 'ipsec0' : 'bg0', prefixes: e.announced,
      }));
      const bpid = spawnDetached(['ip', 'netns', 'exec', e.ns, birdBin, '-f', '-c', birdConf, '-s', join(d, 'bird.ctl')], join(d, 'bird.log'));
      started(`bird (${e.name}, GSA's BGP speaker)`, e.ns, bpid, join(d, 'bird.log'));
    }

    const conf = join(dir, 'cpe.yaml');
    writeYaml(conf, cpeConfig(p, dir, birdBin));
    const pid = spawnDetached(['ip', 'netns', 'exec', p.ns.cpe, process.execPath, BRANCHGATE_BIN, 'run', '--config', conf], join(dir, 'cpe.log'), dir);
    started('branchgate (CPE)', p.ns.cpe, pid, join(dir, 'cpe.log'));
    out.write(`started ${state.processes.length} processes; waiting for the tunnels and BGP\n`);

    const doc = await waitUntil('every tunnel established and every BGP neighbor Established', async () => {
      if (!alive(pid)) throw new Error(`branchgate exited:\n${tail(join(dir, 'cpe.log'), 15)}`);
      if (!existsSync(state.cpeSocket)) return undefined;
      const s = await cpeStatus(state.cpeSocket);
      const ok = s.tunnels.every((t) => t.state === 'established') && (s.bgp?.neighbors ?? []).every((n) => n.state === 'Established' && n.received > 0);
      return ok ? s : undefined;
    }, 40_000, 250);
    void doc;

    for (const e of p.endpoints) {
      await waitUntil(`a route to ${e.svcAddress} through ${e.cpeInterface}`, async () => {
        // `route get` from the branch: policy rules included (the internet profile's table 249).
        const r = await nsRun(p.ns.cpe, ['ip', 'route', 'get', e.svcAddress, 'from', p.branch.address, 'iif', 'lan0'], { allowFail: true });
        return new RegExp(`dev ${e.cpeInterface}\\b`).test(r.stdout) ? true : undefined;
      }, 10_000);
      const r = await nsRun(p.ns.branch, ['ping', '-n', '-c', '2', '-i', '0.2', '-W', '2', e.svcAddress], { allowFail: true, timeoutMs: 10_000 });
      if (r.code !== 0) throw new LabError(`the tunnel is up but ${e.svcAddress} (behind ${e.name}) does not answer from the branch:\n${r.stdout}${r.stderr}`);
    }
    return { state, seconds: (Date.now() - t0) / 1000 };
  } catch (err) {
    const logs = state.processes.map((x) => `--- ${x.name}: ${x.log} ---\n${tail(x.log, 15)}`).join('\n');
    await labDown(dir, { write: () => undefined }).catch(() => undefined);
    if (err instanceof LabError) throw new LabError(`${err.message}\n(the partial lab was torn down)`, err.exitCode);
    throw new LabError(`lab up failed: ${(err as Error).message}\n${logs}\n(the partial lab was torn down)`);
  }
}

/** What to try, printed by `lab up`. */
export function tryText(s: LabState, seconds: number): string {
  const p = labPlan(s.options);
  const bg = `node ${BRANCHGATE_BIN}`;
  const e1 = p.endpoints[0]!;
  const dirOpt = s.options.dir === DEFAULT_LAB_DIR ? '' : ` --dir ${s.options.dir}`;
  const lines = [
    `lab up in ${seconds.toFixed(1)} s: ${p.endpoints.length} tunnel${p.endpoints.length > 1 ? 's' : ''} established, BGP Established with ` +
      `${p.endpoints.map((e) => `${e.bgpAddress} (${e.name})`).join(', ')}${s.options.nat ? ', CPE behind NAT' : ''}`,
    '',
    `  branch host   ${p.ns.branch}  ${p.branch.address} (LAN ${p.lanPrefix}, announced to GSA over BGP)`,
    `  CPE           ${p.ns.cpe}     branchgate, WAN ${p.cpe.wanAddress}, BGP ${p.cpe.bgpAddress} AS${p.cpe.asn}`,
    `  underlay      ${p.ns.wan}     router ${p.cpe.gateway}${s.options.nat ? ' (masquerades the CPE)' : ''}; "internet" host ${p.internet}`,
    ...p.endpoints.map((e) => `  endpoint      ${e.ns}    ${s.options.endpoint === 'strongswan' ? 'strongSwan' : 'branchgate'} ${e.publicAddress}, BIRD ${e.bgpAddress} AS${e.asn}; service host ${e.svcAddress} (${e.svcNs})`),
    '',
    'try:',
    `  ip netns exec ${p.ns.branch} ping -c 3 ${e1.svcAddress}          # service host, through the tunnel`,
    ...(s.options.profile === 'internet' ? internetTryLines(p) : [
      `  ip netns exec ${p.ns.branch} ping -c 3 ${p.internet}         # not announced: the branch's default route`,
      `  ip netns exec ${p.ns.cpe} ip route show proto bird           # the Microsoft-365-like prefixes learned over BGP`,
      `  ip netns exec ${p.ns.cpe} ip route get 13.107.6.152          # (a lookup only: the lab never sends to Microsoft addresses)`,
    ]),
    `  ip netns exec ${e1.svcNs} iperf3 -s -D && ip netns exec ${p.ns.branch} iperf3 -c ${e1.svcAddress} -t 10`,
    `  ${bg} status --socket ${s.cpeSocket}`,
    `  ${bg} list-sas --socket ${s.cpeSocket}`,
    `  birdc -s ${join(s.options.dir, 'cpe.bird.ctl')} show protocols`,
    ...(s.options.endpoint === 'strongswan' ? [`  swanctl --list-sas --uri unix://${join(s.options.dir, e1.name, 'charon.vici')}`] : []),
    `  birdc -s ${join(s.options.dir, e1.name, 'bird.ctl')} show route protocol cpe   # the branch prefix, learned by "GSA"`,
    ...(p.endpoints.length > 1 ? [`  kill -9 $(ip netns pids ${p.endpoints[0]!.ns})   # zone failover: kill gsa1's charon and BIRD; after DPD (--dpd) ${e1.svcAddress} is reached through ${p.endpoints[1]!.cpeInterface}`] : []),
    `  ${bg} lab status${dirOpt}`,
    `  ${bg} lab down${dirOpt}`,
    '',
    `configs and logs: ${s.options.dir}`,
    '',
  ];
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------
// down.

export interface DownResult {
  killed: number;
  namespaces: string[];
  removedDir: boolean;
}

export async function labDown(dirIn: string, out: Out): Promise<DownResult> {
  const dir = resolve(dirIn);
  const state = readState(dir);
  let killed = 0;
  // The CPE first, gracefully: it deletes its SAs and stops its own BIRD.
  for (const pr of state?.processes ?? []) {
    if (!pr.name.startsWith('branchgate') || !alive(pr.pid)) continue;
    try {
      process.kill(pr.pid, 'SIGTERM');
    } catch {
      continue;
    }
    await waitUntil(`${pr.name} to exit`, async () => (alive(pr.pid) ? undefined : true), 5000, 100).catch(() => undefined);
  }
  const namespaces = [...new Set([...(state?.namespaces ?? []), ...(await listNamespaces()).filter((n) => n.startsWith(LAB_PREFIX))])];
  const present = new Set(await listNamespaces());
  const gone: string[] = [];
  for (const ns of namespaces) {
    if (!present.has(ns)) continue;
    for (let round = 0; round < 3; round++) {
      const pids = await namespacePids(ns);
      if (pids.length === 0) break;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
          killed++;
        } catch {
          /* gone */
        }
      }
      await sleep(100);
    }
    await run(['ip', 'netns', 'del', ns], { allowFail: true });
    gone.push(ns);
  }
  // Processes the state names that were not in a namespace any more (should not happen).
  for (const pr of state?.processes ?? []) {
    if (alive(pr.pid) && readCmdline(pr.pid).includes(dir)) {
      try {
        process.kill(pr.pid, 'SIGKILL');
        killed++;
      } catch {
        /* gone */
      }
    }
  }
  if (state) removeInternetFiles(labPlan(state.options));
  let removedDir = false;
  if (existsSync(join(dir, MARKER)) || (state && existsSync(dir))) {
    rmSync(dir, { recursive: true, force: true });
    removedDir = true;
  }
  const left = (await listNamespaces()).filter((n) => n.startsWith(LAB_PREFIX));
  if (left.length) throw new LabError(`lab down: namespaces still present: ${left.join(', ')}`);
  out.write(gone.length || removedDir
    ? `lab down: deleted ${gone.length} namespaces${gone.length ? ` (${gone.join(', ')})` : ''}, stopped ${killed + (state?.processes.filter((x) => x.name.startsWith('branchgate')).length ?? 0)} processes${removedDir ? `, removed ${dir}` : ''}\n`
    : 'lab down: nothing to do (no lab is up)\n');
  return { killed, namespaces: gone, removedDir };
}

function readCmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

// ---------------------------------------------------------------------------------------------
// status.

export async function labStatus(dirIn: string, out: Out, asJson = false): Promise<number> {
  const dir = resolve(dirIn);
  const state = readState(dir);
  const nss = (await listNamespaces()).filter((n) => n.startsWith(LAB_PREFIX));
  if (!state && nss.length === 0) {
    out.write(asJson ? `${JSON.stringify({ up: false })}\n` : 'the lab is down (`branchgate lab up` builds it)\n');
    return 0;
  }
  const procs = (state?.processes ?? []).map((x) => ({ ...x, running: alive(x.pid) }));
  let cpe: StatusDocument | undefined;
  let cpeError: string | undefined;
  if (state) {
    try {
      cpe = await cpeStatus(state.cpeSocket);
    } catch (e) {
      cpeError = (e as Error).message;
    }
  }
  const missingNs = (state?.namespaces ?? []).filter((n) => !nss.includes(n));
  const healthy = !!state && missingNs.length === 0 && procs.every((x) => x.running) && !!cpe &&
    cpe.tunnels.every((t) => t.state === 'established') && (cpe.bgp?.neighbors ?? []).every((n) => n.state === 'Established');
  if (asJson) {
    out.write(`${JSON.stringify({ up: true, healthy, dir, options: state?.options, namespaces: nss, missingNamespaces: missingNs, processes: procs, cpe: cpe ?? null, cpeError }, null, 2)}\n`);
    return healthy ? 0 : 1;
  }
  const lines: string[] = [];
  lines.push(`lab ${healthy ? 'up' : 'DEGRADED'}${state ? ` since ${state.startedAt} (${state.options.endpoints} endpoint${state.options.endpoints > 1 ? 's' : ''}, ${state.options.endpoint}${state.options.nat ? ', NAT' : ''})` : ' (no state file: run `branchgate lab down` to clean up)'}`);
  lines.push(`namespaces: ${nss.join(' ')}${missingNs.length ? `  MISSING: ${missingNs.join(' ')}` : ''}`);
  lines.push('processes:');
  for (const x of procs) lines.push(`  ${x.running ? 'running' : 'DEAD   '}  pid ${String(x.pid).padEnd(7)} ${x.name.padEnd(36)} in ${x.ns}   log ${x.log}`);
  if (cpe) {
    lines.push('tunnels (the CPE):');
    for (const t of cpe.tunnels) {
      const c = t.children.reduce((a, ch) => ({ i: a.i + ch.packetsIn, o: a.o + ch.packetsOut }), { i: 0, o: 0 });
      lines.push(`  ${t.name.padEnd(6)} ${t.state.padEnd(12)} ${t.local ?? '-'} → ${t.remote ?? '-'}  packets in/out ${c.i}/${c.o}`);
    }
    lines.push('BGP neighbors:');
    for (const n of cpe.bgp?.neighbors ?? []) lines.push(`  ${n.address.padEnd(12)} ${n.state.padEnd(12)} received ${n.received}, advertised ${n.advertised}`);
  } else if (state) lines.push(`the CPE's control socket does not answer: ${cpeError ?? '?'}`);
  out.write(`${lines.join('\n')}\n`);
  return healthy ? 0 : 1;
}
