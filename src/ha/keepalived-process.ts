/**
 * The keepalived child: `keepalived --dont-fork --log-console --vrrp -f CONF -p PID -r VRRP_PID`
 * in the foreground, so it is our child and its exit is seen at once (the same pattern as BIRD,
 * src/bgp/bird-process.ts). Restarted with exponential backoff (1 s, 2 s … 30 s; back to 1 s
 * after a minute of running), reloaded with SIGHUP, stopped with SIGTERM (keepalived then
 * removes its virtual addresses and sends a priority-0 advert, RFC 5798 §6.4.3, so the peer takes
 * over at once), SIGKILL if it does not leave.
 *
 * A keepalived left behind by a branchgate that was SIGKILLed (its parent keeps running: nothing
 * ties it to us) is found through our pid file and stopped before a new one starts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { BgpLog } from '../bgp/bird-process.js';
import type { KeepalivedPaths } from './keepalived-config.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface KeepalivedProcessOptions {
  binary: string;
  paths: KeepalivedPaths;
  wrap: readonly string[];
  log: BgpLog;
  backoff: { initialMs: number; maxMs: number; stableMs: number };
  onStarted(pid: number): void;
  onExited(info: { code: number | null; signal: string | null; restartInMs: number }): void;
  /** Every console line keepalived prints (the split-brain and state hints live there too). */
  onLogLine?(line: string): void;
  /** Applied to every line before it is logged or put in an error (the auth pass never is). */
  redact?(line: string): string;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * keepalived processes of ours left by an earlier run or a killed parent: the parent and its VRRP
 * child (whose pid files we name; both carry our config path on their command line). A VRRP
 * child that outlives its parent holds its pid file, and a new keepalived would refuse to start.
 */
export function staleKeepalived(paths: KeepalivedPaths): number[] {
  const out: number[] = [];
  for (const file of [paths.pid, paths.vrrpPid]) {
    try {
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (!Number.isInteger(pid) || pid <= 1) continue;
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (cmd.some((a) => a.endsWith('keepalived')) && cmd.includes(paths.config)) out.push(pid);
    } catch {
      // no such file or process
    }
  }
  return out;
}

export class KeepalivedProcess {
  private child: ChildProcess | undefined;
  private stopping = false;
  private failures = 0;
  private startedAt = 0;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: KeepalivedProcessOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  async killStale(): Promise<void> {
    const pids = staleKeepalived(this.o.paths).filter((p) => p !== this.child?.pid);
    if (pids.length === 0) return;
    this.o.log.warn({ pids }, 'ha: stopping keepalived processes left by an earlier run');
    for (const pid of pids) process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 50 && pids.some(alive); i++) await sleep(100);
    for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
  }

  /** Launch; resolves once the process runs (keepalived has no socket to wait for). */
  async start(restart = false): Promise<void> {
    if (!restart) this.stopping = false;
    const p = this.o.paths;
    const [cmd, ...pre] = [...this.o.wrap, this.o.binary];
    const child = spawn(cmd!, [...pre, '--dont-fork', '--log-console', '--no-syslog', '--vrrp', '-f', p.config, '-p', p.pid, '-r', p.vrrpPid],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    this.startedAt = Date.now();
    let tail = '';
    const redact = this.o.redact ?? ((l: string) => l);
    const onData = (raw: string) => {
      const chunk = redact(raw);
      tail = (tail + chunk).slice(-2000);
      for (const line of chunk.split('\n').filter(Boolean)) {
        this.o.log.debug({ keepalived: line }, 'keepalived');
        this.o.onLogLine?.(line);
      }
    };
    for (const s of [child.stdout!, child.stderr!]) {
      s.setEncoding('utf8');
      s.on('data', onData);
    }
    let failed: string | undefined;
    child.once('error', (e) => {
      failed = `could not be started (${e.message}): install keepalived (apt-get install keepalived) or set ha.keepalived`;
      if (this.child === child) this.child = undefined;
    });
    child.once('exit', (code, signal) => {
      failed ??= `exited with ${signal ?? `code ${code}`}`;
      if (this.child === child) this.child = undefined;
      this.exited(code, signal);
    });
    // keepalived checks its config and forks the VRRP child within a few hundred ms; an early
    // exit is a config or permission problem the caller should see.
    for (let i = 0; i < 5 && failed === undefined; i++) await sleep(100);
    if (failed !== undefined && !restart) throw new Error(`${this.o.binary} ${failed}${tail ? `: ${tail.trim()}` : ''}`);
    if (failed === undefined) {
      this.o.log.info({ pid: child.pid }, 'keepalived started');
      this.o.onStarted(child.pid!);
    }
  }

  reload(): void {
    if (this.child?.pid !== undefined) this.child.kill('SIGHUP');
  }

  private exited(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopping) return;
    if (Date.now() - this.startedAt >= this.o.backoff.stableMs) this.failures = 0;
    const delay = Math.min(this.o.backoff.maxMs, this.o.backoff.initialMs * 2 ** this.failures);
    this.failures++;
    this.o.log.warn({ code, signal, restartInMs: delay }, 'keepalived exited; restarting');
    this.o.onExited({ code, signal, restartInMs: delay });
    // keepalived's VRRP child outlives a SIGKILLed parent and would go on advertising with nobody
    // watching it: stop it now (SIGTERM: it leaves gracefully), not only before the restart.
    for (const pid of staleKeepalived(this.o.paths)) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      this.killStale()
        .then(() => this.start(true))
        .catch((e: unknown) => this.o.log.error({ err: (e as Error).message }, 'keepalived restart failed'));
    }, delay);
    this.restartTimer.unref();
  }

  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((r) => child.once('exit', () => r()));
    child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(t);
  }
}
