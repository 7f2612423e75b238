/**
 * Log redaction that src/log.ts plugs into pino (docs/architecture.md, rule 7: no PSK or key in any log
 * line, at any level). Two layers, because each catches what the other cannot:
 *
 * 1. By type, everywhere in a log object, however it got there: Secret → "(hidden)"; bytes
 *    (Buffer, Uint8Array, any ArrayBuffer view or ArrayBuffer) → "(N bytes)"; every Error —
 *    not only the one under `err` — goes through pino's std serializer and then through this
 *    same pass, so byte or Secret fields on an error, on its `cause` object or on the members of
 *    an AggregateError are caught too. (src/log.ts's scrub() passes Errors through untouched and
 *    pino's err serializer copies their enumerable fields verbatim: a Uint8Array field on an
 *    error was printed as {"0":222,"1":173,…}.)
 * 2. By value, in every string (messages, error messages and stacks, format-string arguments):
 *    the registered secrets — each tunnel's PSK — in raw, hex and base64 form → "(hidden)".
 *    This catches a PSK that reached a string, e.g. interpolated into an error message.
 *
 * Depth and cycles are bounded as in log.ts. Cost: one walk per log line plus a few substring
 * searches per string; logging is control-path only (never per packet).
 */
import { pino, type LoggerOptions } from 'pino';
import { Secret } from './secret.js';

const HIDDEN = '(hidden)';
const MAX_DEPTH = 6;
/** Shorter values would redact ordinary text; the config requires PSKs far longer than this. */
const MIN_SECRET_BYTES = 6;

/** Every-string, by-value redaction of registered secrets. Mutable: reload adds new PSKs. */
export class SecretRedactor {
  #needles: string[] = [];

  /** Register a secret: its raw text (if UTF-8), lowercase/uppercase hex and base64 forms. */
  add(secret: Secret | Uint8Array | string): void {
    const bytes = Buffer.from(secret instanceof Secret ? secret.reveal() : typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret);
    if (bytes.length < MIN_SECRET_BYTES) return;
    const forms = new Set<string>();
    const text = bytes.toString('utf8');
    if (Buffer.from(text, 'utf8').equals(bytes)) forms.add(text);
    const h = bytes.toString('hex');
    forms.add(h).add(h.toUpperCase()).add(bytes.toString('base64')).add(bytes.toString('base64').replace(/=+$/, '')).add(bytes.toString('base64url'));
    // Longest first, so a form that contains another is replaced whole.
    this.#needles = [...new Set([...this.#needles, ...forms])].sort((a, b) => b.length - a.length);
  }

  get size(): number {
    return this.#needles.length;
  }

  redact(s: string): string {
    let out = s;
    for (const n of this.#needles) if (out.includes(n)) out = out.split(n).join(HIDDEN);
    return out;
  }
}

/** pino's std err serializer, then the redaction pass over its result. Idempotent. */
export function errSerializer(err: unknown, redactor?: SecretRedactor): unknown {
  return redactValue(err, redactor);
}

function serializeError(e: Error, redactor: SecretRedactor | undefined, depth: number, seen: WeakSet<object>): Record<string, unknown> {
  // stdSerializers.err folds Error causes into message and stack ("outer: inner", "caused by:"),
  // copies the other enumerable fields by reference and serializes AggregateError members.
  const s = pino.stdSerializers.err(e) as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s)) out[k] = walk(v, redactor, depth + 1, seen);
  return out;
}

function walk(value: unknown, redactor: SecretRedactor | undefined, depth: number, seen: WeakSet<object>): unknown {
  if (typeof value === 'string') return redactor ? redactor.redact(value) : value;
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Secret) return HIDDEN;
  if (ArrayBuffer.isView(value)) return `(${value.byteLength} bytes)`;
  if (value instanceof ArrayBuffer || value instanceof SharedArrayBuffer) return `(${value.byteLength} bytes)`;
  if (depth >= MAX_DEPTH) return '(too deep)';
  if (seen.has(value)) return '(circular)';
  seen.add(value);
  if (value instanceof Error) return serializeError(value, redactor, depth, seen);
  if (Array.isArray(value)) return value.map((v) => walk(v, redactor, depth + 1, seen));
  // Objects with their own JSON form (Date, URL, Secret-like wrappers) print through it.
  const toJSON = (value as { toJSON?: unknown }).toJSON;
  if (typeof toJSON === 'function') return walk((toJSON as () => unknown).call(value), redactor, depth + 1, seen);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = walk(v, redactor, depth + 1, seen);
  return out;
}

/** Redact any value (a log object, a binding, an error, a format argument). */
export function redactValue(value: unknown, redactor?: SecretRedactor): unknown {
  return walk(value, redactor, 0, new WeakSet());
}

/** Redact a log object or child bindings; always returns a plain object (pino's formatters need one). */
export function redactRecord(obj: Record<string, unknown>, redactor?: SecretRedactor): Record<string, unknown> {
  const r = redactValue(obj, redactor);
  return typeof r === 'object' && r !== null && !Array.isArray(r) ? (r as Record<string, unknown>) : {};
}

/**
 * The pino options that apply both layers: `formatters.log` / `formatters.bindings` redact
 * objects (and turn every Error into a redacted plain object), `serializers.err` keeps pino's
 * default serializer from undoing that, and `hooks.logMethod` redacts the message and any
 * format-string arguments (`log.info('keys %j', keys)` is JSON.stringify'd by pino and never
 * reaches the formatters). Merge into createLogger's pino options; keep its `formatters.level`.
 */
export function redactingOptions(redactor?: SecretRedactor): Pick<LoggerOptions, 'serializers' | 'hooks'> & {
  formatters: { log: (o: Record<string, unknown>) => Record<string, unknown>; bindings: (o: Record<string, unknown>) => Record<string, unknown> };
} {
  return {
    formatters: {
      log: (o) => redactRecord(o, redactor),
      bindings: (o) => redactRecord(o, redactor),
    },
    serializers: { err: (e: unknown) => errSerializer(e, redactor) },
    hooks: {
      logMethod(args: unknown[], method: (...a: unknown[]) => void): void {
        // args[0] may be the merging object (handled by formatters.log) or an Error (pino reads
        // its message for msg, so it must stay an Error here); everything after a string message
        // is a format argument.
        const msgAt = args.findIndex((a) => typeof a === 'string');
        if (msgAt >= 0) {
          method.apply(this, args.map((a, i) => (i < msgAt ? a : redactValue(a, redactor))));
          return;
        }
        // No message: pino would print the error's own message as msg, unredacted. Supply it.
        const first = args[0];
        const err = first instanceof Error ? first : (first as { err?: unknown } | null | undefined)?.err;
        method.apply(this, err instanceof Error ? [first, redactValue(err.message, redactor)] : args);
      },
    },
  };
}
