/**
 * Scrape a daemon's Prometheus endpoint from inside its namespace (`ip netns exec NS node -e
 * fetch(...)`: the exporter listens on that namespace's loopback, nothing leaves it) and read
 * the text exposition format.
 */
import { exec } from './netns.js';
import { parseExposition, type Sample } from '../../helpers/exposition.js';

/** The one sample of `name` whose labels include `labels`; throws unless there is exactly one. */
export function one(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const hits = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hits.length !== 1) throw new Error(`${name}${JSON.stringify(labels)}: ${hits.length} samples (want exactly 1)`);
  return hits[0]!.value;
}

/** GET http://LISTEN/metrics from inside namespace `ns`. */
export async function scrape(ns: string, listen: string): Promise<Sample[]> {
  const js = `fetch('http://${listen}/metrics').then(async (r) => { if (r.status !== 200) throw new Error('HTTP ' + r.status); process.stdout.write(await r.text()); })`;
  const { stdout } = await exec(ns, [process.execPath, '-e', js], { timeoutMs: 10_000 });
  return parseExposition(stdout);
}
