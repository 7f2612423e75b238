/**
 * The few system operations the lab needs: run a command (no shell, with a timeout), run it in a
 * namespace, start a long-lived process detached from the CLI (it must outlive `lab up`), and
 * find out whether a pid still lives. Nothing here is specific to the lab's topology.
 */
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';

export interface RunResult {
  stdout: string;
  stderr: string;
  code: number;
}

export function run(argv: readonly string[], opts: { timeoutMs?: number; allowFail?: boolean; cwd?: string } = {}): Promise<RunResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('run: empty argv');
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: opts.timeoutMs ?? 15_000, maxBuffer: 16 << 20, killSignal: 'SIGKILL', ...(opts.cwd ? { cwd: opts.cwd } : {}) }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string }) | null;
      const code = e ? (typeof e.code === 'number' ? e.code : -1) : 0;
      const r = { stdout: String(stdout), stderr: String(stderr) + (e && code === -1 ? e.message : ''), code };
      if (e && !opts.allowFail) reject(new Error(`${argv.join(' ')}: ${code === -1 ? e.message : `exit ${code}`}\n${r.stderr.trim()}`.trim()));
      else resolve(r);
    });
  });
}

export const nsRun = (ns: string, argv: readonly string[], opts: { timeoutMs?: number; allowFail?: boolean } = {}): Promise<RunResult> =>
  run(['ip', 'netns', 'exec', ns, ...argv], opts);

/**
 * Starts argv in its own session with stdout/stderr appended to logPath, and returns its pid.
 * `ip netns exec`, `unshare` and `sh -c 'exec …'` all exec in place, so the pid is the daemon's.
 */
export function spawnDetached(argv: readonly string[], logPath: string, cwd?: string): number {
  const [cmd, ...args] = argv;
  if (cmd === undefined) throw new Error('spawnDetached: empty argv');
  const fd = openSync(logPath, 'a', 0o600);
  try {
    const p = spawn(cmd, args, { detached: true, stdio: ['ignore', fd, fd], ...(cwd ? { cwd } : {}) });
    if (p.pid === undefined) throw new Error(`could not start ${cmd}`);
    p.unref();
    return p.pid;
  } finally {
    closeSync(fd);
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // a zombie (exited, not yet reaped by its parent) counts as gone
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitUntil<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number, stepMs = 200): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await sleep(stepMs);
  }
}

export async function listNamespaces(): Promise<string[]> {
  const r = await run(['ip', 'netns', 'list'], { allowFail: true });
  return r.stdout.split('\n').map((l) => l.trim().split(/\s+/)[0] ?? '').filter(Boolean);
}

export async function namespacePids(ns: string): Promise<number[]> {
  const r = await run(['ip', 'netns', 'pids', ns], { allowFail: true });
  return r.stdout.split(/\s+/).filter(Boolean).map(Number).filter((n) => Number.isInteger(n) && n > 1);
}

/** Last n lines of a file ('' when missing). */
export function tail(path: string, n = 20): string {
  if (!existsSync(path)) return '';
  return readFileSync(path, 'utf8').split('\n').slice(-n - 1).join('\n');
}

/** The first of the candidate paths that exists. */
export function which(candidates: readonly string[]): string | undefined {
  return candidates.find((p) => existsSync(p));
}

export const bin = (name: string): string | undefined =>
  which(['/usr/sbin/', '/usr/bin/', '/sbin/', '/bin/', '/usr/local/sbin/', '/usr/local/bin/'].map((d) => d + name));
