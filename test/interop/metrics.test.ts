/**
 * Scrape a running daemon's /metrics while real traffic crosses a tunnel to
 * strongSwan (kernel-libipsec) in the four-namespace lab, and check the series against what was
 * sent and against `list-sas --json` read at the same moment.
 *
 *   branch 100.64.10.2 → cpe (branchgate, TUN bg0, metrics on 127.0.0.1:9477 inside cpe)
 *   → underlay → gw (strongSwan 198.51.100.2) → svc 100.64.20.2
 *
 * The exporter listens on the cpe namespace's own loopback, so the scrape is `ip netns exec cpe
 * node -e fetch(...)`: nothing leaves the namespaces.
 */
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { Branchgate, childSum, requireBuild } from './lab/branchgate.js';
import { Charon } from './lab/strongswan.js';
import { ADDR, createTopology, waitRouteDev, type Topology } from './lab/topology.js';
import { siteConn, siteTunnel } from './lab/site.js';
import { ping, requireTrafficTools } from './lab/traffic.js';
import { one, scrape as scrapeIn } from './lab/metrics-scrape.js';
import type { Sample } from '../helpers/exposition.js';

const PSK = 'metrics-psk-51c0e2';
const TUNNEL = 'gw';
const CONN = 'branch';
const METRICS = '127.0.0.1:9477';

describe('Prometheus /metrics of a daemon carrying traffic', () => {
  let topo: Topology | undefined;
  let gw: Charon | undefined;
  let bg: Branchgate | undefined;

  beforeAll(async () => {
    requireTrafficTools();
    requireBuild();
    topo = await createTopology({ tag: 'm' });
    gw = await Charon.start(topo.gw, { tag: 'mgw' });
    gw.writeConns([siteConn(CONN, PSK)]);
    await gw.loadAll();
    bg = await Branchgate.start(topo.cpe, [siteTunnel(TUNNEL, PSK, { mssClamp: 1340 })], { tag: 'metr', logLevel: 'info', extra: { control: { metrics: METRICS } } });
    await Promise.all([bg.waitEstablished(TUNNEL, 20_000), gw.waitEstablished(CONN, 20_000)]);
    await waitRouteDev(topo.cpe, ADDR.svc, 'bg0');
  }, 60_000);

  afterAll(async () => {
    await bg?.stop().catch(() => undefined);
    await gw?.stop().catch(() => undefined);
    await topo?.destroy();
  });

  async function scrape(): Promise<Sample[]> {
    if (!topo) throw new Error('lab setup failed (see beforeAll error)');
    return scrapeIn(topo.cpe, METRICS);
  }

  it('per-tunnel state, SA ages and traffic counters match what was sent and what list-sas says', async () => {
    if (!topo || !bg) throw new Error('lab setup failed (see beforeAll error)');
    const d = bg;
    onTestFailed(() => console.error(d.logs(60)));
    const before = await d.status(TUNNEL);
    const N = 25;
    const p = await ping(topo.branch, ADDR.svc, N, { intervalS: 0.05 });
    expect(p.received, `ping through the tunnel\n${p.output}`).toBe(N);

    const samples = await scrape();
    const after = await d.status(TUNNEL);
    const t = { tunnel: TUNNEL };
    // The state set: established is 1, every other state 0.
    expect(one(samples, 'branchgate_tunnel_state', { ...t, state: 'established' })).toBe(1);
    expect(one(samples, 'branchgate_tunnel_state', { ...t, state: 'down' })).toBe(0);
    // At least the N echo requests out and N replies in; and exactly what list-sas reports
    // (nothing else crosses this tunnel between the two reads).
    const txp = one(samples, 'branchgate_tunnel_transmit_packets_total', t);
    const rxp = one(samples, 'branchgate_tunnel_receive_packets_total', t);
    expect(txp - childSum(before, 'packetsOut')).toBeGreaterThanOrEqual(N);
    expect(rxp - childSum(before, 'packetsIn')).toBeGreaterThanOrEqual(N);
    expect(txp).toBe(childSum(after, 'packetsOut'));
    expect(rxp).toBe(childSum(after, 'packetsIn'));
    // Each echo carries 56 bytes of ICMP payload + 8 ICMP + 20 IP = 84 inner bytes.
    const txb = one(samples, 'branchgate_tunnel_transmit_bytes_total', t);
    const rxb = one(samples, 'branchgate_tunnel_receive_bytes_total', t);
    expect(txb - childSum(before, 'bytesOut')).toBeGreaterThanOrEqual(N * 84);
    expect(rxb - childSum(before, 'bytesIn')).toBeGreaterThanOrEqual(N * 84);
    expect(txb).toBe(childSum(after, 'bytesOut'));
    expect(rxb).toBe(childSum(after, 'bytesIn'));
    expect(one(samples, 'branchgate_tunnel_replay_drops_total', t)).toBe(0);
    expect(one(samples, 'branchgate_tunnel_auth_failures_total', t)).toBe(0);
    // Timestamps: the IKE SA and the Child SA exist, so their ages (now - timestamp) are positive and plausible.
    const ikeAge = Date.now() / 1000 - one(samples, 'branchgate_ike_sa_established_timestamp_seconds', t);
    expect(ikeAge).toBeGreaterThan(0);
    expect(ikeAge).toBeLessThan(120);
    const childAge = Date.now() / 1000 - one(samples, 'branchgate_child_sa_installed_timestamp_seconds', t);
    expect(childAge).toBeGreaterThan(0);
    expect(childAge).toBeLessThan(120);
    expect(one(samples, 'branchgate_child_sas', t)).toBe(after?.children.length);
    expect(one(samples, 'branchgate_config_last_reload_successful')).toBe(1);
    // Whether the native fast path is loaded agrees with the daemon's status document.
    const v = JSON.parse((await d.cli(['status', '--json'])).stdout) as { nativeFastPath: boolean };
    expect(one(samples, 'branchgate_native_fast_path_loaded')).toBe(v.nativeFastPath ? 1 : 0);
    // The IKE handshake was observed once.
    expect(one(samples, 'branchgate_handshake_duration_seconds_count', t)).toBe(1);
    // prom-client's process and Node.js series (a soak reads them): the daemon's own numbers.
    const rss = one(samples, 'process_resident_memory_bytes');
    expect(rss).toBeGreaterThan(20 * 2 ** 20);
    expect(rss).toBeLessThan(2 ** 31);
    expect(one(samples, 'process_open_fds')).toBeGreaterThan(5);
    expect(one(samples, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
    expect(one(samples, 'nodejs_eventloop_lag_p99_seconds')).toBeGreaterThanOrEqual(0);
  });

  it('a Child SA rekey and an IKE SA rekey are counted; the tunnel totals carry on across the new SA', async () => {
    if (!bg) throw new Error('lab setup failed (see beforeAll error)');
    const t = { tunnel: TUNNEL };
    const s0 = await scrape();
    const tx0 = one(s0, 'branchgate_tunnel_transmit_packets_total', t);
    const rekeys0 = one(s0, 'branchgate_rekeys_total', { ...t, kind: 'child' });
    const ike0 = one(s0, 'branchgate_rekeys_total', { ...t, kind: 'ike' });
    await bg.cli(['rekey', TUNNEL, '--wait']);
    await bg.cli(['rekey', TUNNEL, '--ike', '--wait']);
    const p = await ping(topo!.branch, ADDR.svc, 5, { intervalS: 0.05 });
    expect(p.received, p.output).toBe(5);
    const s1 = await scrape();
    expect(one(s1, 'branchgate_rekeys_total', { ...t, kind: 'child' })).toBe(rekeys0 + 1);
    expect(one(s1, 'branchgate_rekeys_total', { ...t, kind: 'ike' })).toBe(ike0 + 1);
    // The new Child SA's counters start at zero, but the tunnel's total only grows.
    expect(one(s1, 'branchgate_tunnel_transmit_packets_total', t)).toBeGreaterThanOrEqual(tx0 + 5);
  }, 60_000);
});
