/**
 * Bounds-checked big-endian reader and growable writer for the IKEv2 codec (RFC 7296 §3:
 * "all multi-octet fields representing integers are laid out in big endian order").
 *
 * The reader works on a window [pos, end) of a Uint8Array and reports absolute offsets in its
 * errors. Every read checks the window first and throws DecodeError('truncated') instead of
 * reading past the end; payload decoders run inside `catchDecode`, which turns that into a
 * DecodeResult. Values returned by `bytes()` are copies, so decoded payloads never alias (or pin)
 * the datagram buffer.
 */
import { DecodeError, type DecodeErrorReason, type DecodeResult } from './types.js';

export class ByteReader {
  private readonly view: DataView;
  private p: number;

  /**
   * @param buf   the whole buffer (a subarray is fine: byteOffset is honoured)
   * @param start first octet of the window (absolute index into buf)
   * @param end   one past the last octet of the window
   */
  constructor(
    private readonly buf: Uint8Array,
    start = 0,
    private readonly end = buf.length,
  ) {
    if (start < 0 || end > buf.length || start > end) {
      throw new RangeError(`ByteReader window [${start}, ${end}) outside buffer of ${buf.length}`);
    }
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.p = start;
  }

  /** Absolute offset of the next octet. */
  get pos(): number {
    return this.p;
  }
  get remaining(): number {
    return this.end - this.p;
  }
  atEnd(): boolean {
    return this.p === this.end;
  }

  /** Throws DecodeError('truncated') unless n more octets are available. */
  need(n: number, what: string): void {
    if (n < 0 || this.end - this.p < n) {
      throw new DecodeError('truncated', `${what}: need ${n} octets, have ${this.end - this.p}`, this.p);
    }
  }

  u8(what = 'u8'): number {
    this.need(1, what);
    const v = this.view.getUint8(this.p);
    this.p += 1;
    return v;
  }
  u16(what = 'u16'): number {
    this.need(2, what);
    const v = this.view.getUint16(this.p);
    this.p += 2;
    return v;
  }
  u32(what = 'u32'): number {
    this.need(4, what);
    const v = this.view.getUint32(this.p);
    this.p += 4;
    return v;
  }
  /** A copy of the next n octets. */
  bytes(n: number, what = 'bytes'): Uint8Array {
    this.need(n, what);
    const v = this.buf.slice(this.p, this.p + n);
    this.p += n;
    return v;
  }
  /** A copy of everything left in the window. */
  rest(): Uint8Array {
    return this.bytes(this.remaining, 'rest');
  }
  skip(n: number, what = 'skip'): void {
    this.need(n, what);
    this.p += n;
  }
  /** A reader over the next n octets; this reader moves past them. */
  sub(n: number, what = 'substructure'): ByteReader {
    this.need(n, what);
    const r = new ByteReader(this.buf, this.p, this.p + n);
    this.p += n;
    return r;
  }
  /** Throws a DecodeError of the given reason at the current offset. */
  fail(reason: DecodeErrorReason, detail: string, at = this.p): never {
    throw new DecodeError(reason, detail, at);
  }
}

/** Thrown by encoders when asked to write a value that does not fit its field (a caller bug). */
export class EncodeError extends Error {
  constructor(detail: string) {
    super(detail);
    this.name = 'EncodeError';
  }
}

export class ByteWriter {
  private buf: Uint8Array;
  private n = 0;

  constructor(initial = 256) {
    this.buf = new Uint8Array(Math.max(16, initial));
  }

  get length(): number {
    return this.n;
  }

  private grow(extra: number): void {
    if (this.n + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.n + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
  }

  u8(v: number, what = 'u8'): this {
    checkRange(v, 0xff, what);
    this.grow(1);
    this.buf[this.n++] = v;
    return this;
  }
  u16(v: number, what = 'u16'): this {
    checkRange(v, 0xffff, what);
    this.grow(2);
    this.buf[this.n++] = v >>> 8;
    this.buf[this.n++] = v & 0xff;
    return this;
  }
  u32(v: number, what = 'u32'): this {
    checkRange(v, 0xffffffff, what);
    this.grow(4);
    this.buf[this.n++] = v >>> 24;
    this.buf[this.n++] = (v >>> 16) & 0xff;
    this.buf[this.n++] = (v >>> 8) & 0xff;
    this.buf[this.n++] = v & 0xff;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.grow(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
    return this;
  }
  zeros(count: number): this {
    this.grow(count);
    this.buf.fill(0, this.n, this.n + count);
    this.n += count;
    return this;
  }
  /** Overwrites a 16-bit field written earlier (used for length fields). */
  patchU16(at: number, v: number, what = 'u16'): void {
    checkRange(v, 0xffff, what);
    if (at < 0 || at + 2 > this.n) throw new EncodeError(`patch of ${what} outside written data`);
    this.buf[at] = v >>> 8;
    this.buf[at + 1] = v & 0xff;
  }
  /** The written octets (a fresh, exactly sized array). */
  finish(): Uint8Array {
    return this.buf.slice(0, this.n);
  }
}

function checkRange(v: number, max: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new EncodeError(`${what} = ${v} does not fit in [0, ${max}]`);
  }
}

/** Runs a throwing decoder and turns a DecodeError into { ok: false }. Other errors are bugs and propagate. */
export function catchDecode<T>(f: () => T): DecodeResult<T> {
  try {
    return { ok: true, value: f() };
  } catch (e) {
    if (e instanceof DecodeError) return { ok: false, error: e };
    throw e;
  }
}

/** Context handed to a payload body decoder by the payload chain (RFC 7296 §3.2 generic header). */
export interface PayloadContext {
  /** The payload's own type (e.g. IDi vs IDr share one module). */
  type: number;
  /** The Next Payload field of this payload's generic header (SK/SKF: first inner payload). */
  next: number;
  critical: boolean;
}

/**
 * One IKE payload's wire codec. `decode` reads the body (everything after the 4-octet generic
 * header) from a reader bounded to exactly that body, and throws DecodeError on malformed
 * structure; `encode` writes the body; `verify` checks semantics and returns a problem or null.
 */
export interface PayloadCodec<P> {
  decode(r: ByteReader, ctx: PayloadContext): P;
  encode(w: ByteWriter, p: P): void;
  verify(p: P): string | null;
}

/** Encoder-side check that a field value has the length its layout requires. */
export function requireLength(actual: number, expected: number, what: string): void {
  if (actual !== expected) throw new EncodeError(`${what}: length ${actual}, expected ${expected}`);
}
