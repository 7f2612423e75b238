/**
 * The control protocol between `branchgate <command>` and the daemon: newline-delimited JSON over
 * a unix stream socket. One request per line, one response line per request, matched by id.
 *
 *   → {"id":1,"cmd":"status"}
 *   ← {"id":1,"ok":true,"result":{...}}
 *   ← {"id":1,"ok":false,"error":"no tunnel named 'x'; configured: a, b","code":"unknown-tunnel"}
 *
 * Subscriptions (`monitor`): the daemon answers the request as usual, then keeps the connection
 * open and writes one event line per event, carrying the request's id, until either side closes:
 *
 *   → {"id":1,"cmd":"monitor"}
 *   ← {"id":1,"ok":true,"result":{"subscribed":true}}
 *   ← {"id":1,"event":{"time":"…","source":"ike","type":"child-rekeyed","tunnel":"gw",…}}
 *
 * JSON lines rather than vici's binary framing: it is debuggable with `socat - UNIX:PATH`, and
 * the socket is only for our own CLI (speaking a vici subset is a possible later addition).
 *
 * This module is what the CLI loads for every command, so it has no dependency beyond Node:
 * the daemon validates requests with zod in request-schema.ts.
 */
import { StringDecoder } from 'node:string_decoder';

/** A request line longer than this is refused and the connection closed (bounded memory). */
export const MAX_LINE = 64 * 1024;

export const COMMANDS = ['status', 'list-sas', 'up', 'down', 'rekey', 'reload', 'monitor', 'version'] as const;
export type Command = (typeof COMMANDS)[number];
/** Commands that act on one tunnel and need args.name. */
export const NEEDS_NAME: readonly Command[] = ['up', 'down', 'rekey'];
/** The longest a `rekey` may ask to wait for completion, seconds. */
export const MAX_WAIT_S = 600;

export interface ControlRequest {
  id: number;
  cmd: Command;
  args?: {
    /** The tunnel (up, down, rekey). */
    name?: string;
    /** rekey: the IKE SA instead of the Child SA. */
    ike?: boolean;
    /** rekey: answer when the rekey completed (or after this many seconds, with an error). */
    wait?: number;
  };
}

/**
 * Why a request failed; the CLI maps bad-request and unknown-tunnel to exit 2 (the user typed
 * something wrong) and the rest to exit 1 (the daemon could not do it).
 */
export type ErrorCode = 'bad-request' | 'unknown-tunnel' | 'failed';

export type ControlResponse =
  | { id: number | null; ok: true; result: unknown }
  | { id: number | null; ok: false; error: string; code: ErrorCode };

export type ParsedRequest =
  | { ok: true; request: ControlRequest }
  | { ok: false; response: ControlResponse };

/** Parse a response line on the client side; anything that is not a response is an error. */
export function parseResponse(line: string): ControlResponse | null {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof raw !== 'object' || raw === null || !('ok' in raw) || !('id' in raw)) return null;
  const id = typeof raw.id === 'number' ? raw.id : null;
  if (raw.ok === true) return { id, ok: true, result: 'result' in raw ? raw.result : null };
  if (raw.ok === false) {
    const error = 'error' in raw && typeof raw.error === 'string' ? raw.error : 'unknown error';
    const c = 'code' in raw ? raw.code : undefined;
    const code: ErrorCode = c === 'bad-request' || c === 'unknown-tunnel' ? c : 'failed';
    return { id, ok: false, error, code };
  }
  return null;
}

/**
 * One event of a subscription, as `monitor` prints it: when, from which part of the daemon
 * ("ike": the engine's EngineEvent fields plus the peer; "bgp": the BGP supervisor's event with
 * its kind as type "bgp-<kind>"), and the event's own fields.
 */
export type MonitorEvent = { time: string; source: 'ike' | 'bgp' | 'ha'; type: string; tunnel?: string } & Record<string, unknown>;

/** An event line of a subscription (see the header). */
export interface EventLine {
  id: number | null;
  event: MonitorEvent;
}

export function encodeLine(msg: ControlRequest | ControlResponse | EventLine): string {
  return `${JSON.stringify(msg)}\n`;
}

/** Parse a line of a subscription on the client side: a response, an event, or null (junk). */
export function parseStreamLine(line: string): { kind: 'response'; response: ControlResponse } | { kind: 'event'; line: EventLine } | null {
  let raw: unknown;
  try {
    raw = JSON.parse(line);
  } catch {
    return null;
  }
  if (typeof raw === 'object' && raw !== null && !('ok' in raw) && 'event' in raw) {
    const ev = raw.event;
    if (typeof ev !== 'object' || ev === null || Array.isArray(ev) || !('type' in ev) || typeof ev.type !== 'string') return null;
    const id = 'id' in raw && typeof raw.id === 'number' ? raw.id : null;
    return { kind: 'event', line: { id, event: ev as MonitorEvent } };
  }
  const response = parseResponse(line);
  return response === null ? null : { kind: 'response', response };
}

/**
 * Splits a byte stream into lines with a hard cap: push() returns the complete lines so far, or
 * 'overflow' once a line exceeds `max` bytes without a newline (the caller then drops the peer).
 */
export class LineSplitter {
  #buf = '';
  #bytes = 0;
  // A multi-byte character may be split across chunks; the decoder carries the partial bytes.
  #decoder = new StringDecoder('utf8');
  constructor(readonly max: number = MAX_LINE) {}

  push(chunk: Buffer): string[] | 'overflow' {
    const lines: string[] = [];
    let text = this.#decoder.write(chunk);
    let nl: number;
    while ((nl = text.indexOf('\n')) >= 0) {
      const part = text.slice(0, nl);
      if (this.#bytes + Buffer.byteLength(part) > this.max) return 'overflow';
      lines.push(this.#buf + part);
      this.#buf = '';
      this.#bytes = 0;
      text = text.slice(nl + 1);
    }
    this.#bytes += Buffer.byteLength(text);
    if (this.#bytes > this.max) return 'overflow';
    this.#buf += text;
    return lines;
  }
}
