/**
 * The daemon's Prometheus endpoint as the soak reads it: one GET /metrics from inside the cpe
 * namespace (the exporter listens on that namespace's loopback) and the handful of series the
 * soak follows.
 *
 * Why not ../lab/metrics-scrape.ts: it imports test/helpers/exposition.ts, outside the folder
 * bench/tsconfig.lab.json compiles for bench/soak.mjs. The lookup below reads only the lines
 * it is asked for, in the text exposition format prom-client writes: `name{k="v",…} value`.
 */
import { exec } from '../lab/netns.js';

/** The value of the one series `name` whose labels include `labels`; undefined when absent. */
export function seriesValue(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || line.startsWith('#')) continue;
    const rest = line.slice(name.length);
    // `name` must end here: the next character opens the labels or separates the value.
    if (rest[0] !== '{' && rest[0] !== ' ') continue;
    const close = rest[0] === '{' ? rest.indexOf('} ') : 0;
    if (close < 0) continue;
    const labelText = rest[0] === '{' ? rest.slice(1, close) : '';
    if (!want.every((w) => labelText.split(',').includes(w))) continue;
    const v = Number(rest.slice(close + (rest[0] === '{' ? 2 : 1)).trim());
    return Number.isFinite(v) ? v : undefined;
  }
  return undefined;
}

/** What one scrape gives the soak. Event-loop figures cover the time since the previous scrape (prom-client resets its histogram on collect). */
export interface MetricsView {
  /** Time the scrape took, ms (a node process started in the namespace, then the GET). */
  ms: number;
  eventLoopP99Ms?: number;
  eventLoopMaxMs?: number;
  heapUsedBytes?: number;
  /** V8's committed heap (nodejs_heap_size_total_bytes) and memory held by JS objects outside it (nodejs_external_memory_bytes). */
  heapTotalBytes?: number;
  externalBytes?: number;
  authFailures?: number;
  replayDrops?: number;
  rekeysChild?: number;
  rekeysIke?: number;
  /** Used bytes of V8's heap spaces that hold data ("old", "large_object") and code ("code"). */
  heapSpaces: Record<string, number>;
}

const SPACES = ['new', 'old', 'code', 'large_object', 'code_large_object'] as const;

/** GET http://LISTEN/metrics from inside `ns` and read the soak's series for `tunnel`. */
export async function scrapeMetrics(ns: string, listen: string, tunnel: string): Promise<MetricsView> {
  const js = `fetch('http://${listen}/metrics').then(async (r) => { if (r.status !== 200) throw new Error('HTTP ' + r.status); process.stdout.write(await r.text()); })`;
  const t0 = performance.now();
  const { stdout } = await exec(ns, [process.execPath, '-e', js], { timeoutMs: 15_000 });
  const ms = performance.now() - t0;
  const t = { tunnel };
  const sec = (v: number | undefined): number | undefined => (v === undefined ? undefined : v * 1000);
  return {
    ms,
    eventLoopP99Ms: sec(seriesValue(stdout, 'nodejs_eventloop_lag_p99_seconds')),
    eventLoopMaxMs: sec(seriesValue(stdout, 'nodejs_eventloop_lag_max_seconds')),
    heapUsedBytes: seriesValue(stdout, 'nodejs_heap_size_used_bytes'),
    heapTotalBytes: seriesValue(stdout, 'nodejs_heap_size_total_bytes'),
    externalBytes: seriesValue(stdout, 'nodejs_external_memory_bytes'),
    authFailures: seriesValue(stdout, 'branchgate_tunnel_auth_failures_total', t),
    replayDrops: seriesValue(stdout, 'branchgate_tunnel_replay_drops_total', t),
    rekeysChild: seriesValue(stdout, 'branchgate_rekeys_total', { ...t, kind: 'child' }),
    rekeysIke: seriesValue(stdout, 'branchgate_rekeys_total', { ...t, kind: 'ike' }),
    heapSpaces: Object.fromEntries(SPACES.flatMap((space) => {
      const v = seriesValue(stdout, 'nodejs_heap_space_size_used_bytes', { space });
      return v === undefined ? [] : [[space, v]];
    })),
  };
}
