/**
 * The soak's results as files: the whole record as JSON, and a markdown page with the machine,
 * the options, the verdict and the time series at one-minute resolution.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SoakResult } from './run.js';
import type { Sample } from './sample.js';

const f1 = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(1));
const f0 = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : x.toFixed(0));
const max = (xs: (number | undefined)[]): number | undefined => {
  const d = xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
  return d.length ? Math.max(...d) : undefined;
};
const avg = (xs: number[]): number | undefined => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined);

/** One row per minute of the run: means of the gauges, extremes of the delays, counts of what happened in it. */
export function minuteRows(r: SoakResult): string[] {
  const rows: string[] = [];
  const minutes = Math.ceil(r.options.durationS / 60);
  for (let m = 0; m < minutes; m++) {
    const inMin = (t: number): boolean => t >= m * 60 && (t < (m + 1) * 60 || (m === minutes - 1 && t <= (m + 1) * 60));
    const s: Sample[] = r.samples.filter((x) => inMin(x.tS));
    if (!s.length) continue;
    const iv = r.load.intervals.filter((i) => inMin(i.atS));
    const rk = r.rekeys.filter((x) => inMin(x.startedS));
    const okN = (k: string): number => rk.filter((x) => x.kind === k && x.ok).length;
    const bad = rk.filter((x) => !x.ok).length;
    const last = s.at(-1)!;
    rows.push(`| ${m}–${m + 1} | ${f1(avg(s.map((x) => x.rssKiB / 1024)))} | ${f1(last.hwmKiB / 1024)} | ${f1(avg(s.flatMap((x) => (x.heapUsedKiB === undefined ? [] : [x.heapUsedKiB / 1024]))))} | ` +
      `${f1(avg(s.flatMap((x) => (x.heapTotalKiB === undefined ? [] : [x.heapTotalKiB / 1024]))))} | ${f1(avg(s.map((x) => x.mem.mallocKiB / 1024)))} | ` +
      `${Math.min(...s.map((x) => x.fds))}–${Math.max(...s.map((x) => x.fds))} | ${Math.min(...s.map((x) => x.threads))}–${Math.max(...s.map((x) => x.threads))} | ` +
      `${f0(avg(s.map((x) => x.cpuPct)))} | ${f1(max(s.map((x) => x.eventLoopP99Ms)))} | ${f1(max(s.map((x) => x.eventLoopMaxMs)))} | ${f1(max(s.map((x) => x.statusMs)))} | ` +
      `${f0(avg(iv.map((i) => i.mbps)))} / ${f0(iv.length ? Math.min(...iv.map((i) => i.mbps)) : undefined)} (${iv.length}) | ` +
      `${okN('child')} / ${okN('ike')}${bad ? ` (${bad} failed)` : ''} | ${f1(avg(rk.map((x) => x.ms)))} | ${last.authFailures ?? '–'} / ${last.swIcvFailures} | ${last.replayDrops ?? '–'} | ${f1(avg(s.map((x) => x.load1)))} |`);
  }
  return rows;
}

/** Where the resident memory sits, reference window against final window. */
function memoryLine(r: SoakResult): string {
  const { ref, end } = r.verdict.figures.memory;
  const pair = (a: number | undefined, b: number | undefined): string => `${f1(a)} → ${f1(b)}`;
  return `- RSS by kind of mapping (window means, MiB): glibc malloc ${pair(ref.malloc, end.malloc)}, other anonymous (V8's heap pages, large allocations, stacks) ` +
    `${pair(ref.anon, end.anon)}, files ${pair(ref.file, end.file)}; V8's committed heap ${pair(ref.v8Committed, end.v8Committed)}, external memory ${pair(ref.external, end.external)}.`;
}

/** The heap probes: RSS, heap used and its spaces right after each forced full GC. */
function heapLines(r: SoakResult): string[] {
  const ps = r.heap.probes;
  if (!ps.length) return ['- Heap probes: not taken.'];
  const mib = (x: number | undefined): string => f1(x === undefined ? undefined : x / 2 ** 20);
  const spaces = Object.keys(ps.at(-1)!.heapSpaces).filter((k) => k !== 'new');
  const seq = (f: (p: (typeof ps)[number]) => string): string => ps.map(f).join(' → ');
  return [
    `- Right after a full GC (DevTools HeapProfiler.collectGarbage) at ${seq((p) => `${f0(p.tS)} s`)}: RSS ${seq((p) => f1(p.rssKiB / 1024))} MiB, ` +
      `heap used ${seq((p) => mib(p.heapUsedBytes))} MiB (${spaces.map((k) => `${k} ${seq((p) => mib(p.heapSpaces[k]))}`).join('; ')}).`,
  ];
}

export function markdown(r: SoakResult): string {
  const o = r.options;
  const v = r.verdict;
  const fg = v.figures;
  const m = r.machine;
  const la = (x: number[]): string => x.map((n) => n.toFixed(2)).join(' / ');
  return [
    `# Soak run ${r.startedAt}`,
    '',
    `**Verdict: ${v.pass ? 'PASS' : 'FAIL'}** — ${Math.round(o.durationS / 60)} min, a Child rekey every ${o.childEveryS} s and an IKE rekey every ${o.ikeEveryS} s ` +
      `through \`branchgate rekey NAME [--ike] --wait\`, iperf3 TCP branch → svc ${o.bitrate ? `paced at ${o.bitrate}bit/s` : 'unpaced'} throughout, a sample every ${o.sampleEveryS} s.`,
    '',
    '| check | result | measured | bound |',
    '|---|---|---|---|',
    ...v.checks.map((c) => `| ${c.name} | ${c.pass ? 'pass' : '**FAIL**'} | ${c.value.replace(/\|/g, '\\|')} | ${c.bound} |`),
    '',
    `Reference window: samples from ${o.criteria.baselineS} s to ${o.criteria.baselineS + o.criteria.windowS} s; final window: the last ${o.criteria.windowS} s. ` +
      'RSS growth compares RSS right after a forced full GC just before the reference window with RSS right after one at the end: sampled RSS also holds ' +
      'garbage waiting for V8\'s next major collection, which in these runs did not come for the whole run (docs/soak.md); the sampled figures are shown beside it.',
    '',
    '## Machine',
    '',
    `${m.cpu}, ${m.cores} cores, ${m.memGiB} GiB, Linux ${m.kernel}, Node ${m.node}, strongSwan ${m.strongswan} (kernel-libipsec), ${m.iperf3}, commit ${m.git}. ` +
      `The machine is shared with other work: load average (1 / 5 / 15 min) ${la(r.loadavg.start)} at the start, ${la(r.loadavg.end)} at the end; ` +
      `the 1-minute load over the samples ranged ${f1(fg.load1.min)}–${f1(fg.load1.max)} (mean ${f1(fg.load1.mean)}) on ${m.cores} cores.`,
    '',
    '## Figures',
    '',
    `- Daemon RSS right after a full GC: ${f1(fg.rssAfterGc?.refMiB)} → ${f1(fg.rssAfterGc?.endMiB)} MiB (${(fg.rssAfterGc?.growthPct ?? NaN) >= 0 ? '+' : ''}${fg.rssAfterGc?.growthPct.toFixed(2) ?? '–'} %). ` +
      `Sampled: the line through every sample from ${o.criteria.baselineS} s runs ${f1(fg.rssTrend?.fromMiB)} → ${f1(fg.rssTrend?.toMiB)} MiB ` +
      `(${(fg.rssTrend?.growthPct ?? NaN) >= 0 ? '+' : ''}${fg.rssTrend?.growthPct.toFixed(2) ?? '–'} %); window means ${f1(fg.rssRef.mean)} → ${f1(fg.rssEnd.mean)} MiB, ` +
      `fewest ${f1(fg.rssRef.min)} → ${f1(fg.rssEnd.min)} MiB; peak (VmHWM) ${f1(fg.hwmRefMiB)} → ${f1(fg.hwmEndMiB)} MiB; ` +
      `V8 heap used (window means) ${f1(fg.heapRefMiB)} → ${f1(fg.heapEndMiB)} MiB; threads ${fg.threads.min}–${fg.threads.max}.`,
    memoryLine(r),
    ...heapLines(r),
    `- Open fds: ${fg.fdsRef.min}–${fg.fdsRef.max} in the reference window, ${fg.fdsEnd.min}–${fg.fdsEnd.max} in the final one.`,
    `- Event-loop delay (prom-client, per sample interval): p99 median ${f1(fg.eventLoopP99Ms.median)} ms, largest ${f1(fg.eventLoopP99Ms.max)} ms; largest single delay ${f1(fg.eventLoopMaxMs)} ms. ` +
      `\`status\` over the control socket: median ${f1(fg.statusMs.median)} ms, p99 ${f1(fg.statusMs.p99)} ms, largest ${f1(fg.statusMs.max)} ms.`,
    `- Rekeys: ${fg.rekeys.ok} of ${fg.rekeys.planned} completed (${fg.rekeys.failed} failed). \`rekey --wait\` wall time (a new CLI process included): ` +
      `Child median ${f0(fg.rekeys.childMs.median)} ms, largest ${f0(fg.rekeys.childMs.max)} ms (${fg.rekeys.childMs.n}); IKE median ${f0(fg.rekeys.ikeMs.median)} ms, largest ${f0(fg.rekeys.ikeMs.max)} ms (${fg.rekeys.ikeMs.n}). ` +
      `${fg.distinctIkeSpis} IKE SAs seen.`,
    `- iperf3: ${fg.load.intervals} one-second intervals, mean ${f1(fg.load.meanMbps)} Mbit/s, slowest ${f1(fg.load.minMbps)}, ${fg.load.zeroIntervals} without data; ` +
      `${r.load.runs.length} runs (${r.load.runs.map((x) => `${f0(x.mbps)}${x.retransmits !== undefined ? ` Mbit/s, ${x.retransmits} retr.` : ''}${x.error ? ' FAILED' : ''}`).join('; ')}).`,
    `- ESP: authentication failures branchgate ${fg.authFailures ?? '–'}, strongSwan ${fg.swIcvFailures}; replay drops ${fg.replayDrops ?? '–'}.`,
    `- \`branchgate monitor\` events: ${Object.entries(fg.events).map(([k, n]) => `${k} ${n}`).join(', ') || 'none'}.`,
    '',
    '## Time series (one row per minute)',
    '',
    'RSS, heap (used), V8 committed (heap total) and malloc (glibc arenas\' resident memory): means; HWM: at the minute\'s last sample; fds, threads: fewest–most; CPU: the daemon\'s share of one core; ' +
      'EL p99 / EL max: the largest per-sample event-loop p99 and maximum; status: the slowest control-socket round trip; ' +
      'iperf3: mean / slowest one-second interval (intervals); rekeys: Child / IKE completed, and their mean CLI wall time; ' +
      'auth fail: branchgate / strongSwan, cumulative.',
    '',
    '| min | RSS MiB | HWM MiB | heap MiB | V8 committed | malloc MiB | fds | threads | CPU % | EL p99 ms | EL max ms | status ms | iperf3 Mbit/s | rekeys C / I | rekey ms | auth fail | replay drops | load 1m |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...minuteRows(r),
    '',
    `Every sample is in the JSON file beside this one (\`samples\`, every ${o.sampleEveryS} s), with every rekey and every iperf3 interval.`,
    '',
  ].join('\n');
}

/** Writes soak-STAMP.{json,md} and soak-latest.{json,md} into dir; returns the two stamped paths. */
export function writeResults(dir: string, r: SoakResult): { json: string; md: string } {
  mkdirSync(dir, { recursive: true });
  const stamp = r.startedAt.replace(/[:T]/g, '-').replace(/\..*$/, '');
  const json = join(dir, `soak-${stamp}.json`);
  const md = join(dir, `soak-${stamp}.md`);
  writeFileSync(json, `${JSON.stringify(r, null, 1)}\n`);
  writeFileSync(md, markdown(r));
  copyFileSync(json, join(dir, 'soak-latest.json'));
  copyFileSync(md, join(dir, 'soak-latest.md'));
  return { json, md };
}
