/**
 * The commands that talk to a running daemon over its control socket (src/control/client.ts).
 * Exit status: 0 ok, 1 the daemon could not do it (or cannot be reached), 2 the request was
 * wrong (unknown tunnel); `status --check` has the plugin codes of status-check.ts.
 */
import { ControlClientError, monitor as monitorStream, request } from '../control/client.js';
import type { Command, ControlRequest } from '../control/protocol.js';
import type { ListSasDocument, StatusDocument } from '../control/status.js';
import { checkUnknown, evaluateStatus } from './status-check.js';
import { formatListSas, formatStatus } from './format.js';
import type { CliIo } from './io.js';

/** How long `rekey --wait` waits for the daemon to report the rekey done (seconds). */
export const REKEY_WAIT_S = 30;
/** How often `up --wait` / `down --wait` ask for the tunnel's state. */
const POLL_MS = 250;

/** Send one request; print the daemon's error and map it to an exit status on failure. */
async function call(io: CliIo, sock: string, cmd: Command, args?: ControlRequest['args'], timeoutMs?: number): Promise<{ result: unknown } | number> {
  try {
    const res = await request(sock, cmd, args, timeoutMs === undefined ? {} : { timeoutMs });
    if (res.ok) return { result: res.result };
    io.stderr.write(`branchgate: ${res.error}\n`);
    return res.code === 'failed' ? 1 : 2;
  } catch (err) {
    if (!(err instanceof ControlClientError)) throw err;
    io.stderr.write(`branchgate: ${err.message}\n`);
    return 1;
  }
}

/**
 * The daemon is our own code, same version, behind a 0600 socket: a shape check is enough
 * before treating the result as the document type it declares.
 */
function hasTunnels(x: unknown): x is { tunnels: unknown[] } {
  return typeof x === 'object' && x !== null && 'tunnels' in x && Array.isArray(x.tunnels);
}

function field(x: unknown, k: string): unknown {
  return typeof x === 'object' && x !== null && k in x ? (x as Record<string, unknown>)[k] : undefined;
}

export async function query(io: CliIo, cmd: 'status' | 'list-sas', sock: string, asJson: boolean): Promise<number> {
  const r = await call(io, sock, cmd);
  if (typeof r === 'number') return r;
  if (!hasTunnels(r.result)) {
    io.stderr.write(`branchgate: the daemon at ${sock} sent an unexpected ${cmd} document — are CLI and daemon the same version?\n`);
    return 1;
  }
  if (asJson) io.stdout.write(`${JSON.stringify(r.result, null, 2)}\n`);
  else io.stdout.write(cmd === 'status' ? formatStatus(r.result as StatusDocument) : formatListSas(r.result as ListSasDocument, Date.now()));
  return 0;
}

/** `status --check`: one plugin line on stdout; every failure to ask is UNKNOWN (3), never 1 or 2. */
export async function statusCheck(io: CliIo, sock: string): Promise<number> {
  let result;
  try {
    const res = await request(sock, 'status', undefined, { timeoutMs: 10_000 });
    if (!res.ok) result = checkUnknown(`the daemon at ${sock} refused status: ${res.error}`);
    else if (!hasTunnels(res.result)) result = checkUnknown(`the daemon at ${sock} sent an unexpected status document (CLI and daemon of different versions?)`);
    else result = evaluateStatus(res.result as StatusDocument);
  } catch (err) {
    if (!(err instanceof ControlClientError)) throw err;
    result = checkUnknown(err.message);
  }
  io.stdout.write(`${result.line}\n`);
  return result.code;
}

/** The tunnel's state as `status` reports it, or undefined when the daemon has no such tunnel. */
async function tunnelState(sock: string, name: string): Promise<string | undefined> {
  const res = await request(sock, 'status');
  if (!res.ok || !hasTunnels(res.result)) return undefined;
  const t = res.result.tunnels.find((x) => field(x, 'name') === name);
  return t === undefined ? undefined : String(field(t, 'state'));
}

export interface WaitOptions {
  wait: boolean;
  /** Seconds. */
  timeout: number;
}

/**
 * `up NAME` / `down NAME`; with --wait, until the tunnel is established (up) or down (down). Not
 * reaching it within the timeout is exit 1 with the state it was left in, so scripts can stop.
 */
export async function upDown(io: CliIo, cmd: 'up' | 'down', name: string, sock: string, w: WaitOptions): Promise<number> {
  const r = await call(io, sock, cmd, { name });
  if (typeof r === 'number') return r;
  const state = typeof r.result === 'object' && r.result !== null && 'state' in r.result ? String(r.result.state) : 'unknown';
  if (!w.wait) {
    io.stdout.write(`${name}: ${cmd} requested (now ${state}; follow with \`branchgate status\`)\n`);
    return 0;
  }
  const want = cmd === 'up' ? 'established' : 'down';
  const started = Date.now();
  const deadline = started + w.timeout * 1000;
  let now = state;
  try {
    for (;;) {
      if (now === want) {
        io.stdout.write(`${name}: ${want} (after ${((Date.now() - started) / 1000).toFixed(1)} s)\n`);
        return 0;
      }
      if (Date.now() >= deadline) break;
      await new Promise((res) => setTimeout(res, Math.min(POLL_MS, Math.max(1, deadline - Date.now()))));
      now = (await tunnelState(sock, name)) ?? 'gone';
    }
  } catch (err) {
    if (!(err instanceof ControlClientError)) throw err;
    io.stderr.write(`branchgate: ${err.message}\n`);
    return 1;
  }
  io.stderr.write(`branchgate: ${name} is ${now}, not ${want}, after ${w.timeout} s — see \`branchgate list-sas\` and the daemon's log` +
    `${cmd === 'up' ? ' (is the peer reachable and configured the same?)' : ''}\n`);
  return 1;
}

/** `reload`: one line per tunnel saying what the daemon did with it. */
export async function reload(io: CliIo, sock: string): Promise<number> {
  const r = await call(io, sock, 'reload', undefined, 30_000);
  if (typeof r === 'number') return r;
  const list = (k: string): string[] => {
    const v = field(r.result, k);
    return Array.isArray(v) ? v.map((x) => (typeof x === 'string' ? x : String(field(x, 'name')))) : [];
  };
  const changed = field(r.result, 'changed');
  const lines = [
    ...list('unchanged').map((n) => `${n}: unchanged, SAs kept`),
    ...(Array.isArray(changed) ? changed : []).map((c) => {
      const keys = field(c, 'keys');
      return `${String(field(c, 'name'))}: changed (${Array.isArray(keys) ? keys.join(', ') : '?'}), re-establishing`;
    }),
    ...list('added').map((n) => `${n}: added, starting`),
    ...list('removed').map((n) => `${n}: removed, SAs deleted`),
    ...list('restartNeeded').map((k) => `${k}: changed; restart branchgate to apply it (the daemon logged what it still runs as)`),
  ];
  io.stdout.write(lines.length > 0 ? `${lines.join('\n')}\n` : 'reloaded: no tunnels configured\n');
  return 0;
}

export async function rekey(io: CliIo, name: string, ike: boolean, wait: boolean, sock: string): Promise<number> {
  const what = ike ? 'IKE SA' : 'Child SA';
  const args: ControlRequest['args'] = { name, ...(ike ? { ike: true } : {}), ...(wait ? { wait: REKEY_WAIT_S } : {}) };
  const r = await call(io, sock, 'rekey', args, wait ? (REKEY_WAIT_S + 5) * 1000 : undefined);
  if (typeof r === 'number') return r;
  const ev = field(r.result, 'event');
  if (wait && ev !== undefined) {
    const spis = ike ? `${String(field(ev, 'oldSpiI'))}_i -> ${String(field(ev, 'spiI'))}_i` : `in ${String(field(ev, 'oldSpiIn'))} -> ${String(field(ev, 'spiIn'))}`;
    const by = field(ev, 'initiator') === false ? ' (the peer\'s simultaneous rekey won)' : '';
    io.stdout.write(`${name}: ${what} rekeyed, ${spis}${by}\n`);
  } else {
    io.stdout.write(`${name}: ${what} rekey requested (now ${String(field(r.result, 'state') ?? 'unknown')}; follow with \`branchgate monitor\`)\n`);
  }
  return 0;
}

/** SIGINT/SIGTERM or a closed stdout (`monitor | head`) end the stream; the handlers go with it. */
function processSignal(): { signal: AbortSignal; release(): void } {
  const ac = new AbortController();
  const abort = (): void => ac.abort();
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  process.stdout.once('error', abort);
  return {
    signal: ac.signal,
    release() {
      process.off('SIGINT', abort);
      process.off('SIGTERM', abort);
      process.stdout.off('error', abort);
    },
  };
}

/** `monitor`: one JSON line per event on stdout until interrupted (exit 0) or the daemon goes away (exit 1). */
export async function monitor(io: CliIo, sock: string): Promise<number> {
  const own = io.signal === undefined ? processSignal() : undefined;
  const signal = io.signal ?? own!.signal;
  try {
    const end = await monitorStream(sock, (e) => io.stdout.write(`${JSON.stringify(e)}\n`), { signal });
    if (end.reason === 'aborted') return 0;
    if (end.reason === 'closed') {
      io.stderr.write(`branchgate: the daemon at ${sock} closed the event stream (did it stop?) — start \`branchgate run\` and run \`branchgate monitor\` again\n`);
      return 1;
    }
    io.stderr.write(`branchgate: ${end.response.error}\n`);
    return end.response.code === 'failed' ? 1 : 2;
  } catch (err) {
    if (!(err instanceof ControlClientError)) throw err;
    io.stderr.write(`branchgate: ${err.message}\n`);
    return 1;
  } finally {
    own?.release();
  }
}
