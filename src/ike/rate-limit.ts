/**
 * Per-source token buckets for IKE_SA_INIT requests (issue 8: "per-source rate limits"). Each
 * source address may send `rate` requests per second, in bursts of up to 2 × rate. Sans-IO: the
 * caller passes `now` (ms).
 *
 * The table is bounded, because source addresses are free to spoof: at most `maxSources`
 * entries (SOURCE_TABLE_MAX by default), kept in least-recently-used order (a Map re-inserted on
 * every touch). A bucket that has been idle long enough to be full again says nothing an absent
 * entry would not, so such entries are dropped from the old end whenever a source is added, and
 * when the table is still full the least recently seen source is evicted. Eviction only ever
 * forgets a debt: an evicted source starts again with a full bucket, so the bound costs some
 * precision under a spoofed flood and never blocks anyone who would otherwise pass.
 */

/** 4096 sources × ~100 octets: well under a megabyte however many addresses a flood spoofs. */
export const SOURCE_TABLE_MAX = 4096;

interface Bucket {
  tokens: number;
  at: number;
}

export class SourceRateLimiter {
  private readonly buckets = new Map<string, Bucket>();

  /** rate: requests per second per source (0: no limit). */
  constructor(private rate: number, private readonly maxSources = SOURCE_TABLE_MAX) {}

  setRate(rate: number): void {
    this.rate = rate;
    if (rate === 0) this.buckets.clear();
  }

  get size(): number {
    return this.buckets.size;
  }

  private get burst(): number {
    return 2 * this.rate;
  }

  /** ms after which an untouched bucket is full again. */
  private get refillMs(): number {
    return (this.burst / this.rate) * 1000;
  }

  /** Takes one token for `source`; false when its bucket is empty (the request is over the limit). */
  take(source: string, now: number): boolean {
    if (this.rate <= 0) return true;
    let b = this.buckets.get(source);
    if (b) {
      this.buckets.delete(source);
      b.tokens = Math.min(this.burst, b.tokens + ((now - b.at) * this.rate) / 1000);
      b.at = Math.max(b.at, now);
    } else {
      this.expire(now);
      if (this.buckets.size >= this.maxSources) {
        const oldest = this.buckets.keys().next().value;
        if (oldest !== undefined) this.buckets.delete(oldest);
      }
      b = { tokens: this.burst, at: now };
    }
    this.buckets.set(source, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Drops buckets that are full again (idle for the refill time), oldest first. */
  expire(now: number): void {
    for (const [k, b] of this.buckets) {
      if (now - b.at < this.refillMs) break;
      this.buckets.delete(k);
    }
  }
}
