/**
 * A small runner for iproute2's `ip`, and the few route commands the route manager needs.
 *
 * - No shell: `execFile` with an argument vector, so a prefix or interface name can never be
 *   interpreted as shell syntax.
 * - A timeout: a wedged `ip` (netlink stuck, namespace being torn down) must not wedge the daemon.
 * - Errors quote the exact command and ip's own stderr, and say what to fix (IpError).
 * - `IpRunner` is the seam: production uses createIpRunner(); a test may wrap it (to record
 *   commands) or replace it with a fake when it only checks planning.
 *
 * Only IPv4 and the main routing table are handled; that is all branchgate steers today.
 */
import { execFile } from 'node:child_process';

export interface IpOutput {
  stdout: string;
  stderr: string;
}

/** Runs `ip ARGS...` (args exclude the program name) and resolves with its output, or rejects with IpError. */
export interface IpRunner {
  run(args: readonly string[]): Promise<IpOutput>;
}

export interface IpRunnerOptions {
  /** Run every command inside this network namespace (`ip -n NS ...`). */
  netns?: string;
  /** Milliseconds before the command is killed; default 5000. */
  timeoutMs?: number;
  /** Path of the ip binary; default "ip" looked up on PATH. */
  ipPath?: string;
}

/** Known ip/netlink complaints and what the operator should do about them. */
const HINTS: readonly [RegExp, string][] = [
  [/Cannot find device "([^"]+)"/, 'interface $1 does not exist: create the tunnel interface first, or fix `interface:` in the config'],
  [/Device for nexthop is not up|Network is down/, 'the interface is administratively down: bring it up (ip link set DEV up) before routing into it'],
  [/Nexthop has invalid gateway/, 'the gateway is not on a connected subnet of that interface: check the underlay address and gateway'],
  [/Operation not permitted|Permission denied/, 'changing routes needs root or CAP_NET_ADMIN: run as root, or grant the capability (systemd AmbientCapabilities=CAP_NET_ADMIN, docker --cap-add NET_ADMIN)'],
  [/Cannot open network namespace/, 'the network namespace does not exist: create it (ip netns add NAME) or fix the namespace name'],
  [/Network is unreachable/, 'the kernel has no route to that address: add a default route or a route to the remote endpoint'],
  [/File exists/, 'a conflicting route already exists: remove it or pick a different prefix'],
  [/No such process/, 'the route is not in the kernel (already removed)'],
  [/is wrong: "protocol" value is invalid/, 'iproute2 only accepts numeric protocols or names listed in /etc/iproute2/rt_protos'],
];

export class IpError extends Error {
  constructor(
    /** The command as the operator could retype it. */
    readonly command: string,
    /** ip's stderr, trimmed. */
    readonly stderr: string,
    /** Exit code, or undefined when ip never ran / was killed. */
    readonly exitCode: number | undefined,
    /** What to do about it. */
    readonly hint: string,
  ) {
    super(`\`${command}\` failed${stderr ? `: ${stderr}` : ''}${hint ? ` — ${hint}` : ''}`);
    this.name = 'IpError';
  }
}

/** True when the error means "that route is not there" (a delete that already happened). */
export function isNoSuchRoute(err: unknown): boolean {
  return err instanceof IpError && /No such process/.test(err.stderr);
}

function hintFor(stderr: string): string {
  for (const [re, hint] of HINTS) {
    const m = re.exec(stderr);
    if (m) return hint.replace('$1', m[1] ?? '');
  }
  return '';
}

export function createIpRunner(opts: IpRunnerOptions = {}): IpRunner {
  const ip = opts.ipPath ?? 'ip';
  const timeout = opts.timeoutMs ?? 5000;
  const prefix = opts.netns === undefined ? [] : ['-n', opts.netns];
  return {
    run(args) {
      const argv = [...prefix, ...args];
      const command = [ip, ...argv].join(' ');
      return new Promise((resolve, reject) => {
        execFile(ip, argv, { timeout, killSignal: 'SIGKILL', maxBuffer: 64 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
          if (!err) return resolve({ stdout, stderr });
          const e = err as NodeJS.ErrnoException & { code?: string | number; killed?: boolean; signal?: string | null };
          const text = (stderr ?? '').trim();
          if (e.code === 'ENOENT') {
            return reject(new IpError(command, text, undefined, `${ip} not found: install iproute2 (apt-get install iproute2) or put ip on PATH`));
          }
          if (e.killed === true || e.signal) {
            return reject(new IpError(command, text, undefined, `ip did not finish within ${timeout} ms (killed by ${e.signal ?? 'timeout'}): the netlink socket or namespace may be stuck`));
          }
          const code = typeof e.code === 'number' ? e.code : undefined;
          reject(new IpError(command, text || e.message, code, hintFor(text)));
        });
      });
    },
  };
}

/** A route as the kernel reports it (`ip -json route ...`), normalised. */
export interface KernelRoute {
  /** Canonical prefix: "0.0.0.0/0" for default, "/32" added to host routes. */
  dst: string;
  /** "unicast", "blackhole", "unreachable", "local", ... */
  type: string;
  dev?: string;
  gateway?: string;
  /** Absent in ip's output means 0. */
  metric: number;
  /** Protocol as ip prints it ("kernel", "249"); undefined when ip omitted it (boot, or filtered by proto). */
  protocol?: string;
  flags: string[];
  /** Multipath routes: the next hops; dev/gateway above are then undefined. */
  nexthops?: { dev?: string; gateway?: string; flags: string[] }[];
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const strs = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);

/** "default" → 0.0.0.0/0, "192.0.2.1" → 192.0.2.1/32, prefixes unchanged. */
export function normaliseDst(dst: string): string {
  if (dst === 'default') return '0.0.0.0/0';
  return dst.includes('/') ? dst : `${dst}/32`;
}

export function parseKernelRoutes(json: string, command: string): KernelRoute[] {
  const text = json.trim();
  if (text === '') return [];
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new IpError(command, '', 0, `ip printed something that is not JSON (${JSON.stringify(text.slice(0, 80))}): iproute2 with -json support (≥ 4.14) is needed`);
  }
  if (!Array.isArray(raw)) return [];
  const out: KernelRoute[] = [];
  for (const r of raw as unknown[]) {
    if (typeof r !== 'object' || r === null) continue;
    const o = r as Record<string, unknown>;
    const dst = str(o.dst);
    if (dst === undefined) continue;
    const route: KernelRoute = {
      dst: normaliseDst(dst),
      type: str(o.type) ?? 'unicast',
      metric: typeof o.metric === 'number' ? o.metric : 0,
      flags: strs(o.flags),
    };
    const dev = str(o.dev);
    const gateway = str(o.gateway);
    const protocol = str(o.protocol) ?? (typeof o.protocol === 'number' ? String(o.protocol) : undefined);
    if (dev !== undefined) route.dev = dev;
    if (gateway !== undefined) route.gateway = gateway;
    if (protocol !== undefined) route.protocol = protocol;
    if (Array.isArray(o.nexthops)) {
      route.nexthops = (o.nexthops as unknown[]).flatMap((n) => {
        if (typeof n !== 'object' || n === null) return [];
        const h = n as Record<string, unknown>;
        const hop: { dev?: string; gateway?: string; flags: string[] } = { flags: strs(h.flags) };
        const hd = str(h.dev);
        const hg = str(h.gateway);
        if (hd !== undefined) hop.dev = hd;
        if (hg !== undefined) hop.gateway = hg;
        return [hop];
      });
    }
    out.push(route);
  }
  return out;
}

async function json(runner: IpRunner, args: string[]): Promise<KernelRoute[]> {
  const full = ['-json', ...args];
  const { stdout } = await runner.run(full);
  return parseKernelRoutes(stdout, `ip ${full.join(' ')}`);
}

/** `ip -json route get ADDR` (or `get fibmatch ADDR`: the FIB entry that matched, with its protocol). */
export async function routeGet(runner: IpRunner, addr: string, fibmatch = false): Promise<KernelRoute | undefined> {
  return (await json(runner, ['route', 'get', ...(fibmatch ? ['fibmatch'] : []), addr]))[0];
}

/** `ip -json route show table main [FILTER...]`, e.g. filter ['proto', '249'] or ['exact', '10.0.0.0/8']. */
export function routeShow(runner: IpRunner, filter: readonly string[] = []): Promise<KernelRoute[]> {
  return json(runner, ['route', 'show', 'table', 'main', ...filter]);
}

/** What the route manager installs: a unicast route (dev, optionally via a gateway) or a blackhole. */
export interface RouteSpec {
  dst: string;
  type: 'unicast' | 'blackhole';
  dev?: string;
  gateway?: string;
  onlink?: boolean;
}

/** The argument vector after `ip route replace|del` for a spec tagged with proto. */
export function routeArgs(spec: RouteSpec, proto: number): string[] {
  const args: string[] = spec.type === 'blackhole' ? ['blackhole', spec.dst] : [spec.dst];
  if (spec.type === 'unicast') {
    if (spec.gateway !== undefined) args.push('via', spec.gateway);
    if (spec.dev !== undefined) args.push('dev', spec.dev);
    if (spec.onlink === true) args.push('onlink');
  }
  args.push('proto', String(proto), 'table', 'main');
  return args;
}

/** `ip route replace SPEC proto N`: installs or atomically swaps the route with the same key. */
export async function routeReplace(runner: IpRunner, spec: RouteSpec, proto: number): Promise<void> {
  await runner.run(['route', 'replace', ...routeArgs(spec, proto)]);
}

/**
 * `ip route del DST proto N table main`. The kernel only deletes a route whose protocol matches,
 * so this can never remove a route somebody else installed for the same prefix. A route that is
 * already gone (the kernel flushes routes of a deleted interface) counts as deleted.
 */
export async function routeDel(runner: IpRunner, dst: string, proto: number): Promise<boolean> {
  try {
    await runner.run(['route', 'del', dst, 'proto', String(proto), 'table', 'main']);
    return true;
  } catch (err) {
    if (isNoSuchRoute(err)) return false;
    throw err;
  }
}
