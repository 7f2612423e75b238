/**
 * The soak run: the built daemon as CPE against strongSwan, iperf3 TCP through the
 * tunnel the whole time, a Child rekey every `childEveryS` and an IKE rekey every `ikeEveryS`
 * through the CLI, and every `sampleEveryS` a sample of the daemon's memory, descriptors,
 * threads, CPU, event-loop delay (prom-client's nodejs_eventloop_lag_* and the control-socket
 * `status` round trip), heap, rekey and ESP counters and IKE SPIs; and RSS and the live heap
 * right after a full GC before the first sample, at the reference point and after the last
 * (heap.ts, series.ts). Used by bench/soak.mjs (30 minutes, compiled
 * to bench/.lab/soak) and test/interop/soak.test.ts (2 minutes).
 */
import os from 'node:os';
import { heapProbeNodeOptions } from './heap.js';
import { startSoakLab, TUNNEL } from './lab.js';
import { runLoad, type LoadResult } from './load.js';
import { describeMachine, type Machine } from './machine.js';
import { rekeyPlan, runRekeys, type RekeyResult } from './rekeys.js';
import { LogCounter, type Sample, type SampleContext } from './sample.js';
import { describeProbe, heapProbe, runSeries, type HeapProbe, type HeapReport } from './series.js';
import { judge, type Criteria, type Verdict } from './verdict.js';

export interface SoakOptions {
  durationS: number;
  childEveryS: number;
  ikeEveryS: number;
  sampleEveryS: number;
  /** iperf3 -b (e.g. '200M'); undefined runs it unpaced. */
  bitrate?: string;
  /** Longest single iperf3 run, seconds (default 300). */
  chunkS?: number;
  criteria: Criteria;
  /** Namespace tag (lowercase letters). */
  tag?: string;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
}

export interface SoakResult {
  startedAt: string;
  options: Omit<SoakOptions, 'log'>;
  machine: Machine;
  samples: Sample[];
  heap: HeapReport;
  rekeys: RekeyResult[];
  load: LoadResult;
  events: Record<string, number>;
  /** Load average (1, 5, 15 min) when the run started and when it ended. */
  loadavg: { start: number[]; end: number[] };
  verdict: Verdict;
}

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const log = o.log ?? ((): void => undefined);
  const plan = rekeyPlan(o.durationS, o.childEveryS, o.ikeEveryS);
  const startedAt = new Date().toISOString();
  const machine = describeMachine();
  const loadStart = os.loadavg();
  const lab = await startSoakLab({ ...(o.tag ? { tag: o.tag } : {}), daemonEnv: { NODE_OPTIONS: heapProbeNodeOptions() } });
  try {
    log(`lab up: daemon pid ${lab.pid}, native dataplane; ${plan.length} rekeys planned over ${o.durationS} s; iperf3 ${o.bitrate ? `paced at ${o.bitrate}bit/s` : 'unpaced'}`);
    const start = await heapProbe({ lab, t0: Date.now() }, 'start');
    log(describeProbe(start));
    const t0 = Date.now();
    let stop = false;
    let inFlight = false;
    const stopped = (): boolean => stop;
    const load = runLoad(lab.topo, t0, t0 + o.durationS * 1000, { chunkS: o.chunkS ?? 300, ...(o.bitrate ? { bitrate: o.bitrate } : {}), stopped });
    const rekeys = runRekeys(lab.bg, TUNNEL, plan, t0, stopped, {
      onStart: () => (inFlight = true),
      onDone: (r) => {
        inFlight = false;
        if (!r.ok || r.kind === 'ike') log(`${r.startedS.toFixed(0)} s: ${r.kind} rekey ${r.ok ? 'done' : 'FAILED'} in ${r.ms} ms${r.ok ? '' : `: ${r.out}`}`);
      },
    });
    const ctx: SampleContext = { lab, t0, icv: new LogCounter(lab.sw.logPath, lab.sw.logMark()), rekeyInFlight: () => inFlight };
    let series: { samples: Sample[]; probes: HeapProbe[] };
    try {
      series = await runSeries(ctx, { durationS: o.durationS, sampleEveryS: o.sampleEveryS, baselineS: o.criteria.baselineS, log });
    } catch (err) {
      // The lab goes down at once (finally): iperf3 and the CLI end with it.
      throw new Error(`soak sampling failed at ${((Date.now() - t0) / 1000).toFixed(0)} s: ${(err as Error).message}\n${lab.bg.logs(40)}`);
    } finally {
      stop = true;
    }
    const [loadResult, rekeyResults] = await Promise.all([load, rekeys]);
    const evs = lab.mon.events().map((l) => l.event).filter((e) => Date.parse(e.time) >= t0);
    const events: Record<string, number> = {};
    for (const e of evs) events[e.type] = (events[e.type] ?? 0) + 1;
    // A Child rekey ends with the old SA's child-down; any other child-down is a lost SA.
    const replaced = new Set(evs.filter((e) => e.type === 'child-rekeyed').map((e) => String(e.oldSpiIn)));
    const lostChildren = evs.filter((e) => e.type === 'child-down' && !replaced.has(String(e.spiIn))).map((e) => `${String(e.spiIn)}: ${String(e.reason)}`);
    const heap: HeapReport = { probes: [start, ...series.probes] };
    const record = { durationS: o.durationS, plannedRekeys: plan.length, samples: series.samples, heap, rekeys: rekeyResults, load: loadResult, events, lostChildren };
    const { log: _log, ...options } = o;
    return { startedAt, options, machine, ...record, loadavg: { start: loadStart, end: os.loadavg() }, verdict: judge(record, o.criteria) };
  } finally {
    await lab.destroy();
  }
}
