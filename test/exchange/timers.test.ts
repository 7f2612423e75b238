/**
 * The timer formulas the README documents: lifetime jitter (lifetime.ts), retransmit schedules
 * and the liveness budget (retransmit.ts), reconnect backoff (reconnect.ts).
 */
import { describe, expect, it } from 'vitest';
import { schedule, retryDelay } from '../../src/ike/lifetime.js';
import { DEFAULT_RETRANSMIT, RECONNECT_RETRANSMIT, budgetMs, livenessPolicy, nextTimeout } from '../../src/ike/retransmit.js';
import { RECONNECT_CAP_MS, reconnectDelay } from '../../src/ike/reconnect.js';
import { seeded } from './harness.js';

describe('timer formulas', () => {
  it('rekeyAt lies in [0.8, 0.9] × lifetime and differs between draws; expireAt = lifetime', () => {
    const rnd = seeded(42);
    const seen = new Set<number>();
    for (let k = 0; k < 200; k++) {
      const l = schedule(1000, 3600, rnd);
      expect(l.rekeyAt - 1000).toBeGreaterThanOrEqual(0.8 * 3600_000);
      expect(l.rekeyAt - 1000).toBeLessThanOrEqual(0.9 * 3600_000);
      expect(l.expireAt).toBe(1000 + 3600_000);
      seen.add(l.rekeyAt);
    }
    expect(seen.size).toBeGreaterThan(190);
  });

  it('retry after TEMPORARY_FAILURE: 5–15 s', () => {
    const rnd = seeded(7);
    for (let k = 0; k < 100; k++) {
      const d = retryDelay(rnd);
      expect(d).toBeGreaterThanOrEqual(5000);
      expect(d).toBeLessThanOrEqual(15_000);
    }
  });

  it("strongSwan's schedule gives up at 165 s; reconnect attempts send every 2 s for 8 s", () => {
    expect(Math.round(budgetMs(DEFAULT_RETRANSMIT))).toBe(165_061);
    expect([0, 1, 2, 3].map((n) => nextTimeout(RECONNECT_RETRANSMIT, n))).toEqual([2000, 2000, 2000, 2000]);
    expect(budgetMs(RECONNECT_RETRANSMIT)).toBe(8000);
  });

  it('liveness budget: 13.1875 × clamp(dpd/10, 0.1 s, 4 s) after the probe, in five sends', () => {
    for (const [dpd, budget] of [[0.5, 1318.75], [1, 1318.75], [3, 3956.25], [10, 13_187.5], [40, 52_750], [60, 52_750]] as const) {
      expect(budgetMs(livenessPolicy(dpd))).toBeCloseTo(budget, 6);
      expect(livenessPolicy(dpd).tries).toBe(4);
    }
    expect(1000 + budgetMs(livenessPolicy(1))).toBeLessThan(2500);
  });

  it('reconnect backoff: exponential from 0.25–0.5 s, capped at 5 s, jittered', () => {
    const rnd = seeded(9);
    for (let attempt = 0; attempt < 40; attempt++) {
      const d = reconnectDelay(attempt, rnd);
      const ceiling = Math.min(RECONNECT_CAP_MS, 500 * 2 ** attempt);
      expect(d).toBeGreaterThanOrEqual(ceiling / 2);
      expect(d).toBeLessThanOrEqual(ceiling);
    }
  });
});
