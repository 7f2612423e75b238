/**
 * The soak run (issue 8): the built daemon as CPE against strongSwan, iperf3 TCP through the
 * tunnel the whole time, a Child rekey every `childEveryS` and an IKE rekey every `ikeEveryS`
 * through the CLI, and every `sampleEveryS` a sample of the daemon's memory, descriptors,
 * threads, CPU, event-loop delay (prom-client's nodejs_eventloop_lag_* and the control-socket
 * `status` round trip), heap, rekey and ESP counters and IKE SPIs. Used by bench/soak.mjs (30
 * minutes, compiled to bench/.lab/soak) and test/interop/soak.test.ts (2 minutes).
 */
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { REPO_ROOT } from '../lab/branchgate.js';
import { startSoakLab, TUNNEL, type SoakLab } from './lab.js';
import { runLoad, type LoadResult } from './load.js';
import { rekeyPlan, runRekeys, type RekeyResult } from './rekeys.js';
import { LogCounter, takeSample, type Sample, type SampleContext } from './sample.js';
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

export interface Machine {
  cpu: string;
  cores: number;
  memGiB: number;
  kernel: string;
  node: string;
  strongswan: string;
  iperf3: string;
  hostname: string;
  /** The commit measured, and whether tracked files differed from it. */
  git: string;
}

export interface SoakResult {
  startedAt: string;
  options: Omit<SoakOptions, 'log'>;
  machine: Machine;
  samples: Sample[];
  rekeys: RekeyResult[];
  load: LoadResult;
  events: Record<string, number>;
  /** Load average (1, 5, 15 min) when the run started and when it ended. */
  loadavg: { start: number[]; end: number[] };
  verdict: Verdict;
}

function firstLine(argv: string[]): string {
  try {
    return execFileSync(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], timeout: 5000 }).toString().split('\n')[0]!.trim();
  } catch {
    return '?';
  }
}

export function describeMachine(): Machine {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '?';
  return {
    cpu: model, cores: os.cpus().length, memGiB: Math.round(os.totalmem() / 2 ** 30), kernel: os.release(), node: process.version,
    strongswan: firstLine(['dpkg-query', '-W', '-f', '${Version}', 'charon-systemd']),
    iperf3: firstLine(['iperf3', '--version']), hostname: os.hostname(),
    git: `${firstLine(['git', '-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD'])}${firstLine(['git', '-C', REPO_ROOT, 'status', '--porcelain', '--untracked-files=no']) === '' ? '' : ' (modified)'}`,
  };
}

export async function runSoak(o: SoakOptions): Promise<SoakResult> {
  const log = o.log ?? ((): void => undefined);
  const plan = rekeyPlan(o.durationS, o.childEveryS, o.ikeEveryS);
  const startedAt = new Date().toISOString();
  const loadStart = os.loadavg();
  const lab: SoakLab = await startSoakLab({ ...(o.tag ? { tag: o.tag } : {}) });
  try {
    log(`lab up: daemon pid ${lab.pid}, native dataplane; ${plan.length} rekeys planned over ${o.durationS} s; iperf3 ${o.bitrate ? `paced at ${o.bitrate}bit/s` : 'unpaced'}`);
    const t0 = Date.now();
    const endAt = t0 + o.durationS * 1000;
    let stop = false;
    let inFlight = false;
    const stopped = (): boolean => stop;
    const load = runLoad(lab.topo, t0, endAt, { chunkS: o.chunkS ?? 300, ...(o.bitrate ? { bitrate: o.bitrate } : {}), stopped });
    const rekeys = runRekeys(lab.bg, TUNNEL, plan, t0, stopped, {
      onStart: () => (inFlight = true),
      onDone: (r) => {
        inFlight = false;
        if (!r.ok || r.kind === 'ike') log(`${r.startedS.toFixed(0)} s: ${r.kind} rekey ${r.ok ? 'done' : 'FAILED'} in ${r.ms} ms${r.ok ? '' : `: ${r.out}`}`);
      },
    });
    const ctx: SampleContext = { lab, t0, icv: new LogCounter(lab.sw.logPath, lab.sw.logMark()), rekeyInFlight: () => inFlight };
    const samples: Sample[] = [];
    let sampleError: Error | undefined;
    try {
      for (let k = 0; ; k++) {
        const due = t0 + k * o.sampleEveryS * 1000;
        if (due > endAt) break;
        await new Promise((r) => setTimeout(r, Math.max(0, due - Date.now())));
        const s = await takeSample(ctx);
        samples.push(s);
        if (k % Math.max(1, Math.round(60 / o.sampleEveryS)) === 0) {
          log(`${s.tS.toFixed(0)} s: RSS ${(s.rssKiB / 1024).toFixed(1)} MiB, fds ${s.fds}, threads ${s.threads}, ` +
            `event loop p99 ${s.eventLoopP99Ms?.toFixed(1) ?? '?'} ms, status ${s.statusMs.toFixed(1)} ms, ${s.state}, load ${s.load1.toFixed(2)}`);
        }
      }
    } catch (err) {
      sampleError = err as Error;
    } finally {
      stop = true;
    }
    // On a failed sample the lab goes down at once (finally): iperf3 and the CLI end with it.
    if (sampleError) throw new Error(`soak sampling failed at ${((Date.now() - t0) / 1000).toFixed(0)} s: ${sampleError.message}\n${lab.bg.logs(40)}`);
    const [loadResult, rekeyResults] = await Promise.all([load, rekeys]);
    const evs = lab.mon.events().map((l) => l.event).filter((e) => Date.parse(e.time) >= t0);
    const events: Record<string, number> = {};
    for (const e of evs) events[e.type] = (events[e.type] ?? 0) + 1;
    // A Child rekey ends with the old SA's child-down; any other child-down is a lost SA.
    const replaced = new Set(evs.filter((e) => e.type === 'child-rekeyed').map((e) => String(e.oldSpiIn)));
    const lostChildren = evs.filter((e) => e.type === 'child-down' && !replaced.has(String(e.spiIn))).map((e) => `${String(e.spiIn)}: ${String(e.reason)}`);
    const record = { durationS: o.durationS, plannedRekeys: plan.length, samples, rekeys: rekeyResults, load: loadResult, events, lostChildren };
    const { log: _log, ...options } = o;
    return { startedAt, options, machine: describeMachine(), ...record, loadavg: { start: loadStart, end: os.loadavg() }, verdict: judge(record, o.criteria) };
  } finally {
    await lab.destroy();
  }
}
