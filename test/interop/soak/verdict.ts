/**
 * The soak's verdict, computed from the recorded series alone (no I/O): memory and descriptor
 * growth between a window after warm-up and the last window of the run, every rekey completed,
 * no gap in the traffic, the tunnel up throughout, no ESP authentication failure, and the
 * event-loop delay figures (gated only when a bound is given).
 */
import type { LoadResult } from './load.js';
import type { RekeyResult } from './rekeys.js';
import type { Sample } from './sample.js';
import type { HeapReport } from './series.js';
import { linearTrend } from './trend.js';

export interface Criteria {
  /** Start of the reference window, seconds (300: "between minute 5 and minute 30"). */
  baselineS: number;
  /** Width of the reference window and of the final window (fds, threads, the reported means), seconds. */
  windowS: number;
  /** RSS right after a full GC at the end over RSS right after a full GC at baselineS, below this, %. */
  rssGrowthMaxPct: number;
  /** The fewest open fds in the final window minus the fewest in the reference window, at most. */
  fdGrowthMax: number;
  /** When set: the largest per-sample event-loop p99 must stay below this, ms. */
  eventLoopP99MaxMs?: number;
}

export interface Check {
  name: string;
  pass: boolean;
  /** What was measured, in words and numbers. */
  value: string;
  bound: string;
}

export interface Figures {
  /** RSS right after the full GC at the reference point and at the end, MiB, and the growth, %. */
  rssAfterGc?: { refMiB: number; endMiB: number; growthPct: number };
  /** The least-squares line through the sampled RSS from baselineS to the end: its value at both ends, MiB, and the growth, %. */
  rssTrend?: { fromMiB: number; toMiB: number; growthPct: number; n: number };
  /** Mean and fewest RSS in the reference and the final window, MiB. */
  rssRef: { mean: number; min: number };
  rssEnd: { mean: number; min: number };
  hwmRefMiB: number;
  hwmEndMiB: number;
  fdsRef: { min: number; max: number };
  fdsEnd: { min: number; max: number };
  threads: { min: number; max: number };
  heapRefMiB?: number;
  heapEndMiB?: number;
  /** Window means, MiB: RSS by kind of mapping, V8's committed heap and external memory (where the RSS went). */
  memory: { ref: MemoryMeans; end: MemoryMeans };
  eventLoopP99Ms: { median?: number; max?: number };
  eventLoopMaxMs?: number;
  statusMs: { median: number; p99: number; max: number };
  rekeys: { planned: number; ok: number; failed: number; childMs: Quantiles; ikeMs: Quantiles };
  distinctIkeSpis: number;
  load: { intervals: number; zeroIntervals: number; failedRuns: number; meanMbps: number; minMbps: number };
  authFailures?: number;
  replayDrops?: number;
  swIcvFailures: number;
  events: Record<string, number>;
  load1: { min: number; max: number; mean: number };
}

export interface MemoryMeans {
  malloc: number;
  anon: number;
  file: number;
  v8Committed?: number;
  external?: number;
}

export interface Quantiles {
  n: number;
  median?: number;
  max?: number;
}

export interface Verdict {
  pass: boolean;
  checks: Check[];
  figures: Figures;
}

const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
export function quantile(xs: number[], q: number): number | undefined {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}
const defined = (xs: (number | undefined)[]): number[] => xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
const r1 = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(1));

export interface SoakRecord {
  durationS: number;
  plannedRekeys: number;
  samples: Sample[];
  heap: HeapReport;
  rekeys: RekeyResult[];
  load: LoadResult;
  /** `branchgate monitor` event counts by type. */
  events: Record<string, number>;
  /** child-down events for SAs no rekey replaced ("spiIn: reason"). */
  lostChildren: string[];
}

export function judge(rec: SoakRecord, c: Criteria): Verdict {
  const { samples } = rec;
  const last = samples.at(-1);
  const endS = last?.tS ?? 0;
  const ref = samples.filter((s) => s.tS >= c.baselineS && s.tS < c.baselineS + c.windowS);
  const fin = samples.filter((s) => s.tS >= endS - c.windowS);
  const trend = linearTrend(samples.map((s) => ({ t: s.tS, y: s.rssKiB / 1024 })), c.baselineS, endS);
  const rssOf = (w: Sample[]): { mean: number; min: number } => ({ mean: mean(w.map((s) => s.rssKiB)) / 1024, min: Math.min(...w.map((s) => s.rssKiB)) / 1024 });
  const gcRef = rec.heap.probes.find((p) => p.label === 'reference');
  const gcEnd = rec.heap.probes.find((p) => p.label === 'end');
  const rssAfterGc = gcRef && gcEnd
    ? { refMiB: gcRef.rssKiB / 1024, endMiB: gcEnd.rssKiB / 1024, growthPct: (100 * (gcEnd.rssKiB - gcRef.rssKiB)) / gcRef.rssKiB }
    : undefined;
  const rssRef = rssOf(ref);
  const rssEnd = rssOf(fin);
  const span = (xs: number[]): { min: number; max: number } => ({ min: Math.min(...xs), max: Math.max(...xs) });
  const fdsRef = span(ref.map((s) => s.fds));
  const fdsEnd = span(fin.map((s) => s.fds));
  const threadsRef = span(ref.map((s) => s.threads));
  const threadsEnd = span(fin.map((s) => s.threads));
  const p99s = defined(samples.map((s) => s.eventLoopP99Ms));
  const maxes = defined(samples.map((s) => s.eventLoopMaxMs));
  const statusMs = samples.map((s) => s.statusMs);
  const ok = rec.rekeys.filter((r) => r.ok);
  const ms = (k: 'child' | 'ike'): Quantiles => {
    const xs = ok.filter((r) => r.kind === k).map((r) => r.ms);
    return { n: xs.length, median: quantile(xs, 0.5), max: xs.length ? Math.max(...xs) : undefined };
  };
  const first = samples[0];
  // A labelled counter has no series before its first increment: absent at the start is 0.
  const delta = (k: 'rekeysChild' | 'rekeysIke'): number | undefined => (last?.[k] !== undefined ? last[k] - (first?.[k] ?? 0) : undefined);
  const okChild = ok.filter((r) => r.kind === 'child').length;
  const okIke = ok.filter((r) => r.kind === 'ike').length;
  const spis = new Set(samples.map((s) => s.ikeSpis).filter(Boolean));
  const zero = rec.load.intervals.filter((i) => i.bytes === 0);
  const failedRuns = rec.load.runs.filter((r) => r.error !== undefined);
  const mbps = rec.load.intervals.map((i) => i.mbps);
  const notUp = samples.filter((s) => s.state !== 'established' && s.state !== 'rekeying');
  const trouble = [...['dpd-dead', 'reconnect', 'ike-down'].map((t) => [t, rec.events[t] ?? 0] as const), ['child-down not after a rekey', rec.lostChildren.length] as const]
    .filter(([, n]) => n > 0);
  const heapRef = defined(ref.map((s) => s.heapUsedKiB));
  const heapEnd = defined(fin.map((s) => s.heapUsedKiB));
  const loads = samples.map((s) => s.load1);
  const memOf = (w: Sample[]): MemoryMeans => {
    const opt = (xs: (number | undefined)[]): number | undefined => (defined(xs).length ? mean(defined(xs)) / 1024 : undefined);
    return {
      malloc: mean(w.map((s) => s.mem.mallocKiB)) / 1024, anon: mean(w.map((s) => s.mem.anonKiB)) / 1024, file: mean(w.map((s) => s.mem.fileKiB)) / 1024,
      v8Committed: opt(w.map((s) => s.heapTotalKiB)), external: opt(w.map((s) => s.externalKiB)),
    };
  };

  const figures: Figures = {
    ...(rssAfterGc ? { rssAfterGc } : {}),
    ...(trend ? { rssTrend: { fromMiB: trend.from, toMiB: trend.to, growthPct: trend.growthPct, n: trend.n } } : {}),
    rssRef, rssEnd, hwmRefMiB: (ref.at(-1)?.hwmKiB ?? NaN) / 1024, hwmEndMiB: (last?.hwmKiB ?? NaN) / 1024,
    fdsRef, fdsEnd, threads: span(samples.map((s) => s.threads)),
    heapRefMiB: heapRef.length ? mean(heapRef) / 1024 : undefined, heapEndMiB: heapEnd.length ? mean(heapEnd) / 1024 : undefined,
    memory: { ref: memOf(ref), end: memOf(fin) },
    eventLoopP99Ms: { median: quantile(p99s, 0.5), max: p99s.length ? Math.max(...p99s) : undefined },
    eventLoopMaxMs: maxes.length ? Math.max(...maxes) : undefined,
    statusMs: { median: quantile(statusMs, 0.5) ?? NaN, p99: quantile(statusMs, 0.99) ?? NaN, max: Math.max(...statusMs) },
    rekeys: { planned: rec.plannedRekeys, ok: ok.length, failed: rec.rekeys.length - ok.length, childMs: ms('child'), ikeMs: ms('ike') },
    distinctIkeSpis: spis.size,
    load: { intervals: rec.load.intervals.length, zeroIntervals: zero.length, failedRuns: failedRuns.length, meanMbps: mean(mbps), minMbps: mbps.length ? Math.min(...mbps) : NaN },
    authFailures: last?.authFailures, replayDrops: last?.replayDrops, swIcvFailures: last?.swIcvFailures ?? 0,
    events: rec.events,
    load1: { ...span(loads), mean: mean(loads) },
  };

  const checks: Check[] = [
    {
      name: 'RSS growth', pass: rssAfterGc !== undefined && rssAfterGc.growthPct < c.rssGrowthMaxPct,
      value: (rssAfterGc
        ? `right after a full GC: ${r1(rssAfterGc.refMiB)} MiB at ${gcRef?.tS.toFixed(0)} s → ${r1(rssAfterGc.endMiB)} MiB at ${gcEnd?.tS.toFixed(0)} s, ` +
          `${rssAfterGc.growthPct >= 0 ? '+' : ''}${rssAfterGc.growthPct.toFixed(2)} %`
        : 'no heap probes') +
        (trend ? `; sampled (garbage included): line ${r1(trend.from)} → ${r1(trend.to)} MiB, ${trend.growthPct >= 0 ? '+' : ''}${trend.growthPct.toFixed(2)} %, ` +
          `window means ${r1(rssRef.mean)} → ${r1(rssEnd.mean)} MiB` : ''),
      bound: `< ${c.rssGrowthMaxPct} %`,
    },
    {
      name: 'open file descriptors', pass: ref.length > 0 && fin.length > 0 && fdsEnd.min - fdsRef.min <= c.fdGrowthMax,
      value: `fewest ${fdsRef.min} (most ${fdsRef.max}) from ${c.baselineS} s; fewest ${fdsEnd.min} (most ${fdsEnd.max}) at the end`,
      bound: c.fdGrowthMax === 0 ? 'no growth' : `at most +${c.fdGrowthMax}`,
    },
    {
      name: 'threads', pass: ref.length > 0 && fin.length > 0 && threadsEnd.max <= threadsRef.max,
      value: `${threadsRef.min}–${threadsRef.max} from ${c.baselineS} s, ${threadsEnd.min}–${threadsEnd.max} at the end`,
      bound: 'no growth',
    },
    {
      name: 'every rekey completed',
      pass: rec.rekeys.length === rec.plannedRekeys && ok.length === rec.plannedRekeys &&
        delta('rekeysChild') === okChild && delta('rekeysIke') === okIke && spis.size === okIke + 1,
      value: `${ok.length} of ${rec.plannedRekeys} planned (${okChild} Child, ${okIke} IKE) returned 0; ` +
        `branchgate_rekeys_total rose by ${delta('rekeysChild') ?? '?'} Child, ${delta('rekeysIke') ?? '?'} IKE; ${spis.size} IKE SAs seen` +
        (rec.rekeys.some((r) => !r.ok) ? `; failed: ${JSON.stringify(rec.rekeys.filter((r) => !r.ok).map((r) => `${r.kind}@${r.atS}s: ${r.out}`))}` : ''),
      bound: 'all, counted by the daemon too, one new IKE SA per IKE rekey',
    },
    {
      name: 'no traffic gaps', pass: rec.load.intervals.length > 0 && zero.length === 0 && failedRuns.length === 0,
      value: `${rec.load.intervals.length} one-second iperf3 intervals, ${zero.length} without data, ${failedRuns.length} failed iperf3 runs` +
        (failedRuns.length ? ` (${failedRuns.map((r) => r.error?.split('\n')[0]).join('; ')})` : '') +
        `; slowest ${r1(figures.load.minMbps)} Mbit/s, mean ${r1(figures.load.meanMbps)}`,
      bound: 'none',
    },
    {
      name: 'tunnel up throughout', pass: notUp.length === 0 && trouble.length === 0,
      value: `${samples.length - notUp.length} of ${samples.length} samples established or rekeying` +
        (notUp.length ? ` (not: ${notUp.map((s) => `${s.tS.toFixed(0)} s ${s.state}`).join(', ')})` : '') +
        `; ${trouble.length ? trouble.map(([t, n]) => `${n} ${t}`).join(', ') : 'no dpd-dead, reconnect or ike-down event, and every child-down followed a rekey'}` +
        (rec.lostChildren.length ? ` (${rec.lostChildren.join('; ')})` : ''),
      bound: 'always; none of those events',
    },
    {
      name: 'no ESP authentication failure', pass: (last?.authFailures ?? 1) === 0 && (last?.swIcvFailures ?? 1) === 0,
      value: `branchgate ${last?.authFailures ?? '?'} (branchgate_tunnel_auth_failures_total), strongSwan ${last?.swIcvFailures ?? '?'} (charon log); replay drops ${last?.replayDrops ?? '?'}`,
      bound: '0 on both sides',
    },
    {
      name: 'event-loop delay', pass: c.eventLoopP99MaxMs === undefined || (p99s.length > 0 && (figures.eventLoopP99Ms.max ?? Infinity) < c.eventLoopP99MaxMs),
      value: `p99 per sample: median ${r1(figures.eventLoopP99Ms.median)} ms, largest ${r1(figures.eventLoopP99Ms.max)} ms; largest single delay ${r1(figures.eventLoopMaxMs)} ms; ` +
        `status round trip median ${r1(figures.statusMs.median)} ms, largest ${r1(figures.statusMs.max)} ms`,
      bound: c.eventLoopP99MaxMs === undefined ? 'reported' : `p99 < ${c.eventLoopP99MaxMs} ms in every sample`,
    },
  ];
  return { pass: checks.every((x) => x.pass), checks, figures };
}
