/**
 * Shared-key AUTH data (RFC 7296 §2.15, Auth Method 2 "Shared Key Message Integrity Code").
 */
import { timingSafeEqual } from 'node:crypto';
import { prf } from './prf.js';

/** RFC 7296 §2.15: the 17 ASCII octets "Key Pad for IKEv2", with no terminating NUL. */
export const KEY_PAD = new Uint8Array(Buffer.from('Key Pad for IKEv2', 'ascii'));

export interface PskAuthParams {
  prfId: number;
  psk: Uint8Array;
  /** The sender's complete IKE_SA_INIT message as sent (the last one, after COOKIE/INVALID_KE retries). */
  realMessage: Uint8Array;
  /** The peer's Nonce Data (payload body without the generic header). */
  peerNonce: Uint8Array;
  /** SK_pi when computing the initiator's AUTH, SK_pr for the responder's. */
  skP: Uint8Array;
  /** RestOfIDPayload: ID Type, 3 reserved octets, identification data. */
  idBody: Uint8Array;
}

/**
 * AUTH = prf( prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets> ), where
 * SignedOctets = RealMessage | NonceData(peer) | prf(SK_p, RestOfIDPayload) (RFC 7296 §2.15).
 * The inner prf(PSK, pad) lets a PSK of any length key the outer prf.
 */
export function pskAuthData(p: PskAuthParams): Uint8Array {
  const macedId = prf(p.prfId, p.skP, p.idBody);
  const signed = new Uint8Array(p.realMessage.length + p.peerNonce.length + macedId.length);
  signed.set(p.realMessage, 0);
  signed.set(p.peerNonce, p.realMessage.length);
  signed.set(macedId, p.realMessage.length + p.peerNonce.length);
  // prf(PSK, pad) authenticates as well as the PSK itself: it does not outlive this call.
  const padded = prf(p.prfId, p.psk, KEY_PAD);
  try {
    return prf(p.prfId, padded, signed);
  } finally {
    padded.fill(0);
  }
}

/**
 * Compares a received AUTH (or any MAC) with the expected value without leaking, through timing,
 * how many leading octets matched. A length mismatch is reported as false, not thrown: the length
 * of a received AUTH is attacker-controlled and not secret.
 */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  return timingSafeEqual(a, b);
}
