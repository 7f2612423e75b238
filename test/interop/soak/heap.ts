/**
 * The daemon's live JS heap, measured after a full garbage collection. The heap-used figure
 * sampled during a run includes garbage that is waiting for V8's next major collection. In the
 * first 30-minute run no major collection came after the first minute, and heap-used rose from
 * 15.6 to 17.9 MiB. Only a full collection tells a leak from that garbage.
 *
 * The daemon runs with `--inspect=127.0.0.1:9229`, set through NODE_OPTIONS: a Node flag, so
 * nothing in src/ changes. It listens on the cpe namespace's own loopback. A probe is a small
 * Node client started in that namespace (lab/inspector-gc.ts). It sends the DevTools protocol's
 * `HeapProfiler.collectGarbage` (a full, synchronous GC) and disconnects. The soak then reads
 * RSS and the heap figures: heap used, and the used bytes of each V8 space from
 * prom-client's `nodejs_heap_space_size_used_bytes{space}`. Compiled code lives in "code"
 * and data in "old" and "large_object", so the two can be told apart.
 *
 * A heap snapshot would also collect all garbage. But writing one made glibc keep about 68 MiB
 * more resident memory for the rest of the run (RSS 67 → 135 MiB in a check run), which would
 * distort the very figure the soak measures.
 */
import { collectGarbage } from '../lab/inspector-gc.js';

export const INSPECT = '127.0.0.1:9229';

/** NODE_OPTIONS for the daemon. The inspector listens for the whole run, so its thread and socket are in every sample. */
export function heapProbeNodeOptions(): string {
  return `--inspect=${INSPECT}`;
}

/** One full GC in the soak's daemon (lab/inspector-gc.ts). */
export function collectSoakGarbage(ns: string): Promise<void> {
  return collectGarbage(ns, INSPECT);
}
