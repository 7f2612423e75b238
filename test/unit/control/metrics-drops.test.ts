/**
 * Drops and bounds made visible: the datapath's drops by reason, the kernel's UDP socket drops and
 * the control socket's bound counters go from the list-sas document to /metrics; the /metrics
 * listener's own bounds are enforced and counted; the daemon's exporter carries prom-client's
 * process and Node.js series (what a soak reads), checked against this process's own numbers.
 */
import net from 'node:net';
import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { buildListSas, type StatusInput } from '../../../src/control/status.js';
import { BranchgateMetrics } from '../../../src/control/metrics.js';
import { snapshotFromStatus, type MetricsSnapshot } from '../../../src/control/metrics-input.js';
import { MAX_CONNECTIONS, MAX_HEADER, MetricsExporter } from '../../../src/control/metrics-http.js';
import { startDaemonMetrics, type DaemonMetrics } from '../../../src/control/daemon-metrics.js';
import { ESP_DROP_REASONS, type EspDropCounts } from '../../../src/dataplane/drops.js';
import { Datapath } from '../../../src/datapath.js';
import { createLogger } from '../../../src/log.js';
import { memoryDatapath } from './fake-engine.js';
import { parseExposition, type Sample } from '../../helpers/exposition.js';
import type { Config } from '../../../src/config/types.js';

const UDP = { ikeIn500: 0, ikeIn4500: 0, ikeOut: 0, natKeepalives: 0, natKeepalivesOut: 0, espDropped: 0, malformed: 0, handlerErrors: 0, sendErrors: 0, sendQueueFull: 0 };
const INPUT: StatusInput = { version: '0.3.0', nativeFastPath: true, tunnels: [], routes: new Map(), installed: () => undefined };
const CONTROL = { connectionsRefused: 0, requestsTooLarge: 0, requestsPipelined: 0, monitorDisconnects: 0 };

function drops(over: Partial<EspDropCounts> = {}): EspDropCounts {
  return Object.fromEntries(ESP_DROP_REASONS.map((r) => [r, over[r] ?? 0])) as EspDropCounts;
}

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hit = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hit.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${hit.length} samples`);
  return hit[0]?.value;
}

const logger = createLogger({ level: 'error', stream: { write: () => undefined } });
const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

describe('drop series', () => {
  it('list-sas → /metrics: ESP drops by reason, kernel UDP drops per socket, control bounds', async () => {
    const m = new BranchgateMetrics();
    const scrape = async (extra: Parameters<typeof buildListSas>[2]): Promise<Sample[]> =>
      parseExposition(await m.render(snapshotFromStatus(buildListSas(INPUT, UDP, extra))));
    const sock = (socket: string, inode: number, d: number, q = 0) => ({ socket, inode, drops: d, receiveQueue: q });
    let s = await scrape({
      dataplane: { drops: drops({ 'unknown-spi': 5, replay: 2, 'tx-queue-full': 1 }) },
      udpSockets: [sock('192.0.2.1:4500', 11, 7, 1200), sock('192.0.2.1:4500', 12, 3, 300), sock('192.0.2.1:500', 13, 0)],
      control: { ...CONTROL, monitorDisconnects: 1 },
    });
    expect(value(s, 'branchgate_esp_datagrams_dropped_total', { reason: 'unknown-spi' })).toBe(5);
    expect(value(s, 'branchgate_esp_datagrams_dropped_total', { reason: 'replay' })).toBe(2);
    expect(value(s, 'branchgate_esp_datagrams_dropped_total', { reason: 'tx-queue-full' })).toBe(1);
    // Every reason exists from the start (rate() works before the first drop).
    expect(s.filter((x) => x.name === 'branchgate_esp_datagrams_dropped_total').map((x) => x.labels.reason).sort()).toEqual([...ESP_DROP_REASONS].sort());
    // UdpTransport's and the native engine's socket share 192.0.2.1:4500: summed.
    expect(value(s, 'branchgate_udp_receive_drops_total', { socket: '192.0.2.1:4500' })).toBe(10);
    expect(value(s, 'branchgate_udp_receive_queue_bytes', { socket: '192.0.2.1:4500' })).toBe(1500);
    expect(value(s, 'branchgate_udp_receive_drops_total', { socket: '192.0.2.1:500' })).toBe(0);
    expect(value(s, 'branchgate_control_connections_dropped_total', { reason: 'monitor-not-reading' })).toBe(1);
    expect(value(s, 'branchgate_control_connections_dropped_total', { reason: 'max-connections' })).toBe(0);

    // The engine's socket closes and a new one takes its place; the datapath restarts from zero:
    // the exported totals never go back.
    s = await scrape({
      dataplane: { drops: drops({ 'unknown-spi': 1 }) },
      udpSockets: [sock('192.0.2.1:4500', 11, 9), sock('192.0.2.1:4500', 14, 4)],
      control: { ...CONTROL, monitorDisconnects: 3 },
    });
    expect(value(s, 'branchgate_esp_datagrams_dropped_total', { reason: 'unknown-spi' })).toBe(6);
    expect(value(s, 'branchgate_esp_datagrams_dropped_total', { reason: 'replay' })).toBe(2);
    expect(value(s, 'branchgate_udp_receive_drops_total', { socket: '192.0.2.1:4500' })).toBe(9 + 3 + 4);
    expect(value(s, 'branchgate_udp_receive_drops_total', { socket: '192.0.2.1:500' })).toBe(0); // closed: its total stays
    expect(value(s, 'branchgate_control_connections_dropped_total', { reason: 'monitor-not-reading' })).toBe(3);
  });

  it('the help text says where packets for deleted SAs go', async () => {
    const m = new BranchgateMetrics();
    const text = await m.render(snapshotFromStatus(buildListSas(INPUT, UDP, { dataplane: { drops: drops() } })));
    expect(text).toMatch(/^# HELP branchgate_esp_datagrams_dropped_total .*Child SAs that were deleted .* count as unknown-spi/m);
  });

  it('Datapath.dropStats() is what list-sas shows: a datagram for no SA of ours is unknown-spi', async () => {
    const config = { tunnels: [{ name: 'gw', interface: 'bg0', mtu: 1400, mssClamp: 0, routes: [] }], routing: { failMode: 'open', pinUnderlay: false } } as unknown as Config;
    const dp = new Datapath(config, memoryDatapath(), { sendEsp: () => true }, logger);
    await dp.start();
    closers.push(() => dp.stop());
    dp.receiveEsp(Uint8Array.of(0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1, ...new Array<number>(40).fill(0)), { address: '192.0.2.9', port: 4500 });
    dp.receiveEsp(Uint8Array.of(0, 0), { address: '192.0.2.9', port: 4500 });
    const doc = buildListSas(INPUT, UDP, { dataplane: dp.dropStats() });
    expect(doc.dataplane!.drops).toEqual(drops({ 'unknown-spi': 1, 'non-esp': 1 }));
  });
});

describe('/metrics listener bounds', () => {
  const snap = (): MetricsSnapshot => ({ nativeFastPath: false, tunnels: [] });
  async function start(): Promise<{ exp: MetricsExporter; port: number }> {
    const exp = await MetricsExporter.start({ listen: '127.0.0.1:0', snapshot: snap, defaultMetrics: false });
    closers.push(() => exp.close());
    return { exp, port: exp.address().port };
  }
  const refused = async (exp: MetricsExporter, reason: string): Promise<number | undefined> =>
    value(parseExposition(await exp.render()), 'branchgate_metrics_requests_refused_total', { reason });

  it(`closes connections beyond ${MAX_CONNECTIONS} at once and counts them`, async () => {
    const { exp, port } = await start();
    const held = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, () => new Promise<net.Socket>((r) => { const c = net.connect(port, '127.0.0.1', () => r(c)); })));
    closers.push(async () => held.forEach((c) => c.destroy()));
    const extra = net.connect(port, '127.0.0.1');
    extra.on('error', () => undefined);
    await new Promise((r) => extra.once('close', r));
    expect(await refused(exp, 'max-connections')).toBe(1);
    held.forEach((c) => c.destroy());
    await new Promise((r) => setTimeout(r, 50));
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
  });

  it('refuses oversized headers (431) and request bodies (413), counted as request-too-large', async () => {
    const { exp, port } = await start();
    const big = await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { 'x-pad': 'a'.repeat(MAX_HEADER + 100) } });
    expect(big.status).toBe(431);
    const body = await rawHttp(port, 'GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello');
    expect(body).toMatch(/^HTTP\/1\.1 413 /);
    expect(await refused(exp, 'request-too-large')).toBe(2);
    expect((await fetch(`http://127.0.0.1:${port}/metrics`)).status).toBe(200);
  });
});

describe('process and Node.js metrics of the daemon exporter', () => {
  it('resident memory, open fds, heap and event-loop lag are exported, matching this process', async () => {
    let d: DaemonMetrics | null = null;
    d = await startDaemonMetrics('127.0.0.1:0', {
      status: () => ({ version: '0.3.0', nativeFastPath: false, tunnels: [] }),
      listSas: () => buildListSas(INPUT, UDP),
      ikeDrops: () => undefined,
    }, logger);
    closers.push(() => d!.close());
    const s = parseExposition(await (await fetch(`http://127.0.0.1:${d!.address().port}/metrics`)).text());
    const rss = value(s, 'process_resident_memory_bytes')!;
    const fds = value(s, 'process_open_fds')!;
    const now = process.memoryUsage().rss;
    expect(rss).toBeGreaterThan(now * 0.5);
    expect(rss).toBeLessThan(now * 1.5);
    expect(Math.abs(fds - readdirSync('/proc/self/fd').length)).toBeLessThanOrEqual(5);
    expect(value(s, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    for (const q of ['nodejs_eventloop_lag_seconds', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_eventloop_lag_max_seconds']) {
      expect(value(s, q), q).toBeGreaterThanOrEqual(0);
    }
  });
});

function rawHttp(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1', () => c.write(request));
    let got = '';
    c.on('data', (d) => (got += d.toString()));
    c.on('error', reject);
    c.on('close', () => resolve(got));
  });
}
