/**
 * The root logger. JSON lines to stdout (what journald, docker and jq want); a short human line
 * when stdout is a terminal; under systemd each line carries its journald priority
 * (src/systemd/journal.ts). pino-pretty is deliberately not a dependency, so the TTY format is
 * the small formatter below.
 *
 * Secrets: Secret.toJSON already prints "(hidden)", and pino serialises through JSON, but we add
 * a scrub pass over every log object and child binding anyway (defence in depth: pino's redact
 * paths name fixed keys, and a `*` wildcard covers one level only). The scrub also turns
 * raw byte arrays into "(N bytes)", because a Buffer's toJSON would print key material verbatim.
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import { Secret } from './secret.js';
import { redactingOptions, type SecretRedactor } from './log-redact.js';
import type { Action, LogLevel } from './ike/actions.js';
import { journalStream, stdoutIsJournal } from './systemd/journal.js';

export type { Logger };

export interface LoggerOptions {
  level: LogLevel;
  /** Where JSON lines go (tests pass a collector). Default: stdout, pretty if it is a TTY. */
  stream?: DestinationStream;
  /** Force the human format on/off; default is "stdout is a TTY and no stream was given". */
  pretty?: boolean;
  /** Secrets to redact by value from every string (the tunnels' PSKs); see log-redact.ts. */
  redactor?: SecretRedactor;
}

const MAX_DEPTH = 6;

/** Replace Secrets and raw bytes anywhere in a log object; returns a copy when it changes things. */
export function scrub(value: unknown, depth = 0, seen: WeakSet<object> = new WeakSet()): unknown {
  if (value instanceof Secret) return '(hidden)';
  if (value instanceof Uint8Array) return `(${value.length} bytes)`;
  if (value === null || typeof value !== 'object') return value;
  // Errors go through pino's std serializer (stack, code); their own fields are ours, not peers'.
  if (value instanceof Error) return value;
  if (depth >= MAX_DEPTH) return '(too deep)';
  if (seen.has(value)) return '(circular)';
  seen.add(value);
  if (Array.isArray(value)) return value.map((v) => scrub(v, depth + 1, seen));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = scrub(v, depth + 1, seen);
  return out;
}

export function createLogger(opts: LoggerOptions): Logger {
  const pretty = opts.pretty ?? (opts.stream === undefined && process.stdout.isTTY === true);
  // sync: a daemon that exits on SIGTERM must not lose its last lines in a buffer.
  const stdout = (): DestinationStream => pino.destination({ dest: 1, sync: true });
  const dest: DestinationStream =
    opts.stream ??
    (pretty
      ? prettyStream((s) => process.stdout.write(s))
      : stdoutIsJournal(process.env) ? journalStream(stdout()) : stdout());
  const redact = redactingOptions(opts.redactor);
  return pino(
    {
      level: opts.level,
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: redact.serializers,
      hooks: redact.hooks,
      formatters: {
        // Level names, not numbers: `jq 'select(.level=="warn")'` is what operators type.
        level: (label) => ({ level: label }),
        log: redact.formatters.log,
        bindings: redact.formatters.bindings,
      },
    },
    dest,
  );
}

/** Per-tunnel child logger; every line it writes carries {"tunnel": name}. */
export function tunnelLogger(root: Logger, name: string): Logger {
  return root.child({ tunnel: name });
}

/** Keys pino owns; an engine field with one of these names is renamed instead of clobbering it. */
const RESERVED = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'tunnel', 'err']);

/** Perform a `log` Action from the engine at its level, with its fields. */
export function logAction(root: Logger, action: Extract<Action, { kind: 'log' }>): void {
  const target = action.tunnel !== undefined ? tunnelLogger(root, action.tunnel) : root;
  const fields: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(action.fields ?? {})) fields[RESERVED.has(k) ? `field_${k}` : k] = v;
  target[action.level](fields, action.msg);
}

const CORE_KEYS = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'tunnel']);

/**
 * Turn one pino JSON line into "12:00:01.234 INFO  [tunnel] message key=value ...".
 * Never throws: a line it cannot parse is printed as it came.
 */
export function formatPretty(line: string): string {
  let obj: unknown;
  try {
    obj = JSON.parse(line);
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return `${line.trimEnd()}\n`;
  const rec = obj as Record<string, unknown>;
  const time = typeof rec.time === 'string' ? rec.time.slice(11, 23) : '';
  const level = String(rec.level ?? '').toUpperCase().padEnd(5);
  const tunnel = typeof rec.tunnel === 'string' ? ` [${rec.tunnel}]` : '';
  const extras: string[] = [];
  for (const [k, v] of Object.entries(rec)) {
    if (CORE_KEYS.has(k)) continue;
    if (k === 'err' && typeof v === 'object' && v !== null && 'message' in v) {
      extras.push(`err=${JSON.stringify(String(v.message))}`);
      continue;
    }
    const s = typeof v === 'string' ? (/^[\w.:/@-]+$/.test(v) ? v : JSON.stringify(v)) : JSON.stringify(v);
    extras.push(`${k}=${s}`);
  }
  const msg = typeof rec.msg === 'string' ? rec.msg : '';
  return `${time} ${level}${tunnel} ${msg}${extras.length ? '  ' + extras.join(' ') : ''}\n`;
}

/** A pino destination that re-formats each JSON line for humans. pino writes whole lines. */
export function prettyStream(write: (s: string) => unknown): DestinationStream {
  return {
    write(chunk: string): void {
      for (const line of chunk.split('\n')) if (line.length > 0) write(formatPretty(line));
    },
  };
}
