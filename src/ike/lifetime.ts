/**
 * SA lifetimes (RFC 7296 §2.8: lifetimes are not negotiated, each side rekeys on its own timer).
 * Soft expiry (rekey) is jittered so two SAs — or the two peers — never rekey in lockstep, as
 * strongSwan does with rand_time / libreswan with rekeyfuzz:
 *
 *   rekeyAt  = start + lifetime × 0.9 − u × lifetime × 0.1      (u uniform in [0, 1))
 *   expireAt = start + lifetime                                   (hard: delete if not rekeyed)
 *
 * u comes from the engine's injected random source, so tests are reproducible.
 */
export const REKEY_FRACTION = 0.9;
export const JITTER_FRACTION = 0.1;
/** After TEMPORARY_FAILURE or a failed rekey: retry after 5–15 s (strongSwan: 15 s − jitter 10). */
export const RETRY_MIN_MS = 5000;
export const RETRY_SPREAD_MS = 10_000;

/** A uniform number in [0, 1) from random bytes. */
export function uniform(random: (n: number) => Uint8Array): number {
  const b = random(4);
  return (((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0) / 2 ** 32;
}

export interface Lifetime {
  rekeyAt: number;
  expireAt: number;
}

export function schedule(start: number, lifetimeSeconds: number, random: (n: number) => Uint8Array): Lifetime {
  const ms = lifetimeSeconds * 1000;
  const u = uniform(random);
  return { rekeyAt: Math.round(start + ms * REKEY_FRACTION - u * ms * JITTER_FRACTION), expireAt: start + ms };
}

export function retryDelay(random: (n: number) => Uint8Array): number {
  return Math.round(RETRY_MIN_MS + uniform(random) * RETRY_SPREAD_MS);
}
