/**
 * The daemon's control socket: a unix stream socket, mode 0600 (only root, or whoever runs the
 * daemon, may drive it), speaking control/protocol.ts. Like wireguard-go's UAPI socket it is
 * created under a restrictive umask so there is no moment where it is world-accessible.
 *
 * Start-up rules:
 *   - parent directory missing → create it 0700;
 *   - a socket file exists and someone answers → refuse (another daemon owns it);
 *   - a socket file exists and nobody answers → stale from a crash, remove it;
 *   - a non-socket file is in the way → refuse, never delete a user's file.
 *
 * `monitor` is a subscription (protocol.ts): after its ok response the connection receives one
 * event line per event until it closes.
 *
 * Bounds (the socket is root-only, but a stuck or broken client must not grow the daemon's memory
 * or use up its file descriptors); each one is counted (counters(), shown by list-sas):
 *   - at most maxConnections (32) connections at once; more are closed on accept;
 *   - a request line of at most MAX_LINE (64 KiB, protocol.ts); a longer one is answered with an
 *     error and the connection closed;
 *   - at most MAX_PENDING requests waiting for their answer per connection (a client that pipelines
 *     more is told so and disconnected), and reading pauses while more than MAX_BACKLOG bytes of
 *     answers wait to be written;
 *   - a monitor subscriber with more than MAX_BACKLOG bytes queued (it stopped reading) gets an
 *     error line and is disconnected, so one stuck `monitor` holds at most ~MAX_BACKLOG.
 */
import net from 'node:net';
import { chmodSync, existsSync, lstatSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../log.js';
import {
  encodeLine, LineSplitter, MAX_LINE,
  type ControlRequest, type ControlResponse, type ErrorCode, type MonitorEvent,
} from './protocol.js';
import { parseRequest } from './request-schema.js';

/**
 * Bytes queued for a client that does not read: a monitor subscriber is disconnected past it, a
 * request connection stops being read. 1 MiB holds thousands of event lines, far more than a
 * reading client ever has in flight, and is small next to the daemon's heap.
 */
export const MAX_BACKLOG = 1 << 20;
/** Requests per connection waiting for their answer; the CLI sends one at a time. */
export const MAX_PENDING = 16;
/** After the error line, how long a stuck subscriber gets before the connection is destroyed. */
const GOODBYE_MS = 1000;

/** How often each bound of the control socket had to act (list-sas `control`). */
export interface ControlCounters {
  /** Connections closed on accept because maxConnections were open. */
  connectionsRefused: number;
  /** Request lines longer than MAX_LINE. */
  requestsTooLarge: number;
  /** Connections that pipelined more than MAX_PENDING unanswered requests. */
  requestsPipelined: number;
  /** monitor subscribers disconnected because MAX_BACKLOG bytes were queued for them. */
  monitorDisconnects: number;
}

/** Throw from a handler to answer with a specific error code. */
export class ControlError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

export class ControlServerError extends Error {
  override name = 'ControlServerError';
}

export type RequestHandler = (req: ControlRequest) => unknown;
/** Start delivering events to `push`; returns the unsubscribe function. */
export type SubscribeHandler = (push: (e: MonitorEvent) => void) => () => void;

export interface ControlServerOptions {
  path: string;
  handle: RequestHandler;
  /** Serves `monitor`; without it, monitor is refused. */
  subscribe?: SubscribeHandler;
  logger?: Logger;
  /** Local-only and root-only, but a stuck client must still not exhaust file descriptors (default 32). */
  maxConnections?: number;
  /** Default MAX_BACKLOG (tests use less). */
  maxBacklog?: number;
}

/** Does anything accept connections on this unix socket path? */
function answers(path: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path);
    const done = (v: boolean): void => {
      s.destroy();
      resolve(v);
    };
    s.setTimeout(timeoutMs, () => done(true)); // accepted but silent: still someone's socket
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

async function prepare(path: string, logger?: Logger): Promise<void> {
  const dir = dirname(path);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  let st;
  try {
    st = lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (!st.isSocket()) {
    throw new ControlServerError(`${path} exists and is not a socket — remove it or choose another path with --socket PATH`);
  }
  if (await answers(path)) {
    throw new ControlServerError(
      `another branchgate is already running on ${path} — stop it first, or give this one another socket with --socket PATH`,
    );
  }
  logger?.info({ path }, 'removing stale control socket');
  unlinkSync(path);
}

export class ControlServer {
  #server: net.Server;
  #conns = new Set<net.Socket>();
  #ino = -1;
  #closed = false;
  readonly #counters: ControlCounters = { connectionsRefused: 0, requestsTooLarge: 0, requestsPipelined: 0, monitorDisconnects: 0 };
  readonly #maxBacklog: number;

  private constructor(
    readonly path: string,
    private readonly opts: ControlServerOptions,
  ) {
    this.#server = net.createServer((sock) => this.#accept(sock));
    this.#server.maxConnections = opts.maxConnections ?? 32;
    // Node closes a connection over maxConnections at once and emits 'drop' for it.
    this.#server.on('drop', () => {
      this.#counters.connectionsRefused++;
      opts.logger?.warn({ max: this.#server.maxConnections }, 'control socket: too many connections; refused one');
    });
    this.#maxBacklog = opts.maxBacklog ?? MAX_BACKLOG;
  }

  /** How often each bound acted (a copy). */
  counters(): ControlCounters {
    return { ...this.#counters };
  }

  static async listen(opts: ControlServerOptions): Promise<ControlServer> {
    await prepare(opts.path, opts.logger);
    const s = new ControlServer(opts.path, opts);
    await new Promise<void>((resolve, reject) => {
      s.#server.once('error', (err: NodeJS.ErrnoException) =>
        reject(new ControlServerError(`cannot create control socket ${opts.path}: ${err.code ?? err.message} — check the directory's permissions or use --socket PATH`)));
      // The bind happens synchronously inside listen(); a 0177 umask makes it 0600 from birth.
      let old: number | undefined;
      try {
        old = process.umask(0o177);
      } catch {
        old = undefined; // worker threads cannot change umask; the chmod below still applies
      }
      try {
        s.#server.listen(opts.path, () => resolve());
      } finally {
        if (old !== undefined) process.umask(old);
      }
    });
    chmodSync(opts.path, 0o600);
    s.#ino = statSync(opts.path).ino;
    s.#server.on('error', (err) => opts.logger?.error({ err }, 'control socket error'));
    return s;
  }

  #accept(sock: net.Socket): void {
    this.#conns.add(sock);
    const split = new LineSplitter(MAX_LINE);
    let chain = Promise.resolve();
    let pending = 0;
    const subscriptions: (() => void)[] = [];
    let refused = false;
    const refuse = (error: string): void => {
      refused = true;
      sock.end(encodeLine({ id: null, ok: false, code: 'bad-request', error }));
      sock.pause();
      setTimeout(() => sock.destroy(), GOODBYE_MS).unref();
    };
    // Backpressure: answers the client has not read stop us reading its next requests.
    sock.on('drain', () => {
      if (!refused) sock.resume();
    });
    sock.on('error', () => sock.destroy()); // client went away mid-write: nothing to do
    sock.on('close', () => {
      this.#conns.delete(sock);
      for (const off of subscriptions.splice(0)) off();
    });
    sock.on('data', (chunk: Buffer) => {
      if (refused) return;
      const lines = split.push(chunk);
      if (lines === 'overflow') {
        this.#counters.requestsTooLarge++;
        refuse(`request line longer than ${MAX_LINE} bytes; connection closed`);
        return;
      }
      for (const line of lines) {
        if (line.trim() === '') continue;
        if (++pending > MAX_PENDING) {
          this.#counters.requestsPipelined++;
          refuse(`more than ${MAX_PENDING} requests waiting for an answer; send one at a time; connection closed`);
          return;
        }
        // Answer in order: each request waits for the previous one on this connection.
        chain = chain.then(() => this.#answer(line)).then(({ out, subscribe }) => {
          pending--;
          if (sock.destroyed || !sock.writable) return;
          if (!sock.write(out) && sock.writableLength > this.#maxBacklog) sock.pause();
          if (subscribe) subscriptions.push(this.#subscribe(sock, subscribe));
        });
      }
    });
  }

  /** The response line, and for an accepted `monitor` the subscription to start right after it. */
  async #answer(line: string): Promise<{ out: string; subscribe?: { id: number; handler: SubscribeHandler } }> {
    const parsed = parseRequest(line);
    if (!parsed.ok) return { out: encodeLine(parsed.response) };
    const { id } = parsed.request;
    if (parsed.request.cmd === 'monitor') {
      const handler = this.opts.subscribe;
      if (!handler) return { out: encodeLine({ id, ok: false, code: 'failed', error: 'this daemon does not stream events — are CLI and daemon the same version?' }) };
      return { out: encodeLine({ id, ok: true, result: { subscribed: true } }), subscribe: { id, handler } };
    }
    try {
      const result = await this.opts.handle(parsed.request);
      return { out: encodeLine({ id, ok: true, result: result ?? null }) };
    } catch (err) {
      if (err instanceof ControlError) return { out: encodeLine({ id, ok: false, code: err.code, error: err.message }) };
      this.opts.logger?.error({ err, cmd: parsed.request.cmd }, 'control command failed');
      const msg = err instanceof Error ? err.message : String(err);
      return { out: encodeLine({ id, ok: false, code: 'failed', error: `${parsed.request.cmd} failed: ${msg} — see the daemon log` }) };
    }
  }

  #subscribe(sock: net.Socket, s: { id: number; handler: SubscribeHandler }): () => void {
    let off: (() => void) | undefined;
    let done = false;
    const stop = (): void => {
      if (done) return;
      done = true;
      off?.();
    };
    off = s.handler((event) => {
      if (done || sock.destroyed || !sock.writable) return;
      if (sock.writableLength > this.#maxBacklog) {
        // It stopped reading: no more events for it, one error line (it reads it if it ever
        // reads again), then the connection goes, at the latest after GOODBYE_MS.
        this.#counters.monitorDisconnects++;
        this.opts.logger?.warn({ backlog: sock.writableLength, limit: this.#maxBacklog }, 'monitor client is not reading; disconnected it');
        stop();
        sock.end(encodeLine({ id: s.id, ok: false, code: 'failed',
          error: `monitor: more than ${this.#maxBacklog} bytes of events were waiting for this client to read; disconnected` }));
        setTimeout(() => sock.destroy(), GOODBYE_MS).unref();
        return;
      }
      sock.write(encodeLine({ id: s.id, event }));
    });
    if (done) off();
    return stop;
  }

  /** Stop listening, drop clients, and remove the socket file if it is still the one we made. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const c of this.#conns) c.destroy();
    await new Promise<void>((r) => this.#server.close(() => r()));
    try {
      if (statSync(this.path).ino === this.#ino) unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}
