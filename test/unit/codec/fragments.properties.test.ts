/**
 * Properties of RFC 7383 fragmentation: every datagram fits the budget and the fragments
 * reassemble (in any order, with duplicates) to the original payloads, for both SK cipher kinds;
 * and the receive path never throws and never completes with altered content on mutated input.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { EncrId, IntegId, PayloadType } from '../../../src/ike/constants.js';
import { decodeMessage, type MessageHeaderFields } from '../../../src/ike/codec/message.js';
import { encodePayloads } from '../../../src/ike/codec/payload-chain.js';
import { fragmentMessage, maxFragmentChunk, transportOverhead, type IpVersion } from '../../../src/ike/codec/fragments.js';
import { Reassembler, decodeReassembled, type FragmentResult } from '../../../src/ike/codec/reassembler.js';
import { DecodeError, type Payload } from '../../../src/ike/codec/types.js';
import { createSkCipher } from '../../../src/ike/crypto/sk-cipher.js';
import type { SkCipher } from '../../../src/ike/crypto/types.js';

const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n));
const CIPHERS: [string, SkCipher][] = [
  ['AES-GCM-16-256', gcm(256)],
  ['AES-GCM-16-128', gcm(128)],
  ['AES-CBC-256 + HMAC-SHA2-256-128', cbc(256, IntegId.HMAC_SHA2_256_128, 32)],
  ['AES-CBC-128 + HMAC-SHA2-512-256', cbc(128, IntegId.HMAC_SHA2_512_256, 64)],
];

function gcm(bits: number): SkCipher {
  return createSkCipher({ encrId: EncrId.AES_GCM_16, encrKeyBits: bits, integId: IntegId.NONE, encrKey: rnd(bits / 8 + 4), integKey: new Uint8Array(0) });
}
function cbc(bits: number, integId: number, integKeyLength: number): SkCipher {
  return createSkCipher({ encrId: EncrId.AES_CBC, encrKeyBits: bits, integId, encrKey: rnd(bits / 8), integKey: rnd(integKeyLength) });
}

const bytes = (min: number, max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ minLength: min, maxLength: max });
const no = fc.constant(false);
const payload: fc.Arbitrary<Payload> = fc.oneof(
  fc.record({ type: fc.constant(PayloadType.CERT), critical: no, encoding: fc.integer({ min: 0, max: 255 }), data: bytes(0, 3000) }),
  fc.record({ type: fc.constant(PayloadType.NONCE), critical: no, data: bytes(16, 256) }),
  fc.record({ type: fc.constant(PayloadType.IDi), critical: no, idType: fc.constant(2), data: bytes(1, 64) }),
  fc.record({
    type: fc.constant(PayloadType.NOTIFY), critical: no, protocol: fc.constant(0), spi: fc.constant(new Uint8Array(0)),
    notifyType: fc.integer({ min: 1, max: 0xffff }), data: bytes(0, 40),
  }),
);
const header: fc.Arbitrary<MessageHeaderFields> = fc.record({
  spiI: bytes(8, 8), spiR: bytes(8, 8), majorVersion: fc.constant(2), minorVersion: fc.constant(0),
  exchangeType: fc.constantFrom(35, 36, 37, 43), initiator: fc.boolean(), response: fc.boolean(), version: fc.constant(false),
  messageId: fc.integer({ min: 1, max: 0xffffffff }),
});
const cipherIndex = fc.integer({ min: 0, max: CIPHERS.length - 1 });

function decodedOrThrow(b: Uint8Array) {
  const r = decodeMessage(b);
  if (!r.ok) throw r.error;
  return r.value;
}

describe('fragmentMessage / Reassembler (properties)', () => {
  it('every datagram fits maxDatagram; fewest fragments; reassembles in any order with duplicates', () => {
    fc.assert(
      fc.property(
        header, fc.array(payload, { maxLength: 6 }), cipherIndex, fc.integer({ min: 120, max: 2000 }), fc.boolean(),
        fc.constantFrom<IpVersion>(4, 6), fc.integer(), fc.nat({ max: 3 }),
        (h, ps, ci, maxDatagram, natT, ipVersion, seed, dupes) => {
          const [, cipher] = CIPHERS[ci]!;
          const chunk = maxFragmentChunk(cipher, maxDatagram, natT, ipVersion);
          fc.pre(chunk >= 1);
          const frags = fragmentMessage(h, ps, cipher, maxDatagram, natT, ipVersion);
          for (const f of frags) expect(f.length + transportOverhead(natT, ipVersion)).toBeLessThanOrEqual(maxDatagram);
          expect(frags.length).toBe(Math.max(1, Math.ceil(encodePayloads(ps).length / chunk)));
          // shuffle deterministically from `seed`, then append `dupes` duplicates before the end
          const order = frags.map((f, i) => ({ f, k: Math.sin(seed + i * 7919) })).sort((a, b) => a.k - b.k).map((x) => x.f);
          const fed = [...order.slice(0, -1), ...order.slice(0, Math.min(dupes, order.length - 1)), ...order.slice(-1)];
          const r = new Reassembler(cipher, { maxFragments: 0xffff, maxBytes: 1 << 20 });
          const results = fed.map((f) => r.accept(f, decodedOrThrow(f), 0));
          const done = results.filter((x): x is Extract<FragmentResult, { status: 'complete' }> => x.status === 'complete');
          expect(done).toHaveLength(1);
          expect(results.at(-1)).toBe(done[0]);
          expect(done[0]!.header.messageId).toBe(h.messageId);
          expect(decodeReassembled(done[0]!.innerNext, done[0]!.plaintext)).toEqual({ ok: true, value: ps });
        },
      ),
      { numRuns: 150 },
    );
  });
});

type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'u16'; at: number; value: number }
  | { kind: 'extend'; tail: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  // bias towards the header / SKF header fields (lengths, numbers, totals)
  fc.record({
    kind: fc.constant('u16' as const),
    at: fc.oneof(fc.constantFrom(16, 22, 24, 26, 28, 30, 32, 34), fc.nat()),
    value: fc.oneof(fc.constantFrom(0, 1, 2, 3, 4, 8, 64, 65, 0xffff), fc.integer({ min: 0, max: 0xffff })),
  }),
  fc.record({ kind: fc.constant('extend' as const), tail: bytes(1, 32) }),
);

function mutate(src: Uint8Array, m: Mutation, fixLength: boolean): Uint8Array {
  let b = src.slice();
  const at = b.length === 0 ? 0 : m.kind === 'extend' ? 0 : m.at % b.length;
  if (m.kind === 'flip') b[at] = b[at]! ^ (1 << m.bit);
  else if (m.kind === 'truncate') b = b.slice(0, at);
  else if (m.kind === 'u16' && at + 1 < b.length) { b[at] = m.value >>> 8; b[at + 1] = m.value & 0xff; }
  else if (m.kind === 'extend') b = new Uint8Array([...b, ...m.tail]);
  if (fixLength && b.length >= 28) new DataView(b.buffer).setUint32(24, b.length);
  return b;
}

describe('receive path never throws on hostile fragments (property)', () => {
  it('decodeMessage + Reassembler.accept return typed results; a completed message is never altered', () => {
    const [, cipher] = CIPHERS[0]!;
    const h: MessageHeaderFields = {
      spiI: rnd(8), spiR: rnd(8), majorVersion: 2, minorVersion: 0, exchangeType: 35,
      initiator: true, response: false, version: false, messageId: 5,
    };
    const ps: Payload[] = [
      { type: PayloadType.CERT, critical: false, encoding: 4, data: rnd(900) },
      { type: PayloadType.NONCE, critical: false, data: rnd(32) },
    ];
    const frags = fragmentMessage(h, ps, cipher, 300, true);
    const plain = encodePayloads(ps);
    fc.assert(
      fc.property(
        fc.array(
          fc.record({ i: fc.nat({ max: frags.length - 1 }), m: fc.option(mutation, { nil: undefined }), fix: fc.boolean() }),
          { minLength: 1, maxLength: 3 * frags.length },
        ),
        (steps) => {
          const r = new Reassembler(cipher);
          for (const { i, m, fix } of steps) {
            const b = m === undefined ? frags[i]! : mutate(frags[i]!, m, fix);
            const d = decodeMessage(b);
            if (!d.ok) { expect(d.error).toBeInstanceOf(DecodeError); continue; }
            const res = r.accept(b, d.value, 0);
            expect(['dropped', 'pending', 'complete']).toContain(res.status);
            if (res.status === 'dropped' && res.error !== undefined) expect(res.error).toBeInstanceOf(DecodeError);
            if (res.status === 'complete') {
              expect(Buffer.from(res.plaintext).equals(Buffer.from(plain))).toBe(true);
              expect(decodeReassembled(res.innerNext, res.plaintext)).toEqual({ ok: true, value: ps });
            }
          }
        },
      ),
      { numRuns: 400 },
    );
  });

  it('accept() does not throw for any header/SKF combination decodeMessage lets through', () => {
    const [, cipher] = CIPHERS[2]!;
    fc.assert(
      fc.property(bytes(28, 200), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xffff }), (raw, num, total) => {
        const b = raw.slice();
        b[16] = PayloadType.SKF; b[17] = 0x20;
        new DataView(b.buffer).setUint32(24, b.length);
        if (b.length >= 36) {
          b[30] = (b.length - 28) >>> 8; b[31] = (b.length - 28) & 0xff;
          b[32] = num >>> 8; b[33] = num & 0xff; b[34] = total >>> 8; b[35] = total & 0xff;
        }
        const d = decodeMessage(b);
        if (!d.ok) return;
        const res = new Reassembler(cipher).accept(b, d.value, 0);
        expect(res.status).toBe('dropped');
      }),
      { numRuns: 500 },
    );
  });
});
