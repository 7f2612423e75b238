/**
 * The BIRD child process: `bird -f -c CONF -s SOCK` in the foreground, so it is our child and
 * its exit is seen at once. Started, watched, restarted with exponential backoff when it dies
 * (1 s, 2 s, 4 s … up to 30 s; back to 1 s after it ran for a minute), stopped with SIGTERM
 * (BIRD's orderly shutdown: protocols go down and the kernel protocol removes its routes), then
 * SIGKILL if it does not leave.
 *
 * "Ready" means the control socket answers with BIRD's greeting, not merely that the process
 * exists. stderr lines (BIRD logs there, see bird-config.ts) go to the log.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { BirdClient } from './birdc.js';

export interface BgpLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const SILENT: BgpLog = { debug() {}, info() {}, warn() {}, error() {} };

export interface BirdProcessOptions {
  binary: string;
  config: string;
  socket: string;
  /** Argv prefix, e.g. ['ip', 'netns', 'exec', NS] to run BIRD in another network namespace. */
  wrap: readonly string[];
  log: BgpLog;
  backoff: { initialMs: number; maxMs: number; stableMs: number };
  /** Called after each (re)start once the socket answers, and on each unexpected exit. */
  onStarted(pid: number): void;
  onExited(info: { code: number | null; signal: string | null; restartInMs: number }): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class BirdProcess {
  private child: ChildProcess | undefined;
  private stopping = false;
  private failures = 0;
  private startedAt = 0;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: BirdProcessOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /**
   * Launch and wait until the control socket greets. Rejects if BIRD exits or stays silent; a
   * first start that fails is not retried (the caller sees why), a restart that fails is.
   */
  async start(readyTimeoutMs = 10_000, restart = false): Promise<void> {
    if (!restart) this.stopping = false;
    const [cmd, ...pre] = [...this.o.wrap, this.o.binary];
    const child = spawn(cmd!, [...pre, '-f', '-c', this.o.config, '-s', this.o.socket], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child = child;
    this.startedAt = Date.now();
    let exited: string | undefined;
    let stderrTail = '';
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      stderrTail = (stderrTail + chunk).slice(-2000);
      for (const line of chunk.split('\n').filter(Boolean)) {
        const level = /<(WARN|ERR|FATAL|BUG)>/.test(line) ? 'warn' : 'info';
        this.o.log[level]({ bird: line }, 'bird');
      }
    });
    let ready = false;
    let gone = false;
    const onGone = (code: number | null, signal: NodeJS.Signals | null) => {
      if (gone) return; // 'error' (spawn failed) and 'exit' may both come
      gone = true;
      if (this.child === child) this.child = undefined;
      if (ready || restart) this.exited(code, signal);
    };
    child.once('error', (e) => {
      exited = `could not be started (${e.message}): install BIRD 2 (apt-get install bird2) or set bgp.bird.binary`;
      if (child.pid === undefined) onGone(null, null);
    });
    child.once('exit', (code, signal) => {
      exited ??= `exited with ${signal ?? `code ${code}`}`;
      onGone(code, signal);
    });
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (exited !== undefined) {
        const why = exited.startsWith('could not') ? exited : `${exited} before its control socket ${this.o.socket} answered`;
        throw new Error(`${this.o.binary} ${why}${stderrTail ? `: ${stderrTail.trim()}` : ''}`);
      }
      try {
        (await BirdClient.connect(this.o.socket, 1000)).close();
        break;
      } catch {
        if (Date.now() > deadline) {
          child.kill('SIGKILL');
          throw new Error(`bird did not open its control socket ${this.o.socket} within ${readyTimeoutMs} ms`);
        }
        await sleep(100);
      }
    }
    ready = true;
    this.o.log.info({ pid: child.pid, socket: this.o.socket }, 'bird started');
    this.o.onStarted(child.pid!);
  }

  private exited(code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopping) return;
    if (Date.now() - this.startedAt >= this.o.backoff.stableMs) this.failures = 0;
    const delay = Math.min(this.o.backoff.maxMs, this.o.backoff.initialMs * 2 ** this.failures);
    this.failures++;
    this.o.log.warn({ code, signal, restartInMs: delay }, 'bird exited; restarting');
    this.o.onExited({ code, signal, restartInMs: delay });
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      this.start(10_000, true).catch((e: unknown) => {
        // The failed start's own exit handler schedules the next attempt; a start that hangs
        // was killed, which also lands there.
        this.o.log.error({ err: (e as Error).message }, 'bird restart failed');
      });
    }, delay);
    this.restartTimer.unref();
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. No restart follows. */
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
