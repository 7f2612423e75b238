import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { BadVersionError, decodeHeader, encodeHeader } from '../../../src/ike/codec/header.js';
import type { IkeHeader } from '../../../src/ike/codec/types.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

// First 28 octets of the IKE_SA_INIT request in Wireshark's test/captures/ikev2-decrypt-aes128ccm12.pcap
// (as embedded in scapy test/contrib/ikev2.uts); see kat.test.ts.
const KAT_HEADER = hex('ea684d21597afd36 0000000000000000 21 20 22 08 00000000 0000001c');

function header(over: Partial<IkeHeader> = {}): IkeHeader {
  return {
    spiI: new Uint8Array(8).fill(1),
    spiR: new Uint8Array(8),
    nextPayload: 0,
    majorVersion: 2,
    minorVersion: 0,
    exchangeType: 34,
    initiator: true,
    response: false,
    version: false,
    messageId: 0,
    length: 28,
    ...over,
  };
}

describe('IKE header (RFC 7296 §3.1)', () => {
  it('decodes a real header', () => {
    const r = decodeHeader(KAT_HEADER);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(Buffer.from(r.value.spiI).toString('hex')).toBe('ea684d21597afd36');
    expect(r.value.spiR).toEqual(new Uint8Array(8));
    expect(r.value).toMatchObject({
      nextPayload: 33, majorVersion: 2, minorVersion: 0, exchangeType: 34,
      initiator: true, response: false, version: false, messageId: 0, length: 28,
    });
  });

  it('encodes flags I=0x08, V=0x10, R=0x20', () => {
    const b = encodeHeader(header({ initiator: true, version: true, response: true }));
    expect(b[19]).toBe(0x38);
    expect(b.length).toBe(28);
  });

  it('reports bad-version with the whole header (for INVALID_MAJOR_VERSION)', () => {
    for (const major of [1, 3, 15]) {
      const b = encodeHeader(header({ majorVersion: major, messageId: 7 }));
      const r = decodeHeader(b);
      expect(r.ok).toBe(false);
      if (r.ok) continue;
      expect(r.error.reason).toBe('bad-version');
      expect(r.error).toBeInstanceOf(BadVersionError);
      const h = (r.error as BadVersionError).header;
      expect(h.majorVersion).toBe(major);
      expect(h.messageId).toBe(7);
      expect(h.spiI).toEqual(new Uint8Array(8).fill(1));
    }
  });

  it('ignores the minor version and unknown flag bits', () => {
    const b = encodeHeader(header({ minorVersion: 9 }));
    b[19] = b[19]! | 0xc7;
    const r = decodeHeader(b);
    expect(r.ok && r.value.minorVersion === 9 && r.value.initiator && !r.value.response).toBe(true);
  });

  it('requires Length ≥ 28 and equal to the datagram length', () => {
    const short = decodeHeader(encodeHeader(header({ length: 27 })));
    expect(!short.ok && short.error.reason).toBe('bad-length');
    const long = decodeHeader(encodeHeader(header({ length: 29 })));
    expect(!long.ok && long.error.reason).toBe('bad-length');
    const extra = new Uint8Array(40);
    extra.set(encodeHeader(header({ length: 28 })));
    const r = decodeHeader(extra);
    expect(!r.ok && r.error.reason).toBe('bad-length');
  });

  it('reports truncated below 28 octets', () => {
    for (let n = 0; n < 28; n++) {
      const r = decodeHeader(KAT_HEADER.subarray(0, n));
      expect(!r.ok && r.error.reason).toBe('truncated');
    }
  });

  it('decodes from a subarray with a non-zero byteOffset', () => {
    const big = new Uint8Array(100).fill(0xee);
    big.set(KAT_HEADER, 50);
    const r = decodeHeader(big.subarray(50, 78));
    expect(r.ok && Buffer.from(r.value.spiI).toString('hex')).toBe('ea684d21597afd36');
  });

  it('round-trips (property)', () => {
    const arb = fc.record({
      spiI: fc.uint8Array({ minLength: 8, maxLength: 8 }),
      spiR: fc.uint8Array({ minLength: 8, maxLength: 8 }),
      nextPayload: fc.integer({ min: 0, max: 255 }),
      majorVersion: fc.constant(2),
      minorVersion: fc.integer({ min: 0, max: 15 }),
      exchangeType: fc.integer({ min: 0, max: 255 }),
      initiator: fc.boolean(),
      response: fc.boolean(),
      version: fc.boolean(),
      messageId: fc.integer({ min: 0, max: 0xffffffff }),
      length: fc.constant(28),
    });
    fc.assert(
      fc.property(arb, (h) => {
        const r = decodeHeader(encodeHeader(h));
        expect(r).toEqual({ ok: true, value: h });
      }),
    );
  });
});
