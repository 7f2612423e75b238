/**
 * The soak's two pure pieces, checked against answers worked out by hand: the rekey plan of
 * the 30-minute soak (a Child rekey every 30 s and an IKE rekey every 5 min for 30 minutes) and the RSS
 * growth estimate on series whose true growth is known by construction.
 */
import { describe, expect, it } from 'vitest';
import { rekeyPlan } from './rekeys.js';
import { linearTrend } from './trend.js';

describe('rekeyPlan', () => {
  it('30 minutes: Child rekeys at 30 s … 1770 s and IKE rekeys at 300 s … 1500 s; an IKE rekey goes before the Child rekey of the same instant', () => {
    const plan = rekeyPlan(1800, 30, 300);
    const child = plan.filter((p) => p.kind === 'child').map((p) => p.atS);
    const ike = plan.filter((p) => p.kind === 'ike').map((p) => p.atS);
    // 1800 s itself is left out: a rekey there would still be running when the run ends (tail 10 s).
    expect(child).toEqual(Array.from({ length: 59 }, (_, i) => 30 * (i + 1)));
    expect(ike).toEqual([300, 600, 900, 1200, 1500]);
    expect(plan.map((p) => p.atS)).toEqual([...plan.map((p) => p.atS)].sort((a, b) => a - b));
    const at300 = plan.filter((p) => p.atS === 300).map((p) => p.kind);
    expect(at300).toEqual(['ike', 'child']);
  });

  it('2 minutes with the CI test\'s 15 s / 45 s: 7 Child and 2 IKE rekeys', () => {
    const plan = rekeyPlan(120, 15, 45);
    expect(plan.map((p) => `${p.kind}@${p.atS}`)).toEqual([
      'child@15', 'child@30', 'ike@45', 'child@45', 'child@60', 'child@75', 'ike@90', 'child@90', 'child@105',
    ]);
  });

  it('refuses non-positive intervals', () => {
    expect(() => rekeyPlan(60, 0, 30)).toThrow(/positive/);
  });
});

describe('linearTrend', () => {
  it('a straight line y = 100 + 0.01 t from 300 s to 1800 s: slope 0.01, 103 → 118, +14.56 %', () => {
    const pts = Array.from({ length: 181 }, (_, i) => ({ t: i * 10, y: 100 + 0.01 * i * 10 }));
    const tr = linearTrend(pts, 300, 1800)!;
    expect(tr.n).toBe(151);
    expect(tr.slope).toBeCloseTo(0.01, 12);
    expect(tr.from).toBeCloseTo(103, 9);
    expect(tr.to).toBeCloseTo(118, 9);
    expect(tr.growthPct).toBeCloseTo((100 * 15) / 103, 9);
  });

  it('a flat GC sawtooth (66 → 79 MiB every 90 s, no leak): within ±1 %, where 1-minute window means alone differ by over 6 % with the phase', () => {
    const saw = (t: number): number => 66 + 13 * ((t % 90) / 90);
    const pts = Array.from({ length: 181 }, (_, i) => ({ t: i * 10, y: saw(i * 10) }));
    const tr = linearTrend(pts, 300, 1800)!;
    expect(Math.abs(tr.growthPct)).toBeLessThan(1);
    // the naive comparison this replaces: two 1-minute window means, which depend on where in the cycle they fall
    const mean = (a: number): number => {
      const w = pts.filter((p) => p.t >= a && p.t < a + 60);
      return w.reduce((s, p) => s + p.y, 0) / w.length;
    };
    const means = Array.from({ length: 145 }, (_, i) => mean(300 + i * 10));
    expect(100 * (Math.max(...means) / Math.min(...means) - 1)).toBeGreaterThan(6);
  });

  it('the same sawtooth on a leak of 0.5 MiB a minute: about +17 % over 25 minutes (12.5 MiB on ~72.5)', () => {
    const pts = Array.from({ length: 181 }, (_, i) => ({ t: i * 10, y: 66 + 13 * (((i * 10) % 90) / 90) + (0.5 / 60) * i * 10 }));
    const tr = linearTrend(pts, 300, 1800)!;
    expect(tr.to - tr.from).toBeGreaterThan(11.5);
    expect(tr.to - tr.from).toBeLessThan(13.5);
    expect(tr.growthPct).toBeGreaterThan(5);
  });

  it('fewer than 3 points, or all at one instant: no trend', () => {
    expect(linearTrend([{ t: 1, y: 1 }, { t: 2, y: 2 }], 0, 10)).toBeUndefined();
    expect(linearTrend([{ t: 5, y: 1 }, { t: 5, y: 2 }, { t: 5, y: 3 }], 0, 10)).toBeUndefined();
  });
});
