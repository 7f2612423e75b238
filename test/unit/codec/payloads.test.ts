import { describe, it, expect } from 'vitest';
import { AuthMethod, IdType, PayloadType, ProtocolId } from '../../../src/ike/constants.js';
import { decodePayloads, encodePayloads, verifyPayload } from '../../../src/ike/codec/payload-chain.js';
import { idBody } from '../../../src/ike/codec/payloads/id.js';
import type { DecodeErrorReason, Payload } from '../../../src/ike/codec/types.js';

const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const bytes = (n: number, fill = 0xab): Uint8Array => new Uint8Array(n).fill(fill);

/** One payload with a generic header (RFC 7296 §3.2) around `body`. */
function wire(body: Uint8Array, next = 0, flags = 0): Uint8Array {
  const out = new Uint8Array(4 + body.length);
  out[0] = next;
  out[1] = flags;
  out[2] = (out.length >> 8) & 0xff;
  out[3] = out.length & 0xff;
  out.set(body, 4);
  return out;
}

function decodeOne(type: number, body: string | Uint8Array): Payload {
  const r = decodePayloads(wire(typeof body === 'string' ? hex(body) : body), type);
  if (!r.ok) throw r.error;
  expect(r.value.length).toBe(1);
  return r.value[0]!;
}

function failure(type: number, body: string): DecodeErrorReason {
  const r = decodePayloads(wire(hex(body)), type);
  expect(r.ok).toBe(false);
  return r.ok ? ('ok' as never) : r.error.reason;
}

describe('SA payload (§3.3)', () => {
  // proposal 1 IKE, no SPI, 2 transforms: ENCR AES-GCM-16 with Key Length 256 (TV) plus an
  // unknown TLV attribute (type 0x0123, 3 octets) and an unknown TV attribute; then DH 31.
  const SA = `
    00 00 0027  01 01 00 02
      03 00 0017  01 00 0014  800e 0100  0123 0003 aabbcc  8555 0007
      00 00 0008  04 00 001f`;
  it('reads Key Length (TV) and skips unknown TV/TLV attributes', () => {
    const sa = decodeOne(PayloadType.SA, SA);
    expect(sa).toEqual({
      type: PayloadType.SA,
      critical: false,
      proposals: [
        { num: 1, protocol: 1, spi: new Uint8Array(0), transforms: [{ type: 1, id: 20, keyLength: 256 }, { type: 4, id: 31 }] },
      ],
    });
  });

  it('validates proposal and transform structure', () => {
    // transform count says 3, two present
    expect(failure(PayloadType.SA, '00 00 0018 01 01 00 03  03 00 0008 01 00 0014  00 00 0008 04 00 001f')).toBe('bad-field');
    // first transform claims to be last (0) while another follows
    expect(failure(PayloadType.SA, '00 00 0018 01 01 00 02  00 00 0008 01 00 0014  00 00 0008 04 00 001f')).toBe('bad-field');
    // last transform claims "more" (3)
    expect(failure(PayloadType.SA, '00 00 0010 01 01 00 01  03 00 0008 01 00 0014')).toBe('bad-field');
    // proposal last-substruc 1 is neither 0 nor 2
    expect(failure(PayloadType.SA, '01 00 0010 01 01 00 01  00 00 0008 01 00 0014')).toBe('bad-field');
    // last proposal marked "more"
    expect(failure(PayloadType.SA, '02 00 0010 01 01 00 01  00 00 0008 01 00 0014')).toBe('bad-field');
    // proposal marked last but followed by bytes
    expect(failure(PayloadType.SA, '00 00 0010 01 01 00 01  00 00 0008 01 00 0014  00000000')).toBe('bad-field');
    // proposal length < 8 / past the end
    expect(failure(PayloadType.SA, '00 00 0004 01 01 00 00')).toBe('bad-length');
    expect(failure(PayloadType.SA, '00 00 0040 01 01 00 01  00 00 0008 01 00 0014')).toBe('truncated');
    // SPI size runs past the proposal
    expect(failure(PayloadType.SA, '00 00 0010 01 03 10 01  00 00 0008 01 00 0014')).toBe('truncated');
    // transform length < 8
    expect(failure(PayloadType.SA, '00 00 0010 01 01 00 01  00 00 0004 01 00 0014')).toBe('bad-length');
    // Key Length in TLV form, and repeated
    expect(failure(PayloadType.SA, '00 00 0016 01 01 00 01  00 00 000e 01 00 0014 000e 0002 0100')).toBe('bad-field');
    expect(failure(PayloadType.SA, '00 00 0018 01 01 00 01  00 00 0010 01 00 0014 800e 0100 800e 0080')).toBe('bad-field');
    // TLV attribute whose length runs past the transform
    expect(failure(PayloadType.SA, '00 00 0014 01 01 00 01  00 00 000c 01 00 0014 0001 0010')).toBe('truncated');
  });

  it('decodes an ESP proposal with a 4-octet SPI', () => {
    const p = decodeOne(PayloadType.SA, '00 00 0014 01 03 04 01 c0ffee01  00 00 0008 05 00 0000');
    expect(p.type === PayloadType.SA && p.proposals[0]).toEqual({
      num: 1, protocol: 3, spi: hex('c0ffee01'), transforms: [{ type: 5, id: 0 }],
    });
  });

  it('verify(): numbering, protocol, SPI size, transforms', () => {
    const sa = (proposals: { num: number; protocol: number; spi: number; n?: number }[]): Payload => ({
      type: PayloadType.SA,
      proposals: proposals.map((p) => ({
        num: p.num, protocol: p.protocol, spi: bytes(p.spi),
        transforms: Array.from({ length: p.n ?? 1 }, () => ({ type: 1, id: 20, keyLength: 256 })),
      })),
    });
    expect(verifyPayload(sa([{ num: 1, protocol: 1, spi: 0 }, { num: 2, protocol: 1, spi: 0 }]))).toBeNull();
    expect(verifyPayload(sa([{ num: 3, protocol: 3, spi: 4 }]))).toBeNull(); // a reply echoes the chosen number
    expect(verifyPayload(sa([{ num: 1, protocol: 1, spi: 8 }]))).toBeNull(); // IKE rekey
    expect(verifyPayload(sa([]))).not.toBeNull();
    expect(verifyPayload(sa([{ num: 1, protocol: 1, spi: 0 }, { num: 3, protocol: 1, spi: 0 }]))).not.toBeNull();
    expect(verifyPayload(sa([{ num: 1, protocol: 3, spi: 8 }]))).not.toBeNull();
    expect(verifyPayload(sa([{ num: 1, protocol: 1, spi: 4 }]))).not.toBeNull();
    expect(verifyPayload(sa([{ num: 1, protocol: 9, spi: 0 }]))).not.toBeNull();
    expect(verifyPayload(sa([{ num: 1, protocol: 1, spi: 0, n: 0 }]))).not.toBeNull();
  });
});

describe('simple payloads', () => {
  it('KE (§3.4)', () => {
    expect(decodeOne(PayloadType.KE, '0013 0000 0102')).toEqual({ type: PayloadType.KE, critical: false, group: 19, data: hex('0102') });
    expect(failure(PayloadType.KE, '0013 00')).toBe('truncated');
    expect(verifyPayload({ type: PayloadType.KE, group: 19, data: new Uint8Array(0) })).not.toBeNull();
  });

  it('ID (§3.5) and idBody = RestOfIDPayload (§2.15)', () => {
    const p = decodeOne(PayloadType.IDr, '01 ffffff c0000201');
    expect(p).toEqual({ type: PayloadType.IDr, critical: false, idType: 1, data: hex('c0000201') });
    if (p.type !== PayloadType.IDr) return;
    expect(idBody(p)).toEqual(hex('01000000c0000201')); // reserved re-emitted as zero
    expect(decodeOne(PayloadType.IDi, '02 000000 61').type).toBe(PayloadType.IDi);
    expect(verifyPayload({ type: PayloadType.IDi, idType: IdType.ID_IPV4_ADDR, data: bytes(5) })).not.toBeNull();
    expect(verifyPayload({ type: PayloadType.IDi, idType: IdType.ID_IPV6_ADDR, data: bytes(16) })).toBeNull();
    expect(verifyPayload({ type: PayloadType.IDi, idType: IdType.ID_FQDN, data: bytes(0) })).not.toBeNull();
    expect(failure(PayloadType.IDi, '01 0000')).toBe('truncated');
  });

  it('CERT / CERTREQ (§3.6, §3.7)', () => {
    expect(decodeOne(PayloadType.CERT, '04 3082')).toMatchObject({ encoding: 4, data: hex('3082') });
    expect(decodeOne(PayloadType.CERTREQ, '04')).toMatchObject({ encoding: 4, data: new Uint8Array(0) });
    expect(verifyPayload({ type: PayloadType.CERTREQ, encoding: 4, data: bytes(40) })).toBeNull();
    expect(verifyPayload({ type: PayloadType.CERTREQ, encoding: 4, data: bytes(21) })).not.toBeNull();
    expect(failure(PayloadType.CERT, '')).toBe('truncated');
  });

  it('AUTH (§3.8)', () => {
    expect(decodeOne(PayloadType.AUTH, '02 000000 aabb')).toMatchObject({ method: AuthMethod.SHARED_KEY_MIC, data: hex('aabb') });
    expect(verifyPayload({ type: PayloadType.AUTH, method: 2, data: new Uint8Array(0) })).not.toBeNull();
  });

  it('Nonce (§3.9): verify 16..256 octets', () => {
    const v = (n: number): string | null => verifyPayload({ type: PayloadType.NONCE, data: bytes(n) });
    expect(v(15)).not.toBeNull();
    expect(v(16)).toBeNull();
    expect(v(256)).toBeNull();
    expect(v(257)).not.toBeNull();
    expect(decodeOne(PayloadType.NONCE, bytes(3))).toMatchObject({ data: bytes(3) }); // structural decode accepts
  });

  it('Notify (§3.10)', () => {
    expect(decodeOne(PayloadType.NOTIFY, '03 04 4009 c0ffee01 beef')).toEqual({
      type: PayloadType.NOTIFY, critical: false, protocol: 3, spi: hex('c0ffee01'), notifyType: 16393, data: hex('beef'),
    });
    expect(failure(PayloadType.NOTIFY, '03 08 4009 c0ffee01')).toBe('truncated');
    const n = (protocol: number, spi: number): string | null =>
      verifyPayload({ type: PayloadType.NOTIFY, protocol, spi: bytes(spi), notifyType: 14, data: new Uint8Array(0) });
    expect(n(0, 0)).toBeNull();
    expect(n(0, 4)).not.toBeNull();
    expect(n(ProtocolId.IKE, 0)).toBeNull();
    expect(n(ProtocolId.ESP, 4)).toBeNull();
    expect(n(ProtocolId.ESP, 3)).not.toBeNull();
    expect(n(7, 0)).not.toBeNull();
  });

  it('Delete (§3.11): SPI size and count consistent', () => {
    expect(decodeOne(PayloadType.DELETE, '01 00 0000')).toMatchObject({ protocol: 1, spiSize: 0, spis: [] });
    expect(decodeOne(PayloadType.DELETE, '03 04 0002 00000001 00000002')).toMatchObject({
      protocol: 3, spiSize: 4, spis: [hex('00000001'), hex('00000002')],
    });
    expect(failure(PayloadType.DELETE, '03 04 0002 00000001')).toBe('bad-length');
    expect(failure(PayloadType.DELETE, '03 04 0001 00000001 00')).toBe('bad-length');
    expect(failure(PayloadType.DELETE, '01 00 0003')).toBe('bad-field');
    const d = (protocol: number, spiSize: number, n: number): string | null =>
      verifyPayload({ type: PayloadType.DELETE, protocol, spiSize, spis: Array.from({ length: n }, () => bytes(spiSize)) });
    expect(d(1, 0, 0)).toBeNull();
    expect(d(3, 4, 1)).toBeNull();
    expect(d(3, 4, 0)).not.toBeNull();
    expect(d(1, 8, 1)).not.toBeNull();
    expect(d(3, 8, 1)).not.toBeNull();
  });

  it('Vendor ID (§3.12), EAP (§3.16)', () => {
    expect(decodeOne(PayloadType.VENDOR, 'cafe')).toMatchObject({ data: hex('cafe') });
    expect(verifyPayload({ type: PayloadType.EAP, data: hex('01 07 0005 01') })).toBeNull();
    expect(verifyPayload({ type: PayloadType.EAP, data: hex('01 07 0009 01') })).not.toBeNull();
    expect(verifyPayload({ type: PayloadType.EAP, data: hex('01 07') })).not.toBeNull();
  });
});

describe('Traffic selectors (§3.13)', () => {
  const V4 = '07 06 0010 0000 ffff 0a000000 0affffff';
  const V6 = '08 00 0028 0000 ffff' + ' 20010db8000000000000000000000000 20010db8ffffffffffffffffffffffff';
  it('decodes IPv4 (16-octet) and IPv6 (40-octet) ranges', () => {
    const p = decodeOne(PayloadType.TSi, `02 000000 ${V4} ${V6}`);
    expect(p.type === PayloadType.TSi && p.selectors).toEqual([
      { tsType: 7, ipProtocol: 6, startPort: 0, endPort: 65535, startAddr: hex('0a000000'), endAddr: hex('0affffff') },
      {
        tsType: 8, ipProtocol: 0, startPort: 0, endPort: 65535,
        startAddr: hex('20010db8000000000000000000000000'), endAddr: hex('20010db8ffffffffffffffffffffffff'),
      },
    ]);
    expect(decodeOne(PayloadType.TSr, `01 000000 ${V4}`).type).toBe(PayloadType.TSr);
  });

  it('checks the selector length field, the count and the TS type', () => {
    expect(failure(PayloadType.TSi, '01 000000 07 06 0028 0000 ffff 0a000000 0affffff')).toBe('bad-length');
    expect(failure(PayloadType.TSi, '01 000000 08 06 0010 0000 ffff 0a000000 0affffff')).toBe('bad-length');
    expect(failure(PayloadType.TSi, `02 000000 ${V4}`)).toBe('truncated');
    expect(failure(PayloadType.TSi, `01 000000 ${V4} ${V4}`)).toBe('bad-length');
    expect(failure(PayloadType.TSi, '01 000000 0a 00 0010 0000 ffff 0a000000 0affffff')).toBe('bad-field');
    expect(verifyPayload({ type: PayloadType.TSi, selectors: [] })).not.toBeNull();
  });

  it('refuses to encode an address of the wrong size', () => {
    expect(() =>
      encodePayloads([{ type: PayloadType.TSi, selectors: [{ tsType: 7, ipProtocol: 0, startPort: 0, endPort: 1, startAddr: bytes(16), endAddr: bytes(16) }] }]),
    ).toThrow();
  });
});

describe('CP (§3.15)', () => {
  it('decodes attributes and ignores the R bit', () => {
    expect(decodeOne(PayloadType.CP, '01 000000 8001 0000 0003 0004 0a000001')).toEqual({
      type: PayloadType.CP, critical: false, cfgType: 1,
      attributes: [{ type: 1, value: new Uint8Array(0) }, { type: 3, value: hex('0a000001') }],
    });
    expect(failure(PayloadType.CP, '02 000000 0001 0004 0a00')).toBe('truncated');
    expect(failure(PayloadType.CP, '02 000000 00')).toBe('truncated');
    expect(verifyPayload({ type: PayloadType.CP, cfgType: 9, attributes: [] })).not.toBeNull();
  });
});

describe('SK (§3.14) and SKF (RFC 7383 §2.5)', () => {
  it('keeps the SK body opaque and takes innerNext from the generic header', () => {
    const r = decodePayloads(wire(hex('0102030405'), PayloadType.IDi), PayloadType.SK);
    expect(r).toEqual({ ok: true, value: [{ type: PayloadType.SK, critical: false, innerNext: 35, body: hex('0102030405') }] });
  });

  it('decodes SKF and checks fragment numbers', () => {
    const r = decodePayloads(wire(hex('0001 0003 aabbcc'), PayloadType.IDi), PayloadType.SKF);
    expect(r).toEqual({
      ok: true,
      value: [{ type: PayloadType.SKF, critical: false, innerNext: 35, fragmentNumber: 1, totalFragments: 3, body: hex('aabbcc') }],
    });
    expect(failure(PayloadType.SKF, '0000 0003 aa')).toBe('bad-field');
    expect(failure(PayloadType.SKF, '0004 0003 aa')).toBe('bad-field');
    expect(failure(PayloadType.SKF, '0001 00')).toBe('truncated');
    const skf = (n: number, next: number): string | null =>
      verifyPayload({ type: PayloadType.SKF, innerNext: next, fragmentNumber: n, totalFragments: 3, body: bytes(4) });
    expect(skf(1, 35)).toBeNull();
    expect(skf(2, 0)).toBeNull();
    expect(skf(2, 35)).not.toBeNull();
    expect(() => encodePayloads([{ type: PayloadType.SKF, innerNext: 0, fragmentNumber: 0, totalFragments: 1, body: bytes(1) }])).toThrow();
  });
});
