/**
 * RFC 7383 fragmentation: fragmentMessage (§2.5) and Reassembler (§2.6) with the real SK ciphers
 * (AES-GCM-16-256, RFC 5282; AES-CBC-256 + HMAC-SHA2-256-128, RFC 7296 §3.14).
 */
import { describe, it, expect } from 'vitest';
import { randomBytes } from 'node:crypto';
import { EncrId, IntegId, NotifyType, PayloadType } from '../../../src/ike/constants.js';
import { decodeMessage, encodeMessage, openMessage, type MessageHeaderFields } from '../../../src/ike/codec/message.js';
import { encodePayloads } from '../../../src/ike/codec/payload-chain.js';
import {
  exceedsDatagram, fragmentMessage, maxFragmentChunk, openFragment, transportOverhead,
} from '../../../src/ike/codec/fragments.js';
import { Reassembler, decodeReassembled, type FragmentResult } from '../../../src/ike/codec/reassembler.js';
import type { IkeMessage, Payload } from '../../../src/ike/codec/types.js';
import { createSkCipher } from '../../../src/ike/crypto/sk-cipher.js';
import type { SkCipher } from '../../../src/ike/crypto/types.js';

const rnd = (n: number): Uint8Array => new Uint8Array(randomBytes(n));

const CIPHERS: Record<string, () => SkCipher> = {
  'AES-GCM-16-256': () => createSkCipher({
    encrId: EncrId.AES_GCM_16, encrKeyBits: 256, integId: IntegId.NONE, encrKey: rnd(36), integKey: new Uint8Array(0),
  }),
  'AES-CBC-256 + HMAC-SHA2-256-128': () => createSkCipher({
    encrId: EncrId.AES_CBC, encrKeyBits: 256, integId: IntegId.HMAC_SHA2_256_128, encrKey: rnd(32), integKey: rnd(32),
  }),
};

const HDR: MessageHeaderFields = {
  spiI: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8), spiR: Uint8Array.of(9, 10, 11, 12, 13, 14, 15, 16),
  majorVersion: 2, minorVersion: 0, exchangeType: 35, initiator: true, response: false, version: false, messageId: 1,
};

const INNER: Payload[] = [
  { type: PayloadType.IDi, critical: false, idType: 2, data: new TextEncoder().encode('branch.example') },
  { type: PayloadType.CERT, critical: false, encoding: 4, data: Uint8Array.from({ length: 1400 }, (_, i) => i & 0xff) },
  { type: PayloadType.AUTH, critical: false, method: 14, data: rnd(64) },
  {
    type: PayloadType.NOTIFY, critical: false, protocol: 0, spi: new Uint8Array(0),
    notifyType: NotifyType.INITIAL_CONTACT, data: new Uint8Array(0),
  },
  {
    type: PayloadType.TSi, critical: false,
    selectors: [{ tsType: 7, ipProtocol: 0, startPort: 0, endPort: 65535, startAddr: new Uint8Array(4), endAddr: new Uint8Array(4).fill(255) }],
  },
];

function decoded(bytes: Uint8Array): IkeMessage {
  const r = decodeMessage(bytes);
  if (!r.ok) throw r.error;
  return r.value;
}
const u16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;

/** Feeds datagrams in order; returns every result. */
function feed(r: Reassembler, frags: Uint8Array[], now = 0): FragmentResult[] {
  return frags.map((f) => r.accept(f, decoded(f), now));
}

function completed(results: FragmentResult[]): Payload[] {
  const done = results.filter((x) => x.status === 'complete');
  expect(done).toHaveLength(1);
  const c = done[0]!;
  if (c.status !== 'complete') throw new Error('unreachable');
  const inner = decodeReassembled(c.innerNext, c.plaintext);
  if (!inner.ok) throw inner.error;
  return inner.value;
}

function permutations<T>(xs: T[]): T[][] {
  if (xs.length <= 1) return [xs];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
}

/** Re-seals a fragment's content under a modified header (e.g. another total or exchange type). */
function reseal(frag: Uint8Array, cipher: SkCipher, edit: (b: Uint8Array) => void): Uint8Array {
  const m = decoded(frag);
  const opened = openFragment(frag, m, cipher);
  if (!opened.ok) throw new Error('cannot open');
  const head = frag.slice(0, 36);
  edit(head);
  const body = cipher.seal(head, opened.value.plaintext);
  const out = new Uint8Array(36 + body.length);
  out.set(head);
  out.set(body, 36);
  new DataView(out.buffer).setUint32(24, out.length);
  out[30] = (out.length - 28) >>> 8;
  out[31] = (out.length - 28) & 0xff;
  return out;
}

describe.each(Object.entries(CIPHERS))('%s', (_name, make) => {
  it('fragments: one SKF each, numbers 1..n, same Message ID, Next Payload only in #1, fits the budget', () => {
    const cipher = make();
    for (const natT of [false, true]) {
      const frags = fragmentMessage(HDR, INNER, cipher, 576, natT);
      expect(frags.length).toBeGreaterThan(2);
      frags.forEach((f, i) => {
        expect(f.length + transportOverhead(natT)).toBeLessThanOrEqual(576);
        const m = decoded(f);
        expect(m.header).toMatchObject({
          messageId: 1, exchangeType: 35, initiator: true, response: false, nextPayload: PayloadType.SKF, length: f.length,
        });
        expect(m.payloads).toHaveLength(1);
        expect(m.payloads[0]).toMatchObject({
          type: PayloadType.SKF, fragmentNumber: i + 1, totalFragments: frags.length, innerNext: i === 0 ? PayloadType.IDi : 0,
        });
        expect(u16(f, 30)).toBe(f.length - 28);
      });
      // all but the last fragment are full: the fewest fragments for this budget
      expect(frags.length).toBe(Math.ceil(encodePayloads(INNER).length / maxFragmentChunk(cipher, 576, natT)));
    }
  });

  it('seals every fragment with AAD = IKE header + the 8-octet SKF header (RFC 7383 §2.5, RFC 5282 §5.1)', () => {
    const inner = make();
    const aads: Uint8Array[] = [];
    const spy: SkCipher = {
      ivLength: inner.ivLength,
      icvLength: inner.icvLength,
      sealedLength: (n) => inner.sealedLength(n),
      open: (a, b) => inner.open(a, b),
      seal: (a, p) => {
        aads.push(a.slice());
        return inner.seal(a, p);
      },
    };
    const frags = fragmentMessage(HDR, INNER, spy, 700, true);
    expect(aads.map((a) => Buffer.from(a).toString('hex'))).toEqual(frags.map((f) => Buffer.from(f.subarray(0, 36)).toString('hex')));
    // and flipping any AAD octet (that still decodes) breaks the ICV
    const f = frags[1]!;
    for (const at of [0, 8, 18, 19, 20, 23, 29, 33, 35]) {
      const bad = f.slice();
      bad[at] = bad[at]! ^ 1;
      const d = decodeMessage(bad);
      if (d.ok) expect(openFragment(bad, d.value, inner)).toEqual({ ok: false, error: 'integrity' });
    }
  });

  it('reassembles in every order to the payloads of the unfragmented message', () => {
    const cipher = make();
    const small = INNER.filter((p) => p.type !== PayloadType.CERT);
    const frags = fragmentMessage(HDR, small, cipher, 140, true);
    expect(frags.length).toBeGreaterThanOrEqual(3);
    expect(frags.length).toBeLessThanOrEqual(5);
    const whole = encodeMessage(HDR, small, cipher);
    const opened = openMessage(whole, decoded(whole), cipher);
    expect(opened.ok).toBe(true);
    for (const order of permutations([...frags.keys()])) {
      const results = feed(new Reassembler(cipher), order.map((i) => frags[i]!));
      expect(results.slice(0, -1).every((r) => r.status === 'pending')).toBe(true);
      const got = completed(results);
      expect(got).toEqual(small);
      if (opened.ok) expect(got).toEqual(opened.value);
    }
  });

  it('total = 1 works, and a large message round-trips', () => {
    const cipher = make();
    const one = fragmentMessage(HDR, INNER, cipher, 9000, false);
    expect(one).toHaveLength(1);
    expect(completed(feed(new Reassembler(cipher), one))).toEqual(INNER);
    const empty = fragmentMessage(HDR, [], cipher, 200, false);
    expect(empty).toHaveLength(1);
    expect(completed(feed(new Reassembler(cipher), empty))).toEqual([]);
    const many = fragmentMessage(HDR, INNER, cipher, 200, true);
    expect(many.length).toBeGreaterThan(10);
    expect(completed(feed(new Reassembler(cipher), [...many].reverse()))).toEqual(INNER);
  });

  it('ignores duplicates and completes once', () => {
    const cipher = make();
    const frags = fragmentMessage(HDR, INNER, cipher, 576, false);
    const r = new Reassembler(cipher);
    const results = feed(r, [frags[0]!, frags[0]!, ...frags.slice(1, -1), frags[1]!, frags.at(-1)!]);
    expect(results[1]).toEqual({ status: 'dropped', reason: 'duplicate' });
    expect(results.at(-2)).toEqual({ status: 'dropped', reason: 'duplicate' });
    expect(completed(results)).toEqual(INNER);
    // a late duplicate after completion is a replay of a reassembled Message ID
    expect(r.accept(frags[0]!, decoded(frags[0]!), 1)).toEqual({ status: 'dropped', reason: 'stale' });
  });

  it('drops a corrupted fragment without touching the set; the valid copy completes it', () => {
    const cipher = make();
    const frags = fragmentMessage(HDR, INNER, cipher, 576, false);
    const r = new Reassembler(cipher);
    const bad = frags[1]!.slice();
    bad[bad.length - 20] = bad[bad.length - 20]! ^ 0x40;
    expect(feed(r, [frags[0]!, bad])[1]).toEqual({ status: 'dropped', reason: 'integrity' });
    // a forged fragment with a larger Total Fragments must not reset the set (§2.6: ICV first)
    const forged = frags[2]!.slice();
    forged[35] = forged[35]! + 5;
    expect(r.accept(forged, decoded(forged), 0)).toEqual({ status: 'dropped', reason: 'integrity' });
    // nor one from a newer Message ID
    const newer = frags[2]!.slice();
    newer[23] = newer[23]! + 1;
    expect(r.accept(newer, decoded(newer), 0)).toEqual({ status: 'dropped', reason: 'integrity' });
    expect(r.pending()).toMatchObject([{ response: false, messageId: 1, received: 1, total: frags.length }]);
    expect(completed(feed(r, frags.slice(1)))).toEqual(INNER);
  });

  it('a larger Total Fragments restarts reassembly; a smaller one is dropped (§2.6)', () => {
    const cipher = make();
    const coarse = fragmentMessage(HDR, INNER, cipher, 1000, false);
    const fine = fragmentMessage(HDR, INNER, cipher, 500, false);
    expect(fine.length).toBeGreaterThan(coarse.length);
    const r = new Reassembler(cipher);
    expect(feed(r, coarse.slice(0, -1)).every((x) => x.status === 'pending')).toBe(true);
    // the sender re-fragments smaller (PMTU trouble): the coarse set is discarded
    expect(r.accept(fine[0]!, decoded(fine[0]!), 0)).toEqual({ status: 'pending', messageId: 1, received: 1, total: fine.length });
    expect(r.accept(coarse.at(-1)!, decoded(coarse.at(-1)!), 0)).toEqual({ status: 'dropped', reason: 'smaller-total' });
    expect(completed(feed(r, fine.slice(1)))).toEqual(INNER);
  });

  it('limits: too many fragments (before decrypting) and too many octets (set discarded)', () => {
    const cipher = make();
    const frags = fragmentMessage(HDR, INNER, cipher, 300, false);
    expect(frags.length).toBeGreaterThan(4);
    const few = new Reassembler(cipher, { maxFragments: 4 });
    expect(few.accept(frags[0]!, decoded(frags[0]!), 0)).toEqual({ status: 'dropped', reason: 'too-many-fragments' });
    const tight = new Reassembler(cipher, { maxBytes: 1000 });
    const results = feed(tight, frags);
    expect(results.find((x) => x.status === 'dropped')).toEqual({ status: 'dropped', reason: 'too-large' });
    expect(results.some((x) => x.status === 'complete')).toBe(false);
    expect(tight.pending().every((p) => p.bytes <= 1000)).toBe(true);
  });

  it('Message IDs: an older one is stale, a newer one replaces the set, the two directions are independent', () => {
    const cipher = make();
    const m2 = fragmentMessage({ ...HDR, messageId: 2 }, INNER, cipher, 576, false);
    const m3 = fragmentMessage({ ...HDR, messageId: 3 }, INNER, cipher, 576, false);
    const resp = fragmentMessage({ ...HDR, messageId: 7, response: true, initiator: false }, INNER.slice(0, 2), cipher, 576, false);
    const r = new Reassembler(cipher);
    feed(r, m3.slice(0, 2));
    expect(r.accept(m2[2]!, decoded(m2[2]!), 0)).toEqual({ status: 'dropped', reason: 'stale' });
    feed(r, resp.slice(0, 1));
    expect(r.pending().map((p) => [p.response, p.messageId])).toEqual([[false, 3], [true, 7]]);
    const m4 = fragmentMessage({ ...HDR, messageId: 4 }, INNER, cipher, 576, false);
    expect(r.accept(m4[0]!, decoded(m4[0]!), 5)).toMatchObject({ status: 'pending', messageId: 4, received: 1 });
    expect(completed(feed(r, m4.slice(1)))).toEqual(INNER);
    expect(completed(feed(r, resp.slice(1)))).toEqual(INNER.slice(0, 2));
    expect(r.accept(m3[2]!, decoded(m3[2]!), 0)).toEqual({ status: 'dropped', reason: 'stale' });
  });

  it('rejects fragments sealed with other keys, and authenticated ones whose header disagrees with the set', () => {
    const cipher = make();
    const frags = fragmentMessage(HDR, INNER, cipher, 576, false);
    const other = fragmentMessage(HDR, INNER, make(), 576, false);
    const r = new Reassembler(cipher);
    feed(r, frags.slice(0, 1));
    expect(r.accept(other[1]!, decoded(other[1]!), 0)).toEqual({ status: 'dropped', reason: 'integrity' });
    const otherExchange = reseal(frags[1]!, cipher, (h) => { h[18] = 37; });
    expect(r.accept(otherExchange, decoded(otherExchange), 0)).toEqual({ status: 'dropped', reason: 'header-mismatch' });
    expect(completed(feed(r, frags.slice(1)))).toEqual(INNER);
  });

  it('pending() reports the set with its times; discardIdleSince() drops idle sets only', () => {
    const cipher = make();
    const frags = fragmentMessage(HDR, INNER, cipher, 576, false);
    const r = new Reassembler(cipher);
    r.accept(frags[0]!, decoded(frags[0]!), 100);
    r.accept(frags[1]!, decoded(frags[1]!), 250);
    expect(r.pending()).toMatchObject([{ messageId: 1, startedAt: 100, updatedAt: 250, received: 2 }]);
    expect(r.discardIdleSince(200)).toBe(0);
    expect(r.discardIdleSince(300)).toBe(1);
    expect(r.pending()).toEqual([]);
  });
});

describe('sizing', () => {
  it('matches strongSwan message.c fragment(): IP + UDP (+ marker) + IKE header + SKF header + IV + ICV + pad', () => {
    const gcm = CIPHERS['AES-GCM-16-256']!();
    const cbc = CIPHERS['AES-CBC-256 + HMAC-SHA2-256-128']!();
    // GCM (block 1): 1280 - 20 - 8 - 4 - 28 - 8 - 8 - 16 - 1
    expect(maxFragmentChunk(gcm, 1280, true)).toBe(1187);
    // CBC: round_down(1280 - 20 - 8 - 4 - 28 - 16 - 16 - 8, 16) - 1
    expect(maxFragmentChunk(cbc, 1280, true)).toBe(1167);
    expect(maxFragmentChunk(gcm, 1280, false, 6)).toBe(1280 - 40 - 8 - 28 - 8 - 8 - 16 - 1);
    expect(maxFragmentChunk(gcm, 60, false)).toBe(0);
    expect(() => fragmentMessage(HDR, INNER, gcm, 60, false)).toThrow(/no room/);
    expect(() => fragmentMessage(HDR, [{ type: PayloadType.SK, innerNext: 0, body: rnd(4) }], gcm, 576, false)).toThrow(/nested/);
    expect(exceedsDatagram(1248, 1280, true)).toBe(false);
    expect(exceedsDatagram(1249, 1280, true)).toBe(true);
    expect(exceedsDatagram(1252, 1280, false)).toBe(false);
    expect(exceedsDatagram(1253, 1280, false)).toBe(true);
  });
});

describe('openFragment / decodeReassembled on bad input', () => {
  it('refuses a msg that does not belong to the bytes, and non-fragment messages', () => {
    const cipher = CIPHERS['AES-GCM-16-256']!();
    const frags = fragmentMessage(HDR, INNER, cipher, 576, false);
    const m0 = decoded(frags[0]!);
    const m1 = decoded(frags[1]!);
    expect(openFragment(frags[1]!, m0, cipher).ok).toBe(false);
    expect(openFragment(frags[0]!, m1, cipher).ok).toBe(false);
    const whole = encodeMessage(HDR, INNER, cipher);
    const r = new Reassembler(cipher).accept(whole, decoded(whole), 0);
    expect(r).toMatchObject({ status: 'dropped', reason: 'malformed' });
    expect(decodeReassembled(PayloadType.SK, encodePayloads([{ type: PayloadType.SK, innerNext: 0, body: rnd(8) }])).ok).toBe(false);
    expect(decodeReassembled(PayloadType.IDi, rnd(3)).ok).toBe(false);
  });
});
