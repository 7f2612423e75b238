/**
 * Property tests: decode(encode(x)) = x for every payload kind, and the decoders never throw
 * (random bytes, mutated valid messages) and finish in bounded time.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { PayloadType } from '../../../src/ike/constants.js';
import { decodeMessage, encodeMessage, openMessage, type MessageHeaderFields } from '../../../src/ike/codec/message.js';
import { MAX_PAYLOADS, decodePayloads, encodePayloads, payloadTypeOf } from '../../../src/ike/codec/payload-chain.js';
import { DecodeError, type Payload, type TrafficSelector } from '../../../src/ike/codec/types.js';
import type { SkCipher } from '../../../src/ike/crypto/types.js';

const u8 = fc.integer({ min: 0, max: 0xff });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const bytes = (min: number, max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: min, maxLength: max });
const critical = fc.boolean();
const KNOWN = new Set<number>(Object.values(PayloadType));

const transform = fc.record({ type: u8, id: u16, keyLength: u16 }, { requiredKeys: ['type', 'id'] });
const proposal = fc.record({ num: u8, protocol: u8, spi: bytes(0, 16), transforms: fc.array(transform, { maxLength: 6 }) });
const selector: fc.Arbitrary<TrafficSelector> = fc.oneof(
  fc.record({ tsType: fc.constant(7), ipProtocol: u8, startPort: u16, endPort: u16, startAddr: bytes(4, 4), endAddr: bytes(4, 4) }),
  fc.record({ tsType: fc.constant(8), ipProtocol: u8, startPort: u16, endPort: u16, startAddr: bytes(16, 16), endAddr: bytes(16, 16) }),
);
const deletePayload = fc.oneof(
  fc.record({ type: fc.constant(PayloadType.DELETE), critical, protocol: u8, spiSize: fc.constant(0), spis: fc.constant(0).map((): Uint8Array[] => []) }),
  fc.integer({ min: 1, max: 16 }).chain((size) =>
    fc.record({
      type: fc.constant(PayloadType.DELETE), critical, protocol: u8, spiSize: fc.constant(size),
      spis: fc.array(bytes(size, size), { maxLength: 5 }),
    }),
  ),
);

/** Every payload kind that may appear anywhere in a chain. */
const plainPayload: fc.Arbitrary<Payload> = fc.oneof(
  fc.record({ type: fc.constant(PayloadType.SA), critical, proposals: fc.array(proposal, { maxLength: 4 }) }),
  fc.record({ type: fc.constant(PayloadType.KE), critical, group: u16, data: bytes(0, 300) }),
  fc.record({ type: fc.constantFrom(PayloadType.IDi, PayloadType.IDr), critical, idType: u8, data: bytes(0, 64) }),
  fc.record({ type: fc.constant(PayloadType.CERT), critical, encoding: u8, data: bytes(0, 200) }),
  fc.record({ type: fc.constant(PayloadType.CERTREQ), critical, encoding: u8, data: bytes(0, 60) }),
  fc.record({ type: fc.constant(PayloadType.AUTH), critical, method: u8, data: bytes(0, 64) }),
  fc.record({ type: fc.constant(PayloadType.NONCE), critical, data: bytes(0, 300) }),
  fc.record({ type: fc.constant(PayloadType.NOTIFY), critical, protocol: u8, spi: bytes(0, 16), notifyType: u16, data: bytes(0, 40) }),
  deletePayload,
  fc.record({ type: fc.constant(PayloadType.VENDOR), critical, data: bytes(0, 32) }),
  fc.record({ type: fc.constantFrom(PayloadType.TSi, PayloadType.TSr), critical, selectors: fc.array(selector, { maxLength: 4 }) }),
  fc.record({
    type: fc.constant(PayloadType.CP), critical, cfgType: u8,
    attributes: fc.array(fc.record({ type: fc.integer({ min: 0, max: 0x7fff }), value: bytes(0, 20) }), { maxLength: 5 }),
  }),
  fc.record({ type: fc.constant(PayloadType.EAP), critical, data: bytes(0, 60) }),
  fc.record({
    type: fc.constant('unknown' as const), critical,
    rawType: u8.filter((t) => t !== 0 && !KNOWN.has(t)), data: bytes(0, 40),
  }),
);

/** SK or SKF: only as the last payload. */
const encryptedPayload: fc.Arbitrary<Payload> = fc.oneof(
  fc.record({ type: fc.constant(PayloadType.SK), critical, innerNext: u8, body: bytes(0, 100) }),
  fc.integer({ min: 1, max: 0xffff }).chain((n) =>
    fc.record({
      type: fc.constant(PayloadType.SKF), critical, innerNext: u8,
      fragmentNumber: fc.constant(n), totalFragments: fc.integer({ min: n, max: 0xffff }), body: bytes(0, 100),
    }),
  ),
);

const payloadList: fc.Arbitrary<Payload[]> = fc
  .tuple(fc.array(plainPayload, { maxLength: 8 }), fc.option(encryptedPayload, { nil: undefined }))
  .map(([plain, enc]) => (enc === undefined ? plain : [...plain, enc]));

const headerFields: fc.Arbitrary<MessageHeaderFields> = fc.record({
  spiI: bytes(8, 8), spiR: bytes(8, 8), majorVersion: fc.constant(2), minorVersion: fc.integer({ min: 0, max: 15 }),
  exchangeType: u8, initiator: fc.boolean(), response: fc.boolean(), version: fc.boolean(), messageId: u32,
});

const firstType = (ps: Payload[]): number => (ps[0] === undefined ? 0 : payloadTypeOf(ps[0]));

describe('round trip (property)', () => {
  it('decodePayloads(encodePayloads(x)) deep-equals x for all payload kinds', () => {
    fc.assert(
      fc.property(payloadList, (ps) => {
        expect(decodePayloads(encodePayloads(ps), firstType(ps))).toEqual({ ok: true, value: ps });
      }),
      { numRuns: 500 },
    );
  });

  it('decodeMessage(encodeMessage(h, x)) gives back h and x, and re-encodes to the same octets', () => {
    fc.assert(
      fc.property(headerFields, payloadList, (h, ps) => {
        const bytes = encodeMessage(h, ps);
        const r = decodeMessage(bytes);
        expect(r.ok).toBe(true);
        if (!r.ok) return;
        expect(r.value.header).toEqual({ ...h, nextPayload: firstType(ps), length: bytes.length });
        expect(r.value.payloads).toEqual(ps);
        expect(encodeMessage(h, r.value.payloads)).toEqual(bytes);
      }),
      { numRuns: 300 },
    );
  });
});

/** Asserts the decoder returned a well-formed result. Throwing fails the property. */
function checkResult(r: { ok: boolean; error?: unknown }): void {
  expect(typeof r.ok).toBe('boolean');
  if (!r.ok) expect(r.error).toBeInstanceOf(DecodeError);
}

function setLength(b: Uint8Array): Uint8Array {
  if (b.length >= 28) new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(24, b.length);
  return b;
}

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'u16'; at: number; value: number }
  | { kind: 'extend'; tail: Uint8Array }
  | { kind: 'splice'; at: number; junk: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('u16' as const), at: fc.nat(), value: fc.oneof(u16, fc.constantFrom(0, 1, 3, 4, 5, 8, 0xffff)) }),
  fc.record({ kind: fc.constant('extend' as const), tail: bytes(1, 64) }),
  fc.record({ kind: fc.constant('splice' as const), at: fc.nat(), junk: bytes(1, 16) }),
);

function mutate(src: Uint8Array, m: Mutation): Uint8Array {
  const b = src.slice();
  const at = b.length === 0 ? 0 : (m.kind === 'extend' ? 0 : m.at % b.length);
  switch (m.kind) {
    case 'flip':
      if (b.length > 0) b[at] = b[at]! ^ (1 << m.bit);
      return b;
    case 'truncate':
      return b.slice(0, at);
    case 'u16':
      if (at + 1 < b.length) new DataView(b.buffer).setUint16(at, m.value);
      return b;
    case 'extend':
      return new Uint8Array([...b, ...m.tail]);
    case 'splice':
      return new Uint8Array([...b.subarray(0, at), ...m.junk, ...b.subarray(at)]);
  }
}

describe('decoders never throw (property)', () => {
  it('random bytes', () => {
    fc.assert(fc.property(bytes(0, 600), (b) => checkResult(decodeMessage(b))), { numRuns: 1000 });
  });

  it('random bodies behind a valid header (reaches the payload walkers)', () => {
    fc.assert(
      fc.property(headerFields, u8, bytes(0, 600), (h, first, body) => {
        const msg = encodeMessage(h, [{ type: 'unknown', rawType: 200, critical: false, data: new Uint8Array(0) }]);
        const b = setLength(new Uint8Array([...msg.subarray(0, 28), ...body]));
        b[16] = first;
        checkResult(decodeMessage(b));
        checkResult(decodePayloads(body, first));
      }),
      { numRuns: 2000 },
    );
  });

  it('mutated valid messages (bit flips, truncation, length-field corruption, extension)', () => {
    fc.assert(
      fc.property(headerFields, payloadList, fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.boolean(), (h, ps, ms, fix) => {
        let b = encodeMessage(h, ps);
        for (const m of ms) b = mutate(b, m);
        // Half the time repair the header Length so the damage reaches the payload chain.
        if (fix) setLength(b);
        checkResult(decodeMessage(b));
      }),
      { numRuns: 3000 },
    );
  });

  it('openMessage on arbitrary "decrypted" inner bytes reports a DecodeError, never throws', () => {
    fc.assert(
      fc.property(headerFields, u8, bytes(0, 300), (h, innerNext, inner) => {
        const cipher: SkCipher = {
          ivLength: 0, icvLength: 0, sealedLength: (n) => n,
          seal: (_aad, p) => p.slice(), open: () => inner,
        };
        const msg = encodeMessage(h, [{ type: PayloadType.SK, innerNext, body: new Uint8Array(4) }]);
        const d = decodeMessage(msg);
        if (!d.ok) throw d.error;
        const r = openMessage(msg, d.value, cipher);
        if (!r.ok && r.error !== 'integrity') expect(r.error).toBeInstanceOf(DecodeError);
      }),
      { numRuns: 1000 },
    );
  });

  it('bounded time on worst-case 64 KiB inputs', () => {
    // (a) 65 507 octets of minimal unknown payloads: stops at MAX_PAYLOADS.
    const body = new Uint8Array(65507 - 28);
    for (let i = 0; i + 4 <= body.length; i += 4) body.set([200, 0, 0, 4], i);
    const h = encodeMessage({ spiI: new Uint8Array(8), spiR: new Uint8Array(8), majorVersion: 2, minorVersion: 0, exchangeType: 34, initiator: true, response: false, version: false, messageId: 0 }, []);
    const dgram = setLength(new Uint8Array([...h, ...body]));
    dgram[16] = 200;
    // (b) one SA payload packed with 8-octet transforms inside 255-transform proposals.
    const sa: Payload = {
      type: PayloadType.SA,
      proposals: Array.from({ length: 31 }, (_, i) => ({
        num: i + 1, protocol: 1, spi: new Uint8Array(0),
        transforms: Array.from({ length: 255 }, () => ({ type: 1, id: 12 })),
      })),
    };
    const saMsg = encodeMessage({ spiI: new Uint8Array(8), spiR: new Uint8Array(8), majorVersion: 2, minorVersion: 0, exchangeType: 34, initiator: true, response: false, version: false, messageId: 0 }, [sa]);
    expect(saMsg.length).toBeGreaterThan(60000);
    const t0 = performance.now();
    for (let i = 0; i < 20; i++) {
      const r = decodeMessage(dgram);
      expect(!r.ok && r.error.reason).toBe('too-many-payloads');
      expect(decodeMessage(saMsg).ok).toBe(true);
    }
    const perPair = (performance.now() - t0) / 20;
    expect(perPair).toBeLessThan(250); // generous for a loaded 2-core box; typically ~1-3 ms
    expect(MAX_PAYLOADS).toBe(64);
  });
});
