/**
 * The monitoring files the package ships (/usr/share/branchgate/): the Prometheus alert rules pass
 * `promtool check rules` and fire as intended (`promtool test rules`, test/fixtures/prometheus),
 * and every series the Grafana dashboard and the rules query — with every label they select or
 * group by — is one the exporter really writes (a BranchgateMetrics fed a full snapshot).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { BranchgateMetrics } from '../../../src/control/metrics.js';
import type { MetricsSnapshot } from '../../../src/control/metrics-input.js';
import { ESP_DROP_REASONS } from '../../../src/dataplane/drops.js';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const RULES = join(ROOT, 'packaging', 'prometheus', 'branchgate-alerts.yml');
const DASHBOARD = join(ROOT, 'packaging', 'grafana', 'branchgate-dashboard.json');

function promtool(args: string[]): { status: number | null; out: string } | null {
  const r = spawnSync('promtool', args, { encoding: 'utf8' });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
    if (process.env.CI === 'true') throw new Error('promtool is not installed: CI must install the Debian package "prometheus" (scripts/install-deps.sh)');
    return null;
  }
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

const counters = { bytesIn: 1, bytesOut: 1, packetsIn: 1, packetsOut: 1, replayDrops: 0, authFailures: 0, policyDrops: 0 };
const SNAPSHOT: MetricsSnapshot = {
  version: '0.0.0', nativeFastPath: true,
  tunnels: [{ name: 't1', state: 'established', ikeEstablishedAt: Date.now() - 1000, children: [{ spiIn: 1, installedAt: Date.now() - 500, counters }] }],
  bgpNeighbors: [{ address: '192.0.2.1', tunnel: 't1', state: 'Established', received: 3, advertised: 1 }],
  ikeDrops: { malformed: 0 }, ikeHalfOpen: 0,
  udp: { ikeIn500: 0, ikeIn4500: 0, ikeOut: 0, natKeepalives: 0, natKeepalivesOut: 0, espDropped: 0, malformed: 0, handlerErrors: 0, sendErrors: 0, sendQueueFull: 0 },
  espDrops: Object.fromEntries(ESP_DROP_REASONS.map((r) => [r, 0])),
  udpSockets: [{ socket: '192.0.2.10:4500', inode: 1, drops: 0, receiveQueue: 0 }],
  config: { lastReloadSuccessful: true, lastSuccessAt: Date.now() },
};

/** name -> label names, from what the exporter writes (histogram and summary parts included). */
async function exported(): Promise<Map<string, Set<string>>> {
  const m = new BranchgateMetrics({ defaultMetrics: true });
  m.onEvent({ type: 'handshake', tunnel: 't1', ms: 40 });
  const text = await m.render(SNAPSHOT);
  const series = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const s = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? /.exec(line);
    if (!s || line.startsWith('#')) continue;
    const labels = series.get(s[1]!) ?? new Set<string>();
    for (const l of (s[2] ?? '').matchAll(/(\w+)="/g)) labels.add(l[1]!);
    series.set(s[1]!, labels);
  }
  return series;
}

/** Every `metric{labels}` selector and `by (labels)` clause of a PromQL expression. */
function selectors(expr: string): { name: string; labels: string[] }[] {
  const out: { name: string; labels: string[] }[] = [];
  for (const m of expr.matchAll(/\b((?:branchgate|process|nodejs)_\w+)(\{[^}]*\})?/g)) {
    out.push({ name: m[1]!, labels: [...(m[2] ?? '').matchAll(/(\w+)\s*[=!]~?/g)].map((x) => x[1]!) });
  }
  const grouped = [...expr.matchAll(/\bby\s*\(([^)]*)\)/g)].flatMap((g) => g[1]!.split(',').map((s) => s.trim()).filter(Boolean));
  // A by() applies to the series inside the aggregation; checking it on each one is stricter.
  return out.map((s) => ({ ...s, labels: [...s.labels, ...grouped] }));
}

/** Labels Prometheus adds (target labels) or histograms carry. */
const EXTERNAL = new Set(['instance', 'job', 'le', '__name__']);

function checkExprs(exprs: string[], have: Map<string, Set<string>>): string[] {
  const problems: string[] = [];
  for (const e of exprs) {
    const sel = selectors(e);
    if (sel.length === 0) problems.push(`no branchgate series in: ${e}`);
    for (const s of sel) {
      const labels = have.get(s.name);
      if (!labels) {
        problems.push(`${s.name} is not exported (in: ${e})`);
        continue;
      }
      for (const l of s.labels) if (!EXTERNAL.has(l) && !labels.has(l)) problems.push(`${s.name} has no label ${l} (in: ${e})`);
    }
  }
  return problems;
}

describe('Prometheus alert rules', () => {
  it('pass promtool check rules', () => {
    const r = promtool(['check', 'rules', RULES]);
    if (r === null) return console.warn('skipping: promtool not installed (Debian package prometheus)');
    expect(r.status, r.out).toBe(0);
    expect(r.out).toMatch(/SUCCESS: \d+ rules found/);
  });

  it('fire when a tunnel is down for 5 minutes and while the config is rejected (promtool test rules)', () => {
    const r = promtool(['test', 'rules', join(ROOT, 'test', 'fixtures', 'prometheus', 'alerts-test.yml')]);
    if (r === null) return console.warn('skipping: promtool not installed (Debian package prometheus)');
    expect(r.status, r.out).toBe(0);
  });

  it('query only series and labels the exporter writes', async () => {
    const doc = parse(readFileSync(RULES, 'utf8')) as { groups: { rules: { alert: string; expr: string }[] }[] };
    const exprs = doc.groups.flatMap((g) => g.rules.map((r) => r.expr));
    expect(exprs.length).toBeGreaterThanOrEqual(5);
    expect(checkExprs(exprs, await exported())).toEqual([]);
  });
});

describe('Grafana dashboard', () => {
  it('is a dashboard whose every query names exported series and labels', async () => {
    const dash = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { title: string; panels: { title: string; targets: { expr: string }[] }[];
      templating: { list: { query: { query: string } }[] } };
    expect(dash.title).toBe('branchgate');
    const exprs = [...dash.panels.flatMap((p) => p.targets.map((t) => t.expr)), ...dash.templating.list.map((v) => v.query.query)];
    expect(exprs.length).toBeGreaterThanOrEqual(15);
    const have = await exported();
    expect(checkExprs(exprs, have)).toEqual([]);
    // The checker itself catches a wrong name and a wrong label.
    expect(checkExprs(['rate(branchgate_tunnel_receive_byte_total[5m])', 'branchgate_tunnel_state{spi_in="1"}'], have)).toHaveLength(2);
  });
});
