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
 * event line per event until it closes. A subscriber that stops reading is disconnected once
 * MAX_BACKLOG bytes are queued for it, so a stuck `monitor` cannot grow the daemon's memory.
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

/** Bytes queued for a subscriber that does not read before it is disconnected. */
export const MAX_BACKLOG = 1 << 20;

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
  /** Local-only and root-only, but a stuck client must still not exhaust file descriptors. */
  maxConnections?: number;
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

  private constructor(
    readonly path: string,
    private readonly opts: ControlServerOptions,
  ) {
    this.#server = net.createServer((sock) => this.#accept(sock));
    this.#server.maxConnections = opts.maxConnections ?? 32;
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
    const subscriptions: (() => void)[] = [];
    sock.on('error', () => sock.destroy()); // client went away mid-write: nothing to do
    sock.on('close', () => {
      this.#conns.delete(sock);
      for (const off of subscriptions.splice(0)) off();
    });
    sock.on('data', (chunk: Buffer) => {
      const lines = split.push(chunk);
      if (lines === 'overflow') {
        const r: ControlResponse = { id: null, ok: false, code: 'bad-request',
          error: `request line longer than ${MAX_LINE} bytes; connection closed` };
        sock.end(encodeLine(r));
        sock.pause();
        return;
      }
      for (const line of lines) {
        if (line.trim() === '') continue;
        // Answer in order: each request waits for the previous one on this connection.
        chain = chain.then(() => this.#answer(line)).then(({ out, subscribe }) => {
          if (sock.destroyed || !sock.writable) return;
          sock.write(out);
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
      if (sock.writableLength > MAX_BACKLOG) {
        this.opts.logger?.warn({ backlog: sock.writableLength }, 'monitor client is not reading; disconnected it');
        stop();
        sock.destroy();
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
