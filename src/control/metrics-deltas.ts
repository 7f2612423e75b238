/**
 * The exporter's counters only ever grow (metrics.ts). Deltas turns raw cumulative values into totals that only grow: each total adds the growth of the raw
 * values fed under it; a raw value that went down has restarted from zero (a replaced SA, engine
 * or transport), so all of it is growth.
 */
export class Deltas {
  readonly #last = new Map<string, number>();
  readonly #total = new Map<string, number>();

  /** Feed the raw value for `key`, add its growth to `total`; returns the new total. */
  add(key: string, total: string, raw: number): number {
    const v = Number.isFinite(raw) && raw > 0 ? raw : 0;
    const last = this.#last.get(key);
    const grown = last === undefined || v < last ? v : v - last;
    this.#last.set(key, v);
    const t = (this.#total.get(total) ?? 0) + grown;
    this.#total.set(total, t);
    return t;
  }

  total(total: string): number {
    return this.#total.get(total) ?? 0;
  }

  /** Forget the raw baselines of keys that no longer exist (their growth stays in the totals). */
  forget(keep: (key: string) => boolean): void {
    for (const k of this.#last.keys()) if (!keep(k)) this.#last.delete(k);
  }
}

/** Joins key parts; NUL cannot occur in tunnel names, SPIs or reasons. */
export const key = (...parts: string[]): string => parts.join('\0');
