/**
 * Message-level checks applied to every decoded payload list, before any task sees it.
 */
import type { Payload } from './codec/types.js';
import { verifyPayload } from './codec/payload-chain.js';

/** The first semantic problem the decoder leaves to verify() (nonce sizes, SPI sizes, ...), or null. */
export function invalidPayload(payloads: Payload[]): string | null {
  for (const p of payloads) {
    const why = verifyPayload(p);
    if (why) return why;
  }
  return null;
}

/** RFC 7296 §2.5: the type of the first unknown payload with the critical bit set, or null. */
export function criticalUnknown(payloads: Payload[]): number | null {
  const p = payloads.find((x) => x.type === 'unknown' && x.critical);
  return p && p.type === 'unknown' ? p.rawType : null;
}
