/**
 * Differential test: the TypeScript reference ESP path (src/esp/) and the
 * native one (native/src/esp.c through src/native/esp-native.ts) must agree byte for byte for the
 * same SA state, move the same counters, and each must open what the other sealed.
 *
 * Corpus: every suite of src/esp/esp-sa.ts (AES-GCM-8/12/16 at 128/192/256 bits, ChaCha20-Poly1305,
 * AES-CBC and NULL with HMAC-SHA2-256/384/512), with and without ESN; payload sizes 0, 1, odd, block edges, the MTU
 * and jumbo; sequence numbers around 2^32 (ESN carry) and at exhaustion (2^32 - 1 without ESN,
 * 2^64 - 1 with it); replay-window edges (duplicate, too old, T - W, T - W + 1, far ahead, window
 * slides across the ring and across the ESN high-half boundary); hostile packets (truncated,
 * flipped bits, wrong SPI, sequence number 0, authentic but badly padded, dummy packets).
 *
 * Needs the built addon. Without it every test FAILS with the reason (CI=true or not): a
 * differential test that silently skips proves nothing.
 */
import { createCipheriv, createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { EncrId, IntegId } from '../../../src/ike/constants.js';
import { InboundEspSa, OutboundEspSa } from '../../../src/esp/esp-sa.js';
import { openEsp, type OpenFailReason } from '../../../src/esp/open.js';
import { sealEsp } from '../../../src/esp/seal.js';
import type { EspSaParams } from '../../../src/dataplane/types.js';
import { loadNativeEsp, NativeEspSa, type NativeAddon } from '../../../src/native/esp-native.js';

const LOAD = loadNativeEsp();

/** Fail loudly, never skip (under CI=true and everywhere else). */
function addon(): NativeAddon {
  if (LOAD.api === null) {
    throw new Error(`native ESP differential test cannot run: ${LOAD.reason}${process.env.CI === 'true' ? ' (CI=true: the addon is required)' : ''}`);
  }
  return LOAD.api;
}

/** Deterministic xorshift32, so a failure reproduces. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x;
  };
}

function bytes(r: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = r() & 0xff;
  return b;
}

interface Suite {
  name: string;
  encrId: number;
  keyBits: number;
  integId: number;
  keyBytes: number;
  integBytes: number;
  ivLen: number;
}

const GCM = (icv: 8 | 12 | 16, bits: number): Suite => ({
  name: `AES-GCM-${icv}-${bits}`, encrId: icv === 8 ? EncrId.AES_GCM_8 : icv === 12 ? EncrId.AES_GCM_12 : EncrId.AES_GCM_16,
  keyBits: bits, integId: IntegId.NONE, keyBytes: bits / 8 + 4, integBytes: 0, ivLen: 8,
});
const SUITES: Suite[] = [
  GCM(16, 128), GCM(16, 192), GCM(16, 256), GCM(8, 128), GCM(12, 256),
  { name: 'AES-CBC-128 + HMAC-SHA2-256-128', encrId: EncrId.AES_CBC, keyBits: 128, integId: IntegId.HMAC_SHA2_256_128, keyBytes: 16, integBytes: 32, ivLen: 16 },
  { name: 'AES-CBC-256 + HMAC-SHA2-512-256', encrId: EncrId.AES_CBC, keyBits: 256, integId: IntegId.HMAC_SHA2_512_256, keyBytes: 32, integBytes: 64, ivLen: 16 },
  { name: 'NULL + HMAC-SHA2-384-192', encrId: EncrId.NULL, keyBits: 0, integId: IntegId.HMAC_SHA2_384_192, keyBytes: 0, integBytes: 48, ivLen: 0 },
  // RFC 7634: AEAD like GCM (salt ‖ IV nonce, IV = sequence number), 32-octet key, 16-octet tag.
  { name: 'ChaCha20-Poly1305', encrId: EncrId.CHACHA20_POLY1305, keyBits: 0, integId: IntegId.NONE, keyBytes: 36, integBytes: 0, ivLen: 8 },
];

function params(s: Suite, esn: boolean, seed: number): EspSaParams {
  const r = rng(seed);
  return { spi: (r() | 0x100) >>> 0, encrId: s.encrId, encrKeyBits: s.keyBits, integId: s.integId, encrKey: bytes(r, s.keyBytes), integKey: bytes(r, s.integBytes), esn };
}

const SIZES = [0, 1, 2, 3, 4, 5, 13, 14, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 255, 256, 511, 512, 1023, 1399, 1400, 1401, 1438, 1500, 8900];
const CAP = 9100;
const SLOT = CAP;

/** TS reasons as the native negative codes (native/src/esp.h). */
const CODE: Record<OpenFailReason, number> = { short: -1, spi: -2, 'seq-zero': -3, replay: -4, auth: -5, padding: -6, dummy: -7, 'too-big': -8 };

class Pair {
  readonly tsOut: OutboundEspSa;
  readonly tsIn: InboundEspSa;
  readonly nOut: NativeEspSa;
  readonly nIn: NativeEspSa;
  constructor(readonly p: EspSaParams, readonly suite: Suite, window = 128) {
    this.tsOut = new OutboundEspSa(p);
    this.tsIn = new InboundEspSa(p, { replayWindow: window });
    this.nOut = new NativeEspSa(addon(), p, true);
    this.nIn = new NativeEspSa(addon(), p, false, window);
  }

  setSeq(hi: number, lo: number): void {
    this.tsOut.setSeqForTest(hi, lo);
    this.nOut.setSeqForTest(hi, lo);
  }

  setTop(hi: number, lo: number): void {
    this.tsIn.replay.setTopForTest(hi, lo);
    this.nIn.setReplayTopForTest(hi, lo);
  }

  /** Seal the same packets on both paths (native: one batch call); both outputs must be equal. */
  sealBoth(inners: Uint8Array[], r: () => number, nh = 4): Uint8Array[] {
    const n = inners.length;
    const src = new Uint8Array(n * SLOT);
    const srcOff = new Uint32Array(n);
    const srcLen = new Uint32Array(n);
    inners.forEach((p, i) => {
      src.set(p, i * SLOT);
      srcOff[i] = i * SLOT;
      srcLen[i] = p.length;
    });
    const dst = new Uint8Array(n * SLOT);
    const dstOff = Uint32Array.from({ length: n }, (_, i) => i * SLOT);
    const results = new Int32Array(n);
    // CBC IVs are random by design (RFC 3602 §3); give both paths the same one per packet.
    const ivs = inners.map(() => bytes(r, this.suite.ivLen));
    const tsWire: Uint8Array[] = [];
    const tsRes: number[] = [];
    for (let i = 0; i < n; i++) {
      if (this.suite.ivLen === 16) this.tsOut.setNextIvForTest(ivs[i]!);
      const out = new Uint8Array(CAP);
      const res = sealEsp(this.tsOut, inners[i]!, inners[i]!.length, nh, out, 0);
      tsRes.push(res);
      tsWire.push(out.subarray(0, Math.max(0, res)));
    }
    let sealed = 0;
    if (this.suite.ivLen === 16) {
      // One batch per packet here, because the IV hook covers only the next packet.
      for (let i = 0; i < n; i++) {
        this.nOut.setNextIvForTest(ivs[i]!);
        sealed += this.nOut.seal(src, srcOff.subarray(i, i + 1), srcLen.subarray(i, i + 1), dst, dstOff.subarray(i, i + 1), SLOT, 1, nh, results.subarray(i, i + 1));
      }
    } else {
      sealed = this.nOut.seal(src, srcOff, srcLen, dst, dstOff, SLOT, n, nh, results);
    }
    expect(Array.from(results), 'seal results').toEqual(tsRes);
    expect(sealed).toBe(tsRes.filter((x) => x >= 0).length);
    for (let i = 0; i < n; i++) {
      const nat = dst.subarray(i * SLOT, i * SLOT + Math.max(0, results[i]!));
      expect(Buffer.from(nat).toString('hex'), `packet ${i} (${inners[i]!.length} octets)`).toBe(Buffer.from(tsWire[i]!).toString('hex'));
    }
    this.expectOutboundSame();
    return tsWire;
  }

  expectOutboundSame(): void {
    const s = this.nOut.state();
    expect([s.seqHigh, s.seqLow, s.rekeyNeeded], 'outbound sequence state').toEqual([this.tsOut.seqHigh, this.tsOut.seqLow, this.tsOut.rekeyNeeded]);
    expect(s.counters, 'outbound counters').toEqual(this.tsOut.counters);
  }

  /** Open datagrams on both paths (native: one batch call, out of place or in place); same verdicts, plaintexts, counters, window. */
  openBoth(wire: Uint8Array[], inPlace = false): number[] {
    const n = wire.length;
    const iv = this.suite.ivLen;
    const src = new Uint8Array(Math.max(1, n) * SLOT);
    const srcOff = Uint32Array.from({ length: n }, (_, i) => i * SLOT);
    const srcLen = Uint32Array.from(wire, (w) => w.length);
    wire.forEach((w, i) => src.set(w, i * SLOT));
    const dst = inPlace ? src : new Uint8Array(Math.max(1, n) * SLOT);
    const dstOff = Uint32Array.from({ length: n }, (_, i) => i * SLOT + (inPlace ? 8 + iv : 0));
    const results = new Int32Array(n);
    const nhs = new Uint8Array(n);
    const opened = this.nIn.open(src, srcOff, srcLen, dst, dstOff, inPlace ? SLOT - 8 - iv : SLOT, n, results, nhs);
    const tsRes: number[] = [];
    for (let i = 0; i < n; i++) {
      const out = new Uint8Array(CAP);
      const r = openEsp(this.tsIn, wire[i]!, 0, wire[i]!.length, out);
      if (r.ok) {
        tsRes.push(r.length);
        expect(nhs[i], `next header of ${i}`).toBe(r.nextHeader);
        const nat = dst.subarray(dstOff[i]!, dstOff[i]! + r.length);
        expect(Buffer.from(nat).equals(Buffer.from(out.subarray(r.offset, r.offset + r.length))), `plaintext of ${i}`).toBe(true);
      } else {
        tsRes.push(CODE[r.reason]);
      }
    }
    expect(Array.from(results), 'open verdicts (negative: native/src/esp.h codes)').toEqual(tsRes);
    expect(opened).toBe(tsRes.filter((x) => x >= 0).length);
    const s = this.nIn.state();
    expect(s.counters, 'inbound counters').toEqual(this.tsIn.counters);
    expect([s.topHigh, s.topLow], 'window top').toEqual([this.tsIn.replay.topHigh, this.tsIn.replay.topLow]);
    return tsRes;
  }
}

function corpus(r: () => number, extra = 24): Uint8Array[] {
  const sizes = [...SIZES, ...Array.from({ length: extra }, () => r() % 1500)];
  return sizes.map((n) => {
    const b = bytes(r, n);
    if (n > 0) b[0] = 0x45;
    return b;
  });
}

describe('native ESP vs the TypeScript reference', () => {
  it('the addon is loaded (fails, never skips, without it)', () => {
    expect(addon().opensslVersion()).toMatch(/^OpenSSL 3\./);
  });

  for (const suite of SUITES) {
    for (const esn of [false, true]) {
      const label = `${suite.name}${esn ? ' ESN' : ''}`;

      it(`${label}: identical bytes for a corpus of sizes; each opens the other's output`, () => {
        const r = rng(0x5eed ^ suite.encrId ^ (esn ? 0x1000 : 0) ^ suite.keyBits);
        const p = params(suite, esn, r());
        const a = new Pair(p, suite);
        const wire = a.sealBoth(corpus(r), r);
        // The TS receiver opens what both sealed (they are the same bytes) and the native one too.
        a.openBoth(wire);
        // A second receiver pair, in place this time, on the same stream.
        const b = new Pair(p, suite);
        b.openBoth(wire, true);
        // Dummy packets (RFC 4303 §2.6): authentic, move the window, then dropped on both.
        const d = new Pair(p, suite);
        d.openBoth(d.sealBoth([bytes(r, 40), bytes(r, 0)], r, 59));
      });

      it(`${label}: sequence numbers across 2^32 and at exhaustion`, () => {
        const r = rng(0xacc0 ^ suite.encrId ^ (esn ? 0x2000 : 0));
        const p = params(suite, esn, r());
        const a = new Pair(p, suite);
        if (esn) {
          a.setSeq(0, 0xffff_fff0); // carries into the high half: IV and AAD carry 64 bits
          a.setTop(0, 0xffff_ffe0);
          const w = a.sealBoth(Array.from({ length: 40 }, () => bytes(r, 1 + (r() % 200))), r);
          expect(a.tsOut.seqHigh).toBe(1);
          a.openBoth(w);
          a.setSeq(0x7fff_ffff, 0xffff_fffe); // crosses the 2^63 soft limit: rekeyNeeded
          a.sealBoth([bytes(r, 10), bytes(r, 10), bytes(r, 10)], r);
          expect(a.tsOut.rekeyNeeded).toBe(true);
          a.setSeq(0xffff_ffff, 0xffff_fffd); // 2^64 - 1 is the last one (RFC 4303 §3.3.3)
        } else {
          a.setSeq(0, 0xfeff_fffe); // crosses the 2^32 - 2^24 soft limit
          a.sealBoth([bytes(r, 10), bytes(r, 10), bytes(r, 10)], r);
          expect(a.tsOut.rekeyNeeded).toBe(true);
          a.setSeq(0, 0xffff_fffd);
        }
        const last = a.sealBoth([bytes(r, 20), bytes(r, 20), bytes(r, 20), bytes(r, 20)], r);
        expect(last.map((x) => x.length > 0)).toEqual([true, true, false, false]);
        expect(a.tsOut.counters.seqRefusals).toBe(2);
      });

      it(`${label}: replay window edges (duplicate, too old, T - W, far ahead, slides)`, () => {
        const r = rng(0x7e9 ^ suite.encrId ^ (esn ? 0x3000 : 0));
        const p = params(suite, esn, r());
        for (const window of [128, 256]) {
          for (const start of esn ? [0, 0xffff_ff00, 0x1_0000_0000 - 100] : [0]) {
            const a = new Pair(p, suite, window);
            const hi = Math.floor(start / 0x1_0000_0000);
            const lo = start % 0x1_0000_0000 >>> 0;
            a.setSeq(hi, lo);
            if (start > 0) a.setTop(hi, lo);
            const wire = a.sealBoth(Array.from({ length: 3 * window + 40 }, () => bytes(r, 1 + (r() % 64))), r);
            const at = (k: number): Uint8Array => wire[k - 1]!; // k-th packet after start
            const order: Uint8Array[] = [];
            order.push(at(10), at(10)); // duplicate
            order.push(at(5), at(9), at(1)); // inside the window, out of order
            order.push(at(window + 9)); // T = window + 9: 9 - window is now the bottom edge
            order.push(at(10), at(9 + 1), at(9)); // T - W + 1 = 10 (dup), 10 again, 9 = T - W (too old)
            order.push(at(3 * window + 40)); // far ahead: the whole ring is cleared
            order.push(at(window + 9), at(2 * window + 41), at(2 * window + 40)); // old, bottom edge + 1, T - W
            for (let k = 2 * window + 50; k < 3 * window + 40; k += 7) order.push(at(k));
            a.openBoth(order);
          }
        }
      });

      it(`${label}: hostile packets are counted the same way`, () => {
        const r = rng(0xbad ^ suite.encrId ^ (esn ? 0x4000 : 0));
        const p = params(suite, esn, r());
        const a = new Pair(p, suite);
        const good = a.sealBoth(Array.from({ length: 12 }, () => bytes(r, 60 + (r() % 40))), r);
        const hostile: Uint8Array[] = [];
        for (let n = 0; n < 48; n++) hostile.push(good[0]!.subarray(0, n)); // truncated
        const flip = (k: number, at: number): Uint8Array => {
          const c = Uint8Array.from(good[k]!);
          c[at % c.length]! ^= 0x40;
          return c;
        };
        hostile.push(flip(1, 20), flip(2, 9), flip(3, good[3]!.length - 1)); // ciphertext, IV, ICV
        const spi = Uint8Array.from(good[4]!);
        spi[0]! ^= 1;
        hostile.push(spi);
        const seq0 = Uint8Array.from(good[5]!);
        seq0.fill(0, 4, 8);
        hostile.push(seq0);
        hostile.push(new Uint8Array(good[6]!.length * 3).fill(0x41)); // garbage with a foreign SPI
        hostile.push(...badPadding(p, suite, r));
        hostile.push(good[7]!, good[7]!, good[8]!); // then good ones, one duplicated
        a.openBoth(hostile);
      });
    }
  }

  it('a batch with a slice past its slab throws RangeError and changes nothing', () => {
    const suite = SUITES[2]!;
    const p = params(suite, false, 42);
    const sa = new NativeEspSa(addon(), p, true);
    const src = new Uint8Array(100);
    const dst = new Uint8Array(200);
    const res = new Int32Array(2);
    expect(() => sa.seal(src, Uint32Array.of(0, 90), Uint32Array.of(10, 20), dst, Uint32Array.of(0, 100), 100, 2, 4, res)).toThrow(RangeError);
    expect(() => sa.seal(src, Uint32Array.of(0), Uint32Array.of(10), dst, Uint32Array.of(150), 100, 1, 4, res)).toThrow(RangeError);
    expect(sa.state().seqLow).toBe(0);
    expect(sa.state().counters.packets).toBe(0);
    expect(() => sa.seal(src, Uint32Array.of(0), Uint32Array.of(10), dst, Uint32Array.of(0), 100, 2, 4, res)).toThrow(RangeError); // count > arrays
    expect(() => addon().espSeal({} as never, src, Uint32Array.of(0), Uint32Array.of(1), dst, Uint32Array.of(0), 10, 1, 4, res)).toThrow(TypeError);
    const inb = new NativeEspSa(addon(), p, false);
    expect(() => inb.seal(src, Uint32Array.of(0), Uint32Array.of(1), dst, Uint32Array.of(0), 100, 1, 4, res)).toThrow(/inbound/);
    sa.destroy();
    expect(() => sa.state()).toThrow(/destroyed/);
  });

  it('refuses what esp-sa.ts refuses (wrong key lengths, CBC without integrity, GCM with it)', () => {
    const api = addon();
    const k = (n: number): Uint8Array => new Uint8Array(n);
    expect(() => api.espSaCreate(1, true, false, EncrId.AES_GCM_16, 256, IntegId.NONE, k(32), k(0), 0)).toThrow(/salt/);
    expect(() => api.espSaCreate(1, true, false, EncrId.AES_GCM_16, 256, IntegId.HMAC_SHA2_256_128, k(36), k(32), 0)).toThrow(/no integrity/);
    expect(() => api.espSaCreate(1, true, false, EncrId.AES_CBC, 128, IntegId.NONE, k(16), k(0), 0)).toThrow(/integrity/);
    expect(() => api.espSaCreate(1, true, false, EncrId.AES_CBC, 128, IntegId.HMAC_SHA2_256_128, k(16), k(31), 0)).toThrow(/HMAC key/);
    expect(() => api.espSaCreate(1, false, false, EncrId.AES_GCM_16, 128, IntegId.NONE, k(20), k(0), 100)).toThrow(/replay window/);
  });
});

/**
 * Authentic packets whose decrypted trailer is wrong (RFC 4303 §2.4: padding must read 1, 2, 3,
 * …; Pad Length must fit), built with node:crypto directly for sequence numbers 20 and 21.
 */
function badPadding(p: EspSaParams, s: Suite, r: () => number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const plains = [
    Uint8Array.of(0x45, 0, 0, 0, 9, 2, 2, 4), // padding 9, 2 instead of 1, 2
    Uint8Array.of(0x45, 0, 0, 0, 0, 0, 9, 4), // Pad Length 9 > what is there
  ];
  if (s.ivLen === 16) plains.forEach((_, i) => (plains[i] = Uint8Array.of(...new Array<number>(14).fill(0x45), 2, 4)));
  plains.forEach((plain, i) => {
    const seq = 20 + i;
    const hdr = Buffer.alloc(8);
    hdr.writeUInt32BE(p.spi, 0);
    hdr.writeUInt32BE(seq, 4);
    if (s.integId === IntegId.NONE) {
      const iv = Buffer.alloc(8);
      iv.writeUInt32BE(seq, 4);
      const keyLen = s.keyBytes - 4; // the AEAD key, then the 4-octet salt
      const nonce = Buffer.concat([Buffer.from(p.encrKey.subarray(keyLen)), iv]);
      const icv = s.encrId === EncrId.AES_GCM_8 ? 8 : s.encrId === EncrId.AES_GCM_12 ? 12 : 16;
      const alg = s.encrId === EncrId.CHACHA20_POLY1305 ? 'chacha20-poly1305' : `aes-${s.keyBits}-gcm`;
      const c = createCipheriv(alg as 'aes-128-gcm', Buffer.from(p.encrKey.subarray(0, keyLen)), nonce, { authTagLength: icv });
      c.setAAD(p.esn ? Buffer.concat([hdr.subarray(0, 4), Buffer.alloc(4), hdr.subarray(4)]) : hdr);
      const ct = Buffer.concat([c.update(plain), c.final()]);
      out.push(Buffer.concat([hdr, iv, ct, c.getAuthTag()]));
    } else {
      const iv = s.ivLen === 16 ? Buffer.from(bytes(r, 16)) : Buffer.alloc(0);
      let ct = Buffer.from(plain);
      if (s.ivLen === 16) {
        const c = createCipheriv(`aes-${s.keyBits}-cbc` as 'aes-128-cbc', Buffer.from(p.encrKey), iv);
        c.setAutoPadding(false);
        ct = Buffer.concat([c.update(ct), c.final()]);
      }
      const hash = s.integId === IntegId.HMAC_SHA2_256_128 ? 'sha256' : s.integId === IntegId.HMAC_SHA2_384_192 ? 'sha384' : 'sha512';
      const icvLen = hash === 'sha256' ? 16 : hash === 'sha384' ? 24 : 32;
      const h = createHmac(hash, Buffer.from(p.integKey)).update(Buffer.concat([hdr, iv, ct]));
      if (p.esn) h.update(Buffer.alloc(4));
      out.push(Buffer.concat([hdr, iv, ct, h.digest().subarray(0, icvLen)]));
    }
  });
  return out;
}
