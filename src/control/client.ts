/**
 * The CLI side of the control socket: connect, send one request, wait for its response line.
 * Every failure becomes a ControlClientError whose message says what to do next.
 */
import net from 'node:net';
import {
  encodeLine, LineSplitter, MAX_LINE, parseResponse,
  type Command, type ControlRequest, type ControlResponse,
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
