/**
 * ESP anti-replay window: RFC 4303 §3.4.3 (32-bit sequence numbers) and Appendix A (ESN, with
 * the high 32 bits inferred by the receiver), kept as the bitmap ring of RFC 6479 so that sliding
 * the window clears whole 32-bit words instead of shifting bits (the shape of wireguard-go
 * `replay/replay.go`).
 *
 * The API is split as in boringtun (`will_accept` / `mark_did_receive`) because RFC 4303 orders
 * the steps that way: `check()` runs BEFORE the ICV is verified (§3.4.3: "duplicates are rejected
 * ... before integrity verification", cheap rejection of replays), `accept()` runs only AFTER the
 * ICV verified (§3.4.3: "the receive window is updated only if the integrity verification
 * succeeds"), so a forged packet can never move the window.
 *
 * Sequence numbers are handled as two u32 halves (high, low): with ESN they span 64 bits, beyond
 * the 2^53 a JS number holds exactly. Differences between two sequence numbers inside one window
 * are below 2^33, which doubles represent exactly, so all arithmetic below is exact.
 *
 * Hot path: no allocation per packet. Not safe for use by two workers at once (it is not shared).
 */

const TWO32 = 0x1_0000_0000;
/** Smallest window we accept: RFC 4303 §3.4.3 requires 32 and suggests 64; we default to 128 (libipsec's default). */
export const MIN_REPLAY_WINDOW = 128;
export const DEFAULT_REPLAY_WINDOW = 128;

export class ReplayWindow {
  /** W: packets with T - W < seq <= T are inside the window (RFC 4303 Appendix A2.1). */
  readonly size: number;
  readonly esn: boolean;
  /** Ring of 32-bit words; one spare word beyond W so the window slides by whole words (RFC 6479 §2). */
  private readonly ring: Uint32Array;
  private readonly mask: number;
  /** T, the highest authenticated sequence number, as high and low halves. */
  private th = 0;
  private tl = 0;

  constructor(size: number = DEFAULT_REPLAY_WINDOW, esn = false) {
    if (!Number.isInteger(size) || size < MIN_REPLAY_WINDOW || size % 32 !== 0 || size > 1 << 20) {
      throw new RangeError(`replay window must be a multiple of 32 in [${MIN_REPLAY_WINDOW}, 2^20], got ${size}`);
    }
    this.size = size;
    this.esn = esn;
    let words = 1;
    while (words < size / 32 + 1) words <<= 1; // power of two: the word index is a mask of seq bits
    this.ring = new Uint32Array(words);
    this.mask = words - 1;
    // Sequence number 0 is never sent (the counter starts at 1, RFC 4303 §3.3.3): marking it as
    // received rejects a 0 without ESN and the 64-bit value 0 with ESN through the normal path.
    this.ring[0] = 1;
  }

  /** The highest authenticated sequence number (T), high half (0 without ESN). */
  get topHigh(): number { return this.th; }
  /** The highest authenticated sequence number (T), low half. */
  get topLow(): number { return this.tl; }

  /**
   * Pre-check before the ICV (RFC 4303 §3.4.3). Returns the inferred high 32 bits of the sequence
   * number (RFC 4303 Appendix A2.2; always 0 without ESN) when the packet may be new, or -1 when it
   * is too old, a duplicate, 0 without ESN, or would need a 64-bit wrap.
   */
  check(seqLow: number): number {
    const seqHigh = this.esn ? this.inferHigh(seqLow >>> 0) : 0;
    if (seqHigh < 0) return -1;
    return this.isFresh(seqHigh, seqLow >>> 0) ? seqHigh : -1;
  }

  /**
   * Marks (seqHigh, seqLow) received and slides the window forward when it is newer than T. Call
   * only after the ICV verified. Returns false (and changes nothing) when the packet is by now a
   * duplicate or too old, e.g. a copy that passed check() before the original was accepted.
   */
  accept(seqHigh: number, seqLow: number): boolean {
    const sl = seqLow >>> 0;
    if (!this.isFresh(seqHigh, sl)) return false;
    const delta = (seqHigh - this.th) * TWO32 + (sl - this.tl);
    if (delta > 0) {
      // RFC 6479 §2: clear the words between the old top word and the new one (at most the ring).
      const words = this.ring.length;
      const oldWord = this.tl >>> 5;
      let diff = (seqHigh - this.th) * (TWO32 / 32) + ((sl >>> 5) - oldWord);
      if (diff > words) diff = words;
      for (let i = 1; i <= diff; i++) this.ring[(oldWord + i) & this.mask] = 0;
      this.th = seqHigh;
      this.tl = sl;
    }
    const w = (sl >>> 5) & this.mask;
    this.ring[w] = (this.ring[w]! | (1 << (sl & 31))) >>> 0;
    return true;
  }

  /**
   * Test and resynchronisation hook (not used per packet): forget the history and make (hi, lo)
   * the top of the window, as if it had just been received.
   */
  setTopForTest(hi: number, lo: number): void {
    if (!this.esn && hi !== 0) throw new RangeError('without ESN the high half is 0');
    this.ring.fill(0);
    this.th = hi >>> 0;
    this.tl = lo >>> 0;
    this.ring[(this.tl >>> 5) & this.mask] = (1 << (this.tl & 31)) >>> 0;
    if (this.th === 0) this.ring[0] = (this.ring[0]! | 1) >>> 0; // 64-bit 0 stays "received"
  }

  /**
   * RFC 4303 Appendix A2.2: the high half of the sequence number the sender used, chosen so that
   * the full number lands in or just above the window. -1 when that would be below 0.
   */
  private inferHigh(sl: number): number {
    const w = this.size;
    const th = this.th;
    const tl = this.tl;
    if (tl >= w - 1) {
      // Case A: the window [Tl - W + 1, Tl] lies within one high value.
      return sl >= tl - w + 1 ? th : th + 1;
    }
    // Case B: the window straddles a high boundary; (Tl - W + 1) mod 2^32 is the window bottom.
    if (sl >= tl - w + 1 + TWO32) return th === 0 ? -1 : th - 1;
    return th;
  }

  /** True when (hi, lo) is above T, or inside the window and not yet received. */
  private isFresh(hi: number, sl: number): boolean {
    if (hi > 0xffff_ffff) return false; // 2^64 would wrap: the sender must have rekeyed (§3.3.3)
    const delta = (hi - this.th) * TWO32 + (sl - this.tl);
    if (delta > 0) return true;
    if (-delta >= this.size) return false; // too old: at or below T - W
    const bit = (this.ring[(sl >>> 5) & this.mask]! >>> (sl & 31)) & 1;
    return bit === 0;
  }
}
