/**
 * Outbound sequence numbers (RFC 4303 §3.3.3): start at 1, never cycle, ask for a rekey early,
 * and SA construction rules for the suites (RFC 4303 §3.2, RFC 4106 §8.1, RFC 4868 §2.1.1).
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { EncrId, IntegId } from '../../../src/ike/constants.js';
import { InboundEspSa, OutboundEspSa } from '../../../src/esp/esp-sa.js';
import { openEsp } from '../../../src/esp/open.js';
import { SealError, sealEsp } from '../../../src/esp/seal.js';
import type { EspSaParams } from '../../../src/dataplane/types.js';

const GCM: EspSaParams = {
  spi: 0xabcd_0001, encrId: EncrId.AES_GCM_16, encrKeyBits: 256, integId: IntegId.NONE,
  encrKey: new Uint8Array(36).fill(3), integKey: new Uint8Array(0), esn: false,
};
const INNER = new Uint8Array(52).fill(0x45);

function seqField(out: Uint8Array): number {
  return new DataView(out.buffer, out.byteOffset).getUint32(4);
}

describe('outbound sequence numbers without ESN', () => {
  it('the first packet carries 1', () => {
    const sa = new OutboundEspSa(GCM);
    const out = new Uint8Array(128);
    expect(sealEsp(sa, INNER, INNER.length, 4, out, 0)).toBeGreaterThan(0);
    expect(seqField(out)).toBe(1);
  });

  it('raises rekeyNeeded past 2^32 - 2^24, sends 2^32 - 1, then refuses: no wrap', () => {
    const sa = new OutboundEspSa(GCM);
    const out = new Uint8Array(128);
    const soft = 0x1_0000_0000 - 0x100_0000;
    sa.setSeqForTest(0, soft - 2);
    expect(sealEsp(sa, INNER, INNER.length, 4, out, 0)).toBeGreaterThan(0); // soft - 1
    expect(sa.rekeyNeeded).toBe(false);
    expect(sealEsp(sa, INNER, INNER.length, 4, out, 0)).toBeGreaterThan(0); // soft
    expect(sa.rekeyNeeded).toBe(true);

    sa.setSeqForTest(0, 0xffff_fffd);
    expect(sealEsp(sa, INNER, INNER.length, 4, out, 0)).toBeGreaterThan(0);
    expect(seqField(out)).toBe(0xffff_fffe);
    expect(sealEsp(sa, INNER, INNER.length, 4, out, 0)).toBeGreaterThan(0);
    expect(seqField(out)).toBe(0xffff_ffff); // the last one RFC 4303 §3.3.3 allows
    expect(sa.rekeyNeeded).toBe(true);

    const fresh = new Uint8Array(128).fill(0xaa);
    for (let i = 0; i < 3; i++) expect(sealEsp(sa, INNER, INNER.length, 4, fresh, 0)).toBe(SealError.SEQ_EXHAUSTED);
    expect(fresh.every((b) => b === 0xaa)).toBe(true); // nothing written
    expect([sa.seqHigh, sa.seqLow]).toEqual([0, 0xffff_ffff]); // the counter did not cycle
    expect(sa.counters.seqRefusals).toBe(3);
    expect(sa.counters.packets).toBe(4);
  });

  it('the receiver accepts 2^32 - 1 as well', () => {
    const tx = new OutboundEspSa(GCM);
    const rx = new InboundEspSa(GCM);
    tx.setSeqForTest(0, 0xffff_fffe);
    const out = new Uint8Array(128);
    const n = sealEsp(tx, INNER, INNER.length, 4, out, 0);
    expect(openEsp(rx, out, 0, n, new Uint8Array(128)).ok).toBe(true);
  });

  it('a full output buffer or bad input does not consume a sequence number', () => {
    const sa = new OutboundEspSa(GCM);
    const need = 8 + 8 + 56 + 16; // 52 + 2 → 56 (4-aligned), GCM IV 8, ICV 16
    expect(sa.overhead(INNER.length)).toBe(need - INNER.length);
    expect(sealEsp(sa, INNER, INNER.length, 4, new Uint8Array(need - 1), 0)).toBe(SealError.BUFFER_TOO_SMALL);
    expect(sealEsp(sa, INNER, INNER.length, 4, new Uint8Array(need), 1)).toBe(SealError.BUFFER_TOO_SMALL);
    expect(sealEsp(sa, INNER, INNER.length + 1, 4, new Uint8Array(200), 0)).toBe(SealError.BAD_INPUT);
    expect(sealEsp(sa, INNER, INNER.length, 256, new Uint8Array(200), 0)).toBe(SealError.BAD_INPUT);
    expect(sealEsp(sa, INNER, -1, 4, new Uint8Array(200), 0)).toBe(SealError.BAD_INPUT);
    expect(sa.seqLow).toBe(0);
    const out = new Uint8Array(need);
    expect(sealEsp(sa, INNER, INNER.length, 4, out, 0)).toBe(need);
    expect(seqField(out)).toBe(1);
  });
});

describe('outbound sequence numbers with ESN', () => {
  const ESN = { ...GCM, esn: true };

  it('crosses 2^32 (high half increments, low half restarts at 0) and the receiver follows', () => {
    const tx = new OutboundEspSa(ESN);
    const rx = new InboundEspSa(ESN);
    tx.setSeqForTest(0, 0xffff_fffe);
    rx.replay.setTopForTest(0, 0xffff_fff0);
    const out = new Uint8Array(128);
    const dec = new Uint8Array(128);
    const seen: [number, number][] = [];
    for (let i = 0; i < 3; i++) {
      const n = sealEsp(tx, INNER, INNER.length, 4, out, 0);
      seen.push([tx.seqHigh, seqField(out)]);
      expect(openEsp(rx, out, 0, n, dec).ok).toBe(true);
    }
    expect(seen).toEqual([[0, 0xffff_ffff], [1, 0], [1, 1]]);
    expect(tx.rekeyNeeded).toBe(false);
    expect([rx.replay.topHigh, rx.replay.topLow]).toEqual([1, 1]);
  });

  it('raises rekeyNeeded at 2^63 and refuses after 2^64 - 1', () => {
    const sa = new OutboundEspSa(ESN);
    const out = new Uint8Array(128);
    sa.setSeqForTest(0x7fff_ffff, 0xffff_fffe);
    expect(sealEsp(sa, INNER, INNER.length, 4, out, 0)).toBeGreaterThan(0);
    expect(sa.rekeyNeeded).toBe(false);
    expect(sealEsp(sa, INNER, INNER.length, 4, out, 0)).toBeGreaterThan(0); // 2^63
    expect(sa.rekeyNeeded).toBe(true);
    sa.setSeqForTest(0xffff_ffff, 0xffff_fffe);
    expect(sealEsp(sa, INNER, INNER.length, 4, out, 0)).toBeGreaterThan(0); // 2^64 - 1
    expect(sealEsp(sa, INNER, INNER.length, 4, out, 0)).toBe(SealError.SEQ_EXHAUSTED);
    expect([sa.seqHigh, sa.seqLow]).toEqual([0xffff_ffff, 0xffff_ffff]);
  });
});

describe('SA construction checks the negotiated transforms (control path, may throw)', () => {
  it('rejects wrong key sizes, GCM with an INTEG transform, NULL or CBC without integrity', () => {
    expect(() => new OutboundEspSa({ ...GCM, encrKey: new Uint8Array(32) })).toThrow(/36 key octets/); // salt missing
    expect(() => new OutboundEspSa({ ...GCM, integId: IntegId.HMAC_SHA2_256_128, integKey: new Uint8Array(32) })).toThrow(RangeError);
    const nullNone = { ...GCM, encrId: EncrId.NULL, encrKeyBits: 0, encrKey: new Uint8Array(0) };
    expect(() => new InboundEspSa(nullNone)).toThrow(/integrity/);
    const cbcNone = { ...GCM, encrId: EncrId.AES_CBC, encrKeyBits: 128, encrKey: new Uint8Array(16) };
    expect(() => new InboundEspSa(cbcNone)).toThrow(/integrity/);
    expect(() => new InboundEspSa({ ...cbcNone, integId: IntegId.HMAC_SHA2_256_128, integKey: new Uint8Array(20) })).toThrow(/32-octet/);
    expect(() => new InboundEspSa({ ...GCM, encrKeyBits: 100 })).toThrow(RangeError);
    expect(() => new InboundEspSa({ ...GCM, spi: 2 ** 32 })).toThrow(RangeError);
    expect(() => new InboundEspSa(GCM, { replayWindow: 64 })).toThrow(RangeError);
    expect(new InboundEspSa(GCM, { replayWindow: 1024 }).replay.size).toBe(1024);
  });

  it('ICV and IV sizes follow the transform registry (RFC 4106 §8, RFC 4868 §2.1.2)', () => {
    const g8 = new OutboundEspSa({ ...GCM, encrId: EncrId.AES_GCM_8 });
    expect([g8.ivLen, g8.icvLen, g8.align]).toEqual([8, 8, 4]);
    const c = new OutboundEspSa({
      ...GCM, encrId: EncrId.AES_CBC, encrKeyBits: 192, encrKey: new Uint8Array(24),
      integId: IntegId.HMAC_SHA2_384_192, integKey: new Uint8Array(48),
    });
    expect([c.ivLen, c.icvLen, c.align]).toEqual([16, 24, 16]);
    const n = new OutboundEspSa({
      ...GCM, encrId: EncrId.NULL, encrKeyBits: 0, encrKey: new Uint8Array(0),
      integId: IntegId.HMAC_SHA2_256_128, integKey: new Uint8Array(32),
    });
    expect([n.ivLen, n.icvLen, n.align]).toEqual([0, 16, 4]);
  });

  it('logs and status output never show key material (docs/architecture.md, rule 7)', () => {
    const salted = { ...GCM, encrKey: Uint8Array.from({ length: 36 }, (_, i) => 0xa0 + i) };
    const saltHex = Buffer.from(salted.encrKey.subarray(32)).toString('hex');
    for (const sa of [new OutboundEspSa(salted), new InboundEspSa(salted)]) {
      const shown = JSON.stringify(sa) + inspect(sa, { depth: 5 });
      expect(shown).toContain('counters');
      expect(shown).not.toMatch(/a0a1a2|c0c1c2c3/);
      expect(shown.replace(/\s+/g, '')).not.toContain(saltHex);
      expect(shown).not.toMatch(/\b(192|193|194|195)\b/); // the salt octets as decimals
    }
  });
});
