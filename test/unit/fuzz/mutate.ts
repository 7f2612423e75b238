/**
 * Structure-aware mutations of real IKE messages (RFC 7296 §3.1 header, §3.2 generic payload
 * header): bit flips, truncation, corrupted length fields, swapped payload types, splices of two
 * messages at payload boundaries, duplicated payloads, appended junk. The mutators only move
 * octets; they never call the code under test, so they cannot share its bugs.
 */
import fc from 'fast-check';

const IKE_HEADER = 28;

/** One payload of the chain as found on the wire: where it starts and how long it claims to be. */
export interface Span {
  /** Offset of its generic header. */
  at: number;
  /** Its Payload Length field (may run past the message in a hostile one). */
  length: number;
  /** Offset of the octet that names this payload's type (header octet 16, or the previous payload's first octet). */
  typeAt: number;
  type: number;
}

/** Walks the generic headers (never the payload contents); stops at the first one that does not fit. */
export function spans(m: Uint8Array): Span[] {
  const out: Span[] = [];
  if (m.length < IKE_HEADER) return out;
  let type = m[16]!;
  let typeAt = 16;
  let at = IKE_HEADER;
  while (type !== 0 && at + 4 <= m.length && out.length < 64) {
    const length = (m[at + 2]! << 8) | m[at + 3]!;
    out.push({ at, length, typeAt, type });
    if (length < 4) break;
    typeAt = at;
    type = m[at]!;
    at += length;
  }
  return out;
}

function setU16(b: Uint8Array, at: number, v: number): void {
  if (at + 1 < b.length) {
    b[at] = (v >>> 8) & 0xff;
    b[at + 1] = v & 0xff;
  }
}

/** Header Length (RFC 7296 §3.1, octets 24–27) set to the real length. */
export function fixLength(b: Uint8Array): Uint8Array {
  if (b.length >= IKE_HEADER) new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(24, b.length);
  return b;
}

const concat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

/** Payload types worth swapping in: every IKEv2 type (RFC 7296 §3.2, RFC 7383 SKF), none, and unknown ones. */
const TYPES = [0, 1, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 53, 54, 127, 128, 200, 255];
const LENGTHS = [0, 1, 2, 3, 4, 5, 7, 8, 9, 27, 28, 29, 0x7fff, 0x8000, 0xffff];

export type IkeMutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'header-length'; value: number }
  | { kind: 'payload-length'; which: number; value: number; delta: number }
  | { kind: 'type-swap'; which: number; type: number }
  | { kind: 'splice'; other: number; cutA: number; cutB: number }
  | { kind: 'duplicate'; which: number }
  | { kind: 'extend'; tail: Uint8Array };

export const ikeMutation: fc.Arbitrary<IkeMutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('header-length' as const), value: fc.oneof(fc.constantFrom(0, 1, 27, 28, 29, 0xffffffff), fc.nat()) }),
  fc.record({
    kind: fc.constant('payload-length' as const), which: fc.nat(),
    value: fc.oneof(fc.constantFrom(...LENGTHS), fc.integer({ min: 0, max: 0xffff })), delta: fc.integer({ min: -8, max: 8 }),
  }),
  fc.record({ kind: fc.constant('type-swap' as const), which: fc.nat(), type: fc.oneof(fc.constantFrom(...TYPES), fc.integer({ min: 0, max: 255 })) }),
  fc.record({ kind: fc.constant('splice' as const), other: fc.nat(), cutA: fc.nat(), cutB: fc.nat() }),
  fc.record({ kind: fc.constant('duplicate' as const), which: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), tail: fc.uint8Array({ minLength: 1, maxLength: 64 }) }),
);

/**
 * Applies one mutation to a copy of `m`. `pool` supplies the second message of a splice. The
 * structural mutations keep the header Length consistent (so the damage reaches the payload
 * walkers); 'header-length' and 'truncate' deliberately do not.
 */
export function mutateIke(m: Uint8Array, mu: IkeMutation, pool: readonly Uint8Array[]): Uint8Array {
  const b = m.slice();
  const sp = spans(b);
  const pick = <T>(xs: readonly T[], i: number): T | undefined => (xs.length === 0 ? undefined : xs[i % xs.length]);
  switch (mu.kind) {
    case 'flip':
      if (b.length > 0) b[mu.at % b.length]! ^= 1 << mu.bit;
      return b;
    case 'truncate':
      return b.slice(0, mu.at % (b.length + 1));
    case 'header-length':
      if (b.length >= IKE_HEADER) new DataView(b.buffer).setUint32(24, mu.value >>> 0);
      return b;
    case 'payload-length': {
      const s = pick(sp, mu.which);
      if (s) setU16(b, s.at + 2, mu.delta !== 0 && mu.which % 2 === 0 ? Math.max(0, s.length + mu.delta) : mu.value);
      return b;
    }
    case 'type-swap': {
      const s = pick(sp, mu.which);
      if (s) b[s.typeAt] = mu.type;
      else if (b.length > 16) b[16] = mu.type;
      return b;
    }
    case 'splice': {
      const other = pick(pool, mu.other);
      if (!other) return b;
      const bounds = (x: Uint8Array) => [IKE_HEADER, ...spans(x).map((s) => s.at + s.length)].filter((o) => o <= x.length);
      const a = pick(bounds(b), mu.cutA) ?? IKE_HEADER;
      const c = pick(bounds(other), mu.cutB) ?? IKE_HEADER;
      return fixLength(concat(b.subarray(0, Math.min(a, b.length)), other.subarray(Math.min(c, other.length))));
    }
    case 'duplicate': {
      const s = pick(sp.filter((x) => x.at + x.length <= b.length && x.length >= 4), mu.which);
      if (!s) return b;
      const copy = b.slice(s.at, s.at + s.length);
      // the original now points at its copy; the copy keeps the original's Next Payload
      b[s.at] = s.type;
      return fixLength(concat(b.subarray(0, s.at + s.length), copy, b.subarray(s.at + s.length)));
    }
    case 'extend':
      return concat(b, mu.tail);
  }
}

/** 1–3 mutations in a row, and whether to repair the header Length afterwards. */
export const ikeMutations = fc.record({
  steps: fc.array(ikeMutation, { minLength: 1, maxLength: 3 }),
  fix: fc.boolean(),
});

export function applyIke(m: Uint8Array, plan: { steps: IkeMutation[]; fix: boolean }, pool: readonly Uint8Array[]): Uint8Array {
  let b = m;
  for (const s of plan.steps) b = mutateIke(b, s, pool);
  return plan.fix ? fixLength(b.slice()) : b;
}

// ---------------------------------------------------------------------------------------------
// ESP (RFC 4303 §2: SPI 4 ‖ Sequence Number 4 ‖ IV ‖ ciphertext ‖ ICV)

export type EspMutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'flip-icv'; back: number; bit: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'extend'; tail: Uint8Array }
  | { kind: 'spi'; value: number }
  | { kind: 'seq'; value: number }
  | { kind: 'none' };

export const espMutation: fc.Arbitrary<EspMutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('flip-icv' as const), back: fc.integer({ min: 1, max: 16 }), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), tail: fc.uint8Array({ minLength: 1, maxLength: 48 }) }),
  fc.record({ kind: fc.constant('spi' as const), value: fc.oneof(fc.constantFrom(0, 1, 0xffffffff), fc.nat()) }),
  fc.record({ kind: fc.constant('seq' as const), value: fc.oneof(fc.constantFrom(0, 1, 2, 0xffffffff), fc.nat()) }),
  fc.constant({ kind: 'none' as const }),
);

export function mutateEsp(p: Uint8Array, mu: EspMutation): Uint8Array {
  const b = p.slice();
  const dv = new DataView(b.buffer);
  switch (mu.kind) {
    case 'flip':
      if (b.length > 0) b[mu.at % b.length]! ^= 1 << mu.bit;
      return b;
    case 'flip-icv':
      if (b.length >= mu.back) b[b.length - mu.back]! ^= 1 << mu.bit;
      return b;
    case 'truncate':
      return b.slice(0, mu.at % (b.length + 1));
    case 'extend':
      return concat(b, mu.tail);
    case 'spi':
      if (b.length >= 4) dv.setUint32(0, mu.value >>> 0);
      return b;
    case 'seq':
      if (b.length >= 8) dv.setUint32(4, mu.value >>> 0);
      return b;
    case 'none':
      return b;
  }
}
