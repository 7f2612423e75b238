/**
 * One sample of the soak's time series: the daemon's process figures (read first, before the
 * soak's own control and metrics connections add file descriptors), the `status` round trip,
 * the metrics scrape and strongSwan's ICV failures so far.
 */
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import os from 'node:os';
import type { SoakLab } from './lab.js';
import { METRICS_LISTEN, TUNNEL } from './lab.js';
import { readMemoryMap, readProcStats, type MemoryMap } from './proc.js';
import { timedStatus } from './control.js';
import { scrapeMetrics } from './prom.js';

export interface Sample {
  /** Seconds after the start of the run. */
  tS: number;
  /** The machine's 1-minute load average. */
  load1: number;
  rssKiB: number;
  hwmKiB: number;
  threads: number;
  fds: number;
  /** Share of one core the daemon used since the previous sample, %. */
  cpuPct: number;
  /** A `branchgate rekey` CLI was connected to the daemon while the fds were counted. */
  rekeyInFlight: boolean;
  statusMs: number;
  state: string;
  ikeSpis: string;
  childSas: number;
  metricsMs: number;
  eventLoopP99Ms?: number;
  eventLoopMaxMs?: number;
  heapUsedKiB?: number;
  heapTotalKiB?: number;
  externalKiB?: number;
  /** Resident memory by kind of mapping (proc.ts readMemoryMap). */
  mem: MemoryMap;
  authFailures?: number;
  replayDrops?: number;
  rekeysChild?: number;
  rekeysIke?: number;
  /** strongSwan log lines reporting an ESP ICV/decryption failure, since the run started. */
  swIcvFailures: number;
}

/** What charon (kernel-libipsec) logs when an inbound ESP packet fails to decrypt or verify. */
const SW_AUTH_FAIL = /ESP decryption or ICV verification failed|ESP decryption failed|authentication failed/i;

/** Counts matching lines appended to charon's log since the mark, reading only what is new. */
export class LogCounter {
  private offset: number;
  private partial = '';
  count = 0;

  constructor(private readonly path: string, from: number) {
    this.offset = from;
  }

  update(): number {
    let size: number;
    try {
      size = statSync(this.path).size;
    } catch {
      return this.count;
    }
    if (size <= this.offset) return this.count;
    const buf = Buffer.alloc(size - this.offset);
    const fd = openSync(this.path, 'r');
    try {
      readSync(fd, buf, 0, buf.length, this.offset);
    } finally {
      closeSync(fd);
    }
    this.offset = size;
    const lines = (this.partial + buf.toString('utf8')).split('\n');
    this.partial = lines.pop() ?? '';
    this.count += lines.filter((l) => SW_AUTH_FAIL.test(l)).length;
    return this.count;
  }
}

export interface SampleContext {
  lab: SoakLab;
  t0: number;
  icv: LogCounter;
  rekeyInFlight: () => boolean;
  /** CPU seconds and time at the previous sample. */
  prev?: { cpuS: number; at: number };
}

const kib = (bytes: number | undefined): number | undefined => (bytes === undefined ? undefined : bytes / 1024);

export async function takeSample(ctx: SampleContext): Promise<Sample> {
  const at = Date.now();
  const inFlight = ctx.rekeyInFlight();
  const p = readProcStats(ctx.lab.pid);
  const mem = readMemoryMap(ctx.lab.pid);
  const cpuPct = ctx.prev ? (100 * (p.cpuS - ctx.prev.cpuS)) / Math.max(0.001, (at - ctx.prev.at) / 1000) : 0;
  ctx.prev = { cpuS: p.cpuS, at };
  const st = await timedStatus(ctx.lab.bg.socket, TUNNEL);
  const m = await scrapeMetrics(ctx.lab.topo.cpe, METRICS_LISTEN, TUNNEL);
  return {
    tS: (at - ctx.t0) / 1000,
    load1: os.loadavg()[0] ?? 0,
    rssKiB: p.rssKiB, hwmKiB: p.hwmKiB, threads: p.threads, fds: p.fds, cpuPct, rekeyInFlight: inFlight,
    statusMs: st.ms, state: st.state, ikeSpis: st.ikeSpis, childSas: st.childSpisIn.length,
    metricsMs: m.ms, eventLoopP99Ms: m.eventLoopP99Ms, eventLoopMaxMs: m.eventLoopMaxMs,
    heapUsedKiB: kib(m.heapUsedBytes), heapTotalKiB: kib(m.heapTotalBytes), externalKiB: kib(m.externalBytes), mem,
    authFailures: m.authFailures, replayDrops: m.replayDrops, rekeysChild: m.rekeysChild, rekeysIke: m.rekeysIke,
    swIcvFailures: ctx.icv.update(),
  };
}
