/**
 * One direction of an ESP Security Association as the TypeScript datapath keeps it: the negotiated
 * transforms resolved once from the transform table (control path, may throw), the cipher ops of
 * its mode (src/esp/cipher-ops.ts), the per-SA scratch buffers the hot path reuses, the sequence
 * counter and the counters the status view reads.
 *
 * Suites: every ESP row of src/ike/crypto/transforms.ts ENCR_TRANSFORMS (AEAD ciphers, AES-CBC
 * with HMAC-SHA2, NULL with HMAC-SHA2, RFC 2410; GSA's custom "None/SHA256"). NULL without
 * integrity is refused (RFC 4303 §3.2 forbids NULL encryption with NULL integrity), and so is CBC
 * without integrity: confidentiality-only is only a MAY in RFC 4303 §3.2, RFC 8221 advises against
 * it, and nothing we interoperate with proposes it.
 */
import { createSecretKey, randomFillSync, type KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import { EncrId, IntegId } from '../ike/constants.js';
import { encrTransform, integInfo, type HashName } from '../ike/crypto/transforms.js';
import { ESP_CIPHER_OPS, type EspCipherOps, type EspCipherState, type EspIvSource } from './cipher-ops.js';
import type { EspSaParams } from './params.js';
import { DEFAULT_REPLAY_WINDOW, ReplayWindow } from './replay.js';

/** RFC 4303 §2: SPI (4) and Sequence Number (4) precede the payload. */
export const ESP_HEADER_LEN = 8;

/** Counters of one SA direction (bytes are inner-packet octets, as `ip xfrm` reports them). */
export interface EspCounters {
  bytes: number;
  packets: number;
  replayDrops: number;
  authFailures: number;
  /** Short, truncated, bad padding, sequence number 0, wrong SPI, larger than the output buffer. */
  malformed: number;
  /** Inner packets that did not match the SA's traffic selectors (RFC 4301 §5.2), bumped by the caller. */
  policyDrops: number;
  /** Authentic dummy packets (Next Header 59, RFC 4303 §2.6), dropped silently. */
  dummy: number;
  /** Outbound only: packets refused because the sequence number would cycle (RFC 4303 §3.3.3). */
  seqRefusals: number;
}

function newCounters(): EspCounters {
  return { bytes: 0, packets: 0, replayDrops: 0, authFailures: 0, malformed: 0, policyDrops: 0, dummy: 0, seqRefusals: 0 };
}

/** Transform parameters shared by both directions, resolved from the IANA IDs via transforms.ts. */
abstract class EspSaBase implements EspCipherState {
  readonly spi: number;
  readonly esn: boolean;
  /** The transform's name in the table, e.g. "AES_GCM_16_256" (logs). */
  readonly suite: string;
  /** The cipher work of this SA's mode, chosen once here (seal.ts / open.ts call only these). */
  readonly ops: EspCipherOps;
  readonly alg: string | null;
  /** Cipher key without the salt; null for NULL encryption. */
  readonly encKey: KeyObject | null;
  readonly hash: HashName;
  readonly integKey: KeyObject | null;
  /** Explicit IV octets on the wire: 8 (GCM, RFC 4106 §3.1), 16 (CBC, RFC 3602 §3), 0 (NULL). */
  readonly ivLen: number;
  /** ICV octets: the AEAD tag length, or the truncated HMAC (RFC 4868 §2.1.2). */
  readonly icvLen: number;
  /** Ciphertext alignment: 16 for CBC, 4 otherwise (RFC 4303 §2.4). */
  readonly align: number;
  /** The ciphertext is a whole number of these (CBC: 16, RFC 3602 §2.4; otherwise 1). */
  readonly ctBlock: number;
  readonly counters: EspCounters = newCounters();
  /** AEAD nonce = salt(4) ‖ IV(8) (RFC 4106 §4); the salt is written once, the IV per packet. */
  readonly nonce: Buffer = Buffer.alloc(12);
  /** AEAD AAD (RFC 4106 §5): SPI ‖ Seq (8) or SPI ‖ Seq high ‖ Seq low (12). */
  readonly aad: Buffer;
  /** RFC 4303 §2.2.1: with ESN the high half is appended for the ICV computation only. */
  readonly esnHigh: Buffer = Buffer.alloc(4);
  /** CBC IV of the packet being sealed or opened (createCipheriv wants its own buffer). */
  readonly iv: Buffer = Buffer.alloc(16);

  protected constructor(p: EspSaParams) {
    if (!Number.isInteger(p.spi) || p.spi < 0 || p.spi > 0xffff_ffff) throw new RangeError(`bad SPI ${p.spi}`);
    this.spi = p.spi;
    this.esn = p.esn;
    const e = encrTransform(p.encrId, p.encrId === EncrId.NULL ? 0 : p.encrKeyBits);
    if (!e) throw new RangeError(`unsupported ESP encryption ${p.encrId}/${p.encrKeyBits}`);
    if (p.encrKey.length !== e.keyBytes + e.saltBytes) {
      throw new RangeError(`${e.name} needs ${e.keyBytes + e.saltBytes} key octets, got ${p.encrKey.length}`);
    }
    this.suite = e.name;
    this.ops = ESP_CIPHER_OPS[e.mode];
    this.alg = e.alg;
    this.ivLen = e.ivBytes;
    this.align = e.blockSize;
    this.ctBlock = e.ctBlock;
    this.encKey = e.keyBytes > 0 ? createSecretKey(Buffer.from(p.encrKey.subarray(0, e.keyBytes))) : null;
    if (e.aead) {
      // RFC 4106 §8.1: the last 4 KEYMAT octets of an AEAD key are the salt.
      if (p.integId !== IntegId.NONE) throw new RangeError(`${e.name} takes no integrity transform (RFC 4106 §8)`);
      this.icvLen = e.icvBytes;
      this.hash = 'sha256';
      this.integKey = null;
      this.nonce.set(p.encrKey.subarray(e.keyBytes), 0);
    } else {
      const i = integInfo(p.integId);
      if (!i) throw new RangeError(`${e.name} needs an integrity transform (RFC 4303 §3.2)`);
      if (p.integKey.length !== i.keyBytes) throw new RangeError(`${i.name} needs a ${i.keyBytes}-octet key`);
      this.icvLen = i.icvBytes;
      this.hash = i.hash;
      this.integKey = createSecretKey(Buffer.from(p.integKey));
    }
    this.aad = Buffer.alloc(p.esn ? 12 : 8);
    this.aad.writeUInt32BE(this.spi, 0);
  }

  /**
   * Log/status view, without secrets: the nonce scratch holds the AEAD salt, which is key
   * material, so neither JSON nor util.inspect may show the scratch buffers or keys.
   */
  toJSON(): Record<string, unknown> {
    return { spi: this.spi, suite: this.suite, esn: this.esn, icvLen: this.icvLen, counters: { ...this.counters } };
  }

  [inspect.custom](): Record<string, unknown> {
    return this.toJSON();
  }

  /** Octets ESP adds around an inner packet of `innerLen` octets (header, IV, trailer, padding, ICV). */
  overhead(innerLen: number): number {
    return ESP_HEADER_LEN + this.ivLen + padTo(innerLen + 2, this.align) - innerLen + this.icvLen;
  }
}

/** Round n up to a multiple of `align` (a power of two). */
export function padTo(n: number, align: number): number {
  return (n + align - 1) & ~(align - 1);
}

/** Sent sequence numbers past this raise `rekeyNeeded` (2^32 - 2^24 without ESN; 2^63 with ESN). */
const SOFT_LIMIT_LOW = 0xffff_ffff - 0xff_ffff;
const SOFT_LIMIT_ESN_HIGH = 0x8000_0000;
/** CBC IVs come from a pool filled by the CSPRNG (RFC 3602 §3: IVs must be unpredictable), 256 at a time. */
const IV_POOL = 4096;

export class OutboundEspSa extends EspSaBase implements EspIvSource {
  /**
   * The last sequence number sent, as two u32 halves (with ESN the counter is 64 bits, beyond the
   * 2^53 a JS number holds exactly). Starts at 0, so the first packet carries 1 (RFC 4303 §3.3.3).
   */
  private seqHi = 0;
  private seqLo = 0;
  /** Raised once the counter passes the soft limit: the IKE side should rekey this Child SA. */
  rekeyNeeded = false;
  /** CSPRNG pool the CBC IVs come from. */
  private readonly ivPool: Buffer = Buffer.alloc(IV_POOL);
  private ivPoolPos = IV_POOL;
  private testIv: Uint8Array | null = null;

  constructor(p: EspSaParams) {
    super(p);
  }

  get seqHigh(): number { return this.seqHi; }
  get seqLow(): number { return this.seqLo; }

  /**
   * Advance to the next sequence number. False (counter unchanged) when it would cycle: without ESN
   * 2^32 - 1 is the last one, with ESN 2^64 - 1 (RFC 4303 §3.3.3: "MUST NOT send a packet on an SA
   * if doing so would cause the sequence number to cycle").
   */
  nextSeq(): boolean {
    if (this.seqLo === 0xffff_ffff) {
      if (!this.esn || this.seqHi === 0xffff_ffff) {
        this.rekeyNeeded = true;
        return false;
      }
      this.seqHi += 1;
      this.seqLo = 0;
    } else {
      this.seqLo += 1;
    }
    if (this.esn ? this.seqHi >= SOFT_LIMIT_ESN_HIGH : this.seqLo >= SOFT_LIMIT_LOW) this.rekeyNeeded = true;
    return true;
  }

  /** The IV of the packet being sealed (ivLen octets), written at out[off]: the mode's, or the test hook's. */
  writeIv(out: Uint8Array, off: number): void {
    if (this.testIv !== null) {
      out.set(this.testIv, off);
      this.testIv = null;
      return;
    }
    this.ops.writeIv(this, out, off);
  }

  /** 16 unpredictable octets (RFC 3602 §3) from the SA's CSPRNG pool, at out[off]. */
  randomIv(out: Uint8Array, off: number): void {
    if (this.ivPoolPos + 16 > IV_POOL) {
      randomFillSync(this.ivPool);
      this.ivPoolPos = 0;
    }
    this.ivPool.copy(out, off, this.ivPoolPos, this.ivPoolPos + 16);
    this.ivPoolPos += 16;
  }

  /** Test hook: make the next sequence number hi:lo + 1 (the last one "sent" becomes hi:lo). */
  setSeqForTest(hi: number, lo: number): void {
    if (!this.esn && hi !== 0) throw new RangeError('without ESN the high half is 0');
    this.seqHi = hi >>> 0;
    this.seqLo = lo >>> 0;
    this.rekeyNeeded = false;
  }

  /** Test hook for known-answer tests: the next sealed packet uses this IV instead of the generator's. */
  setNextIvForTest(iv: Uint8Array): void {
    if (iv.length !== this.ivLen) throw new RangeError(`IV must be ${this.ivLen} octets`);
    this.testIv = Uint8Array.from(iv);
  }
}

export interface InboundOptions {
  /** Anti-replay window size, a multiple of 32, at least 128 (default 128). */
  replayWindow?: number;
}

/** The success result openEsp returns; one per SA, overwritten by the next openEsp on that SA. */
export interface OpenOk {
  readonly ok: true;
  /** Inner packet length (payload without padding, Pad Length and Next Header). */
  length: number;
  nextHeader: number;
  /** Where the inner packet starts in the output buffer. */
  offset: number;
}

export class InboundEspSa extends EspSaBase {
  readonly replay: ReplayWindow;
  /** Reused success result (no allocation per packet). */
  readonly result: OpenOk = { ok: true, length: 0, nextHeader: 0, offset: 0 };

  constructor(p: EspSaParams, opts: InboundOptions = {}) {
    super(p);
    this.replay = new ReplayWindow(opts.replayWindow ?? DEFAULT_REPLAY_WINDOW, p.esn);
  }
}

function writeU32(b: Uint8Array, off: number, v: number): void {
  b[off] = v >>> 24;
  b[off + 1] = v >>> 16;
  b[off + 2] = v >>> 8;
  b[off + 3] = v;
}
