/**
 * Protection of the Encrypted (SK) and Encrypted Fragment (SKF) payload bodies: RFC 7296 §3.14
 * (AES-CBC + HMAC-SHA2, RFC 3602 / RFC 4868) and RFC 5282 (AEAD ciphers: AES-GCM, and
 * ChaCha20-Poly1305 as RFC 7634 §3 applies it). Which one is
 * the transform table's mode (transforms.ts EncrMode); the AEAD path serves every AEAD row. The body is
 * IV ‖ ciphertext ‖ ICV; the caller supplies `aad`, the IKE header plus the SK/SKF header with
 * final lengths. open() faces attacker-controlled bytes: it returns null on any failure and never
 * throws.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { encrTransform, integInfo, type EncrTransform, type IntegInfo } from './transforms.js';
import type { SkCipher } from './types.js';

export interface SkCipherParams {
  encrId: number;
  encrKeyBits: number;
  integId: number;
  /** SK_ei or SK_er; for GCM the last 4 octets are the salt (RFC 5282 §7.1). */
  encrKey: Uint8Array;
  /** SK_ai or SK_ar; empty for AEAD. */
  integKey: Uint8Array;
  /** IV source, injectable for known-answer tests. Defaults to the CSPRNG. */
  randomIv?: (n: number) => Uint8Array;
}

type GcmAlg = 'aes-128-gcm' | 'aes-192-gcm' | 'aes-256-gcm';
type CbcAlg = 'aes-128-cbc' | 'aes-192-cbc' | 'aes-256-cbc';

function gcmAlg(key: Uint8Array): GcmAlg {
  if (key.length === 16) return 'aes-128-gcm';
  if (key.length === 24) return 'aes-192-gcm';
  if (key.length === 32) return 'aes-256-gcm';
  throw new RangeError(`AES key of ${key.length} octets`);
}

function cbcAlg(key: Uint8Array): CbcAlg {
  if (key.length === 16) return 'aes-128-cbc';
  if (key.length === 24) return 'aes-192-cbc';
  if (key.length === 32) return 'aes-256-cbc';
  throw new RangeError(`AES key of ${key.length} octets`);
}

/**
 * An AEAD cipher as RFC 4106 §4 / RFC 5282 §4 use it: nonce = salt(4) ‖ IV(8), ICV = the first
 * `icvLength` octets of the tag. `alg` is any node:crypto AEAD with a 12-octet nonce (they share
 * GCM's call shape). Returns ciphertext ‖ ICV.
 */
export function aeadSeal(
  alg: string, key: Uint8Array, salt: Uint8Array, iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, icvLength: number,
): Uint8Array {
  if (salt.length !== 4 || iv.length !== 8) throw new RangeError('an AEAD nonce needs a 4-octet salt and an 8-octet IV');
  const c = createCipheriv(alg as GcmAlg, key, Buffer.concat([salt, iv]), { authTagLength: icvLength });
  c.setAAD(aad);
  return new Uint8Array(Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()]));
}

/** Inverse of aeadSeal; null when the ICV does not verify or the input is too short. */
export function aeadOpen(
  alg: string, key: Uint8Array, salt: Uint8Array, iv: Uint8Array, aad: Uint8Array, sealed: Uint8Array, icvLength: number,
): Uint8Array | null {
  if (salt.length !== 4 || iv.length !== 8 || sealed.length < icvLength) return null;
  try {
    const d = createDecipheriv(alg as GcmAlg, key, Buffer.concat([salt, iv]), { authTagLength: icvLength });
    d.setAAD(aad);
    d.setAuthTag(sealed.subarray(sealed.length - icvLength));
    const out = Buffer.concat([d.update(sealed.subarray(0, sealed.length - icvLength)), d.final()]);
    return new Uint8Array(out);
  } catch {
    return null; // final() throws when the tag does not verify
  }
}

/** AES-GCM (RFC 4106 §4 / RFC 5282 §4): aeadSeal with the AES key size's GCM. Exported for KATs. */
export function aesGcmSeal(
  key: Uint8Array, salt: Uint8Array, iv: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, icvLength: number,
): Uint8Array {
  if (salt.length !== 4 || iv.length !== 8) throw new RangeError('GCM needs a 4-octet salt and an 8-octet IV');
  return aeadSeal(gcmAlg(key), key, salt, iv, aad, plaintext, icvLength);
}

/** Inverse of aesGcmSeal; null when the ICV does not verify or the input is too short. */
export function aesGcmOpen(
  key: Uint8Array, salt: Uint8Array, iv: Uint8Array, aad: Uint8Array, sealed: Uint8Array, icvLength: number,
): Uint8Array | null {
  if (salt.length !== 4 || iv.length !== 8 || sealed.length < icvLength) return null;
  return aeadOpen(gcmAlg(key), key, salt, iv, aad, sealed, icvLength);
}

/** AES-CBC without padding (RFC 3602 §3; the SK payload pads itself). Exported for KATs. */
export function aesCbcEncrypt(key: Uint8Array, iv: Uint8Array, plaintext: Uint8Array): Uint8Array {
  const c = createCipheriv(cbcAlg(key), key, iv);
  c.setAutoPadding(false);
  return new Uint8Array(Buffer.concat([c.update(plaintext), c.final()]));
}

export function aesCbcDecrypt(key: Uint8Array, iv: Uint8Array, ciphertext: Uint8Array): Uint8Array {
  const d = createDecipheriv(cbcAlg(key), key, iv);
  d.setAutoPadding(false);
  return new Uint8Array(Buffer.concat([d.update(ciphertext), d.final()]));
}

/**
 * RFC 7296 §3.14: payloads ‖ padding ‖ Pad Length. The padding content is unspecified ("MAY
 * contain any value"); we send zeros. `block` is the cipher block (16 for CBC, 1 for GCM, which
 * RFC 5282 §3 lets us leave unpadded).
 */
function pad(plaintext: Uint8Array, block: number): Uint8Array {
  const padLen = (block - ((plaintext.length + 1) % block)) % block;
  const out = new Uint8Array(plaintext.length + padLen + 1);
  out.set(plaintext);
  out[out.length - 1] = padLen;
  return out;
}

/** Strips padding; null if Pad Length claims more octets than precede it (hostile input). */
function unpad(padded: Uint8Array): Uint8Array | null {
  if (padded.length < 1) return null;
  const padLen = padded[padded.length - 1] ?? 0;
  if (padLen + 1 > padded.length) return null;
  return padded.slice(0, padded.length - 1 - padLen);
}

/**
 * Integrity checksum of an INTEG transform: HMAC-SHA2 truncated to half its output (RFC 4868
 * §2.1.2), e.g. 128 of 256 bits for AUTH_HMAC_SHA2_256_128. Exported for known-answer tests.
 */
export function integIcv(integId: number, key: Uint8Array, ...data: Uint8Array[]): Uint8Array {
  const i = integInfo(integId);
  if (!i) throw new RangeError(`unsupported integrity transform ${integId}`);
  const h = createHmac(i.hash, key);
  for (const d of data) h.update(d);
  return new Uint8Array(h.digest().subarray(0, i.icvBytes));
}

function defaultIv(n: number): Uint8Array {
  return new Uint8Array(randomBytes(n));
}

export function createSkCipher(p: SkCipherParams): SkCipher {
  const e = encrTransform(p.encrId, p.encrKeyBits);
  if (!e) throw new RangeError(`unsupported encryption transform ${p.encrId}/${p.encrKeyBits}`);
  // RFC 7296 §3.3.2: ENCR_NULL is for ESP only; an SK payload must be encrypted.
  if (e.keyBytes === 0) throw new RangeError('ENCR_NULL cannot protect IKE messages');
  if (p.encrKey.length !== e.keyBytes + e.saltBytes) {
    throw new RangeError(`${e.name} needs a ${e.keyBytes + e.saltBytes}-octet key, got ${p.encrKey.length}`);
  }
  const randomIv = p.randomIv ?? defaultIv;
  if (e.mode === 'aead') {
    // RFC 5282 §8: with an AEAD cipher the integrity transform is NONE (or absent).
    if (p.integId !== 0 || p.integKey.length !== 0) throw new RangeError('AEAD cipher with an integrity transform');
    return aeadCipher(e, p.encrKey, randomIv);
  }
  const i = integInfo(p.integId);
  if (!i) throw new RangeError(`unsupported integrity transform ${p.integId}`);
  if (p.integKey.length !== i.keyBytes) throw new RangeError(`${i.name} needs a ${i.keyBytes}-octet key`);
  return cbcCipher(e, i, p.encrKey, p.integKey, randomIv);
}

function aeadCipher(e: EncrTransform, keyAndSalt: Uint8Array, randomIv: (n: number) => Uint8Array): SkCipher {
  const alg = e.alg!;
  // Views, not copies: when the IKE SA's SK_e is zeroed (IkeSa.wipe) no copy of it stays here.
  const key = keyAndSalt.subarray(0, e.keyBytes);
  const salt = keyAndSalt.subarray(e.keyBytes);
  const ivLength = e.ivBytes;
  const icvLength = e.icvBytes;
  return {
    ivLength,
    icvLength,
    sealedLength: (n) => ivLength + n + 1 + icvLength,
    seal(aad, plaintext) {
      // RFC 5282 §3.1: the IV must never repeat under one key. 64 random bits keep the collision
      // risk negligible for the few thousand messages an IKE SA carries, and, unlike a counter,
      // stay safe if the SA state is ever rebuilt with the same key.
      const iv = randomIv(ivLength);
      if (iv.length !== ivLength) throw new RangeError(`IV source returned ${iv.length} octets`);
      const sealed = aeadSeal(alg, key, salt, iv, aad, pad(plaintext, 1), icvLength);
      const out = new Uint8Array(ivLength + sealed.length);
      out.set(iv);
      out.set(sealed, ivLength);
      return out;
    },
    open(aad, body) {
      // IV, at least the Pad Length octet, and the ICV.
      if (body.length < ivLength + 1 + icvLength) return null;
      const iv = body.subarray(0, ivLength);
      const padded = aeadOpen(alg, key, salt, iv, aad, body.subarray(ivLength), icvLength);
      return padded ? unpad(padded) : null;
    },
  };
}

function cbcCipher(
  e: EncrTransform, i: IntegInfo, key: Uint8Array, integKey: Uint8Array, randomIv: (n: number) => Uint8Array,
): SkCipher {
  const ivLength = e.ivBytes;
  const icvLength = i.icvBytes;
  const block = e.blockSize;
  // RFC 7296 §3.14: the ICV covers the message from the IKE header through the (encrypted) Pad
  // Length, i.e. aad ‖ IV ‖ ciphertext.
  const mac = (aad: Uint8Array, ivAndCt: Uint8Array): Uint8Array => integIcv(i.id, integKey, aad, ivAndCt);
  return {
    ivLength,
    icvLength,
    sealedLength: (n) => ivLength + (Math.floor((n + 1 + block - 1) / block) * block) + icvLength,
    seal(aad, plaintext) {
      // RFC 3602 §2.4 / RFC 7296 §3.14: a fresh, unpredictable IV for every message.
      const iv = randomIv(ivLength);
      if (iv.length !== ivLength) throw new RangeError(`IV source returned ${iv.length} octets`);
      const ct = aesCbcEncrypt(key, iv, pad(plaintext, block));
      const out = new Uint8Array(ivLength + ct.length + icvLength);
      out.set(iv);
      out.set(ct, ivLength);
      out.set(mac(aad, out.subarray(0, ivLength + ct.length)), ivLength + ct.length);
      return out;
    },
    open(aad, body) {
      const ctLength = body.length - ivLength - icvLength;
      if (ctLength < block || ctLength % block !== 0) return null;
      const signed = body.subarray(0, ivLength + ctLength);
      // Verify before decrypting (encrypt-then-MAC), in constant time, so a forger learns nothing
      // from padding errors or timing.
      const expected = mac(aad, signed);
      if (!timingSafeEqual(expected, body.subarray(ivLength + ctLength))) return null;
      try {
        return unpad(aesCbcDecrypt(key, body.subarray(0, ivLength), body.subarray(ivLength, ivLength + ctLength)));
      } catch {
        return null;
      }
    },
  };
}
