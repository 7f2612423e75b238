import { describe, it, expect } from 'vitest';
import { ByteReader, ByteWriter, EncodeError, catchDecode } from '../../../src/ike/codec/bytes.js';
import { DecodeError } from '../../../src/ike/codec/types.js';

describe('ByteReader', () => {
  it('honours byteOffset of a subarray (never reads the parent buffer from 0)', () => {
    const parent = new Uint8Array([0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04, 0x05]);
    const view = parent.subarray(4);
    const r = new ByteReader(view);
    expect(r.u16()).toBe(0x0102);
    expect(r.u8()).toBe(0x03);
    expect(r.pos).toBe(3);
    expect(r.remaining).toBe(2);
    expect(r.rest()).toEqual(new Uint8Array([0x04, 0x05]));
    expect(r.atEnd()).toBe(true);
  });

  it('reads u32 big-endian without sign problems', () => {
    expect(new ByteReader(new Uint8Array([0xff, 0xff, 0xff, 0xfe])).u32()).toBe(0xfffffffe);
  });

  it('throws DecodeError truncated, with the absolute offset, before reading past the end', () => {
    const r = new ByteReader(new Uint8Array(10), 6, 9);
    r.u16();
    try {
      r.u16('field');
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DecodeError);
      expect((e as DecodeError).reason).toBe('truncated');
      expect((e as DecodeError).offset).toBe(8);
    }
    expect(r.pos).toBe(8);
  });

  it('sub() bounds a nested reader and advances the parent', () => {
    const r = new ByteReader(new Uint8Array([1, 2, 3, 4, 5]));
    r.u8();
    const s = r.sub(2);
    expect(r.pos).toBe(3);
    expect(s.u8()).toBe(2);
    expect(s.u8()).toBe(3);
    expect(() => s.u8()).toThrow(DecodeError);
    expect(() => r.sub(3)).toThrow(DecodeError);
  });

  it('bytes() returns copies, not views of the input', () => {
    const buf = new Uint8Array([9, 9, 9]);
    const b = new ByteReader(buf).bytes(2);
    buf[0] = 0;
    expect(b[0]).toBe(9);
  });
});

describe('ByteWriter', () => {
  it('grows, writes big-endian and patches length fields', () => {
    const w = new ByteWriter(1);
    w.u8(1).u16(0).u32(0xa1b2c3d4).bytes(new Uint8Array(40)).zeros(3);
    w.patchU16(1, 0xbeef);
    const out = w.finish();
    expect(out.length).toBe(1 + 2 + 4 + 40 + 3);
    expect(Array.from(out.subarray(0, 7))).toEqual([1, 0xbe, 0xef, 0xa1, 0xb2, 0xc3, 0xd4]);
  });

  it('rejects values that do not fit with EncodeError', () => {
    const w = new ByteWriter();
    expect(() => w.u8(256)).toThrow(EncodeError);
    expect(() => w.u16(-1)).toThrow(EncodeError);
    expect(() => w.u32(2 ** 32)).toThrow(EncodeError);
    expect(() => w.u16(1.5)).toThrow(EncodeError);
    expect(() => w.patchU16(0, 1)).toThrow(EncodeError);
  });
});

describe('catchDecode', () => {
  it('converts DecodeError to a result and lets bugs propagate', () => {
    const r = catchDecode(() => new ByteReader(new Uint8Array(1)).u16());
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.reason).toBe('truncated');
    expect(() => catchDecode(() => { throw new TypeError('bug'); })).toThrow(TypeError);
  });
});
