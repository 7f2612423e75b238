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

const AES_KEY_BITS: readonly number[] = [128, 192, 256];

/** ICV lengths of the three GCM transform IDs (RFC 4106 §8, RFC 5282 §7). */
const GCM_ICV: ReadonlyMap<number, number> = new Map([
  [EncrId.AES_GCM_8, 8],
  [EncrId.AES_GCM_12, 12],
  [EncrId.AES_GCM_16, 16],
]);

/**
 * Encryption transform details for a transform ID and its Key Length attribute (in bits), or null
 * when we do not implement that combination. AES requires a key length (RFC 7296 §3.3.5); NULL
 * has none, which callers express as 0.
 */
export function encrInfo(id: number, keyBits: number): EncrInfo | null {
  if (id === EncrId.NULL) {
    if (keyBits !== 0) return null;
    // RFC 2410: no key, no IV, no ICV; ESP still aligns to 4 octets.
    return {
      id, keyBits: 0, name: 'NULL', aead: false,
      keyBytes: 0, saltBytes: 0, ivBytes: 0, icvBytes: 0, blockSize: 4,
    };
  }
  if (!AES_KEY_BITS.includes(keyBits)) return null;
  const keyBytes = keyBits / 8;
  if (id === EncrId.AES_CBC) {
    return {
      id, keyBits, name: `AES_CBC_${keyBits}`, aead: false,
      keyBytes, saltBytes: 0, ivBytes: 16, icvBytes: 0, blockSize: 16,
    };
  }
  const icv = GCM_ICV.get(id);
  if (icv === undefined) return null;
  return {
    id, keyBits, name: `AES_GCM_${icv}_${keyBits}`, aead: true,
    keyBytes, saltBytes: 4, ivBytes: 8, icvBytes: icv, blockSize: 4,
  };
}

function integ(id: number, name: string, hash: HashName, keyBytes: number, icvBytes: number): [number, IntegInfo] {
  return [id, { id, name, hash, keyBytes, icvBytes }];
}

const INTEG: ReadonlyMap<number, IntegInfo> = new Map([
  integ(IntegId.HMAC_SHA2_256_128, 'HMAC_SHA2_256_128', 'sha256', 32, 16),
  integ(IntegId.HMAC_SHA2_384_192, 'HMAC_SHA2_384_192', 'sha384', 48, 24),
  integ(IntegId.HMAC_SHA2_512_256, 'HMAC_SHA2_512_256', 'sha512', 64, 32),
]);

/** Integrity transform details, or null (including for NONE, which is not an algorithm). */
export function integInfo(id: number): IntegInfo | null {
  const info = INTEG.get(id);
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
