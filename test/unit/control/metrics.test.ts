/**
 * The Prometheus exporter over real HTTP on 127.0.0.1:0: feed a snapshot and events, scrape
 * /metrics, parse the text exposition format and check the values. The end-to-end test with real
 * traffic through a daemon is the lead's.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { register as globalRegister } from 'prom-client';
import type { SaCounters } from '../../../src/dataplane/types.js';
import type { ListSasDocument, StatusDocument } from '../../../src/control/status.js';
import { MetricsBindError, MetricsExporter, parseListen } from '../../../src/control/metrics-http.js';
import { snapshotFromStatus, type MetricsSnapshot, type StatusLike } from '../../../src/control/metrics-input.js';
import { parseExposition, type Sample } from '../../helpers/exposition.js';

// Compile-time: both daemon documents feed snapshotFromStatus as they are (tsc fails on drift).
export const statusFeeds = (d: StatusDocument): StatusLike => d;
export const listSasFeeds = (d: ListSasDocument): StatusLike => d;

const NOW = Date.parse('2026-01-01T12:00:00Z');

function counters(p: Partial<SaCounters> = {}): SaCounters {
  return { bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0, replayDrops: 0, authFailures: 0, policyDrops: 0, ...p };
}

const parse = parseExposition;

function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const hit = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  if (hit.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${hit.length} samples`);
  return hit[0]?.value;
}

const open: MetricsExporter[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((e) => e.close()));
});

async function start(snapshot: () => MetricsSnapshot, now: () => number = () => NOW): Promise<{ exp: MetricsExporter; url: string }> {
  const exp = await MetricsExporter.start({ listen: '127.0.0.1:0', snapshot, now, defaultMetrics: false });
  open.push(exp);
  const { port } = exp.address();
  return { exp, url: `http://127.0.0.1:${port}/metrics` };
}

async function scrape(url: string): Promise<Sample[]> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parse(await res.text());
}

function base(): MetricsSnapshot {
  return {
    version: '0.1.0',
    nativeFastPath: true,
    tunnels: [
      {
        name: 'gsa-primary', state: 'established', ikeEstablishedAt: NOW - 90_000,
        children: [{ spiIn: 0xc0ffee01, installedAt: NOW - 30_000,
          counters: counters({ bytesIn: 1000, bytesOut: 2000, packetsIn: 10, packetsOut: 20, replayDrops: 1, authFailures: 2, policyDrops: 3 }) }],
      },
      { name: 'gsa-backup', state: 'connecting', ikeEstablishedAt: null, children: [] },
    ],
    bgpNeighbors: [{ address: '192.168.1.2', tunnel: 'gsa-primary', state: 'Established', received: 25, advertised: 1 }],
    ikeDrops: { malformed: 4, 'no-sa': 1 },
    ikeHalfOpen: 7,
    udp: { ikeIn500: 3, ikeIn4500: 7, ikeOut: 9, natKeepalives: 2, natKeepalivesOut: 0, espDropped: 0, malformed: 1, handlerErrors: 0, sendErrors: 0, sendQueueFull: 0 },
  };
}

describe('metrics exporter', () => {
  it('exports the snapshot: states, ages, per-tunnel counters, BGP, engine drops, UDP, fast path', async () => {
    const { url } = await start(base);
    const s = await scrape(url);
    expect(value(s, 'branchgate_build_info', { version: '0.1.0' })).toBe(1);
    expect(value(s, 'branchgate_native_fast_path_loaded')).toBe(1);
    // State set: one series per state, 1 for the current one.
    expect(value(s, 'branchgate_tunnel_state', { tunnel: 'gsa-primary', state: 'established' })).toBe(1);
    expect(value(s, 'branchgate_tunnel_state', { tunnel: 'gsa-primary', state: 'down' })).toBe(0);
    expect(value(s, 'branchgate_tunnel_state', { tunnel: 'gsa-backup', state: 'connecting' })).toBe(1);
    expect(s.filter((x) => x.name === 'branchgate_tunnel_state' && x.labels.tunnel === 'gsa-backup')).toHaveLength(5);
    // Timestamps (Unix seconds), not ages; no SPI label anywhere.
    expect(value(s, 'branchgate_ike_sa_established_timestamp_seconds', { tunnel: 'gsa-primary' })).toBe((NOW - 90_000) / 1000);
    expect(value(s, 'branchgate_ike_sa_established_timestamp_seconds', { tunnel: 'gsa-backup' })).toBeUndefined();
    expect(value(s, 'branchgate_child_sa_installed_timestamp_seconds', { tunnel: 'gsa-primary' })).toBe((NOW - 30_000) / 1000);
    expect(value(s, 'branchgate_child_sas', { tunnel: 'gsa-primary' })).toBe(1);
    expect(value(s, 'branchgate_child_sas', { tunnel: 'gsa-backup' })).toBe(0);
    expect(s.filter((x) => 'spi_in' in x.labels || 'spi' in x.labels)).toEqual([]);
    expect(s.filter((x) => x.name.endsWith('_age_seconds'))).toEqual([]);
    expect(value(s, 'branchgate_tunnel_receive_bytes_total', { tunnel: 'gsa-primary' })).toBe(1000);
    expect(value(s, 'branchgate_tunnel_transmit_bytes_total', { tunnel: 'gsa-primary' })).toBe(2000);
    expect(value(s, 'branchgate_tunnel_receive_packets_total', { tunnel: 'gsa-primary' })).toBe(10);
    expect(value(s, 'branchgate_tunnel_transmit_packets_total', { tunnel: 'gsa-primary' })).toBe(20);
    expect(value(s, 'branchgate_tunnel_replay_drops_total', { tunnel: 'gsa-primary' })).toBe(1);
    expect(value(s, 'branchgate_tunnel_auth_failures_total', { tunnel: 'gsa-primary' })).toBe(2);
    expect(value(s, 'branchgate_tunnel_policy_drops_total', { tunnel: 'gsa-primary' })).toBe(3);
    expect(value(s, 'branchgate_tunnel_receive_bytes_total', { tunnel: 'gsa-backup' })).toBe(0);
    expect(value(s, 'branchgate_bgp_session_state', { neighbor: '192.168.1.2', state: 'Established' })).toBe(1);
    expect(value(s, 'branchgate_bgp_session_state', { neighbor: '192.168.1.2', state: 'Idle' })).toBe(0);
    expect(value(s, 'branchgate_bgp_routes_received', { neighbor: '192.168.1.2', tunnel: 'gsa-primary' })).toBe(25);
    expect(value(s, 'branchgate_bgp_routes_advertised', { neighbor: '192.168.1.2' })).toBe(1);
    expect(value(s, 'branchgate_ike_datagrams_dropped_total', { reason: 'malformed' })).toBe(4);
    expect(value(s, 'branchgate_ike_half_open_sas')).toBe(7);
    expect(value(s, 'branchgate_udp_ike_received_total', { port: '500' })).toBe(3);
    expect(value(s, 'branchgate_udp_ike_received_total', { port: '4500' })).toBe(7);
    expect(value(s, 'branchgate_udp_ike_sent_total')).toBe(9);
    expect(value(s, 'branchgate_udp_nat_keepalives_received_total')).toBe(2);
    expect(value(s, 'branchgate_udp_malformed_total')).toBe(1);
    // Event series exist at zero for every known tunnel before any event.
    expect(value(s, 'branchgate_rekeys_total', { tunnel: 'gsa-backup', kind: 'child' })).toBe(0);
    expect(value(s, 'branchgate_dpd_failures_total', { tunnel: 'gsa-backup' })).toBe(0);
    expect(value(s, 'branchgate_handshake_duration_seconds_count', { tunnel: 'gsa-backup' })).toBe(0);
  });

  it('counts events: rekeys by kind, DPD failures, handshake durations; ignores other events', async () => {
    const { exp, url } = await start(base);
    exp.onEvent({ type: 'rekey', tunnel: 'gsa-primary', kind: 'child' } as const);
    exp.onEvent({ type: 'rekey', tunnel: 'gsa-primary', kind: 'child' } as const);
    exp.onEvent({ type: 'rekey', tunnel: 'gsa-primary', kind: 'ike' } as const);
    exp.onEvent({ type: 'dpd-failed', tunnel: 'gsa-backup' } as const);
    exp.onEvent({ type: 'handshake', tunnel: 'gsa-primary', ms: 40 } as const);
    exp.onEvent({ type: 'handshake', tunnel: 'gsa-primary', ms: 4200 } as const);
    // Engine events and malformed ones are ignored, never thrown on.
    exp.onEvent({ type: 'ike-up', tunnel: 'gsa-primary', spiI: '1', spiR: '2' } as { type: string });
    exp.onEvent({ type: 'rekey', tunnel: 'gsa-primary', kind: 'bogus' } as { type: string });
    exp.onEvent({ type: 'handshake', tunnel: 'gsa-primary', ms: -1 } as { type: string });
    exp.onEvent({ type: 'dpd-failed' });
    let s = await scrape(url);
    expect(value(s, 'branchgate_rekeys_total', { tunnel: 'gsa-primary', kind: 'child' })).toBe(2);
    expect(value(s, 'branchgate_rekeys_total', { tunnel: 'gsa-primary', kind: 'ike' })).toBe(1);
    expect(value(s, 'branchgate_dpd_failures_total', { tunnel: 'gsa-backup' })).toBe(1);
    expect(value(s, 'branchgate_dpd_failures_total', { tunnel: 'gsa-primary' })).toBe(0);
    expect(value(s, 'branchgate_handshake_duration_seconds_count', { tunnel: 'gsa-primary' })).toBe(2);
    expect(value(s, 'branchgate_handshake_duration_seconds_sum', { tunnel: 'gsa-primary' })).toBeCloseTo(4.24, 9);
    expect(value(s, 'branchgate_handshake_duration_seconds_bucket', { tunnel: 'gsa-primary', le: '0.05' })).toBe(1);
    expect(value(s, 'branchgate_handshake_duration_seconds_bucket', { tunnel: 'gsa-primary', le: '5' })).toBe(2);
    // A second scrape must not wipe the histogram (zero() only initialises unseen tunnels).
    s = await scrape(url);
    expect(value(s, 'branchgate_handshake_duration_seconds_count', { tunnel: 'gsa-primary' })).toBe(2);
  });

  it('never lets tunnel counters go backwards when a rekey replaces the Child SA', async () => {
    let snap = base();
    const { exp, url } = await start(() => snap);
    expect(value(await scrape(url), 'branchgate_tunnel_receive_bytes_total', { tunnel: 'gsa-primary' })).toBe(1000);

    // Traffic continues on the old SA after the scrape; then the rekey installs the new SA and
    // the daemon reports the old one's last counters as it removes it.
    const t = snap.tunnels[0]!;
    snap = { ...snap, tunnels: [{ ...t, children: [t.children[0]!, { spiIn: 'c0ffee02', installedAt: NOW, counters: counters({ bytesIn: 5, packetsIn: 1 }) }] }, snap.tunnels[1]!] };
    let s = await scrape(url);
    expect(value(s, 'branchgate_tunnel_receive_bytes_total', { tunnel: 'gsa-primary' })).toBe(1005);
    exp.onEvent({ type: 'child-final', tunnel: 'gsa-primary', spiIn: 0xc0ffee01, counters: counters({ bytesIn: 1500, packetsIn: 15 }) } as const);
    // The datapath may still show the old SA in the next snapshot (removal races the scrape).
    s = await scrape(url);
    expect(value(s, 'branchgate_tunnel_receive_bytes_total', { tunnel: 'gsa-primary' })).toBe(1505);
    snap = { ...snap, tunnels: [{ ...t, children: [{ spiIn: 'c0ffee02', installedAt: NOW, counters: counters({ bytesIn: 20, packetsIn: 2 }) }] }, snap.tunnels[1]!] };
    s = await scrape(url);
    expect(value(s, 'branchgate_tunnel_receive_bytes_total', { tunnel: 'gsa-primary' })).toBe(1520);
    expect(value(s, 'branchgate_tunnel_receive_packets_total', { tunnel: 'gsa-primary' })).toBe(17);
    // The series survived the rekey: same labels, the new SA's install time.
    expect(value(s, 'branchgate_child_sa_installed_timestamp_seconds', { tunnel: 'gsa-primary' })).toBe(NOW / 1000);
    expect(value(s, 'branchgate_child_sas', { tunnel: 'gsa-primary' })).toBe(1);

    // Without a child-final event the last scraped counts are kept: the total never drops.
    snap = { ...snap, tunnels: [{ ...t, children: [{ spiIn: 'c0ffee03', installedAt: NOW, counters: counters({ bytesIn: 1 }) }] }, snap.tunnels[1]!] };
    s = await scrape(url);
    expect(value(s, 'branchgate_tunnel_receive_bytes_total', { tunnel: 'gsa-primary' })).toBe(1521);
  });

  it('absorbs restarts of raw cumulative inputs (engine replaced on reload, transport reopened)', async () => {
    let snap = base();
    const { url } = await start(() => snap);
    await scrape(url);
    snap = { ...snap, ikeDrops: { malformed: 1, 'no-sa': 1 }, udp: { ...snap.udp!, ikeOut: 2 } };
    const s = await scrape(url);
    expect(value(s, 'branchgate_ike_datagrams_dropped_total', { reason: 'malformed' })).toBe(5);
    expect(value(s, 'branchgate_ike_datagrams_dropped_total', { reason: 'no-sa' })).toBe(1);
    expect(value(s, 'branchgate_udp_ike_sent_total')).toBe(11);
  });

  it('drops the series of tunnels and neighbors that are gone; reports unexpected states', async () => {
    let snap = base();
    const { url } = await start(() => snap);
    await scrape(url);
    snap = { ...snap, tunnels: [{ ...snap.tunnels[1]!, state: 'weird' as never }], bgpNeighbors: [] };
    const s = await scrape(url);
    expect(s.some((x) => x.labels.tunnel === 'gsa-primary' && x.name.startsWith('branchgate_tunnel_'))).toBe(false);
    expect(s.some((x) => x.name === 'branchgate_bgp_routes_received')).toBe(false);
    expect(value(s, 'branchgate_tunnel_state', { tunnel: 'gsa-backup', state: 'weird' })).toBe(1);
    expect(value(s, 'branchgate_tunnel_state', { tunnel: 'gsa-backup', state: 'connecting' })).toBe(0);
  });

  it('serves only /metrics: 404 elsewhere, 405 for other methods, HEAD without a body, 500 if the snapshot fails', async () => {
    let fail = false;
    const { url } = await start(() => {
      if (fail) throw new Error('status unavailable');
      return base();
    });
    const root = url.replace(/\/metrics$/, '');
    expect((await fetch(`${root}/`)).status).toBe(404);
    expect((await fetch(`${root}/metrics/x`)).status).toBe(404);
    expect((await fetch(`${url}?name[]=x`)).status).toBe(200);
    const post = await fetch(url, { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.get('allow')).toBe('GET, HEAD');
    const head = await fetch(url, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    fail = true;
    const bad = await fetch(url);
    expect(bad.status).toBe(500);
    expect(await bad.text()).toMatch(/see the branchgate log/);
  });

  it('reports a bind failure clearly and leaves nothing listening', async () => {
    const { exp } = await start(base);
    const { port } = exp.address();
    const err = await MetricsExporter.start({ listen: `127.0.0.1:${port}`, snapshot: base, defaultMetrics: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MetricsBindError);
    expect((err as MetricsBindError).code).toBe('EADDRINUSE');
    expect((err as Error).message).toBe(`cannot listen for metrics on 127.0.0.1:${port}: port ${port} is in use (another exporter or a second branchgate); choose another control.metrics port`);
    const notMine = await MetricsExporter.start({ listen: '192.0.2.1:0', snapshot: base, defaultMetrics: false }).catch((e: unknown) => e);
    expect((notMine as MetricsBindError).code).toBe('EADDRNOTAVAIL');
    expect((notMine as Error).message).toMatch(/192\.0\.2\.1 is not an address of this machine/);
  });

  it('uses its own registry, never the global one, so several exporters coexist', async () => {
    const a = await start(base);
    const b = await start(base);
    expect(value(await scrape(a.url), 'branchgate_native_fast_path_loaded')).toBe(1);
    expect(value(await scrape(b.url), 'branchgate_native_fast_path_loaded')).toBe(1);
    expect((await globalRegister.getMetricsAsJSON()).some((m) => m.name.startsWith('branchgate_'))).toBe(false);
  });

  it('includes process and Node.js metrics when asked (the default for the daemon)', async () => {
    const exp = await MetricsExporter.start({ listen: '127.0.0.1:0', snapshot: base });
    open.push(exp);
    const text = await exp.render();
    expect(text).toMatch(/^process_cpu_user_seconds_total /m);
    expect(text).toMatch(/^branchgate_tunnel_state\{/m);
  });
});

describe('snapshotFromStatus', () => {
  it('reads the contract status document and the list-sas extras', () => {
    // Shape of docs/contract.md "Status document", plus list-sas installedAt and udp.
    const snap = snapshotFromStatus({
      version: '0.1.0',
      nativeFastPath: false,
      tunnels: [{
        name: 'gsa-primary', state: 'established',
        ike: { establishedAt: '2026-01-01T11:58:30.000Z' },
        children: [{ spiIn: 'c1f2a3b4', bytesIn: 7, bytesOut: 8, packetsIn: 1, packetsOut: 2, replayDrops: 0, authFailures: 0,
          installedAt: '2026-01-01T11:59:30.000Z' }],
      }],
      bgp: { neighbors: [{ address: '192.168.1.2', state: 'Idle', received: 0, advertised: 0 }] },
    }, { ikeDrops: { malformed: 2 } });
    const udp = { ikeIn500: 1, ikeIn4500: 2, ikeOut: 3, natKeepalives: 0, natKeepalivesOut: 0, espDropped: 0, malformed: 0, handlerErrors: 0, sendErrors: 0, sendQueueFull: 0 };
    const fromListSas = snapshotFromStatus({ nativeFastPath: true, tunnels: [], udp },
      { bgp: { neighbors: [{ address: '192.168.1.2', state: 'Established', received: 3, advertised: 1 }] } });
    expect(fromListSas.udp).toEqual(udp);
    expect(fromListSas.bgpNeighbors).toEqual([{ address: '192.168.1.2', state: 'Established', received: 3, advertised: 1 }]);
    expect(snap).toEqual({
      version: '0.1.0', nativeFastPath: false,
      tunnels: [{ name: 'gsa-primary', state: 'established', ikeEstablishedAt: Date.parse('2026-01-01T11:58:30Z'),
        children: [{ spiIn: 'c1f2a3b4', installedAt: Date.parse('2026-01-01T11:59:30Z'),
          counters: counters({ bytesIn: 7, bytesOut: 8, packetsIn: 1, packetsOut: 2 }) }] }],
      bgpNeighbors: [{ address: '192.168.1.2', state: 'Idle', received: 0, advertised: 0 }],
      ikeDrops: { malformed: 2 },
    });
  });
});

describe('parseListen', () => {
  it('accepts host:port and [v6]:port, rejects the rest with the expected form', () => {
    expect(parseListen('127.0.0.1:9477')).toEqual({ host: '127.0.0.1', port: 9477 });
    expect(parseListen('[::1]:9477')).toEqual({ host: '::1', port: 9477 });
    expect(parseListen('localhost:0')).toEqual({ host: 'localhost', port: 0 });
    for (const bad of ['9477', '127.0.0.1', '127.0.0.1:70000', 'http://x:1', '::1:9477']) {
      expect(() => parseListen(bad)).toThrow(/is not "host:port", e\.g\. 127\.0\.0\.1:9477/);
    }
  });
});
