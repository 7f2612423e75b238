/**
 * Growth of a sawtooth series, for the sampled RSS the soak reports beside its verdict figure
 * (RSS right after a forced full GC, series.ts). The daemon's RSS follows V8's old-space
 * cycle: it climbs while garbage accumulates and drops at each major collection (in a 2-minute
 * check run: heap 14.5 → 20.5 MiB and RSS 79 → 66 MiB within 10 s). Two short windows compared
 * by their means measure where in that cycle each happened to fall (-9.5 % in that run, with no
 * leak). A least-squares line through every sample of the span averages over the cycles in it;
 * its rise over the span, relative to its value at the start, is the growth. When no major
 * collection comes during the span (the 30-minute runs), the line shows the garbage piling up.
 */

export interface Trend {
  /** Samples fitted. */
  n: number;
  /** Slope, units per second. */
  slope: number;
  /** The line's value at the start and at the end of the span. */
  from: number;
  to: number;
  /** (to - from) / from, %. */
  growthPct: number;
}

/** Least-squares line through (t, y) for t in [fromS, toS]; undefined with fewer than 3 points. */
export function linearTrend(points: { t: number; y: number }[], fromS: number, toS: number): Trend | undefined {
  const p = points.filter((x) => x.t >= fromS && x.t <= toS);
  const n = p.length;
  if (n < 3) return undefined;
  const mt = p.reduce((a, x) => a + x.t, 0) / n;
  const my = p.reduce((a, x) => a + x.y, 0) / n;
  const sxx = p.reduce((a, x) => a + (x.t - mt) ** 2, 0);
  if (sxx === 0) return undefined;
  const slope = p.reduce((a, x) => a + (x.t - mt) * (x.y - my), 0) / sxx;
  const from = my + slope * (fromS - mt);
  const to = my + slope * (toS - mt);
  return { n, slope, from, to, growthPct: (100 * (to - from)) / from };
}
