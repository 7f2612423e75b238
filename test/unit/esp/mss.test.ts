/**
 * TCP MSS clamping (RFC 6691 / RFC 9293 §3.7.1 option kind 2) with the RFC 1624 incremental
 * checksum update, verified by recomputing the TCP checksum from scratch (RFC 793 §3.1 pseudo
 * header) after every change.
 *
 * The real SYN is the inner packet of draft-mcgrew-gcm-test-01 page 8 (also in OpenBSD's and Go's
 * GCM tests): 192.168.1.2:2718 → 147.137.21.94:139, MSS 1460, NOP NOP SACK-permitted, valid IP and
 * TCP checksums as published. The non-SYN is page 11's TCP ACK.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { clampMss } from '../../../src/esp/mss.js';
import { concat, hex, toHex } from '../crypto/hex.js';

const REAL_SYN = '4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee000000000 7002400020bf0000020405b401010402';
const REAL_ACK = '45000028a4ad4000400678800a01038f0a010612802306b8cb712602dd6bb03e 501016d075680001';

/** RFC 1071 one's-complement sum of 16-bit words (odd tail padded with zero). */
function onesSum(b: Uint8Array, init = 0): number {
  let s = init;
  for (let i = 0; i + 1 < b.length; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  if (b.length & 1) s += b[b.length - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

function ipOk(p: Uint8Array): boolean {
  return onesSum(p.subarray(0, (p[0]! & 15) * 4)) === 0xffff;
}

/** RFC 793 §3.1: checksum over the pseudo header (src, dst, zero, protocol, TCP length) and segment. */
function tcpOk(p: Uint8Array): boolean {
  const ihl = (p[0]! & 15) * 4;
  const total = (p[2]! << 8) | p[3]!;
  const seg = p.subarray(ihl, total);
  const pseudo = concat(p.subarray(12, 20), new Uint8Array([0, 6, seg.length >> 8, seg.length & 0xff]));
  return onesSum(seg, onesSum(pseudo)) === 0xffff;
}

function mssOf(p: Uint8Array, at: number): number {
  return (p[at]! << 8) | p[at + 1]!;
}

/** IPv4 + TCP with correct checksums, written from the RFC 791 / RFC 793 layouts. */
function buildTcp(flags: number, options: Uint8Array, payload: Uint8Array = new Uint8Array(0)): Uint8Array {
  const optLen = Math.ceil(options.length / 4) * 4;
  const tcpLen = 20 + optLen + payload.length;
  const p = new Uint8Array(20 + tcpLen);
  const dv = new DataView(p.buffer);
  dv.setUint8(0, 0x45);
  dv.setUint16(2, p.length);
  dv.setUint16(4, 0x1234);
  dv.setUint8(8, 64);
  dv.setUint8(9, 6);
  p.set([10, 0, 0, 1, 10, 0, 0, 2], 12);
  dv.setUint16(10, ~onesSum(p.subarray(0, 20)) & 0xffff);
  dv.setUint16(20, 40000);
  dv.setUint16(22, 443);
  dv.setUint32(24, 0x01020304);
  dv.setUint32(28, flags & 0x10 ? 0x0a0b0c0d : 0);
  dv.setUint8(32, ((20 + optLen) / 4) << 4);
  dv.setUint8(33, flags);
  dv.setUint16(34, 65535);
  p.set(options, 40);
  p.set(payload, 40 + optLen);
  const seg = p.subarray(20);
  const pseudo = concat(p.subarray(12, 20), new Uint8Array([0, 6, seg.length >> 8, seg.length & 0xff]));
  dv.setUint16(36, ~onesSum(seg, onesSum(pseudo)) & 0xffff);
  return p;
}

describe('clampMss', () => {
  it('the real SYN: MSS 1460 → 1360, both checksums still valid, nothing else changed', () => {
    const p = hex(REAL_SYN);
    expect(ipOk(p) && tcpOk(p)).toBe(true); // as published
    const before = Uint8Array.from(p);
    expect(clampMss(p, 0, p.length, 1360)).toBe(true);
    expect(mssOf(p, 42)).toBe(1360);
    expect(ipOk(p)).toBe(true);
    expect(tcpOk(p)).toBe(true);
    const changed = [...p.keys()].filter((i) => p[i] !== before[i]);
    expect(changed.every((i) => i === 36 || i === 37 || i === 42 || i === 43)).toBe(true);
  });

  it('works at an offset inside a larger buffer', () => {
    const p = concat(new Uint8Array(7).fill(0xee), hex(REAL_SYN), new Uint8Array(5).fill(0xee));
    expect(clampMss(p, 7, 48, 1200)).toBe(true);
    const inner = p.subarray(7, 55);
    expect(mssOf(inner, 42)).toBe(1200);
    expect(tcpOk(inner)).toBe(true);
    expect(p[6]).toBe(0xee);
    expect(p[55]).toBe(0xee);
  });

  it('leaves an MSS already at or below the clamp untouched', () => {
    for (const mss of [1460, 1500, 9000]) {
      const p = hex(REAL_SYN);
      expect(clampMss(p, 0, p.length, mss)).toBe(false);
      expect(toHex(p)).toBe(toHex(hex(REAL_SYN)));
    }
  });

  it('leaves non-SYN segments untouched', () => {
    const p = hex(REAL_ACK);
    expect(clampMss(p, 0, p.length, 500)).toBe(false);
    expect(toHex(p)).toBe(toHex(hex(REAL_ACK)));
    const ackWithMss = buildTcp(0x10, new Uint8Array([2, 4, 0x05, 0xb4]));
    expect(clampMss(ackWithMss, 0, ackWithMss.length, 500)).toBe(false);
  });

  it('SYN-ACK with the MSS option at an odd offset (after one NOP): value and checksum', () => {
    const opts = new Uint8Array([1, 2, 4, 0x23, 0x28, 1, 1, 4, 2]); // NOP, MSS 9000, NOP, NOP, SACK-perm
    const p = buildTcp(0x12, opts, new Uint8Array([1, 2, 3]));
    expect(tcpOk(p)).toBe(true);
    expect(clampMss(p, 0, p.length, 1400)).toBe(true);
    expect(mssOf(p, 43)).toBe(1400);
    expect(tcpOk(p)).toBe(true);
  });

  it('truncated or malformed options never throw and change nothing', () => {
    const real = hex(REAL_SYN);
    for (let len = 0; len < real.length; len++) {
      const p = real.slice(0, len);
      expect(clampMss(p, 0, p.length, 1000)).toBe(false);
      expect(toHex(p)).toBe(toHex(real.subarray(0, len)));
    }
    const bad = [
      new Uint8Array([1, 1, 8, 10, 0, 0]), // timestamp option claims 10 octets, runs past the header
      new Uint8Array([1, 8, 0]), // length 0
      new Uint8Array([1, 8, 1]), // length 1
      new Uint8Array([2, 3, 0x05]), // MSS with length 3
      new Uint8Array([0, 2, 4, 0x05, 0xb4]), // EOL before the MSS
      new Uint8Array([1, 1, 1, 2]), // kind at the very end, no length octet
    ];
    for (const opts of bad) {
      const p = buildTcp(0x02, opts);
      const before = toHex(p);
      expect(clampMss(p, 0, p.length, 1000)).toBe(false);
      expect(toHex(p)).toBe(before);
    }
    // IHL and Total Length lying about the buffer
    const lie = hex(REAL_SYN);
    lie[3] = 0x40; // Total Length 64 > 48 available
    expect(clampMss(lie, 0, lie.length, 1000)).toBe(false);
    const frag = hex(REAL_SYN);
    frag[7] = 1; // non-first fragment: no TCP header here
    expect(clampMss(frag, 0, frag.length, 1000)).toBe(false);
    expect(clampMss(hex(REAL_SYN), 0, 48, 0)).toBe(false);
  });

  it('property: any SYN layout keeps a valid checksum and ends with MSS = min(old, clamp)', () => {
    fc.assert(fc.property(
      fc.integer({ min: 0, max: 3 }), // NOPs before the MSS option (odd and even offsets)
      fc.boolean(), // a timestamp option before it
      fc.integer({ min: 1, max: 0xffff }),
      fc.integer({ min: 1, max: 0xffff }),
      fc.uint8Array({ maxLength: 33 }),
      fc.constantFrom(0x02, 0x12),
      (nops, ts, mss, clamp, payload, flags) => {
        const pre = [...new Array<number>(nops).fill(1), ...(ts ? [8, 10, 1, 2, 3, 4, 5, 6, 7, 8] : [])];
        const opts = new Uint8Array([...pre, 2, 4, mss >> 8, mss & 0xff]);
        const p = buildTcp(flags, opts, payload);
        const at = 40 + pre.length + 2;
        const changed = clampMss(p, 0, p.length, clamp);
        expect(changed).toBe(mss > clamp);
        expect(mssOf(p, at)).toBe(Math.min(mss, clamp));
        expect(tcpOk(p)).toBe(true);
        expect(ipOk(p)).toBe(true);
      },
    ), { numRuns: 500 });
  });

  it('property: random bytes never throw', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), fc.nat(0xffff), (b, mss) => {
      if (b.length > 0) b[0] = 0x45;
      if (b.length > 9) b[9] = 6;
      clampMss(b, 0, b.length, mss);
    }), { numRuns: 1000 });
  });
});
