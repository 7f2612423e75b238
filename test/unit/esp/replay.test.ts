/**
 * Anti-replay window: RFC 4303 §3.4.3 (check before the ICV, update after it) and Appendix A
 * (ESN high-half inference). Expected outcomes are read off the RFC's rules, not our output.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EncrId, IntegId } from '../../../src/ike/constants.js';
import { InboundEspSa, OutboundEspSa } from '../../../src/esp/esp-sa.js';
import { openEsp } from '../../../src/esp/open.js';
import { ReplayWindow } from '../../../src/esp/replay.js';
import { sealEsp } from '../../../src/esp/seal.js';
import type { EspSaParams } from '../../../src/dataplane/types.js';

/** check + accept, as openEsp does when the ICV verifies. */
function receive(w: ReplayWindow, seqLow: number): boolean {
  const hi = w.check(seqLow);
  return hi >= 0 && w.accept(hi, seqLow);
}

describe('ReplayWindow without ESN (RFC 4303 §3.4.3)', () => {
  it('accepts in-order packets and rejects each one a second time', () => {
    const w = new ReplayWindow();
    for (let s = 1; s <= 1000; s++) expect(receive(w, s)).toBe(true);
    for (let s = 1000 - 127; s <= 1000; s++) expect(w.check(s)).toBe(-1);
    expect(w.topLow).toBe(1000);
  });

  it('accepts out-of-order packets inside the window exactly once', () => {
    const w = new ReplayWindow(128);
    expect(receive(w, 300)).toBe(true);
    const order = Array.from({ length: 127 }, (_, i) => 173 + ((i * 53) % 127)); // 173..299 shuffled
    expect(new Set(order).size).toBe(127);
    for (const s of order) expect(receive(w, s)).toBe(true);
    for (const s of order) expect(receive(w, s)).toBe(false);
  });

  it('rejects packets at or below T - W (too old) and keeps T - W + 1', () => {
    const w = new ReplayWindow(128);
    expect(receive(w, 1000)).toBe(true);
    expect(w.check(1000 - 128)).toBe(-1); // T - W: outside
    expect(w.check(1)).toBe(-1);
    expect(w.check(1000 - 127)).toBe(0); // T - W + 1: the window's bottom
    expect(receive(w, 1000 - 127)).toBe(true);
  });

  it('rejects duplicates, and check() alone never changes the window', () => {
    const w = new ReplayWindow();
    expect(w.check(5)).toBe(0);
    expect(w.check(5)).toBe(0);
    expect(w.accept(0, 5)).toBe(true);
    expect(w.check(5)).toBe(-1);
    expect(w.accept(0, 5)).toBe(false); // a copy that passed check() before the original was accepted
  });

  it('never accepts sequence number 0', () => {
    const w = new ReplayWindow();
    expect(w.check(0)).toBe(-1);
    expect(receive(w, 1)).toBe(true);
    expect(w.check(0)).toBe(-1);
  });

  it('slides by large jumps and clears stale bits of the reused ring words (RFC 6479)', () => {
    const w = new ReplayWindow(128);
    for (let s = 1; s <= 256; s++) expect(receive(w, s)).toBe(true);
    expect(receive(w, 300)).toBe(true); // words of 33..63 are reused by 289..319
    for (let s = 300 - 127; s < 300; s++) {
      expect(w.check(s)).toBe(s <= 256 ? -1 : 0);
    }
    expect(receive(w, 1_000_000)).toBe(true); // jump far beyond the ring: everything cleared
    expect(w.check(1_000_000 - 127)).toBe(0);
    expect(w.check(1_000_000 - 128)).toBe(-1);
    expect(receive(w, 0xffff_ffff)).toBe(true); // the largest 32-bit value
    expect(w.check(0xffff_ffff - 1)).toBe(0);
  });

  it('window size: multiple of 32, at least 128; larger windows keep more history', () => {
    expect(() => new ReplayWindow(64)).toThrow(RangeError);
    expect(() => new ReplayWindow(130)).toThrow(RangeError);
    const w = new ReplayWindow(1024);
    expect(receive(w, 5000)).toBe(true);
    expect(w.check(5000 - 1023)).toBe(0);
    expect(w.check(5000 - 1024)).toBe(-1);
  });

  it('matches a reference model (set of seen numbers, fixed W) on random traffic', () => {
    fc.assert(fc.property(
      fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 1, maxLength: 300 }),
      fc.constantFrom(128, 160, 256),
      (seqs, size) => {
        const w = new ReplayWindow(size);
        const seen = new Set<number>();
        let top = 0;
        for (const s of seqs) {
          const fresh = !seen.has(s) && s > top - size;
          expect(receive(w, s)).toBe(fresh);
          if (fresh) {
            seen.add(s);
            top = Math.max(top, s);
          }
        }
      },
    ));
  });
});

describe('ReplayWindow with ESN (RFC 4303 Appendix A)', () => {
  const W = 128;

  it('Case A (Tl >= W - 1): low numbers below the window belong to Th + 1', () => {
    const w = new ReplayWindow(W, true);
    w.setTopForTest(0, 0xffff_fff0);
    expect(w.check(0xffff_fff5)).toBe(0); // inside/above the window, same high half
    expect(w.check(0xffff_fff0 - 127)).toBe(0); // the window's bottom
    expect(w.check(5)).toBe(1); // wrapped: the sender crossed 2^32
    expect(w.accept(1, 5)).toBe(true);
    expect([w.topHigh, w.topLow]).toEqual([1, 5]);
  });

  it('Case B (Tl < W - 1): numbers near 2^32 belong to Th - 1 and are inside the window', () => {
    const w = new ReplayWindow(W, true);
    w.setTopForTest(0, 0xffff_fff0);
    expect(receive(w, 0xffff_fff2)).toBe(true);
    expect(receive(w, 5)).toBe(true); // T = 1:5
    expect(w.check(0xffff_fff2)).toBe(-1); // 0:fffffff2 was received
    expect(w.check(0xffff_fff3)).toBe(0); // 0:fffffff3 is inside the window, never seen
    expect(receive(w, 0xffff_fff3)).toBe(true);
    expect(w.check(3)).toBe(1); // 1:3, inside, fresh
    expect(w.check(5)).toBe(-1); // 1:5 again
    // (Tl - W + 1) mod 2^32 is the bottom: 1:5 - 127 = 0:ffffff86
    expect(w.check(0xffff_ff86)).toBe(0);
    expect(w.check(0xffff_ff85)).toBe(1); // below the bottom → read as 1:ffffff85, far ahead
  });

  it('at the very start, numbers that would need a negative high half are rejected', () => {
    const w = new ReplayWindow(W, true);
    expect(w.check(0xffff_fff0)).toBe(-1); // would be -1:fffffff0
    expect(w.check(0)).toBe(-1); // the 64-bit value 0 is never sent
    expect(w.check(1)).toBe(0);
  });

  it('never wraps past 2^64 - 1', () => {
    const w = new ReplayWindow(W, true);
    w.setTopForTest(0xffff_ffff, 0xffff_fff0);
    expect(w.check(0xffff_ffff)).toBe(0xffff_ffff);
    expect(w.check(3)).toBe(-1); // would be 2^64 + 3
  });

  it('tracks a sender across many 2^32 boundaries (losses below 2^32), late packets inside the window', () => {
    const TWO32 = 0x1_0000_0000;
    const w = new ReplayWindow(W, true);
    let full = 0; // the sender's 64-bit counter as a double (exact below 2^53)
    let top = 0;
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    const late: number[] = [];
    for (let step = 0; step < 3000; step++) {
      // every third step loses up to 2^31 packets (RFC 4303 A2.2 still infers the high half)
      const jump = step % 3 === 0 ? 1 + rand(0x8000_0000) : 1 + rand(50);
      if (jump > 2 && jump <= 50) late.push(full + 1); // held back, delivered later
      full += jump;
      expect(w.check(full % TWO32)).toBe(Math.floor(full / TWO32));
      expect(w.accept(Math.floor(full / TWO32), full % TWO32)).toBe(true);
      top = full;
      if (step % 2 === 0 && late.length > 0) {
        const l = late.shift()!;
        const h = w.check(l % TWO32);
        if (l > top - W) {
          expect(h).toBe(Math.floor(l / TWO32)); // inside the window: right high half, fresh
          expect(w.accept(h, l % TWO32)).toBe(true);
        } else {
          expect(h).not.toBe(Math.floor(l / TWO32)); // too old: -1, or a guess the ICV will refuse
        }
      }
    }
    expect(full).toBeGreaterThan(100 * TWO32);
  });
});

describe('the window moves only after the ICV verifies (openEsp)', () => {
  const p: EspSaParams = {
    spi: 0x1000_0001, encrId: EncrId.AES_GCM_16, encrKeyBits: 128, integId: IntegId.NONE,
    encrKey: new Uint8Array(20).fill(7), integKey: new Uint8Array(0), esn: false,
  };

  function sealAt(seq: number): Uint8Array {
    const tx = new OutboundEspSa(p);
    tx.setSeqForTest(0, seq - 1);
    const inner = new Uint8Array(40).fill(0x45);
    const out = new Uint8Array(128);
    const n = sealEsp(tx, inner, inner.length, 4, out, 0);
    return out.slice(0, n);
  }

  it('a packet with seq 1000 and a bad ICV is dropped and seq 10 is still accepted', () => {
    const rx = new InboundEspSa(p);
    const forged = sealAt(1000);
    forged[forged.length - 1]! ^= 0xff;
    const out = new Uint8Array(128);
    expect(openEsp(rx, forged, 0, forged.length, out)).toEqual({ ok: false, reason: 'auth' });
    expect(rx.counters.authFailures).toBe(1);
    expect(rx.replay.topLow).toBe(0);
    const ten = sealAt(10);
    expect(openEsp(rx, ten, 0, ten.length, out).ok).toBe(true);
    expect(rx.replay.topLow).toBe(10);
  });

  it('control: had seq 1000 been authentic, seq 10 would be too old', () => {
    const rx = new InboundEspSa(p);
    const out = new Uint8Array(128);
    const good = sealAt(1000);
    expect(openEsp(rx, good, 0, good.length, out).ok).toBe(true);
    const ten = sealAt(10);
    expect(openEsp(rx, ten, 0, ten.length, out)).toEqual({ ok: false, reason: 'replay' });
    expect(rx.counters.replayDrops).toBe(1);
  });
});
