/**
 * Why the engine dropped an IKE datagram (hostile input is counted, never fatal). IkeEngine.drops
 * holds one counter per reason, all present from the start; the Prometheus exporter turns them
 * into branchgate_ike_datagrams_dropped_total{reason="…"} (control/metrics.ts).
 */
export const DROP_REASONS = [
  /** Undecodable, or a payload that fails its semantic check (nonce sizes, …). */
  'malformed',
  /** Not for any IKE SA we hold. */
  'no-sa',
  /** The SK/SKF integrity check failed. */
  'integrity',
  /** Out of window, a response to nothing, a request in the wrong state. */
  'unexpected',
  /** An unsupported critical payload (answered UNSUPPORTED_CRITICAL_PAYLOAD where allowed). */
  'critical-payload',
  /** An IKE_SA_INIT that no tunnel's addresses match. */
  'no-tunnel',
  /** An IKE_SA_INIT over its source's rate (limits.initRatePerSource). */
  'rate-limited',
  /** An IKE_SA_INIT without a cookie while cookies are required: answered with a COOKIE (RFC 7296 §2.6). */
  'cookie-required',
  /** An IKE_SA_INIT whose COOKIE we did not issue, or issued under a retired secret (answered with a fresh one). */
  'invalid-cookie',
  /** No room for another half-open SA (limits.halfOpen). */
  'half-open-limit',
  /** The source holds limits.halfOpenPerSource half-open SAs already. */
  'half-open-source-limit',
] as const;

export type DropReason = (typeof DROP_REASONS)[number];

export function newDropCounters(): Record<DropReason, number> {
  return Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Record<DropReason, number>;
}
