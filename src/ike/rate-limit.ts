/**
 * Per-source token buckets for IKE_SA_INIT requests (docs/responder-protection.md). Each
 * source address may send `rate` requests per second, in bursts of up to 2 × rate. Sans-IO: the
 * caller passes `now` (ms).
 *
 * The table is bounded, because source addresses are free to spoof: two generations of buckets
 * (a Map each), at most `maxSources` entries together (SOURCE_TABLE_MAX by default). A source
 * seen again moves to the current generation. The generations turn over every refill time (the
 * time an untouched bucket needs to be full again), so a bucket is forgotten between one and two
 * refill times after its last use, never before it is full again and says nothing an absent
 * entry would not; and they turn over early when the current one holds half the bound, which forgets the older half. Forgetting
 * only ever forgives a debt (the source starts again with a full bucket), so the bound costs
 * some precision under a spoofed flood and never blocks anyone who would otherwise pass. Every
 * operation is O(1): no scans, so a flood of new sources costs the same per datagram as any other.
 */

/** 4096 sources × ~100 octets: well under a megabyte however many addresses a flood spoofs. */
export const SOURCE_TABLE_MAX = 4096;

interface Bucket {
  tokens: number;
  at: number;
}

export class SourceRateLimiter {
  private current = new Map<string, Bucket>();
  private previous = new Map<string, Bucket>();
  private turnedAt = -Infinity;

  /** rate: requests per second per source (0: no limit). */
  constructor(private rate: number, private readonly maxSources = SOURCE_TABLE_MAX) {}

  setRate(rate: number): void {
    this.rate = rate;
    this.current = new Map();
    this.previous = new Map();
  }

  get size(): number {
    return this.current.size + this.previous.size;
  }

  private get burst(): number {
    return 2 * this.rate;
  }

  /** ms after which an untouched bucket is full again. */
  private get refillMs(): number {
    return (this.burst / this.rate) * 1000;
  }

  private turnOver(now: number): void {
    this.previous = this.current;
    this.current = new Map();
    this.turnedAt = now;
  }

  /** Takes one token for `source`; false when its bucket is empty (the request is over the limit). */
  take(source: string, now: number): boolean {
    if (this.rate <= 0) return true;
    this.expire(now);
    let b = this.current.get(source);
    if (!b) {
      b = this.previous.get(source);
      if (b) this.previous.delete(source);
      else b = { tokens: this.burst, at: now };
      if (this.current.size >= this.maxSources / 2) this.turnOver(now);
      this.current.set(source, b);
    }
    b.tokens = Math.min(this.burst, b.tokens + (Math.max(0, now - b.at) * this.rate) / 1000);
    b.at = Math.max(b.at, now);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  /** Forgets the buckets idle for a refill time or more (their generation turned over twice). */
  expire(now: number): void {
    if (this.rate > 0 && now - this.turnedAt >= this.refillMs) this.turnOver(now);
  }
}
