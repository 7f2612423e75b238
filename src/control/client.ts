/**
 * The CLI side of the control socket: connect, send one request, wait for its response line;
 * or (monitor) subscribe and hand every event line to a callback until interrupted.
 * Every failure becomes a ControlClientError whose message says what to do next.
 */
import net from 'node:net';
import {
  encodeLine, LineSplitter, MAX_LINE, parseResponse, parseStreamLine,
  type Command, type ControlRequest, type ControlResponse, type MonitorEvent,
} from './protocol.js';

export const DEFAULT_SOCKET = '/run/branchgate/control.sock';
export const DEFAULT_TIMEOUT_MS = 5000;

export class ControlClientError extends Error {
  override name = 'ControlClientError';
}

function connectHint(path: string, code: string | undefined): string {
  const base = `cannot reach branchgate at ${path}`;
  switch (code) {
    case 'ENOENT':
      return `${base}: no such file — is \`branchgate run\` running? (use --socket PATH)`;
    case 'ECONNREFUSED':
      return `${base}: connection refused — the socket is stale; is \`branchgate run\` running? (use --socket PATH)`;
    case 'EACCES':
    case 'EPERM':
      return `${base}: permission denied — the socket is mode 0600; run as the daemon's user (usually root)`;
    case 'ENOTSOCK':
      return `${base}: not a socket — check --socket PATH`;
    default:
      return `${base}: ${code ?? 'error'} — is \`branchgate run\` running? (use --socket PATH)`;
  }
}

export interface RequestOptions {
  timeoutMs?: number;
}

/** Send one request and resolve with the daemon's response (ok or not); reject only on transport failure. */
export function request(
  path: string,
  cmd: Command,
  args?: ControlRequest['args'],
  opts: RequestOptions = {},
): Promise<ControlResponse> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const id = 1;
  return new Promise((resolve, reject) => {
    const sock = net.connect(path);
    const split = new LineSplitter(16 * MAX_LINE); // responses (list-sas) can be larger than requests
    let settled = false;
    const finish = (err: Error | null, res?: ControlResponse): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else if (res) resolve(res);
    };
    const timer = setTimeout(
      () => finish(new ControlClientError(
        `no answer from branchgate at ${path} within ${timeoutMs / 1000} s — the daemon may be stuck; check its log`)),
      timeoutMs,
    );
    sock.once('connect', () => {
      const req: ControlRequest = args === undefined ? { id, cmd } : { id, cmd, args };
      sock.write(encodeLine(req));
    });
    sock.on('data', (chunk: Buffer) => {
      const lines = split.push(chunk);
      if (lines === 'overflow') {
        finish(new ControlClientError(`response from ${path} is too large — this is a bug, please report it`));
        return;
      }
      for (const line of lines) {
        const res = parseResponse(line);
        if (res === null) {
          finish(new ControlClientError(`${path} answered with something that is not a branchgate response — is it the right socket?`));
          return;
        }
        if (res.id === id || res.id === null) {
          finish(null, res);
          return;
        }
      }
    });
    sock.once('error', (err: NodeJS.ErrnoException) => finish(new ControlClientError(connectHint(path, err.code))));
    sock.once('close', () =>
      finish(new ControlClientError(`branchgate at ${path} closed the connection without answering — check its log`)));
  });
}

/** How a monitor stream ended: interrupted by us, closed by the daemon, or refused. */
export type MonitorEnd =
  | { reason: 'aborted' }
  | { reason: 'closed' }
  | { reason: 'refused'; response: Extract<ControlResponse, { ok: false }> };

export interface MonitorOptions {
  /** Abort to end the stream (the CLI aborts on SIGINT/SIGTERM). */
  signal?: AbortSignal;
  /** How long to wait for the daemon to accept the subscription. */
  timeoutMs?: number;
}

/**
 * Subscribe to the daemon's events (`monitor`) and call onEvent for each until the signal
 * aborts or the daemon closes the connection. Rejects only on transport failure before the
 * subscription was accepted.
 */
export function monitor(path: string, onEvent: (e: MonitorEvent) => void, opts: MonitorOptions = {}): Promise<MonitorEnd> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const id = 1;
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      resolve({ reason: 'aborted' });
      return;
    }
    const sock = net.connect(path);
    const split = new LineSplitter(16 * MAX_LINE);
    let accepted = false;
    let settled = false;
    const finish = (err: Error | null, end?: MonitorEnd): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      sock.destroy();
      if (err) reject(err);
      else if (end) resolve(end);
    };
    const onAbort = (): void => finish(null, { reason: 'aborted' });
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(
      () => finish(new ControlClientError(
        `no answer from branchgate at ${path} within ${timeoutMs / 1000} s — the daemon may be stuck; check its log`)),
      timeoutMs,
    );
    sock.once('connect', () => sock.write(encodeLine({ id, cmd: 'monitor' })));
    sock.on('data', (chunk: Buffer) => {
      const lines = split.push(chunk);
      if (lines === 'overflow') {
        finish(new ControlClientError(`an event from ${path} is too large — this is a bug, please report it`));
        return;
      }
      for (const line of lines) {
        const p = parseStreamLine(line);
        if (p === null) {
          finish(new ControlClientError(`${path} answered with something that is not a branchgate response — is it the right socket?`));
          return;
        }
        if (p.kind === 'response') {
          if (!p.response.ok) {
            finish(null, { reason: 'refused', response: p.response });
            return;
          }
          accepted = true;
          clearTimeout(timer);
        } else if (accepted) {
          onEvent(p.line.event);
        }
      }
    });
    sock.once('error', (err: NodeJS.ErrnoException) => {
      if (accepted) finish(null, { reason: 'closed' });
      else finish(new ControlClientError(connectHint(path, err.code)));
    });
    sock.once('close', () => {
      if (accepted) finish(null, { reason: 'closed' });
      else finish(new ControlClientError(`branchgate at ${path} closed the connection without answering — check its log`));
    });
  });
}
