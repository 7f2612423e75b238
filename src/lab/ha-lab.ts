/**
 * `branchgate lab up --ha`: builds the plan of ha-plan.ts, starts the endpoint (branchgate
 * responder with BIRD) and the two boxes (branchgate with bgp: and ha:, each running its own BIRD
 * and keepalived), waits until both boxes are healthy, box a holds the gateway address and the
 * branch reaches the service host through it. The state file has the same shape as the plain
 * lab's, so `lab down` and `lab status` (which shows box a) work unchanged.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { parseConfig, formatIssue } from '../config/load.js';
import { request } from '../control/client.js';
import type { StatusDocument } from '../control/status.js';
import type { LabOptions } from './plan.js';
import { haBoxConfig, haEndpointConfig, haLabPlan, type HaLabPlan } from './ha-plan.js';
import { BRANCHGATE_BIN, LabError, labDown, readState, writeState, type LabState, type Out } from './lab.js';
import { alive, bin, listNamespaces, nsRun, run, spawnDetached, tail, waitUntil } from './sys.js';
import { LAB_PREFIX } from './plan.js';

const veth = async (nsA: string, ifA: string, nsB: string, ifB: string) => {
  await run(['ip', 'link', 'add', ifA, 'netns', nsA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB]);
  await nsRun(nsA, ['ip', 'link', 'set', ifA, 'up']);
  await nsRun(nsB, ['ip', 'link', 'set', ifB, 'up']);
};
const addr = (ns: string, dev: string, cidr: string) => nsRun(ns, ['ip', 'addr', 'add', cidr, 'dev', dev]);
const forward = (ns: string) => nsRun(ns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);

async function buildHaTopology(p: HaLabPlan): Promise<void> {
  for (const ns of p.namespaces) {
    await run(['ip', 'netns', 'add', ns]);
    await nsRun(ns, ['ip', 'link', 'set', 'lo', 'up']);
  }
  const { lan, branch, wan, gsa, svc } = p.ns;
  await nsRun(lan, ['ip', 'link', 'add', 'br0', 'type', 'bridge']);
  await nsRun(lan, ['ip', 'link', 'set', 'br0', 'up']);
  const port = async (ns: string, name: string) => {
    await veth(lan, name, ns, 'lan0');
    await nsRun(lan, ['ip', 'link', 'set', name, 'master', 'br0']);
  };
  await port(branch, 'pbr');
  await addr(branch, 'lan0', `${p.branchAddress}/24`);
  await nsRun(branch, ['ip', 'route', 'add', 'default', 'via', p.virtualAddress]);
  await forward(wan);
  for (const b of p.boxes) {
    await port(b.ns, b.port);
    await addr(b.ns, 'lan0', `${b.lanAddress}/24`);
    await veth(b.ns, 'wan0', wan, b.wanIf);
    await addr(b.ns, 'wan0', `${b.wanAddress}/30`);
    await addr(wan, b.wanIf, `${b.wanGateway}/30`);
    await nsRun(b.ns, ['ip', 'route', 'add', 'default', 'via', b.wanGateway]);
    await forward(b.ns);
  }
  const e = p.endpoint;
  await veth(wan, 'gsa1', gsa, 'up0');
  await addr(wan, 'gsa1', `${e.routerAddress}/29`);
  await addr(gsa, 'up0', `${e.publicAddress}/29`);
  await nsRun(gsa, ['ip', 'route', 'add', 'default', 'via', e.routerAddress]);
  await addr(gsa, 'lo', `${e.bgpAddress}/32`);
  await forward(gsa);
  await veth(gsa, 'lan0', svc, 'lan0');
  await addr(gsa, 'lan0', `${e.svcLink[0]}/30`);
  await addr(svc, 'lan0', `${e.svcLink[1]}/30`);
  await addr(svc, 'lo', `${e.svcAddress}/32`);
  await nsRun(svc, ['ip', 'route', 'add', 'default', 'via', e.svcLink[0]]);
  await nsRun(gsa, ['ip', 'route', 'add', `${e.svcAddress}/32`, 'via', e.svcLink[1]]);
}

function writeYaml(path: string, doc: Record<string, unknown>): void {
  const text = stringify(doc);
  const parsed = parseConfig(text, path, {});
  if (!parsed.ok) throw new LabError(`the generated config ${path} does not validate (a lab bug):\n${parsed.errors.map(formatIssue).join('\n')}`);
  writeFileSync(path, text, { mode: 0o600 });
}

async function status(sock: string): Promise<StatusDocument> {
  const r = await request(sock, 'status', undefined, { timeoutMs: 3000 });
  if (!r.ok) throw new Error(r.error);
  return r.result as StatusDocument;
}

export async function labUpHa(opts: LabOptions, out: Out): Promise<{ state: LabState; seconds: number }> {
  const t0 = Date.now();
  if (process.getuid?.() !== 0) throw new LabError('lab up --ha needs root (network namespaces, TUN devices, VRRP)', 1);
  const need: [string, string][] = [['ip', 'iproute2'], ['bird', 'bird2'], ['keepalived', 'keepalived'], ['ping', 'iputils-ping'], ['mkfifo', 'coreutils']];
  const missing = need.filter(([b]) => !bin(b));
  if (missing.length) throw new LabError(`cannot build the HA lab, missing: ${missing.map(([b, p]) => `${b} (package ${p})`).join(', ')}\nInstall with:  apt-get install -y ${[...new Set(missing.map(([, p]) => p))].join(' ')}`);
  const p = haLabPlan(opts.dpd);
  const dir = resolve(opts.dir);
  const existing = (await listNamespaces()).filter((n) => n.startsWith(LAB_PREFIX));
  if (readState(dir) || existing.length) throw new LabError(`a lab is already up: run \`branchgate lab down\` first`, 1);
  const birdBin = bin('bird')!;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  writeFileSync(join(dir, '.branchgate-lab'), 'created by branchgate lab up --ha; removed by branchgate lab down\n');
  const state: LabState = { options: { ...opts, endpoints: 1, endpoint: 'branchgate', ha: true }, startedAt: new Date().toISOString(), namespaces: p.namespaces, processes: [], cpeSocket: join(dir, 'boxa.sock') };
  writeState(dir, state);
  const daemon = async (name: string, ns: string, conf: string, sock: string) => {
    const log = join(dir, `${name.replace(/\W+/g, '-')}.log`);
    const pid = spawnDetached(['ip', 'netns', 'exec', ns, process.execPath, BRANCHGATE_BIN, 'run', '--config', conf], log, dir);
    state.processes.push({ name, ns, pid, log });
    writeState(dir, state);
    await waitUntil(`${name} in ${ns}`, async () => {
      if (!alive(pid)) throw new Error(`${name} exited: ${tail(log, 10)}`);
      return existsSync(sock) ? true : undefined;
    }, 15_000, 100);
  };
  try {
    out.write(`building ${p.namespaces.length} namespaces (${p.namespaces.join(', ')})\n`);
    await buildHaTopology(p);
    writeYaml(join(dir, 'gsa1.yaml'), haEndpointConfig(p, dir, birdBin));
    await daemon('branchgate endpoint (gsa1)', p.ns.gsa, join(dir, 'gsa1.yaml'), join(dir, 'gsa1.sock'));
    for (const x of p.boxes) {
      writeYaml(join(dir, `box${x.name}.yaml`), haBoxConfig(p, x, dir, birdBin));
      await daemon(`branchgate box ${x.name}`, x.ns, join(dir, `box${x.name}.yaml`), join(dir, `box${x.name}.sock`));
    }
    out.write('started the endpoint and both boxes; waiting for the tunnels, BGP and VRRP\n');
    await waitUntil('both boxes healthy, box a master', async () => {
      const [sa, sb] = [await status(join(dir, 'boxa.sock')), await status(join(dir, 'boxb.sock'))];
      return sa.ha?.healthy && sb.ha?.healthy && sa.ha.role === 'master' && sb.ha.role === 'backup' ? true : undefined;
    }, 60_000, 250);
    const r = await nsRun(p.ns.branch, ['ping', '-n', '-c', '2', '-i', '0.2', '-W', '2', p.endpoint.svcAddress], { allowFail: true, timeoutMs: 10_000 });
    if (r.code !== 0) throw new LabError(`the pair is up but ${p.endpoint.svcAddress} does not answer from the branch:\n${r.stdout}${r.stderr}`);
    return { state, seconds: (Date.now() - t0) / 1000 };
  } catch (err) {
    const logs = state.processes.map((x) => `--- ${x.name}: ${x.log} ---\n${tail(x.log, 15)}`).join('\n');
    await labDown(dir, { write: () => undefined }).catch(() => undefined);
    if (err instanceof LabError) throw new LabError(`${err.message}\n(the partial lab was torn down)`, err.exitCode);
    throw new LabError(`lab up --ha failed: ${(err as Error).message}\n${logs}\n(the partial lab was torn down)`);
  }
}

export function haTryText(s: LabState, seconds: number): string {
  const p = haLabPlan(s.options.dpd);
  const bg = `node ${BRANCHGATE_BIN}`;
  const d = s.options.dir;
  return [
    `lab up --ha in ${seconds.toFixed(1)} s: two boxes, each with its tunnel and BGP session up; box a (priority 200) holds ${p.virtualAddress}`,
    '',
    `  branch host   ${p.ns.branch}  ${p.branchAddress}, default gateway ${p.virtualAddress} (the VRRP address)`,
    ...p.boxes.map((x) => `  box ${x.name}         ${x.ns}    LAN ${x.lanAddress}, WAN ${x.wanAddress}, BGP ${x.bgpAddress}, VRRP priority ${x.priority}`),
    `  LAN segment   ${p.ns.lan}     bridge br0`,
    `  endpoint      ${p.ns.gsa}    branchgate responder ${p.endpoint.publicAddress} + BIRD ${p.endpoint.bgpAddress}; service host ${p.endpoint.svcAddress} (${p.ns.svc})`,
    '',
    'try:',
    `  ip netns exec ${p.ns.branch} ping -i 0.05 ${p.endpoint.svcAddress}      # leave it running`,
    `  ${bg} status --socket ${d}/boxa.sock              # ha: role, priority, splitBrain`,
    `  ${bg} monitor --socket ${d}/boxb.sock             # watch box b take over`,
    `  kill -9 $(ip netns pids ${p.boxes[0].ns})                 # box failure: box b takes ${p.virtualAddress} within a second`,
    `  ip netns exec ${p.ns.gsa} ip route get ${p.branchAddress}     # the endpoint's return path: box b's tunnel`,
    `  ${bg} lab down${d === '/var/lib/branchgate-lab' ? '' : ` --dir ${d}`}`,
    '',
    `configs and logs: ${d}`,
    '',
  ].join('\n');
}
