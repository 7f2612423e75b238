/**
 * Transform registry: what each negotiated transform ID means in octets. Everything that sizes a
 * key, an IV or an ICV asks here, so the numbers live in exactly one place.
 *
 * Sources: RFC 7296 §3.3.2 (transform IDs), RFC 3602 (AES-CBC), RFC 4106 §8.1 / RFC 5282 §7.1
 * (AES-GCM keys carry a 4-octet salt), RFC 4868 §2 (HMAC-SHA2 PRF and integrity), RFC 3526 §3,
 * RFC 5114 §2.3, RFC 5903 §7 and RFC 8031 §2 (key-exchange data sizes).
 */
import { DhId, EncrId, IntegId, PrfId } from '../constants.js';

export type HashName = 'sha256' | 'sha384' | 'sha512';

export interface EncrInfo {
  id: number;
  keyBits: number;
  /** Status/log name, e.g. "AES_GCM_16_256", "AES_CBC_128", "NULL". */
  name: string;
  aead: boolean;
  /** Cipher key octets, without the salt. */
  keyBytes: number;
  /** RFC 4106 §8.1 / RFC 5282 §7.1: 4 octets of salt follow the GCM key in KEYMAT; 0 otherwise. */
  saltBytes: number;
  /** Explicit IV sent on the wire: 8 for GCM (RFC 4106 §3.1), 16 for CBC (RFC 3602 §3), 0 for NULL. */
  ivBytes: number;
  /** AEAD tag length: 16/12/8 for AES_GCM_16/12/8; 0 otherwise (the INTEG transform supplies it). */
  icvBytes: number;
  /**
   * Alignment unit for padding: the AES block (16) for CBC; 4 for GCM and NULL, which is ESP's
   * 4-octet alignment (RFC 4303 §2.4). The IKE SK payload needs no padding for GCM (RFC 5282 §3),
   * so the SK code uses 1 there rather than this value.
   */
  blockSize: number;
}

export interface IntegInfo {
  id: number;
  name: string;
  hash: HashName;
  /** RFC 4868 §2.1.1: the key is exactly the hash output size. */
  keyBytes: number;
  /** RFC 4868 §2.1.2: the HMAC output truncated to half its length. */
  icvBytes: number;
}

export interface PrfInfo {
  id: number;
  name: string;
  hash: HashName;
  /** RFC 7296 §2.13 "preferred key length": the size SK_d, SK_pi and SK_pr get (RFC 4868 §2.1.1). */
  keyBytes: number;
  outBytes: number;
}

export interface DhInfo {
  id: number;
  name: string;
  /** Length of the KE payload's Key Exchange Data (and, for MODP, of g^ir). */
  publicBytes: number;
}

/** How a transform protects data; selects the ESP ops (src/esp/cipher-ops.ts) and the SK cipher. */
export type EncrMode =
  /** AEAD through node:crypto / OpenSSL: nonce = salt ‖ IV, ICV = the tag (RFC 4106, RFC 5282). */
  | 'aead'
  /** AES-CBC, with an INTEG transform for the ICV (RFC 3602, RFC 4868). */
  | 'cbc'
  /** No encryption, INTEG only (RFC 2410; ESP only). */
  | 'null';

/** One row of the encryption table: EncrInfo plus what the implementations need. */
export interface EncrTransform extends EncrInfo {
  mode: EncrMode;
  /** The node:crypto (OpenSSL) cipher name; null for NULL. */
  alg: string | null;
  /** The ciphertext is a whole number of these (the cipher block for CBC, 1 otherwise). */
  ctBlock: number;
}

function aesCbc(bits: number): EncrTransform {
  return {
    id: EncrId.AES_CBC, keyBits: bits, name: `AES_CBC_${bits}`, aead: false,
    keyBytes: bits / 8, saltBytes: 0, ivBytes: 16, icvBytes: 0, blockSize: 16, mode: 'cbc', alg: `aes-${bits}-cbc`, ctBlock: 16,
  };
}

/** RFC 4106 §3.1, §8.1 / RFC 5282 §7.1: 8-octet IV, 4 octets of salt after the key, 4-octet alignment. */
function aesGcm(id: number, icv: number, bits: number): EncrTransform {
  return {
    id, keyBits: bits, name: `AES_GCM_${icv}_${bits}`, aead: true,
    keyBytes: bits / 8, saltBytes: 4, ivBytes: 8, icvBytes: icv, blockSize: 4, mode: 'aead', alg: `aes-${bits}-gcm`, ctBlock: 1,
  };
}

const AES_KEY_BITS = [128, 192, 256] as const;

/**
 * Every encryption transform we implement, one row per (transform ID, Key Length attribute). A
 * transform without a Key Length attribute (NULL) has keyBits 0. This table is the one list:
 * ESP (both datapaths; the native addon's own table, native/src/esp_ciphers.c, is checked against
 * it at load by src/native/esp-native.ts), IKE's SK payload and key sizes all read it.
 */
export const ENCR_TRANSFORMS: readonly EncrTransform[] = [
  // RFC 2410: no key, no IV, no ICV; ESP still aligns to 4 octets.
  {
    id: EncrId.NULL, keyBits: 0, name: 'NULL', aead: false,
    keyBytes: 0, saltBytes: 0, ivBytes: 0, icvBytes: 0, blockSize: 4, mode: 'null', alg: null, ctBlock: 1,
  },
  ...AES_KEY_BITS.map(aesCbc),
  ...([[EncrId.AES_GCM_8, 8], [EncrId.AES_GCM_12, 12], [EncrId.AES_GCM_16, 16]] as const).flatMap(([id, icv]) =>
    AES_KEY_BITS.map((bits) => aesGcm(id, icv, bits))),
  // RFC 7634 §2 (ESP) and §3 (IKE, as RFC 5282): no Key Length attribute; KEYMAT is the 32-octet
  // key and a 4-octet salt, nonce = salt ‖ 8-octet IV, 16-octet tag, ESP's 4-octet alignment.
  {
    id: EncrId.CHACHA20_POLY1305, keyBits: 0, name: 'CHACHA20_POLY1305', aead: true,
    keyBytes: 32, saltBytes: 4, ivBytes: 8, icvBytes: 16, blockSize: 4, mode: 'aead', alg: 'chacha20-poly1305', ctBlock: 1,
  },
];

/** The table row for a transform ID and its Key Length attribute (bits; 0 when absent), or null. */
export function encrTransform(id: number, keyBits: number): EncrTransform | null {
  return ENCR_TRANSFORMS.find((t) => t.id === id && t.keyBits === keyBits) ?? null;
}

/**
 * Encryption transform details for a transform ID and its Key Length attribute (in bits), or null
 * when we do not implement that combination. AES requires a key length (RFC 7296 §3.3.5); NULL
 * has none, which callers express as 0.
 */
export function encrInfo(id: number, keyBits: number): EncrInfo | null {
  const t = encrTransform(id, keyBits);
  if (!t) return null;
  const { mode: _m, alg: _a, ctBlock: _b, ...info } = t;
  return info;
}

function integ(id: number, name: string, hash: HashName, keyBytes: number, icvBytes: number): [number, IntegInfo] {
  return [id, { id, name, hash, keyBytes, icvBytes }];
}

/** Every integrity transform we implement (also checked against native/src/esp_ciphers.c). */
export const INTEG_TRANSFORMS: ReadonlyMap<number, IntegInfo> = new Map([
  integ(IntegId.HMAC_SHA2_256_128, 'HMAC_SHA2_256_128', 'sha256', 32, 16),
  integ(IntegId.HMAC_SHA2_384_192, 'HMAC_SHA2_384_192', 'sha384', 48, 24),
  integ(IntegId.HMAC_SHA2_512_256, 'HMAC_SHA2_512_256', 'sha512', 64, 32),
]);

/** Integrity transform details, or null (including for NONE, which is not an algorithm). */
export function integInfo(id: number): IntegInfo | null {
  const info = INTEG_TRANSFORMS.get(id);
  return info ? { ...info } : null;
}

function prfEntry(id: number, name: string, hash: HashName, bytes: number): [number, PrfInfo] {
  return [id, { id, name, hash, keyBytes: bytes, outBytes: bytes }];
}

const PRF: ReadonlyMap<number, PrfInfo> = new Map([
  prfEntry(PrfId.HMAC_SHA2_256, 'PRF_HMAC_SHA2_256', 'sha256', 32),
  prfEntry(PrfId.HMAC_SHA2_384, 'PRF_HMAC_SHA2_384', 'sha384', 48),
  prfEntry(PrfId.HMAC_SHA2_512, 'PRF_HMAC_SHA2_512', 'sha512', 64),
]);

export function prfInfo(id: number): PrfInfo | null {
  const info = PRF.get(id);
  return info ? { ...info } : null;
}

function dh(id: number, name: string, publicBytes: number): [number, DhInfo] {
  return [id, { id, name, publicBytes }];
}

const DH: ReadonlyMap<number, DhInfo> = new Map([
  // RFC 7296 §3.4: MODP values are left-padded to the modulus length, 2048 bits.
  dh(DhId.MODP_2048, 'MODP_2048', 256),
  dh(DhId.MODP_2048_256, 'MODP_2048_256', 256),
  // RFC 5903 §7: x ‖ y, each the size of the field prime (32/48/66 octets).
  dh(DhId.ECP_256, 'ECP_256', 64),
  dh(DhId.ECP_384, 'ECP_384', 96),
  dh(DhId.ECP_521, 'ECP_521', 132),
  // RFC 8031 §2: the 32-octet u-coordinate.
  dh(DhId.CURVE_25519, 'CURVE_25519', 32),
]);

export function dhInfo(id: number): DhInfo | null {
  const info = DH.get(id);
  return info ? { ...info } : null;
}
