/**
 * Key derivation for IKE and Child SAs: RFC 7296 §2.13 (prf+), §2.14 (SKEYSEED and SK_*), §2.17
 * (Child SA KEYMAT) and §2.18 (rekeying the IKE SA). Key sizes come from the transform registry;
 * GCM keys carry their 4-octet salt at the end (RFC 5282 §7.1 for IKE, RFC 4106 §8.1 for ESP).
 */
import { prf, prfPlus } from './prf.js';
import { encrInfo, integInfo, prfInfo } from './transforms.js';
import type { ChildKeys, IkeKeys } from './types.js';

export interface IkeKeyParams {
  prfId: number;
  encrId: number;
  encrKeyBits: number;
  integId: number;
  ni: Uint8Array;
  nr: Uint8Array;
  /** The 8-octet SPIs from the IKE header of the new SA, in network order. */
  spiI: Uint8Array;
  spiR: Uint8Array;
  /** g^ir, already in IKE encoding (dh.ts pads MODP values and takes the ECP x-coordinate). */
  sharedSecret: Uint8Array;
}

export interface IkeRekeyParams extends IkeKeyParams {
  /** SK_d of the IKE SA being rekeyed. */
  skDOld: Uint8Array;
  /** The PRF negotiated for the IKE SA being rekeyed. */
  prfIdOld: number;
}

export interface ChildKeyParams {
  prfId: number;
  skD: Uint8Array;
  /** Nonces of the exchange that creates this Child SA (IKE_AUTH reuses those of IKE_SA_INIT). */
  ni: Uint8Array;
  nr: Uint8Array;
  /** g^ir (new) of a CREATE_CHILD_SA with KE payloads (PFS); absent otherwise. */
  sharedSecret?: Uint8Array;
  encrId: number;
  encrKeyBits: number;
  integId: number;
}

interface Sizes {
  /** Encryption key octets including the salt. */
  encr: number;
  integ: number;
}

/**
 * Octets of one encryption key and one integrity key. AEAD ciphers take no integrity key (RFC 5282
 * §8 for IKE, RFC 4106 §2 for ESP), and a non-AEAD cipher without integrity is refused: RFC 8221
 * and RFC 8247 forbid it, and NULL encryption needs integrity by definition.
 */
function sizes(encrId: number, encrKeyBits: number, integId: number): Sizes {
  const e = encrInfo(encrId, encrKeyBits);
  if (!e) throw new RangeError(`unsupported encryption transform ${encrId}/${encrKeyBits}`);
  if (e.aead) {
    if (integId !== 0) throw new RangeError('AEAD cipher combined with an integrity transform');
    return { encr: e.keyBytes + e.saltBytes, integ: 0 };
  }
  const i = integInfo(integId);
  if (!i) throw new RangeError(`non-AEAD cipher needs a supported integrity transform, got ${integId}`);
  return { encr: e.keyBytes + e.saltBytes, integ: i.keyBytes };
}

function prfKeyBytes(prfId: number): number {
  const p = prfInfo(prfId);
  if (!p) throw new RangeError(`unsupported PRF transform ${prfId}`);
  return p.keyBytes;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Cuts `buf` into consecutive pieces of the given lengths. */
function split(buf: Uint8Array, lengths: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let off = 0;
  for (const n of lengths) {
    out.push(buf.slice(off, off + n));
    off += n;
  }
  return out;
}

function checkSpis(spiI: Uint8Array, spiR: Uint8Array): void {
  // RFC 7296 §3.1: IKE SPIs are 8 octets; a wrong size here means the caller passed the wrong field.
  if (spiI.length !== 8 || spiR.length !== 8) throw new RangeError('IKE SPIs must be 8 octets');
}

/**
 * {SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)
 * (RFC 7296 §2.14). SK_d, SK_pi and SK_pr take the PRF's preferred key length (§2.13).
 */
function expandIkeKeys(p: IkeKeyParams, skeyseed: Uint8Array): IkeKeys {
  checkSpis(p.spiI, p.spiR);
  const prfLen = prfKeyBytes(p.prfId);
  const s = sizes(p.encrId, p.encrKeyBits, p.integId);
  const lengths = [prfLen, s.integ, s.integ, s.encr, s.encr, prfLen, prfLen];
  const total = lengths.reduce((a, b) => a + b, 0);
  const stream = prfPlus(p.prfId, skeyseed, concat(p.ni, p.nr, p.spiI, p.spiR), total);
  const [skD, skAi, skAr, skEi, skEr, skPi, skPr] = split(stream, lengths) as [
    Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array, Uint8Array,
  ];
  stream.fill(0); // split() copied every key out of it
  return { skeyseed, skD, skAi, skAr, skEi, skEr, skPi, skPr };
}

/**
 * Keys of a new IKE SA from IKE_SA_INIT: SKEYSEED = prf(Ni | Nr, g^ir) (RFC 7296 §2.14). The
 * nonces are the PRF key here; HMAC takes keys of any length, so no truncation applies (the
 * half-and-half rule of §2.14 is only for fixed-key PRFs such as AES-XCBC).
 */
export function deriveIkeKeys(p: IkeKeyParams): IkeKeys {
  const skeyseed = prf(p.prfId, concat(p.ni, p.nr), p.sharedSecret);
  return expandIkeKeys(p, skeyseed);
}

/**
 * Keys of the IKE SA that replaces an old one (RFC 7296 §2.18):
 *   SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)
 * computed with the OLD SA's PRF, "because the rekeying exchange belongs to the old IKE SA";
 * the SK_* expansion then uses the new SA's PRF and its new SPIs.
 */
export function deriveIkeKeysRekey(p: IkeRekeyParams): IkeKeys {
  const seed = concat(p.sharedSecret, p.ni, p.nr);
  const skeyseed = prf(p.prfIdOld, p.skDOld, seed);
  seed.fill(0); // it holds a copy of g^ir
  return expandIkeKeys(p, skeyseed);
}

/**
 * Child SA keys (RFC 7296 §2.17): KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr), taken in the order
 * encr_i | integ_i | encr_r | integ_r, where "i" is the SA carrying initiator-to-responder traffic.
 * GCM keys include the salt (RFC 4106 §8.1); NULL encryption yields an empty encryption key.
 */
export function deriveChildKeys(p: ChildKeyParams): ChildKeys {
  const s = sizes(p.encrId, p.encrKeyBits, p.integId);
  const seed = p.sharedSecret ? concat(p.sharedSecret, p.ni, p.nr) : concat(p.ni, p.nr);
  const lengths = [s.encr, s.integ, s.encr, s.integ];
  const keymat = prfPlus(p.prfId, p.skD, seed, 2 * (s.encr + s.integ));
  const [encrI, integI, encrR, integR] = split(keymat, lengths) as [Uint8Array, Uint8Array, Uint8Array, Uint8Array];
  // Both hold copies of secrets (g^ir with PFS; the keys): only the split-out keys remain.
  if (p.sharedSecret) seed.fill(0);
  keymat.fill(0);
  return { encrI, integI, encrR, integR };
}
