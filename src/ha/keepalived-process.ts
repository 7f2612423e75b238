/**
 * The keepalived child: `keepalived --dont-fork --log-console --vrrp -f CONF -p PID -r VRRP_PID`
 * in the foreground, supervised by src/supervise/child-process.ts like BIRD. Restarted with exponential backoff (1 s, 2 s … 30 s; back to 1 s
 * after a minute of running), reloaded with SIGHUP, stopped with SIGTERM (keepalived then
 * removes its virtual addresses and sends a priority-0 advert, RFC 5798 §6.4.3, so the peer takes
 * over at once), SIGKILL if it does not leave.
 *
 * A keepalived left behind by a branchgate that was SIGKILLed (its parent keeps running: nothing
 * ties it to us) is found through our pid file and stopped before a new one starts.
 */
import { readFileSync } from 'node:fs';
import { readLines, sleep, SupervisedChild, type Backoff, type ChildLog, type ExitInfo } from '../supervise/child-process.js';
import type { KeepalivedPaths } from './keepalived-config.js';

export interface KeepalivedProcessOptions {
  binary: string;
  paths: KeepalivedPaths;
  wrap: readonly string[];
  log: ChildLog;
  backoff: Backoff;
  onStarted(pid: number): void;
  onExited(info: ExitInfo): void;
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
  private readonly sup: SupervisedChild;

  constructor(private readonly o: KeepalivedProcessOptions) {
    this.sup = new SupervisedChild({ name: 'keepalived', log: o.log, backoff: o.backoff, onExited: o.onExited,
      restart: () => this.killStale().then(() => this.start(true)) });
  }

  get pid(): number | undefined {
    return this.sup.pid;
  }

  get running(): boolean {
    return this.sup.running;
  }

  async killStale(): Promise<void> {
    const pids = staleKeepalived(this.o.paths).filter((p) => p !== this.sup.pid);
    if (pids.length === 0) return;
    this.o.log.warn({ pids }, 'ha: stopping keepalived processes left by an earlier run');
    for (const pid of pids) process.kill(pid, 'SIGTERM');
    for (let i = 0; i < 50 && pids.some(alive); i++) await sleep(100);
    for (const pid of pids.filter(alive)) process.kill(pid, 'SIGKILL');
  }

  /** Launch; resolves once the process runs (keepalived has no socket to wait for). */
  async start(restart = false): Promise<void> {
    const p = this.o.paths;
    const argv = [...this.o.wrap, this.o.binary, '--dont-fork', '--log-console', '--no-syslog', '--vrrp', '-f', p.config, '-p', p.pid, '-r', p.vrrpPid];
    const child = this.sup.spawn(argv, ['ignore', 'pipe', 'pipe'], restart);
    const tail = readLines([child.stdout!, child.stderr!], (line) => {
      this.o.log.debug({ keepalived: line }, 'keepalived');
      this.o.onLogLine?.(line);
    }, this.o.redact);
    let failed: string | undefined;
    child.once('error', (e) => {
      failed = `could not be started (${e.message}): install keepalived (apt-get install keepalived) or set ha.keepalived`;
      this.sup.forget(child);
    });
    child.once('exit', (code, signal) => {
      failed ??= `exited with ${signal ?? `code ${code}`}`;
      this.sup.forget(child);
      // keepalived's VRRP child outlives a SIGKILLed parent and would go on advertising with
      // nobody watching it: stop it now (SIGTERM: it leaves gracefully), not only before the
      // restart (which runs killStale first).
      this.sup.exited(code, signal, () => {
        for (const pid of staleKeepalived(this.o.paths)) {
          try {
            process.kill(pid, 'SIGTERM');
          } catch {
            // already gone
          }
        }
      });
    });
    // keepalived checks its config and forks the VRRP child within a few hundred ms; an early
    // exit is a config or permission problem the caller should see.
    for (let i = 0; i < 5 && failed === undefined; i++) await sleep(100);
    if (failed !== undefined && !restart) throw new Error(`${this.o.binary} ${failed}${tail() ? `: ${tail().trim()}` : ''}`);
    if (failed === undefined) {
      this.o.log.info({ pid: child.pid }, 'keepalived started');
      this.o.onStarted(child.pid!);
    }
  }

  reload(): void {
    const child = this.sup.current;
    if (child?.pid !== undefined) child.kill('SIGHUP');
  }

  stop(graceMs = 5000): Promise<void> {
    return this.sup.stop(graceMs);
  }
}
