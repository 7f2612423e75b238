/**
 * Log-flood control for the lines the engine writes about hostile or broken datagrams (no tunnel
 * matches, malformed, unsupported critical payload, NO_PROPOSAL_CHOSEN, INVALID_KE, DH values
 * rejected, cookies, limits, failed authentication). A flood of such datagrams must not become a
 * flood of log lines: per kind, at most FLOOD_LOG_BURST lines per FLOOD_LOG_WINDOW_MS; the rest
 * are counted, and one summary line with the count follows when the window ends (on the next
 * line of that kind or on a tick; the window's end is a wake-up while anything is suppressed).
 * Sans-IO: `now` comes from the caller. The kinds are a fixed set, so the table is bounded.
 */
import type { LogLevel } from './actions.js';

export const FLOOD_LOG_BURST = 5;
export const FLOOD_LOG_WINDOW_MS = 10_000;

export type FloodKind =
  | 'malformed'
  | 'no-sa'
  | 'integrity'
  | 'no-tunnel'
  | 'critical-payload'
  | 'init-syntax'
  | 'no-proposal'
  | 'invalid-ke'
  | 'dh-rejected'
  | 'cookie'
  | 'rate-limited'
  | 'half-open-limit'
  | 'auth-failed';

const RANK: Record<LogLevel, number> = { trace: 0, debug: 1, info: 2, warn: 3, error: 4 };

interface Window {
  start: number;
  logged: number;
  suppressed: number;
  level: LogLevel;
}

export interface Summary {
  level: LogLevel;
  msg: string;
  kind: FloodKind;
  suppressed: number;
}

export class FloodLog {
  private readonly windows = new Map<FloodKind, Window>();

  /**
   * Whether a line of `kind` may be written now. When a window with suppressed lines ended, its
   * summary is returned in `summaries` first.
   */
  allow(kind: FloodKind, level: LogLevel, now: number, summaries: Summary[]): boolean {
    let w = this.windows.get(kind);
    if (w && now >= w.start + FLOOD_LOG_WINDOW_MS) {
      if (w.suppressed > 0) summaries.push(summary(kind, w));
      w = undefined;
    }
    if (!w) {
      w = { start: now, logged: 0, suppressed: 0, level };
      this.windows.set(kind, w);
    }
    if (w.logged < FLOOD_LOG_BURST) {
      w.logged++;
      return true;
    }
    w.suppressed++;
    if (RANK[level] > RANK[w.level]) w.level = level;
    return false;
  }

  /** Summaries of the windows that ended by `now` with suppressed lines (those windows close). */
  flush(now: number): Summary[] {
    const out: Summary[] = [];
    for (const [kind, w] of this.windows) {
      if (now < w.start + FLOOD_LOG_WINDOW_MS) continue;
      if (w.suppressed > 0) out.push(summary(kind, w));
      this.windows.delete(kind);
    }
    return out;
  }

  /** When flush() has a summary to give, or null. */
  nextFlush(): number | null {
    let min: number | null = null;
    for (const w of this.windows.values()) {
      if (w.suppressed === 0) continue;
      const end = w.start + FLOOD_LOG_WINDOW_MS;
      if (min === null || end < min) min = end;
    }
    return min;
  }
}

function summary(kind: FloodKind, w: Window): Summary {
  return {
    kind,
    level: w.level,
    suppressed: w.suppressed,
    msg: `${w.suppressed} more '${kind}' log lines suppressed in ${FLOOD_LOG_WINDOW_MS / 1000} s (at most ${FLOOD_LOG_BURST} per ${FLOOD_LOG_WINDOW_MS / 1000} s are written)`,
  };
}
