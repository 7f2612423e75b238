/**
 * Responder protection for IKE_SA_INIT (RFC 7296 §2.6; docs/responder-protection.md): the decisions the engine makes
 * before it spends a Diffie-Hellman computation and a half-open SA on a request, from the
 * configured `limits` (config/types.ts LimitsConfig; config/schema.ts has the defaults, which
 * follow strongSwan's cookie_threshold, cookie_threshold_ip and block_threshold).
 *
 *  - per-source rate: rate-limit.ts, initRatePerSource per second, bursts of twice that;
 *  - cookies: required while the half-open SAs number at least cookieThreshold (0: always), or
 *    those of the request's source at least cookieThresholdPerSource; once the global threshold
 *    was reached, cookies stay required until no request reached it for COOKIE_CALMDOWN_MS, so
 *    a legitimate initiator's retransmissions are not answered once with and once without a
 *    cookie (its AUTH covers the IKE_SA_INIT it sent last; strongSwan receiver.c does the same);
 *  - hard caps: at most `halfOpen` half-open SAs in all, `halfOpenPerSource` per source address,
 *    also for requests with a valid cookie.
 *
 * Bounds: the rate table holds at most SOURCE_TABLE_MAX sources; the half-open SAs and their
 * per-source counts (half-open.ts) at most `halfOpen` entries.
 */
import type { LimitsConfig } from '../config/types.js';
import { CookieJar } from './cookie.js';
import { SourceRateLimiter } from './rate-limit.js';
import type { HalfOpenTable } from './half-open.js';

/** config/schema.ts LimitsShape defaults (test/exchange/responder-limits.test.ts keeps them equal). */
export const DEFAULT_LIMITS: Readonly<LimitsConfig> = {
  halfOpen: 1000,
  cookieThreshold: 30,
  cookieThresholdPerSource: 3,
  halfOpenPerSource: 5,
  initRatePerSource: 10,
};

/** strongSwan's COOKIE_CALMDOWN_DELAY (10 s). */
export const COOKIE_CALMDOWN_MS = 10_000;

export type CapReason = 'half-open-limit' | 'half-open-source-limit';

export class InitGuard {
  private current: LimitsConfig;
  readonly rate: SourceRateLimiter;
  readonly cookies: CookieJar;
  private cookiesUntil = -Infinity;

  constructor(limits: LimitsConfig, random: (n: number) => Uint8Array) {
    this.current = { ...limits };
    this.rate = new SourceRateLimiter(limits.initRatePerSource);
    this.cookies = new CookieJar(random);
  }

  get limits(): Readonly<LimitsConfig> {
    return this.current;
  }

  /** Config reload: new thresholds apply to the next request; half-open SAs already made stay. */
  setLimits(limits: LimitsConfig): void {
    this.current = { ...limits };
    this.rate.setRate(limits.initRatePerSource);
    this.cookiesUntil = -Infinity;
  }

  /** RFC 7296 §2.6: must this request from `address` carry a valid cookie? */
  cookieRequired(address: string, halfOpen: HalfOpenTable, now: number): boolean {
    const l = this.current;
    if (halfOpen.size >= l.cookieThreshold) {
      this.cookiesUntil = now + COOKIE_CALMDOWN_MS;
      return true;
    }
    return now < this.cookiesUntil || halfOpen.from(address) >= l.cookieThresholdPerSource;
  }

  /** The hard cap a new half-open SA from `address` would exceed, or null. */
  overCap(address: string, halfOpen: HalfOpenTable): CapReason | null {
    if (halfOpen.size >= this.current.halfOpen) return 'half-open-limit';
    if (halfOpen.from(address) >= this.current.halfOpenPerSource) return 'half-open-source-limit';
    return null;
  }
}
