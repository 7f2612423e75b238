/**
 * Hostile inbound ESP: every malformed packet is dropped with the right reason, bumps exactly one
 * counter, never throws and never moves the replay window (RFC 4303 §3.4). Authentic packets with
 * broken trailers are built independently with @noble so that only the trailer is wrong.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { gcm } from '@noble/ciphers/aes.js';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { EncrId, IntegId } from '../../../src/ike/constants.js';
import { InboundEspSa, OutboundEspSa, type EspCounters } from '../../../src/esp/esp-sa.js';
import { openEsp, peekSpi, type OpenFailReason } from '../../../src/esp/open.js';
import { sealEsp } from '../../../src/esp/seal.js';
import type { EspSaParams } from '../../../src/dataplane/types.js';
import { concat } from '../crypto/hex.js';

const GCM_KEY = new Uint8Array(20).map((_, i) => i + 1); // 16-octet key ‖ 4-octet salt
const HMAC_KEY = new Uint8Array(32).map((_, i) => 0x40 + i);
const CBC_KEY = new Uint8Array(16).map((_, i) => 0x80 + i);

const SUITES: Record<'gcm' | 'cbc' | 'null', EspSaParams> = {
  gcm: { spi: 0x1111_2222, encrId: EncrId.AES_GCM_16, encrKeyBits: 128, integId: IntegId.NONE, encrKey: GCM_KEY, integKey: new Uint8Array(0), esn: false },
  cbc: { spi: 0x1111_2222, encrId: EncrId.AES_CBC, encrKeyBits: 128, integId: IntegId.HMAC_SHA2_256_128, encrKey: CBC_KEY, integKey: HMAC_KEY, esn: false },
  null: { spi: 0x1111_2222, encrId: EncrId.NULL, encrKeyBits: 0, integId: IntegId.HMAC_SHA2_256_128, encrKey: new Uint8Array(0), integKey: HMAC_KEY, esn: false },
};
/** Smallest well-formed packet: header 8 + IV + trailer (2, or one AES block) + ICV. */
const MIN_LEN = { gcm: 8 + 8 + 2 + 16, cbc: 8 + 16 + 16 + 16, null: 8 + 0 + 2 + 16 };

function valid(kind: keyof typeof SUITES, seq = 1, innerLen = 60): Uint8Array {
  const tx = new OutboundEspSa(SUITES[kind]);
  tx.setSeqForTest(0, seq - 1);
  const inner = new Uint8Array(innerLen).map((_, i) => (i * 11) & 0xff);
  const out = new Uint8Array(256);
  return out.slice(0, sealEsp(tx, inner, inner.length, 4, out, 0));
}

function total(c: EspCounters): number {
  return c.packets + c.replayDrops + c.authFailures + c.malformed + c.dummy;
}

function header(spi: number, seq: number): Uint8Array {
  const h = new Uint8Array(8);
  new DataView(h.buffer).setUint32(0, spi);
  new DataView(h.buffer).setUint32(4, seq);
  return h;
}

/** An authentic GCM packet (noble) around an arbitrary plaintext, so only the trailer can be wrong. */
function gcmWith(plain: Uint8Array, seq: number, spi = SUITES.gcm.spi): Uint8Array {
  const hdr = header(spi, seq);
  const iv = new Uint8Array(8).fill(9);
  const sealed = gcm(GCM_KEY.subarray(0, 16), concat(GCM_KEY.subarray(16), iv), hdr).encrypt(plain);
  return concat(hdr, iv, sealed);
}

/** An authentic NULL + HMAC-SHA2-256-128 packet around an arbitrary plaintext. */
function nullWith(plain: Uint8Array, seq: number): Uint8Array {
  const body = concat(header(SUITES.null.spi, seq), plain);
  return concat(body, hmac(sha256, HMAC_KEY, body).subarray(0, 16));
}

function open(sa: InboundEspSa, pkt: Uint8Array, out = new Uint8Array(512)) {
  return openEsp(sa, pkt, 0, pkt.length, out);
}

describe('malformed ESP is counted and dropped', () => {
  for (const kind of ['gcm', 'cbc', 'null'] as const) {
    it(`${kind}: every length below the minimum (${MIN_LEN[kind]}) is 'short'`, () => {
      const sa = new InboundEspSa(SUITES[kind]);
      const pkt = valid(kind);
      for (let len = 0; len < MIN_LEN[kind]; len++) {
        expect(openEsp(sa, pkt, 0, len, new Uint8Array(512))).toEqual({ ok: false, reason: 'short' });
      }
      expect(sa.counters.malformed).toBe(MIN_LEN[kind]);
      expect(total(sa.counters)).toBe(MIN_LEN[kind]);
      expect(open(sa, pkt).ok).toBe(true); // the untouched packet still opens afterwards
    });

    it(`${kind}: a flipped ICV bit is 'auth'; a truncated packet never opens`, () => {
      const sa = new InboundEspSa(SUITES[kind]);
      const pkt = valid(kind);
      const bad = Uint8Array.from(pkt);
      bad[bad.length - 3]! ^= 0x10;
      expect(open(sa, bad)).toEqual({ ok: false, reason: 'auth' });
      expect(sa.counters.authFailures).toBe(1);
      for (const cut of [1, 4, 16]) {
        const r = openEsp(sa, pkt, 0, pkt.length - cut, new Uint8Array(512));
        expect(r.ok).toBe(false);
        if (!r.ok) expect(r.reason).toBe(kind === 'cbc' && cut !== 16 ? 'short' : 'auth');
      }
      expect(sa.replay.topLow).toBe(0);
      expect(open(sa, pkt).ok).toBe(true);
    });

    it(`${kind}: out-of-range offsets and a too-small output buffer are refused`, () => {
      const sa = new InboundEspSa(SUITES[kind]);
      const pkt = valid(kind);
      expect(openEsp(sa, pkt, 1, pkt.length, new Uint8Array(512))).toEqual({ ok: false, reason: 'short' });
      expect(openEsp(sa, pkt, -1, 10, new Uint8Array(512))).toEqual({ ok: false, reason: 'short' });
      expect(openEsp(sa, pkt, 0.5, 10, new Uint8Array(512))).toEqual({ ok: false, reason: 'short' });
      expect(openEsp(sa, pkt, 0, pkt.length, new Uint8Array(8))).toEqual({ ok: false, reason: 'too-big' });
      expect(sa.counters.malformed).toBe(4);
    });
  }

  it('wrong SPI: peekSpi routes, an unknown SPI finds no SA, a misrouted packet is refused', () => {
    const pkt = valid('gcm');
    expect(peekSpi(pkt, 0)).toBe(0x1111_2222);
    expect(peekSpi(pkt.subarray(0, 3), 0)).toBe(-1);
    expect(peekSpi(pkt, pkt.length - 2)).toBe(-1);
    const other = new InboundEspSa({ ...SUITES.gcm, spi: 0x3333_4444 });
    const sas = new Map([[other.spi, other]]);
    expect(sas.get(peekSpi(pkt, 0))).toBeUndefined(); // unknown SPI: the dispatcher drops and counts it
    expect(open(other, pkt)).toEqual({ ok: false, reason: 'spi' });
    expect(other.counters.malformed).toBe(1);
  });

  it("sequence number 0 without ESN is 'seq-zero' even when authentic", () => {
    const sa = new InboundEspSa(SUITES.gcm);
    const pkt = gcmWith(new Uint8Array([0x45, 0, 0, 4]), 0);
    expect(open(sa, pkt)).toEqual({ ok: false, reason: 'seq-zero' });
    expect(sa.counters.malformed).toBe(1);
    expect(sa.counters.authFailures).toBe(0);
  });

  it('GCM: Pad Length beyond the payload, or padding not 1, 2, 3, …, is \'padding\' and does not move the window', () => {
    const sa = new InboundEspSa(SUITES.gcm);
    const cases: [Uint8Array, OpenFailReason | 'ok'][] = [
      [new Uint8Array([0x45, 0x00, 3, 4]), 'padding'], // Pad Length 3 > 2 octets before it
      [new Uint8Array([0x45, 1, 3, 2, 4]), 'padding'], // 1, 3 instead of 1, 2
      [new Uint8Array([0x45, 0, 0, 0, 0, 0, 2, 4]), 'padding'], // zeros instead of 1, 2
      [new Uint8Array([0xff, 4]), 'padding'], // Pad Length 255
      [new Uint8Array([0x45, 1, 2, 2, 4]), 'ok'], // control: the same shape, correct
    ];
    let seq = 1;
    for (const [plain, want] of cases) {
      const r = open(sa, gcmWith(plain, seq++));
      if (want === 'ok') expect(r.ok).toBe(true);
      else expect(r).toEqual({ ok: false, reason: want });
    }
    expect(sa.counters.malformed).toBe(4);
    expect(sa.counters.authFailures).toBe(0);
    expect(sa.replay.topLow).toBe(5); // only the control packet moved it
    expect(sa.replay.check(1)).toBe(0); // a bad-padding packet's number is still free
  });

  it("NULL + HMAC: bad padding behind a valid ICV is 'padding'", () => {
    const sa = new InboundEspSa(SUITES.null);
    expect(open(sa, nullWith(new Uint8Array([0x45, 2, 1, 2, 4]), 1))).toEqual({ ok: false, reason: 'padding' });
    expect(open(sa, nullWith(new Uint8Array([0x45, 1, 2, 2, 4]), 2)).ok).toBe(true);
  });

  it('Next Header 59 (dummy, RFC 4303 §2.6) is authentic, moves the window, and is dropped silently', () => {
    const sa = new InboundEspSa(SUITES.gcm);
    const tx = new OutboundEspSa(SUITES.gcm);
    const out = new Uint8Array(64);
    const n = sealEsp(tx, new Uint8Array(0), 0, 59, out, 0);
    expect(open(sa, out.subarray(0, n))).toEqual({ ok: false, reason: 'dummy' });
    expect(sa.counters.dummy).toBe(1);
    expect(sa.counters.packets).toBe(0);
    expect(sa.replay.topLow).toBe(1);
  });
});

describe('fuzz: openEsp never throws and always accounts for the packet', () => {
  const REASONS = new Set(['short', 'spi', 'seq-zero', 'replay', 'auth', 'padding', 'dummy', 'too-big']);

  for (const kind of ['gcm', 'cbc', 'null'] as const) {
    it(`${kind}: random bytes`, () => {
      const sa = new InboundEspSa(SUITES[kind]);
      let calls = 0;
      fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (bytes, keepSpi) => {
        if (keepSpi && bytes.length >= 4) new DataView(bytes.buffer, bytes.byteOffset).setUint32(0, SUITES[kind].spi);
        const r = openEsp(sa, bytes, 0, bytes.length, new Uint8Array(256));
        calls += 1;
        expect(r.ok).toBe(false);
        if (!r.ok) expect(REASONS.has(r.reason)).toBe(true);
        expect(total(sa.counters)).toBe(calls);
      }), { numRuns: 500 });
      expect(sa.replay.topLow).toBe(0);
    });

    it(`${kind}: any mutation of a valid packet is rejected without moving the window`, () => {
      const pkt = valid(kind, 77);
      fc.assert(fc.property(
        fc.oneof(
          fc.record({ op: fc.constant('flip' as const), at: fc.nat(pkt.length - 1), mask: fc.integer({ min: 1, max: 255 }) }),
          fc.record({ op: fc.constant('cut' as const), at: fc.integer({ min: 1, max: pkt.length }), mask: fc.constant(0) }),
          fc.record({ op: fc.constant('grow' as const), at: fc.integer({ min: 1, max: 40 }), mask: fc.integer({ min: 0, max: 255 }) }),
        ),
        (m) => {
          const sa = new InboundEspSa(SUITES[kind]);
          let bad: Uint8Array;
          if (m.op === 'flip') {
            bad = Uint8Array.from(pkt);
            bad[m.at]! ^= m.mask;
          } else if (m.op === 'cut') {
            bad = pkt.slice(0, pkt.length - m.at);
          } else {
            bad = concat(pkt, new Uint8Array(m.at).fill(m.mask));
          }
          const r = openEsp(sa, bad, 0, bad.length, new Uint8Array(512));
          expect(r.ok).toBe(false);
          expect(total(sa.counters)).toBe(1);
          expect(sa.replay.topLow).toBe(0);
          expect(open(sa, pkt).ok).toBe(true); // and the genuine packet still opens
        },
      ), { numRuns: 300 });
    });
  }
});
