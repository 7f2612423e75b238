/**
 * Inbound ESP (RFC 4303 §3.4) for one SA. The packet is attacker-controlled: every length is
 * checked before a byte is read, nothing throws, and each failure bumps one SA counter.
 *
 * Order (RFC 4303 §3.4.2–§3.4.4): length sanity → SPI → anti-replay pre-check (cheap, before any
 * crypto) → ICV / AEAD tag verification (constant time: OpenSSL's GCM tag check, timingSafeEqual
 * for HMAC) → decryption → padding check (RFC 4303 §2.4: receivers SHOULD check the 1, 2, 3, …
 * pattern; we do) → only then the replay window moves (§3.4.3), so forged packets never move it.
 * Authentic dummy packets (Next Header 59, §2.6) move the window and come back as 'dummy' so the
 * caller drops them silently.
 *
 * Output: the decrypted payload goes to `out[0, …)`, or, when `out === pkt`, in place over the
 * ciphertext. The ok result is the SA's reused object (no allocation per packet); read it before
 * the next openEsp on the same SA. Failure results are shared frozen constants.
 * node:crypto still allocates per packet (Decipher/Hmac object, output Buffers, views): see seal.ts.
 */
import { ESP_HEADER_LEN, type InboundEspSa, type OpenOk } from './esp-sa.js';

export type { OpenOk } from './esp-sa.js';

export type OpenFailReason =
  /** Too short for the suite's header, IV, trailer and ICV, or CBC ciphertext not whole blocks. */
  | 'short'
  /** The SPI is not this SA's (the caller routed it with peekSpi). */
  | 'spi'
  /** Sequence number 0 without ESN: never sent (RFC 4303 §3.3.3, the counter starts at 1). */
  | 'seq-zero'
  /** Too old for the window, or already received (RFC 4303 §3.4.3). */
  | 'replay'
  /** ICV / AEAD tag did not verify (RFC 4303 §3.4.4). */
  | 'auth'
  /** Pad Length larger than the payload, or padding not 1, 2, 3, … (RFC 4303 §2.4). */
  | 'padding'
  /** Authentic dummy packet, Next Header 59 (RFC 4303 §2.6): drop silently. */
  | 'dummy'
  /** The plaintext would not fit the caller's output buffer. */
  | 'too-big';

export interface OpenFail {
  readonly ok: false;
  readonly reason: OpenFailReason;
}

export type OpenResult = OpenOk | OpenFail;

const fail = (reason: OpenFailReason): OpenFail => Object.freeze({ ok: false as const, reason });
const SHORT = fail('short');
const SPI = fail('spi');
const SEQ_ZERO = fail('seq-zero');
const REPLAY = fail('replay');
const AUTH = fail('auth');
const PADDING = fail('padding');
const DUMMY = fail('dummy');
const TOO_BIG = fail('too-big');

/** RFC 4303 §2.6: "No Next Header" marks a dummy (traffic flow confidentiality) packet. */
export const NEXT_HEADER_DUMMY = 59;

/** The SPI of the ESP packet at pkt[off], or -1 when fewer than 4 octets remain. */
export function peekSpi(pkt: Uint8Array, off: number): number {
  if (!Number.isInteger(off) || off < 0 || off + 4 > pkt.length) return -1;
  return readU32(pkt, off);
}

export function openEsp(sa: InboundEspSa, pkt: Uint8Array, pktOffset: number, pktLen: number, out: Uint8Array): OpenResult {
  const c = sa.counters;
  if (!Number.isInteger(pktOffset) || !Number.isInteger(pktLen) || pktOffset < 0 || pktLen < 0
    || pktOffset + pktLen > pkt.length) {
    c.malformed += 1;
    return SHORT;
  }
  const ivOff = pktOffset + ESP_HEADER_LEN;
  const ctOff = ivOff + sa.ivLen;
  const ctLen = pktLen - ESP_HEADER_LEN - sa.ivLen - sa.icvLen;
  // The trailer alone is 2 octets; block modes need whole blocks (CBC: RFC 3602 §2.4).
  if (ctLen < 2 || (ctLen & (sa.ctBlock - 1)) !== 0) {
    c.malformed += 1;
    return SHORT;
  }
  if (readU32(pkt, pktOffset) !== sa.spi) {
    c.malformed += 1;
    return SPI;
  }
  const inPlace = out === pkt;
  const base = inPlace ? ctOff : 0;
  if (!inPlace && out.length < ctLen) {
    c.malformed += 1;
    return TOO_BIG;
  }
  const seqLow = readU32(pkt, pktOffset + 4);
  if (!sa.esn && seqLow === 0) {
    c.malformed += 1;
    return SEQ_ZERO;
  }
  const seqHigh = sa.replay.check(seqLow);
  if (seqHigh < 0) {
    c.replayDrops += 1;
    return REPLAY;
  }

  // cipher-ops.ts: the ICV / AEAD tag first (constant time), then decryption; nothing reaches
  // `out` from a packet that does not verify.
  if (!sa.ops.open(sa, pkt, pktOffset, ctLen, seqHigh, out, base, inPlace)) {
    c.authFailures += 1;
    return AUTH;
  }

  // RFC 4303 §2.4: Pad Length and Next Header end the plaintext; padding is 1, 2, 3, …
  const padLen = out[base + ctLen - 2]!;
  const nextHeader = out[base + ctLen - 1]!;
  if (padLen > ctLen - 2) {
    c.malformed += 1;
    return PADDING;
  }
  const innerLen = ctLen - 2 - padLen;
  for (let i = 0; i < padLen; i++) {
    if (out[base + innerLen + i] !== i + 1) {
      c.malformed += 1;
      return PADDING;
    }
  }
  if (!sa.replay.accept(seqHigh, seqLow)) {
    c.replayDrops += 1;
    return REPLAY;
  }
  if (nextHeader === NEXT_HEADER_DUMMY) {
    c.dummy += 1;
    return DUMMY;
  }
  c.packets += 1;
  c.bytes += innerLen;
  const r = sa.result;
  r.length = innerLen;
  r.nextHeader = nextHeader;
  r.offset = base;
  return sa.result;
}

function readU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}
