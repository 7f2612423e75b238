/**
 * iperf3 TCP from the branch host to the service host, through the tunnel, for the whole run:
 * back-to-back runs of ../lab/traffic.ts's iperf3() of at most `chunkS` seconds each (its JSON
 * arrives only when a run ends, so shorter runs bound what a failure can lose). Each 1-second
 * interval is placed on the run's clock by its end: the client returns right after the last one.
 * Between two runs there is a pause of about a second (a new server, a new connection) that is
 * the harness's, not the tunnel's: it is not an interval and is not counted as a gap.
 */
import { ADDR, type Topology } from '../lab/topology.js';
import { iperf3 } from '../lab/traffic.js';

export interface LoadInterval {
  /** End of the interval, seconds after the start of the run. */
  atS: number;
  /** Bytes the client sent in the interval (iperf3's per-interval figure). */
  bytes: number;
  mbps: number;
}

export interface LoadRun {
  startS: number;
  seconds: number;
  /** Receiver-side rate over the whole run, Mbit/s (0 when it failed). */
  mbps: number;
  retransmits?: number;
  error?: string;
}

export interface LoadResult {
  intervals: LoadInterval[];
  runs: LoadRun[];
}

/**
 * Keeps iperf3 running until `endAt` (Date.now() scale); `bitrate` paces it (iperf3 -b), undefined
 * is unpaced. A failed run is recorded and the next one starts, so the load outlives a blip.
 */
export async function runLoad(topo: Topology, t0: number, endAt: number, opts: { chunkS: number; bitrate?: string; stopped: () => boolean }): Promise<LoadResult> {
  const out: LoadResult = { intervals: [], runs: [] };
  for (;;) {
    const seconds = Math.min(opts.chunkS, Math.floor((endAt - Date.now()) / 1000));
    if (opts.stopped() || seconds < 3) return out;
    const startS = (Date.now() - t0) / 1000;
    try {
      const r = await iperf3(topo.branch, topo.svc, ADDR.svc, { seconds, ...(opts.bitrate ? { bitrate: opts.bitrate } : {}) });
      const endS = (Date.now() - t0) / 1000;
      const last = r.intervals.at(-1)?.end ?? 0;
      for (const i of r.intervals) out.intervals.push({ atS: endS - (last - i.end), bytes: i.bytes, mbps: i.bitsPerSecond / 1e6 });
      out.runs.push({ startS, seconds, mbps: r.bitsPerSecond / 1e6, ...(r.retransmits !== undefined ? { retransmits: r.retransmits } : {}) });
    } catch (err) {
      out.runs.push({ startS, seconds, mbps: 0, error: (err as Error).message.slice(0, 500) });
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}
