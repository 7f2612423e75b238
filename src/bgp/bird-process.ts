/**
 * The BIRD child process: `bird -f -c CONF -s SOCK` in the foreground, supervised by
 * src/supervise/child-process.ts: restarted with exponential backoff when it dies (1 s, 2 s, 4 s …
 * up to 30 s; back to 1 s after it ran for a minute), stopped with SIGTERM (BIRD's orderly
 * shutdown: protocols go down and the kernel protocol removes its routes), then SIGKILL if it
 * does not leave.
 *
 * "Ready" means the control socket answers with BIRD's greeting, not merely that the process
 * exists. stderr lines (BIRD logs there, see bird-config.ts) go to the log.
 */
import { readLines, sleep, SupervisedChild, type Backoff, type ChildLog, type ExitInfo } from '../supervise/child-process.js';
import { BirdClient } from './birdc.js';

export type BgpLog = ChildLog;

export const SILENT: BgpLog = { debug() {}, info() {}, warn() {}, error() {} };

export interface BirdProcessOptions {
  binary: string;
  config: string;
  socket: string;
  /** Argv prefix, e.g. ['ip', 'netns', 'exec', NS] to run BIRD in another network namespace. */
  wrap: readonly string[];
  log: BgpLog;
  backoff: Backoff;
  /** Called after each (re)start once the socket answers, and on each unexpected exit. */
  onStarted(pid: number): void;
  onExited(info: ExitInfo): void;
}

export class BirdProcess {
  private readonly sup: SupervisedChild;

  constructor(private readonly o: BirdProcessOptions) {
    this.sup = new SupervisedChild({ name: 'bird', log: o.log, backoff: o.backoff, onExited: o.onExited, restart: () => this.start(10_000, true) });
  }

  get pid(): number | undefined {
    return this.sup.pid;
  }

  get running(): boolean {
    return this.sup.running;
  }

  /**
   * Launch and wait until the control socket greets. Rejects if BIRD exits or stays silent; a
   * first start that fails is not retried (the caller sees why), a restart that fails is.
   */
  async start(readyTimeoutMs = 10_000, restart = false): Promise<void> {
    const argv = [...this.o.wrap, this.o.binary, '-f', '-c', this.o.config, '-s', this.o.socket];
    const child = this.sup.spawn(argv, ['ignore', 'ignore', 'pipe'], restart);
    let exited: string | undefined;
    const stderrTail = readLines([child.stderr!], (line) => {
      const level = /<(WARN|ERR|FATAL|BUG)>/.test(line) ? 'warn' : 'info';
      this.o.log[level]({ bird: line }, 'bird');
    });
    let ready = false;
    let gone = false;
    const onGone = (code: number | null, signal: NodeJS.Signals | null) => {
      if (gone) return; // 'error' (spawn failed) and 'exit' may both come
      gone = true;
      this.sup.forget(child);
      if (ready || restart) this.sup.exited(code, signal);
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
        const tail = stderrTail();
        throw new Error(`${this.o.binary} ${why}${tail ? `: ${tail.trim()}` : ''}`);
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

  /** SIGTERM, then SIGKILL after graceMs; resolves when the process is gone. No restart follows. */
  stop(graceMs = 5000): Promise<void> {
    return this.sup.stop(graceMs);
  }
}
