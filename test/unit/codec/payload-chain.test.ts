import { describe, it, expect } from 'vitest';
import { PayloadType } from '../../../src/ike/constants.js';
import { MAX_PAYLOADS, decodePayloads, encodePayloads } from '../../../src/ike/codec/payload-chain.js';
import { decodeMessage, encodeMessage } from '../../../src/ike/codec/message.js';
import type { Payload } from '../../../src/ike/codec/types.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const HDR = {
  spiI: hex('0102030405060708'), spiR: new Uint8Array(8), majorVersion: 2, minorVersion: 0,
  exchangeType: 34, initiator: true, response: false, version: false, messageId: 0,
};
const nonce: Payload = { type: PayloadType.NONCE, data: new Uint8Array(16).fill(7) };

describe('payload chain (§3.2)', () => {
  it('decodes unknown payloads as "unknown", reporting the critical bit (§2.5)', () => {
    // Nonce → type 200 (not critical) → type 201 (critical, reserved bits set) → end
    const bytes = hex(`
      c8 00 0008 01020304
      c9 00 0006 aabb
      00 ff 0005 cc`);
    const r = decodePayloads(bytes, PayloadType.NONCE);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value[1]).toEqual({ type: 'unknown', rawType: 200, critical: false, data: hex('aabb') });
    expect(r.value[2]).toEqual({ type: 'unknown', rawType: 201, critical: true, data: hex('cc') });
    expect(r.value[0]).toMatchObject({ type: PayloadType.NONCE, critical: false });
  });

  it('reports the critical bit on known payloads too, and encodes unknown payloads with it', () => {
    const payloads: Payload[] = [
      { type: 'unknown', rawType: 250, critical: true, data: hex('01') },
      { type: 'unknown', rawType: 251, critical: false, data: hex('') },
      { ...nonce, critical: true },
    ];
    const bytes = encodePayloads(payloads);
    expect(bytes[1]).toBe(0x80);
    expect(bytes[5 + 1]).toBe(0x00);
    expect(decodePayloads(bytes, 250)).toEqual({ ok: true, value: [payloads[0], payloads[1], { ...nonce, critical: true }] });
  });

  it('rejects anything after SK (§3.14: SK must be last)', () => {
    const sk = { type: PayloadType.SK, innerNext: PayloadType.IDi, body: hex('00112233445566778899') } as const;
    const ok = encodeMessage(HDR, [nonce, sk]);
    expect(decodeMessage(ok).ok).toBe(true);
    // Append a Nonce after the SK payload and fix the header length: SK's Next Payload is the
    // inner type, so the trailing payload is unreachable → trailing-bytes.
    const extra = encodePayloads([nonce]);
    const bad = new Uint8Array(ok.length + extra.length);
    bad.set(ok);
    bad.set(extra, ok.length);
    new DataView(bad.buffer).setUint32(24, bad.length);
    const r = decodeMessage(bad);
    expect(!r.ok && r.error.reason).toBe('trailing-bytes');
    expect(() => encodePayloads([sk, nonce])).toThrow(/last/);
    const skf = { type: PayloadType.SKF, innerNext: 0, fragmentNumber: 2, totalFragments: 2, body: hex('00') } as const;
    expect(() => encodePayloads([skf, nonce])).toThrow(/last/);
  });

  it('generic header checks: length < 4, past the end, trailing bytes, truncated header', () => {
    const reason = (bytes: string, first: number = PayloadType.NONCE): string => {
      const r = decodePayloads(hex(bytes), first);
      return r.ok ? 'ok' : r.error.reason;
    };
    expect(reason('00 00 0003')).toBe('bad-length');
    expect(reason('00 00 0009 0102')).toBe('bad-length');
    expect(reason('00 00 0004 ff')).toBe('trailing-bytes');
    expect(reason('ff', 0)).toBe('trailing-bytes');
    expect(reason('28 00 0004')).toBe('truncated'); // chain says another Nonce follows
    expect(reason('00 00')).toBe('truncated');
    expect(reason('', 0)).toBe('ok');
  });

  it(`bounds the number of payloads (${MAX_PAYLOADS})`, () => {
    const many = (n: number): Uint8Array => encodePayloads(Array.from({ length: n }, () => ({ type: 'unknown', rawType: 200, critical: false, data: new Uint8Array(0) }) as Payload));
    expect(decodePayloads(many(MAX_PAYLOADS), 200).ok).toBe(true);
    const r = decodePayloads(many(MAX_PAYLOADS + 1), 200);
    expect(!r.ok && r.error.reason).toBe('too-many-payloads');
  });

  it('starts at the given offset', () => {
    const bytes = new Uint8Array([9, 9, 9, ...encodePayloads([nonce])]);
    expect(decodePayloads(bytes, PayloadType.NONCE, 3)).toEqual({ ok: true, value: [{ ...nonce, critical: false }] });
    expect(decodePayloads(bytes, PayloadType.NONCE, 99).ok).toBe(false);
    expect(decodePayloads(bytes, PayloadType.NONCE, -1).ok).toBe(false);
  });
});
