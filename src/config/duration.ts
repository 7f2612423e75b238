/**
 * Durations in the config: a bare number of seconds, or a number with one unit suffix
 * ("30s", "5m", "8h", "1d"), the same single-unit spelling strongSwan's swanctl.conf uses.
 * Compound forms ("1h30m") are rejected rather than guessed at.
 */

/**
 * The result shape shared by every config value parser (cidr, identity, proposals, profiles).
 * Parsers return errors instead of throwing so the loader can attach file:line:col and keep
 * going to report every problem in one pass.
 */
export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

const HOWTO = 'use seconds (3600) or a number with s, m, h or d (30s, 5m, 8h, 1d)';

/** Echo user input in messages, but never a whole paragraph of it. */
export function quoteInput(v: string): string {
  return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v);
}

export function parseDuration(v: unknown): ParseResult<number> {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) {
      return { ok: false, error: `${v} is not a duration: ${HOWTO}` };
    }
    return { ok: true, value: v };
  }
  if (typeof v !== 'string') {
    return { ok: false, error: `expected a duration, got ${v === null ? 'nothing' : typeof v}: ${HOWTO}` };
  }
  const m = /^\s*(\d+)\s*([smhd]?)\s*$/i.exec(v);
  if (!m) return { ok: false, error: `${quoteInput(v)} is not a duration: ${HOWTO}` };
  const n = Number(m[1]) * (UNIT_SECONDS[(m[2] ?? '').toLowerCase()] ?? 1);
  if (!Number.isSafeInteger(n)) return { ok: false, error: `${quoteInput(v)} is too long a duration` };
  return { ok: true, value: n };
}

/** The shortest exact spelling, for logs and docs: 28800 → "8h", 90 → "90s". */
export function formatDuration(seconds: number): string {
  for (const [unit, mult] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (seconds > 0 && seconds % mult === 0) return `${seconds / mult}${unit}`;
  }
  return `${seconds}s`;
}
