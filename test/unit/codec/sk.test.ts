/**
 * SK payload protection through encodeMessage/openMessage (RFC 7296 §3.14, RFC 5282 §5): the AAD
 * is the IKE header plus the SK generic header, with final lengths.
 */
import { describe, it, expect } from 'vitest';
import { createHmac, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { NotifyType, PayloadType } from '../../../src/ike/constants.js';
import { decodeMessage, encodeMessage, findNotify, findPayload, openMessage, type MessageHeaderFields, type OpenResult } from '../../../src/ike/codec/message.js';
import { encodePayloads } from '../../../src/ike/codec/payload-chain.js';
import { DecodeError, type IkeMessage, type Payload } from '../../../src/ike/codec/types.js';
import { createSkCipher } from '../../../src/ike/crypto/sk-cipher.js';
import type { SkCipher } from '../../../src/ike/crypto/types.js';

/**
 * Test-only cipher: IV(8) ‖ (plaintext ‖ padLen=0) XOR sha256-counter keystream ‖ HMAC-SHA256(aad ‖ IV ‖ ct)[0..16).
 * Records every aad it sealed. `substitute` replaces the plaintext (to forge malformed inner chains).
 */
class TestCipher implements SkCipher {
  readonly ivLength = 8;
  readonly icvLength = 16;
  readonly sealedAad: Uint8Array[] = [];
  constructor(private readonly key = new Uint8Array(randomBytes(32)), private readonly substitute?: Uint8Array) {}
  sealedLength(n: number): number {
    return this.ivLength + (this.substitute?.length ?? n) + 1 + this.icvLength;
  }
  private xor(iv: Uint8Array, data: Uint8Array): Uint8Array {
    const out = new Uint8Array(data.length);
    for (let block = 0; block * 32 < data.length; block++) {
      const ks = createHash('sha256').update(this.key).update(iv).update(String(block)).digest();
      for (let i = 0; i < 32 && block * 32 + i < data.length; i++) out[block * 32 + i] = data[block * 32 + i]! ^ ks[i]!;
    }
    return out;
  }
  private tag(aad: Uint8Array, ivAndCt: Uint8Array): Uint8Array {
    return new Uint8Array(createHmac('sha256', this.key).update(aad).update(ivAndCt).digest().subarray(0, this.icvLength));
  }
  seal(aad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    this.sealedAad.push(aad.slice());
    const iv = new Uint8Array(randomBytes(this.ivLength));
    const ct = this.xor(iv, new Uint8Array([...(this.substitute ?? plaintext), 0]));
    const ivAndCt = new Uint8Array([...iv, ...ct]);
    return new Uint8Array([...ivAndCt, ...this.tag(aad, ivAndCt)]);
  }
  open(aad: Uint8Array, body: Uint8Array): Uint8Array | null {
    if (body.length < this.ivLength + 1 + this.icvLength) return null;
    const ivAndCt = body.subarray(0, body.length - this.icvLength);
    if (!timingSafeEqual(this.tag(aad, ivAndCt), body.subarray(body.length - this.icvLength))) return null;
    const pt = this.xor(ivAndCt.subarray(0, this.ivLength), ivAndCt.subarray(this.ivLength));
    const padLen = pt[pt.length - 1]!;
    return padLen + 1 > pt.length ? null : pt.slice(0, pt.length - 1 - padLen);
  }
}

const HDR: MessageHeaderFields = {
  spiI: new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), spiR: new Uint8Array([9, 10, 11, 12, 13, 14, 15, 16]),
  majorVersion: 2, minorVersion: 0, exchangeType: 35, initiator: true, response: false, version: false, messageId: 1,
};

const INNER: Payload[] = [
  { type: PayloadType.IDi, critical: false, idType: 2, data: new TextEncoder().encode('branch.example') },
  { type: PayloadType.AUTH, critical: false, method: 2, data: new Uint8Array(32).fill(0xa5) },
  { type: PayloadType.NOTIFY, critical: false, protocol: 0, spi: new Uint8Array(0), notifyType: NotifyType.INITIAL_CONTACT, data: new Uint8Array(0) },
  {
    type: PayloadType.SA, critical: false,
    proposals: [{ num: 1, protocol: 3, spi: new Uint8Array([0xc0, 0xff, 0xee, 0x01]), transforms: [{ type: 1, id: 20, keyLength: 256 }, { type: 5, id: 0 }] }],
  },
  { type: PayloadType.TSi, critical: false, selectors: [{ tsType: 7, ipProtocol: 0, startPort: 0, endPort: 65535, startAddr: new Uint8Array(4), endAddr: new Uint8Array(4).fill(255) }] },
  { type: PayloadType.TSr, critical: false, selectors: [{ tsType: 7, ipProtocol: 0, startPort: 0, endPort: 65535, startAddr: new Uint8Array(4), endAddr: new Uint8Array(4).fill(255) }] },
];

function decoded(bytes: Uint8Array): IkeMessage {
  const r = decodeMessage(bytes);
  if (!r.ok) throw r.error;
  return r.value;
}
const u16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;
const u32 = (b: Uint8Array, at: number): number => new DataView(b.buffer, b.byteOffset).getUint32(at);

/** Opens `bytes` if it still decodes; returns what happened. */
function tryOpen(bytes: Uint8Array, cipher: SkCipher): OpenResult | 'undecodable' {
  const d = decodeMessage(bytes);
  return d.ok ? openMessage(bytes, d.value, cipher) : 'undecodable';
}

describe('encodeMessage with protect / openMessage (§3.14)', () => {
  it('seals with AAD = the first 32 octets of the final message, lengths already final', () => {
    const cipher = new TestCipher();
    const msg = encodeMessage(HDR, INNER, cipher);
    expect(cipher.sealedAad.length).toBe(1);
    expect(cipher.sealedAad[0]).toEqual(msg.subarray(0, 32));
    expect(u32(msg, 24)).toBe(msg.length); // IKE header Length
    expect(msg[16]).toBe(PayloadType.SK); // header Next Payload
    expect(msg[28]).toBe(PayloadType.IDi); // SK Next Payload = first inner payload
    expect(u16(msg, 30)).toBe(msg.length - 28); // SK Payload Length
    expect(msg.length).toBe(28 + 4 + cipher.sealedLength(encodePayloads(INNER).length));

    const m = decoded(msg);
    expect(m.payloads).toHaveLength(1);
    const r = openMessage(msg, m, cipher);
    expect(r).toEqual({ ok: true, value: INNER });
    if (r.ok) {
      expect(findNotify(r.value, NotifyType.INITIAL_CONTACT)).toBeDefined();
      expect(findPayload(r.value, PayloadType.IDi)?.idType).toBe(2);
      expect(findPayload(r.value, PayloadType.TSr)?.selectors).toHaveLength(1);
      expect(findPayload(r.value, PayloadType.IDr)).toBeUndefined();
    }
  });

  it('never opens a message with any bit of the header or SK header flipped', () => {
    const cipher = new TestCipher();
    const msg = encodeMessage(HDR, INNER, cipher);
    // Octets whose corruption still decodes and therefore must be caught by the ICV over the AAD:
    // SPIs, exchange type, flags, message ID, SK Next Payload, SK flags (critical/reserved bits).
    const covered = [...Array(16).keys(), 18, 19, 20, 21, 22, 23, 28, 29];
    let integrity = 0;
    for (let i = 0; i < 32; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = msg.slice();
        bad[i] = bad[i]! ^ (1 << bit);
        const r = tryOpen(bad, cipher);
        if (covered.includes(i)) expect(r).toEqual({ ok: false, error: 'integrity' });
        // Next Payload, version, and the length fields are rejected before or instead of decryption.
        else expect(r === 'undecodable' || !r.ok).toBe(true);
        if (r !== 'undecodable' && !r.ok && r.error === 'integrity') integrity++;
      }
    }
    expect(integrity).toBeGreaterThanOrEqual(8 * covered.length);
  });

  it('fails integrity when the body is tampered with', () => {
    const cipher = new TestCipher();
    const msg = encodeMessage(HDR, INNER, cipher);
    for (const i of [32, 40, msg.length - 17, msg.length - 1]) {
      const bad = msg.slice();
      bad[i] = bad[i]! ^ 1;
      expect(tryOpen(bad, cipher)).toEqual({ ok: false, error: 'integrity' });
    }
    expect(tryOpen(msg, new TestCipher())).toEqual({ ok: false, error: 'integrity' }); // wrong key
  });

  it('distinguishes "authentic but malformed inner payloads" from integrity failure', () => {
    // Authentic plaintext claiming an IDi of 200 octets in 8.
    const cipher = new TestCipher(undefined, new Uint8Array([0, 0, 0, 200, 1, 0, 0, 0]));
    const msg = encodeMessage(HDR, [INNER[0]!], cipher);
    const r = tryOpen(msg, cipher);
    expect(r !== 'undecodable' && !r.ok && r.error instanceof DecodeError && r.error.reason).toBe('bad-length');
  });

  it('rejects SK nested inside SK, and messages without SK', () => {
    // An authentic plaintext that is itself an SK payload (reached through SK Next Payload = SK).
    const inner = encodePayloads([{ type: PayloadType.SK, innerNext: 0, body: new Uint8Array(4) }]);
    const openAny: SkCipher = { ivLength: 0, icvLength: 0, sealedLength: (n) => n, seal: (_a, p) => p.slice(), open: () => inner };
    const outer = encodeMessage(HDR, [{ type: PayloadType.SK, innerNext: PayloadType.SK, body: new Uint8Array(inner.length) }]);
    const r = tryOpen(outer, openAny);
    expect(r !== 'undecodable' && !r.ok && r.error instanceof DecodeError && r.error.reason).toBe('bad-field');

    const plain = encodeMessage(HDR, INNER);
    const r2 = tryOpen(plain, new TestCipher());
    expect(r2 !== 'undecodable' && !r2.ok && r2.error instanceof DecodeError && r2.error.reason).toBe('bad-field');
    expect(() => encodeMessage(HDR, [{ type: PayloadType.SK, innerNext: 0, body: new Uint8Array(1) }], new TestCipher())).toThrow();
  });

  it('an empty protected message (e.g. a DPD INFORMATIONAL) has SK Next Payload 0', () => {
    const cipher = new TestCipher();
    const msg = encodeMessage({ ...HDR, exchangeType: 37 }, [], cipher);
    expect(msg[28]).toBe(0);
    expect(openMessage(msg, decoded(msg), cipher)).toEqual({ ok: true, value: [] });
  });

  it('throws if the cipher returns a different length than sealedLength promised', () => {
    const liar: SkCipher = { ivLength: 0, icvLength: 0, sealedLength: (n) => n + 1, seal: (_a, p) => p.slice(), open: () => null };
    expect(() => encodeMessage(HDR, INNER, liar)).toThrow(/sealedLength/);
  });
});

describe('with the real SK cipher (src/ike/crypto/sk-cipher.ts)', () => {
  const cases = [
    { name: 'AES-GCM-16-256 (RFC 5282)', params: { encrId: 20, encrKeyBits: 256, integId: 0, encrKey: new Uint8Array(randomBytes(36)), integKey: new Uint8Array(0) } },
    { name: 'AES-CBC-256 + HMAC-SHA2-256-128', params: { encrId: 12, encrKeyBits: 256, integId: 12, encrKey: new Uint8Array(randomBytes(32)), integKey: new Uint8Array(randomBytes(32)) } },
  ];
  for (const c of cases) {
    it(`${c.name}: round trip, and a flipped header byte fails integrity`, () => {
      const cipher = createSkCipher(c.params);
      const msg = encodeMessage(HDR, INNER, cipher);
      expect(openMessage(msg, decoded(msg), cipher)).toEqual({ ok: true, value: INNER });
      for (const i of [0, 19, 23, 28]) {
        const bad = msg.slice();
        bad[i] = bad[i]! ^ 0x01;
        expect(tryOpen(bad, cipher)).toEqual({ ok: false, error: 'integrity' });
      }
    });
  }
});
