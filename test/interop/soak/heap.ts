/**
 * The daemon's live JS heap, measured after a full garbage collection. The heap-used figure
 * sampled during a run includes garbage that is waiting for V8's next major collection. In the
 * first 30-minute run no major collection came after the first minute, and heap-used rose from
 * 15.6 to 17.9 MiB. Only a full collection tells a leak from that garbage.
 *
 * The daemon runs with `--inspect=127.0.0.1:9229`, set through NODE_OPTIONS: a Node flag, so
 * nothing in src/ changes. It listens on the cpe namespace's own loopback. A probe is a small
 * Node client started in that namespace. It sends the DevTools protocol's
 * `HeapProfiler.collectGarbage` (a full, synchronous GC) and disconnects. The soak then reads
 * RSS and the heap figures: heap used, and the used bytes of each V8 space from
 * prom-client's `nodejs_heap_space_size_used_bytes{space}`. Compiled code lives in "code"
 * and data in "old" and "large_object", so the two can be told apart.
 *
 * A heap snapshot would also collect all garbage. But writing one made glibc keep about 68 MiB
 * more resident memory for the rest of the run (RSS 67 → 135 MiB in a check run), which would
 * distort the very figure the soak measures.
 */
import { exec } from '../lab/netns.js';

export const INSPECT = '127.0.0.1:9229';

/** NODE_OPTIONS for the daemon. The inspector listens for the whole run, so its thread and socket are in every sample. */
export function heapProbeNodeOptions(): string {
  return `--inspect=${INSPECT}`;
}

/**
 * `HeapProfiler.collectGarbage` over the inspector of the only Node process listening on
 * INSPECT in `ns`. Node 20's WebSocket client is behind --experimental-websocket.
 */
export async function collectGarbage(ns: string): Promise<void> {
  const js = `
    const fail = (m) => { console.error(m); process.exit(1); };
    setTimeout(() => fail('no answer from the inspector in 15 s'), 15000).unref();
    fetch('http://${INSPECT}/json/list').then((r) => r.json()).then((list) => {
      const url = list[0] && list[0].webSocketDebuggerUrl;
      if (!url) fail('the inspector lists no target: ' + JSON.stringify(list));
      const ws = new WebSocket(url);
      ws.onopen = () => ws.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }));
      ws.onmessage = (m) => {
        const r = JSON.parse(String(m.data));
        if (r.id !== 1) return;
        if (r.error) fail('collectGarbage: ' + JSON.stringify(r.error));
        ws.close();
        process.exit(0);
      };
      ws.onerror = (e) => fail('inspector websocket: ' + (e.message || e.type));
    }, (e) => fail('inspector at ${INSPECT}: ' + e.message));`;
  await exec(ns, [process.execPath, '--experimental-websocket', '--no-warnings', '-e', js], { timeoutMs: 20_000 });
}
