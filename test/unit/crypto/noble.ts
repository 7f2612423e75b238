/** @noble/hashes counterparts of our PRF and INTEG transforms, for differential tests. */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { IntegId, PrfId } from '../../../src/ike/constants.js';

export type NobleHash = Parameters<typeof hmac>[0];

const BY_ID: ReadonlyMap<number, NobleHash> = new Map<number, NobleHash>([
  [PrfId.HMAC_SHA2_256, sha256],
  [PrfId.HMAC_SHA2_384, sha384],
  [PrfId.HMAC_SHA2_512, sha512],
]);

const BY_INTEG: ReadonlyMap<number, NobleHash> = new Map<number, NobleHash>([
  [IntegId.HMAC_SHA2_256_128, sha256],
  [IntegId.HMAC_SHA2_384_192, sha384],
  [IntegId.HMAC_SHA2_512_256, sha512],
]);

export function prfHash(prfId: number): NobleHash {
  const h = BY_ID.get(prfId);
  if (!h) throw new Error(`no noble hash for PRF ${prfId}`);
  return h;
}

export function integHash(integId: number): NobleHash {
  const h = BY_INTEG.get(integId);
  if (!h) throw new Error(`no noble hash for INTEG ${integId}`);
  return h;
}

/** prf+ written directly from RFC 7296 §2.13 on top of @noble/hashes. */
export function noblePrfPlus(prfId: number, key: Uint8Array, seed: Uint8Array, length: number): Uint8Array {
  const out: number[] = [];
  let t = new Uint8Array(0);
  for (let n = 1; out.length < length; n++) {
    t = hmac(prfHash(prfId), key, new Uint8Array([...t, ...seed, n]));
    out.push(...t);
  }
  return new Uint8Array(out.slice(0, length));
}
