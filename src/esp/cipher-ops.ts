/**
 * The ESP cipher seam of the TypeScript datapath: one EspCipherOps per encryption mode of the
 * transform table (src/ike/crypto/transforms.ts EncrMode), chosen once when the SA is made, so
 * seal.ts and open.ts never branch on the algorithm (native/src/esp.h esp_aead_ops_t is the C
 * twin). Packet layout (RFC 4303 §2): SPI ‖ Seq at pktOff, the IV (ivLen), the ciphertext
 * (ctLen: payload, padding, Pad Length, Next Header), the ICV (icvLen).
 *
 * - aead: nonce = salt ‖ IV (RFC 4106 §4), AAD = SPI ‖ Seq or SPI ‖ Seq high ‖ Seq low with ESN
 *   (RFC 4106 §5), IV = the 64-bit sequence number (RFC 4106 §3.1: it never repeats under one
 *   key). Any AEAD node:crypto offers with a 12-octet nonce fits.
 * - cbc: random IV (RFC 3602 §3), then HMAC as for null.
 * - null: no IV; ICV = HMAC(SPI ‖ Seq ‖ IV ‖ ciphertext), the ESN high half appended for the
 *   computation only (RFC 4303 §2.2.1, §3.3.2), truncated (RFC 4868 §2.1.2); verified in constant
 *   time before anything is decrypted (RFC 4303 §3.4.4.1).
 *
 * node:crypto allocates per packet (a Cipher or Hmac object, output Buffers): see seal.ts.
 */
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual, type CipherGCMTypes, type KeyObject } from 'node:crypto';
import type { EncrMode, HashName } from '../ike/crypto/transforms.js';

/** What the ops read and write of an SA (EspSaBase in esp-sa.ts). */
export interface EspCipherState {
  readonly esn: boolean;
  readonly ivLen: number;
  readonly icvLen: number;
  /** The node:crypto cipher name (null for NULL encryption). */
  readonly alg: string | null;
  readonly encKey: KeyObject | null;
  readonly hash: HashName;
  readonly integKey: KeyObject | null;
  /** salt(4) ‖ IV(8) scratch; the salt is written once. */
  readonly nonce: Buffer;
  /** AAD scratch, 8 or 12 octets (with ESN). */
  readonly aad: Buffer;
  /** ESN high half scratch (HMAC). */
  readonly esnHigh: Buffer;
  /** CBC IV scratch (createCipheriv wants its own buffer). */
  readonly iv: Buffer;
}

/** What writeIv needs of an outbound SA. */
export interface EspIvSource {
  readonly seqHigh: number;
  readonly seqLow: number;
  /** 16 octets from the SA's CSPRNG pool at out[off]. */
  randomIv(out: Uint8Array, off: number): void;
}

export interface EspCipherOps {
  /** The explicit IV of the packet being sealed, at out[off] (ivLen octets). */
  writeIv(sa: EspIvSource, out: Uint8Array, off: number): void;
  /** Encrypt the plaintext at the ciphertext offset (trailer included) in place, then write the ICV. */
  seal(sa: EspCipherState, out: Uint8Array, pktOff: number, ctLen: number, seqHi: number): void;
  /**
   * Verify the ICV and decrypt to out[base, base + ctLen) (inPlace: out is pkt and base the
   * ciphertext offset). False, with nothing written, when the ICV does not verify.
   */
  open(sa: EspCipherState, pkt: Uint8Array, pktOff: number, ctLen: number, seqHi: number, out: Uint8Array, base: number, inPlace: boolean): boolean;
}

function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = v >>> 16;
  b[off + 2] = v >>> 8;
  b[off + 3] = v;
}

/** Nonce and AAD of the packet at pkt[pktOff] with this high half of the sequence number. */
function nonceAndAad(sa: EspCipherState, pkt: Uint8Array, pktOff: number, seqHi: number): void {
  for (let i = 0; i < 8; i++) sa.nonce[4 + i] = pkt[pktOff + 8 + i]!;
  for (let i = 0; i < 4; i++) sa.aad[i] = pkt[pktOff + i]!; // SPI
  if (sa.esn) {
    writeU32(sa.aad, 4, seqHi);
    for (let i = 0; i < 4; i++) sa.aad[8 + i] = pkt[pktOff + 4 + i]!;
  } else {
    for (let i = 0; i < 4; i++) sa.aad[4 + i] = pkt[pktOff + 4 + i]!;
  }
}

/** HMAC(pkt[pktOff, icvOff) ‖ ESN high half), untruncated. */
function hmac(sa: EspCipherState, pkt: Uint8Array, pktOff: number, icvOff: number, seqHi: number): Buffer {
  const h = createHmac(sa.hash, sa.integKey!);
  h.update(pkt.subarray(pktOff, icvOff));
  if (sa.esn) {
    writeU32(sa.esnHigh, 0, seqHi);
    h.update(sa.esnHigh);
  }
  return h.digest();
}

function macSeal(sa: EspCipherState, out: Uint8Array, pktOff: number, ctLen: number, seqHi: number): void {
  const icvOff = pktOff + 8 + sa.ivLen + ctLen;
  const d = hmac(sa, out, pktOff, icvOff, seqHi);
  for (let i = 0; i < sa.icvLen; i++) out[icvOff + i] = d[i]!;
}

function macOk(sa: EspCipherState, pkt: Uint8Array, pktOff: number, ctLen: number, seqHi: number): boolean {
  const icvOff = pktOff + 8 + sa.ivLen + ctLen;
  return timingSafeEqual(hmac(sa, pkt, pktOff, icvOff, seqHi).subarray(0, sa.icvLen), pkt.subarray(icvOff, icvOff + sa.icvLen));
}

const AEAD: EspCipherOps = {
  writeIv(sa, out, off) {
    writeU32(out, off, sa.seqHigh);
    writeU32(out, off + 4, sa.seqLow);
  },
  seal(sa, out, pktOff, ctLen, seqHi) {
    const ctOff = pktOff + 8 + sa.ivLen;
    nonceAndAad(sa, out, pktOff, seqHi);
    // Every AEAD node:crypto offers (GCM, ChaCha20-Poly1305) has this call shape.
    const c = createCipheriv(sa.alg as CipherGCMTypes, sa.encKey!, sa.nonce, { authTagLength: sa.icvLen });
    c.setAAD(sa.aad);
    out.set(c.update(out.subarray(ctOff, ctOff + ctLen)), ctOff); // a stream mode: update() returns every octet
    c.final();
    out.set(c.getAuthTag(), ctOff + ctLen);
  },
  open(sa, pkt, pktOff, ctLen, seqHi, out, base) {
    const ctOff = pktOff + 8 + sa.ivLen;
    nonceAndAad(sa, pkt, pktOff, seqHi);
    let plain: Buffer;
    try {
      const d = createDecipheriv(sa.alg as CipherGCMTypes, sa.encKey!, sa.nonce, { authTagLength: sa.icvLen });
      d.setAAD(sa.aad);
      d.setAuthTag(pkt.subarray(ctOff + ctLen, ctOff + ctLen + sa.icvLen));
      plain = d.update(pkt.subarray(ctOff, ctOff + ctLen));
      d.final(); // throws when the tag does not verify; nothing is copied out before that
    } catch {
      return false;
    }
    out.set(plain, base);
    return true;
  },
};

const CBC: EspCipherOps = {
  writeIv(sa, out, off) {
    sa.randomIv(out, off);
  },
  seal(sa, out, pktOff, ctLen, seqHi) {
    const ivOff = pktOff + 8;
    const ctOff = ivOff + sa.ivLen;
    for (let i = 0; i < 16; i++) sa.iv[i] = out[ivOff + i]!;
    const c = createCipheriv(sa.alg!, sa.encKey!, sa.iv);
    c.setAutoPadding(false); // ESP pads itself; the length is a whole number of blocks
    out.set(c.update(out.subarray(ctOff, ctOff + ctLen)), ctOff);
    c.final();
    macSeal(sa, out, pktOff, ctLen, seqHi);
  },
  open(sa, pkt, pktOff, ctLen, seqHi, out, base) {
    if (!macOk(sa, pkt, pktOff, ctLen, seqHi)) return false;
    const ivOff = pktOff + 8;
    for (let i = 0; i < 16; i++) sa.iv[i] = pkt[ivOff + i]!;
    const d = createDecipheriv(sa.alg!, sa.encKey!, sa.iv);
    d.setAutoPadding(false);
    out.set(d.update(pkt.subarray(ivOff + sa.ivLen, ivOff + sa.ivLen + ctLen)), base);
    d.final();
    return true;
  },
};

const NULL: EspCipherOps = {
  writeIv() {},
  seal: macSeal,
  open(sa, pkt, pktOff, ctLen, seqHi, out, base, inPlace) {
    if (!macOk(sa, pkt, pktOff, ctLen, seqHi)) return false;
    const ctOff = pktOff + 8 + sa.ivLen;
    if (!inPlace) out.set(pkt.subarray(ctOff, ctOff + ctLen), base);
    return true;
  },
};

/** The ops of each mode: the one place the TypeScript datapath dispatches on the cipher. */
export const ESP_CIPHER_OPS: Readonly<Record<EncrMode, EspCipherOps>> = { aead: AEAD, cbc: CBC, null: NULL };
