/**
 * Scrape a daemon's Prometheus endpoint from inside its namespace (`ip netns exec NS node -e
 * fetch(...)`: the exporter listens on that namespace's loopback, nothing leaves it) and read
 * the text exposition format.
 */
import { exec } from './netns.js';

export interface Sample { name: string; labels: Record<string, string>; value: number }

/** The text exposition format, one sample a line: `name{a="b"} value`. */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

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
