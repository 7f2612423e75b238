/**
 * The IKEv2 pseudo-random function and its expansion prf+ (RFC 7296 §2.13), for the HMAC-SHA2
 * PRFs of RFC 4868 §2. HMAC runs in OpenSSL through node:crypto (architecture: "Crypto").
 */
import { createHmac } from 'node:crypto';
import { prfInfo, type PrfInfo } from './transforms.js';

function info(id: number): PrfInfo {
  const p = prfInfo(id);
  if (!p) throw new RangeError(`unsupported PRF transform ${id}`);
  return p;
}

/**
 * prf(key, data). HMAC accepts any key length (RFC 2104 §2: longer keys are hashed first), which
 * is what RFC 7296 §2.14 relies on when it keys the PRF with Ni | Nr.
 */
export function prf(id: number, key: Uint8Array, data: Uint8Array): Uint8Array {
  const p = info(id);
  const d = createHmac(p.hash, key).update(data).digest();
  // Return node's Buffer as a plain view of the same memory: no second copy of the output.
  return new Uint8Array(d.buffer, d.byteOffset, d.length);
}

/** RFC 7296 §2.13: the counter is one octet, so prf+ can produce at most 255 blocks. */
export const PRF_PLUS_MAX_BLOCKS = 255;

/**
 * prf+(K, S) = T1 | T2 | T3 | ... truncated to `length` octets, where
 *   T1 = prf(K, S | 0x01),  Tn = prf(K, T(n-1) | S | n).
 * Asking for more than 255 blocks is a programming error (no negotiated transform set needs it),
 * so it throws instead of wrapping the counter the way a naive loop would.
 */
export function prfPlus(id: number, key: Uint8Array, seed: Uint8Array, length: number): Uint8Array {
  const p = info(id);
  if (!Number.isInteger(length) || length < 0) throw new RangeError(`prf+ length ${length}`);
  const blocks = Math.ceil(length / p.outBytes);
  if (blocks > PRF_PLUS_MAX_BLOCKS) {
    throw new RangeError(`prf+ of ${length} octets needs ${blocks} blocks; the 1-octet counter allows 255`);
  }
  const out = new Uint8Array(blocks * p.outBytes);
  let prev: Uint8Array = new Uint8Array(0);
  for (let n = 1; n <= blocks; n++) {
    const h = createHmac(p.hash, key);
    h.update(prev);
    h.update(seed);
    h.update(Uint8Array.of(n));
    const t = h.digest();
    prev.fill(0);
    out.set(t, (n - 1) * p.outBytes);
    prev = t;
  }
  // The output is key material: the intermediate blocks and the untruncated tail are cleared.
  prev.fill(0);
  const result = out.slice(0, length);
  out.fill(0);
  return result;
}
