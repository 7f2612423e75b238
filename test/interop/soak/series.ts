/**
 * The soak's sampling loop: a sample every `sampleEveryS` from 0 to the end, and the heap
 * probes of heap.ts — a full GC, then RSS and the heap figures — half a sampling interval
 * before the reference window and after the last sample (run.ts takes a third before the
 * first). The verdict compares RSS after those two full collections: the same state of the
 * heap at minute 5 and at the end (docs/soak.md).
 */
import { collectSoakGarbage } from './heap.js';
import { METRICS_LISTEN, TUNNEL } from './lab.js';
import { readProcStats } from './proc.js';
import { scrapeMetrics } from './prom.js';
import { takeSample, type Sample, type SampleContext } from './sample.js';

export interface HeapProbe {
  label: 'start' | 'reference' | 'end';
  /** Seconds after the start of the run (the start probe is just before 0). */
  tS: number;
  rssKiB: number;
  heapUsedBytes?: number;
  /** Used bytes per V8 space ("old", "code", "large_object", …). */
  heapSpaces: Record<string, number>;
}

export interface HeapReport {
  probes: HeapProbe[];
}

const sleepUntil = (at: number): Promise<void> => new Promise((r) => setTimeout(r, Math.max(0, at - Date.now())));

/** A full GC in the daemon, then its RSS and heap figures. */
export async function heapProbe(ctx: Pick<SampleContext, 'lab' | 't0'>, label: HeapProbe['label']): Promise<HeapProbe> {
  const tS = (Date.now() - ctx.t0) / 1000;
  await collectSoakGarbage(ctx.lab.topo.cpe);
  const rssKiB = readProcStats(ctx.lab.pid).rssKiB;
  const m = await scrapeMetrics(ctx.lab.topo.cpe, METRICS_LISTEN, TUNNEL);
  return { label, tS, rssKiB, heapUsedBytes: m.heapUsedBytes, heapSpaces: m.heapSpaces };
}

export async function runSeries(ctx: SampleContext, o: { durationS: number; sampleEveryS: number; baselineS: number; log: (s: string) => void }):
  Promise<{ samples: Sample[]; probes: HeapProbe[] }> {
  const samples: Sample[] = [];
  const probes: HeapProbe[] = [];
  const endAt = ctx.t0 + o.durationS * 1000;
  const probeAt = ctx.t0 + (o.baselineS - o.sampleEveryS / 2) * 1000;
  for (let k = 0; ; k++) {
    const due = ctx.t0 + k * o.sampleEveryS * 1000;
    if (due > endAt) break;
    if (probes.length === 0 && due > probeAt) {
      await sleepUntil(probeAt);
      probes.push(await heapProbe(ctx, 'reference'));
      o.log(describeProbe(probes[0]!));
    }
    await sleepUntil(due);
    const s = await takeSample(ctx);
    samples.push(s);
    if (k % Math.max(1, Math.round(60 / o.sampleEveryS)) === 0) {
      o.log(`${s.tS.toFixed(0)} s: RSS ${(s.rssKiB / 1024).toFixed(1)} MiB, fds ${s.fds}, threads ${s.threads}, ` +
        `event loop p99 ${s.eventLoopP99Ms?.toFixed(1) ?? '?'} ms, status ${s.statusMs.toFixed(1)} ms, ${s.state}, load ${s.load1.toFixed(2)}`);
    }
  }
  probes.push(await heapProbe(ctx, 'end'));
  o.log(describeProbe(probes.at(-1)!));
  return { samples, probes };
}

const mib = (bytes: number | undefined): string => ((bytes ?? NaN) / 2 ** 20).toFixed(2);

export function describeProbe(p: HeapProbe): string {
  return `${p.tS.toFixed(0)} s: heap probe (${p.label}): right after a full GC RSS ${(p.rssKiB / 1024).toFixed(1)} MiB, heap used ${mib(p.heapUsedBytes)} MiB ` +
    `(old ${mib(p.heapSpaces.old)}, code ${mib(p.heapSpaces.code)})`;
}
