/**
 * One supervised foreground child (BIRD, keepalived): what both have in common, used by
 * composition from src/bgp/bird-process.ts and src/ha/keepalived-process.ts. The child runs in
 * the foreground, so it is our child and its exit is seen at once. It is restarted with capped
 * exponential backoff (initialMs, 2×, 4× … up to maxMs; back to initialMs once a run lasted
 * stableMs) and stopped with SIGTERM, then SIGKILL if it does not leave.
 *
 * What is each child's own stays with its owner: the argv, what "started" means, how an early
 * failure is reported, what its output lines are worth.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import type { Readable } from 'node:stream';

export interface ChildLog {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface Backoff {
  initialMs: number;
  maxMs: number;
  stableMs: number;
}

export interface ExitInfo {
  code: number | null;
  signal: string | null;
  restartInMs: number;
}

export interface SupervisedChildOptions {
  /** Names the child in log messages: "NAME exited; restarting", "NAME restart failed". */
  name: string;
  log: ChildLog;
  backoff: Backoff;
  onExited(info: ExitInfo): void;
  /** Called when a restart is due (after the backoff delay, unless stopped meanwhile). */
  restart(): Promise<void>;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Feed every chunk of the streams, after `transform`, to `onLine` line by line; returns a getter
 * for the last 2000 characters seen (put into start errors so the operator sees why).
 */
export function readLines(streams: readonly Readable[], onLine: (line: string) => void, transform: (chunk: string) => string = (c) => c): () => string {
  let tail = '';
  const onData = (raw: string) => {
    const chunk = transform(raw);
    tail = (tail + chunk).slice(-2000);
    for (const line of chunk.split('\n').filter(Boolean)) onLine(line);
  };
  for (const s of streams) {
    s.setEncoding('utf8');
    s.on('data', onData);
  }
  return () => tail;
}

export class SupervisedChild {
  private child: ChildProcess | undefined;
  private stopping = false;
  private failures = 0;
  private startedAt = 0;
  private restartTimer: NodeJS.Timeout | undefined;

  constructor(private readonly o: SupervisedChildOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  /** The current child, if any (for signals such as a reload's SIGHUP). */
  get current(): ChildProcess | undefined {
    return this.child;
  }

  /** Spawn `argv` (wrap prefix included) as the supervised child. A first start re-arms restarts. */
  spawn(argv: readonly string[], stdio: StdioOptions, restart: boolean): ChildProcess {
    if (!restart) this.stopping = false;
    const [cmd, ...args] = argv;
    const child = spawn(cmd!, args, { stdio });
    this.child = child;
    this.startedAt = Date.now();
    return child;
  }

  /** The child is gone: forget it unless a newer one replaced it already. */
  forget(child: ChildProcess): void {
    if (this.child === child) this.child = undefined;
  }

  /**
   * An unexpected exit: log it, tell the caller, run `beforeWait` (cleanup that must not wait for
   * the backoff), then restart after the backoff delay. Nothing happens once stop() was called.
   */
  exited(code: number | null, signal: NodeJS.Signals | null, beforeWait?: () => void): void {
    if (this.stopping) return;
    const b = this.o.backoff;
    if (Date.now() - this.startedAt >= b.stableMs) this.failures = 0;
    const delay = Math.min(b.maxMs, b.initialMs * 2 ** this.failures);
    this.failures++;
    this.o.log.warn({ code, signal, restartInMs: delay }, `${this.o.name} exited; restarting`);
    this.o.onExited({ code, signal, restartInMs: delay });
    beforeWait?.();
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopping) return;
      // A restart that fails exits, and that exit schedules the next attempt.
      this.o.restart().catch((e: unknown) => this.o.log.error({ err: (e as Error).message }, `${this.o.name} restart failed`));
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
