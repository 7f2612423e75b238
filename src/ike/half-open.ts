/**
 * The responder's half-open IKE SAs (IKE_SA_INIT answered, IKE_AUTH not yet authenticated), by
 * the initiator's SPI and address so a retransmitted IKE_SA_INIT is recognised (RFC 7296 §2.1),
 * with a count per source address for the per-source thresholds (init-guard.ts). Bounded by
 * limits.halfOpen: receive-init.ts refuses a new entry at the cap, and both maps shrink when an
 * SA authenticates, fails or times out (HALF_OPEN_TIMEOUT_MS, timers.ts).
 */
import type { IkeSa } from './sa.js';

export class HalfOpenTable {
  private readonly byKey = new Map<string, IkeSa>();
  private readonly bySource = new Map<string, number>();

  /** The map key of a request: the initiator's SPI (hex) and its address and port. */
  static key(spiIHex: string, address: string, port: number): string {
    return `${spiIHex}|${address}:${port}`;
  }

  get size(): number {
    return this.byKey.size;
  }

  /** Source addresses holding half-open SAs (at most `size`). */
  get sources(): number {
    return this.bySource.size;
  }

  get(key: string): IkeSa | undefined {
    return this.byKey.get(key);
  }

  from(address: string): number {
    return this.bySource.get(address) ?? 0;
  }

  add(key: string, sa: IkeSa, source: string): void {
    if (this.byKey.has(key)) return;
    sa.halfOpenKey = key;
    sa.halfOpenSource = source;
    this.byKey.set(key, sa);
    this.bySource.set(source, this.from(source) + 1);
  }

  /** The SA is no longer half-open (authenticated, failed or gone); no-op for any other SA. */
  forget(sa: IkeSa): void {
    const key = sa.halfOpenKey;
    if (key === null || this.byKey.get(key) !== sa) return;
    this.byKey.delete(key);
    sa.halfOpenKey = null;
    const n = this.from(sa.halfOpenSource) - 1;
    if (n > 0) this.bySource.set(sa.halfOpenSource, n);
    else this.bySource.delete(sa.halfOpenSource);
  }
}
