/**
 * Retransmission schedules (RFC 7296 §2.1, §2.4). Only the initiator of an exchange
 * retransmits, the same bytes each time; `tries` retransmits follow the first send and the SA is
 * given up `timeout(tries)` after the last one.
 *
 *   timeout(n) = min(cap, timeoutMs × base^n)
 *
 * - DEFAULT: strongSwan's charon.retransmit_timeout 4.0 / retransmit_base 1.8 / retransmit_tries
 *   5 — sends at 0, 4, 11.2, 24.2, 47.5, 89.5 s, gives up at 165 s.
 * - liveness(dpd): every request on an established SA with dpd > 0. T0 = clamp(dpd/10, 0.1 s,
 *   4 s), base 1.5, 4 retransmits: sends at 0, 1, 2.5, 4.75, 8.125 × T0, gives up at
 *   13.1875 × T0. A probe sent `dpd` after the last authenticated inbound therefore ends in
 *   "dead" at dpd + 13.1875·T0 = 2.32 × dpd for dpd ≤ 40 s (1 s → 2.32 s, 3 s → 6.96 s,
 *   10 s → 23.2 s), dpd + 52.75 s above. Five sends keep a false verdict under 10 % loss
 *   (≈ 19 % per round trip) at about 2·10⁻⁴ per exchange.
 * - RECONNECT: every initiation (the first at start or `up`, and each reconnect attempt) until
 *   the IKE SA is established: 2 s between sends, 3 retransmits, so a peer that comes back is
 *   reached within 2 s inside an attempt (reconnect.ts bounds the gap between attempts).
 */
export const RETRANSMIT_TIMEOUT_MS = 4000;
export const RETRANSMIT_BASE = 1.8;
export const RETRANSMIT_TRIES = 5;

export interface RetransmitPolicy {
  timeoutMs: number;
  base: number;
  tries: number;
  capMs: number;
}

export const DEFAULT_RETRANSMIT: RetransmitPolicy = { timeoutMs: RETRANSMIT_TIMEOUT_MS, base: RETRANSMIT_BASE, tries: RETRANSMIT_TRIES, capMs: Infinity };
export const RECONNECT_RETRANSMIT: RetransmitPolicy = { timeoutMs: 2000, base: 1, tries: 3, capMs: 2000 };

export function livenessPolicy(dpdSeconds: number): RetransmitPolicy {
  const t0 = Math.min(4000, Math.max(100, (dpdSeconds * 1000) / 10));
  return { timeoutMs: t0, base: 1.5, tries: 4, capMs: Infinity };
}

/** Time from the n-th send (0 = the first) to the next retransmit or the give-up. */
export function nextTimeout(p: RetransmitPolicy, n: number): number {
  return Math.min(p.capMs, p.timeoutMs * Math.pow(p.base, n));
}

/** Milliseconds from the first send to the give-up. */
export function budgetMs(p: RetransmitPolicy): number {
  let sum = 0;
  for (let n = 0; n <= p.tries; n++) sum += nextTimeout(p, n);
  return sum;
}
