/**
 * Network-namespace plumbing for the interop lab: namespaces, veth pairs, addresses, routes and
 * command execution with timeouts. Everything created here is registered for cleanup, which runs
 * from afterAll (via Lab.destroy) and, as a last resort, synchronously on process exit/signals.
 *
 * Names are `bgt<pid><tag>` so several test files can run at once and leftovers from a killed
 * run can be recognised (and swept) by their dead owner pid.
 */
import { execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const NAME_PREFIX = `bgt${process.pid}`;

export interface ExecResult {
  stdout: string;
  stderr: string;
  code: number;
}

export class ExecError extends Error {
  constructor(
    readonly argv: string[],
    readonly result: ExecResult,
    readonly timedOut: boolean,
  ) {
    super(
      `${timedOut ? 'timed out' : `exit ${result.code}`}: ${argv.join(' ')}\n` +
        `${result.stderr.trim()}\n${result.stdout.trim()}`.trimEnd(),
    );
    this.name = 'ExecError';
  }
}

export interface ExecOptions {
  timeoutMs?: number;
  /** Do not throw on a non-zero exit; return the result instead. */
  allowFail?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** Runs argv on the host (no shell), with a timeout (default 15 s). */
export function run(argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('run: empty argv');
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      { timeout: opts.timeoutMs ?? 15_000, maxBuffer: 16 << 20, env: opts.env ?? process.env, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => {
        const e = err as (NodeJS.ErrnoException & { code?: number | string; killed?: boolean }) | null;
        const code = e ? (typeof e.code === 'number' ? e.code : -1) : 0;
        const result: ExecResult = { stdout: String(stdout), stderr: String(stderr) + (e && code === -1 ? e.message : ''), code };
        if (e && !opts.allowFail) reject(new ExecError(argv, result, Boolean(e.killed)));
        else resolve(result);
      },
    );
  });
}

/** Runs argv inside network namespace `ns`. */
export function exec(ns: string, argv: string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return run(['ip', 'netns', 'exec', ns, ...argv], opts);
}

// ---------------------------------------------------------------------------------------------
// Prerequisites: fail loudly, never skip.

const APT_LINE =
  'apt-get install -y strongswan-swanctl charon-systemd libcharon-extra-plugins libstrongswan-extra-plugins ' +
  'libstrongswan-standard-plugins iproute2 iputils-ping iperf3 tcpdump bird2 nftables';

/** charon binary: the classic daemon if present (Debian strongswan-charon), else charon-systemd. */
export function charonBinary(): string | undefined {
  return ['/usr/lib/ipsec/charon', '/usr/sbin/charon-systemd'].find((p) => existsSync(p));
}

/** Throws (so the test FAILS) naming everything missing and how to install it. */
export function requirePrereqs(opts: { strongswan?: boolean } = {}): void {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root privileges (run the tests as root, e.g. `sudo bash .ci/run`)');
  const have = (p: string): boolean => existsSync(p);
  if (!have('/usr/bin/ip') && !have('/usr/sbin/ip') && !have('/bin/ip')) missing.push('`ip` (apt-get install -y iproute2)');
  else {
    try {
      execFileSync('ip', ['netns', 'list'], { stdio: 'pipe', timeout: 5000 });
    } catch (err) {
      missing.push(`working \`ip netns\` (${(err as Error).message.split('\n')[0]})`);
    }
  }
  if (!have('/usr/bin/unshare')) missing.push('`unshare` (apt-get install -y util-linux)');
  if (!have('/dev/net/tun')) missing.push('/dev/net/tun (kernel TUN support; in a container pass --device /dev/net/tun)');
  if (opts.strongswan !== false) {
    if (!charonBinary()) missing.push('/usr/lib/ipsec/charon or /usr/sbin/charon-systemd (apt-get install -y charon-systemd)');
    if (!have('/usr/sbin/swanctl')) missing.push('/usr/sbin/swanctl (apt-get install -y strongswan-swanctl)');
    const plug = '/usr/lib/ipsec/plugins/libstrongswan-';
    if (!have(`${plug}kernel-libipsec.so`)) missing.push('strongSwan kernel-libipsec plugin (apt-get install -y libcharon-extra-plugins)');
    for (const p of ['openssl', 'gcm', 'curve25519', 'vici']) {
      if (!have(`${plug}${p}.so`)) missing.push(`strongSwan ${p} plugin (apt-get install -y libstrongswan-standard-plugins libstrongswan-extra-plugins)`);
    }
    if (!have('/usr/bin/ping') && !have('/bin/ping')) missing.push('`ping` (apt-get install -y iputils-ping)');
  }
  if (missing.length) {
    throw new Error(
      `interop prerequisites missing:\n  - ${missing.join('\n  - ')}\n` +
        `Install everything with \`bash .ci/run\` (as root) or: ${APT_LINE}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Cleanup registry (async in afterAll, sync on exit).

const liveNamespaces = new Set<string>();
const liveProcs = new Set<ChildProcess>();
const liveDirs = new Set<string>();
let exitHooked = false;

function syncCleanup(): void {
  for (const p of liveProcs) {
    try {
      if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  liveProcs.clear();
  for (const ns of liveNamespaces) deleteNamespaceSync(ns);
  liveNamespaces.clear();
  if (!process.env.BGT_KEEP_LOGS) for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
  liveDirs.clear();
}

function hookExit(): void {
  if (exitHooked) return;
  exitHooked = true;
  process.on('exit', syncCleanup);
  const signals = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
  for (const [sig, n] of Object.entries(signals)) process.once(sig, () => (syncCleanup(), process.exit(128 + n)));
}

export function trackProcess(p: ChildProcess): void {
  hookExit();
  liveProcs.add(p);
  p.once('exit', () => liveProcs.delete(p));
}

/** A fresh temp dir, removed at cleanup (kept when BGT_KEEP_LOGS is set). */
export function makeTempDir(tag: string): string {
  hookExit();
  const d = mkdtempSync(join(tmpdir(), `${NAME_PREFIX}-${tag}-`));
  liveDirs.add(d);
  return d;
}

export function removeTempDir(d: string): void {
  liveDirs.delete(d);
  if (!process.env.BGT_KEEP_LOGS) rmSync(d, { recursive: true, force: true });
}

/** Kills every process still inside `ns` (only namespaces this harness created), then deletes it. */
function deleteNamespaceSync(ns: string): void {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', ns], { stdio: 'pipe', timeout: 5000 }).toString().split(/\s+/);
    for (const pid of pids.filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  } catch {
    /* namespace already gone */
  }
  try {
    execFileSync('ip', ['netns', 'del', ns], { stdio: 'pipe', timeout: 5000 });
  } catch {
    /* already gone */
  }
}

/**
 * Removes namespaces (and the processes in them) and temp dirs named bgt<pid>… whose owner process
 * no longer exists: leftovers of an earlier run that was SIGKILLed before its exit hook could run.
 */
export function sweepStale(): void {
  for (const entry of readdirSync(tmpdir())) {
    const m = /^bgt(\d+)-/.exec(entry);
    if (m?.[1] && Number(m[1]) !== process.pid && !existsSync(`/proc/${m[1]}`)) {
      rmSync(join(tmpdir(), entry), { recursive: true, force: true });
    }
  }
  let names: string[];
  try {
    names = execFileSync('ip', ['netns', 'list'], { stdio: 'pipe', timeout: 5000 }).toString().split('\n');
  } catch {
    return;
  }
  for (const line of names) {
    const m = /^(bgt(\d+)[a-z][a-z0-9]*)\b/.exec(line.trim());
    if (!m || !m[1] || !m[2] || Number(m[2]) === process.pid) continue;
    if (!existsSync(`/proc/${m[2]}`)) deleteNamespaceSync(m[1]);
  }
}

// ---------------------------------------------------------------------------------------------
// Topology.

let counter = 0;

/** A unique namespace name: bgt<pid><tag><n> (tag: lowercase letters). */
export function uniqueName(tag: string): string {
  return `${NAME_PREFIX}${tag}${counter++}`;
}

export async function createNamespace(name: string): Promise<string> {
  hookExit();
  await run(['ip', 'netns', 'add', name]);
  liveNamespaces.add(name);
  await exec(name, ['ip', 'link', 'set', 'lo', 'up']);
  return name;
}

export async function deleteNamespace(name: string): Promise<void> {
  liveNamespaces.delete(name);
  deleteNamespaceSync(name);
}

/** A veth pair created directly inside the two namespaces (no transient name in the host ns). */
export async function addVeth(nsA: string, ifA: string, nsB: string, ifB: string): Promise<void> {
  await run(['ip', 'link', 'add', ifA, 'netns', nsA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB]);
  await exec(nsA, ['ip', 'link', 'set', ifA, 'up']);
  await exec(nsB, ['ip', 'link', 'set', ifB, 'up']);
}

/** Adds `cidr` (e.g. 192.0.2.1/24) to `dev` in `ns`. Use dev 'lo' for extra /32s (no dummy links here). */
export async function addAddress(ns: string, dev: string, cidr: string): Promise<void> {
  await exec(ns, ['ip', 'addr', 'add', cidr, 'dev', dev]);
}

export async function addRoute(ns: string, prefix: string, via: string, extra: string[] = []): Promise<void> {
  await exec(ns, ['ip', 'route', 'replace', prefix, 'via', via, ...extra]);
}

/** Two namespaces joined by one veth pair, with the given /24 addresses on each end. */
export interface Pair {
  a: string; b: string; ifA: string; ifB: string; addrA: string; addrB: string;
  destroy(): Promise<void>;
}

export async function createPair(opts: { tag?: string; addrA?: string; addrB?: string; prefixLen?: number } = {}): Promise<Pair> {
  sweepStale();
  const tag = opts.tag ?? 'p';
  const a = await createNamespace(uniqueName(`${tag}a`));
  const b = await createNamespace(uniqueName(`${tag}b`));
  const addrA = opts.addrA ?? '192.0.2.1';
  const addrB = opts.addrB ?? '192.0.2.2';
  const len = opts.prefixLen ?? 24;
  await addVeth(a, 'veth0', b, 'veth0');
  await addAddress(a, 'veth0', `${addrA}/${len}`);
  await addAddress(b, 'veth0', `${addrB}/${len}`);
  return {
    a, b, ifA: 'veth0', ifB: 'veth0', addrA, addrB,
    async destroy() {
      await deleteNamespace(a);
      await deleteNamespace(b);
    },
  };
}

/** Polls `fn` until it returns a non-undefined value or `timeoutMs` passes; then throws with `what`. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000, stepMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? `: ${(lastErr as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** Last `n` lines of a file ('' if missing), starting at byte `from`. */
export function tailFile(path: string, n = 60, from = 0): string {
  if (!existsSync(path)) return `(${path} does not exist)`;
  const text = readFileSync(path).subarray(from).toString('utf8');
  return text.split('\n').slice(-n - 1).join('\n');
}
