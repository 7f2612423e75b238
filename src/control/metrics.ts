/**
 * The Prometheus series of branchgate: a private prom-client Registry (never the global one, so
 * tests and embedders can run several) and how each series is computed. metrics-http.ts serves it
 * as `GET /metrics`; metrics-input.ts defines what it reads.
 *
 * Two inputs, so the daemon only passes a function and forwards events:
 *   - a snapshot provider, `() => MetricsSnapshot`, called once per scrape. Point-in-time values
 *     are computed on scrape rather than on a timer, as prom-client's README asks ("you should not
 *     update metric values in a setInterval");
 *   - `onEvent(e)` for what only exists as an event: rekeys, DPD failures, handshake durations,
 *     and the final counters of a Child SA that is being removed.
 *
 * Naming follows the Prometheus conventions (https://prometheus.io/docs/practices/naming/):
 * `branchgate_` prefix, base units (seconds, bytes), `_total` on counters; enumerations are
 * "state sets" (one series per possible state, value 1 for the current one, 0 for the others:
 * OpenMetrics StateSet), so `branchgate_tunnel_state{state="established"} == 1` is the alert.
 * In/out follows node_exporter and wireguard_exporter: `receive`/`transmit` in the name.
 *
 * | series | type | labels | source |
 * |---|---|---|---|
 * | branchgate_build_info | gauge (1) | version | snapshot.version |
 * | branchgate_native_fast_path_loaded | gauge 0/1 | | snapshot.nativeFastPath |
 * | branchgate_tunnel_state | state set | tunnel, state | snapshot tunnels[].state |
 * | branchgate_ike_sa_established_timestamp_seconds | gauge | tunnel | ikeEstablishedAt |
 * | branchgate_child_sa_installed_timestamp_seconds | gauge | tunnel | newest Child SA's installedAt |
 * | branchgate_child_sas | gauge | tunnel | installed Child SAs (2 during a make-before-break rekey) |
 * | branchgate_config_last_reload_successful | gauge 0/1 | | snapshot.config (start counts as a load) |
 * | branchgate_config_last_reload_success_timestamp_seconds | gauge | | snapshot.config |
 * | branchgate_tunnel_{receive,transmit}_{bytes,packets}_total | counter | tunnel | SaCounters |
 * | branchgate_tunnel_replay_drops_total | counter | tunnel | SaCounters.replayDrops |
 * | branchgate_tunnel_auth_failures_total | counter | tunnel | SaCounters.authFailures (ICV) |
 * | branchgate_tunnel_policy_drops_total | counter | tunnel | SaCounters.policyDrops |
 * | branchgate_rekeys_total | counter | tunnel, kind=ike|child | event `rekey` |
 * | branchgate_dpd_failures_total | counter | tunnel | event `dpd-failed` |
 * | branchgate_handshake_duration_seconds | histogram | tunnel | event `handshake` |
 * | branchgate_bgp_session_state | state set | neighbor, tunnel, state | snapshot bgpNeighbors |
 * | branchgate_bgp_routes_{received,advertised} | gauge | neighbor, tunnel | snapshot bgpNeighbors |
 * | branchgate_ike_datagrams_dropped_total | counter | reason | IkeEngine.drops |
 * | branchgate_udp_* | counter | (port) | UdpTransport.counters |
 * | drops and bounds: ESP by reason, kernel UDP drops, control socket, /metrics | | | metrics-drops.ts |
 * | process_*, nodejs_* | prom-client defaults | | with defaultMetrics (the daemon's exporter: on) |
 *
 * Times are Unix timestamps, not ages (`time() - x` in PromQL gives the age), and no series has an
 * SPI label: a rekey changes the SPI, and a series keyed by it would end and a new one begin at
 * every rekey (docs/packaging.md "Metrics"); the names follow Prometheus' own
 * `prometheus_config_last_reload_successful`.
 *
 * Counters are kept per tunnel, not per Child SA: a rekey replaces the SA (new SPI, counters from
 * zero), and a per-SA counter would make the tunnel's traffic go backwards. Each tunnel total is
 * the sum of the deltas seen on every SA it ever had, so it only grows; a `child-final` event
 * with the removed SA's last counters closes the gap between the last scrape and the removal.
 * Raw cumulative inputs that can restart from zero (engine drops after a reload, UDP counters
 * after the transport is reopened) are absorbed the same way.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SaCounters } from '../dataplane/types.js';
import type { UdpCounters } from '../net/udp.js';
import type { MetricsEvent, MetricsSnapshot, TunnelMetrics } from './metrics-input.js';
import { Deltas, key } from './metrics-deltas.js';
import { DropSeries } from './metrics-drops.js';

// ---------------------------------------------------------------------------------------------
// Monotonic accumulation

const COUNTER_FIELDS = ['bytesIn', 'bytesOut', 'packetsIn', 'packetsOut', 'replayDrops', 'authFailures', 'policyDrops'] as const;
type CounterField = (typeof COUNTER_FIELDS)[number];

const MAX_FINAL = 4096;

/** The known states, plus the reported one if it is unexpected (never drop information). */
function withState(known: readonly string[], current: string): readonly string[] {
  return known.includes(current) ? known : [...known, current];
}

export function spiLabel(spi: number | string): string {
  return typeof spi === 'number' ? (spi >>> 0).toString(16).padStart(8, '0') : spi.toLowerCase().replace(/^0x/, '');
}

// ---------------------------------------------------------------------------------------------
// The series

const TUNNEL_STATES: readonly string[] = ['down', 'connecting', 'established', 'rekeying', 'deleting'];
const BGP_STATES: readonly string[] = ['Idle', 'Connect', 'Active', 'OpenSent', 'OpenConfirm', 'Established'];
/** IKE handshakes cross a WAN: tens of ms on a LAN, seconds with retransmits (4 s first timeout). */
const HANDSHAKE_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

const UDP_SERIES: ReadonlyArray<[keyof UdpCounters, string, string, Record<string, string>]> = [
  ['ikeIn500', 'branchgate_udp_ike_received_total', 'IKE messages received, by UDP port', { port: '500' }],
  ['ikeIn4500', 'branchgate_udp_ike_received_total', 'IKE messages received, by UDP port', { port: '4500' }],
  ['ikeOut', 'branchgate_udp_ike_sent_total', 'IKE messages sent', {}],
  ['natKeepalives', 'branchgate_udp_nat_keepalives_received_total', 'NAT-keepalive datagrams received (RFC 3948 §2.3)', {}],
  ['natKeepalivesOut', 'branchgate_udp_nat_keepalives_sent_total', 'NAT-keepalive datagrams sent (RFC 3948 §2.3)', {}],
  ['espDropped', 'branchgate_udp_esp_dropped_total', 'ESP-in-UDP datagrams dropped before the datapath', {}],
  ['malformed', 'branchgate_udp_malformed_total', 'UDP datagrams that were neither IKE nor ESP', {}],
  ['handlerErrors', 'branchgate_udp_handler_errors_total', 'datagrams whose handler threw', {}],
  ['sendErrors', 'branchgate_udp_send_errors_total', 'IKE messages that could not be sent', {}],
  ['sendQueueFull', 'branchgate_udp_send_queue_full_total', 'IKE messages and NAT-keepalives dropped because 1024 sends were already waiting for the kernel', {}],
];

/** The registry and its series; HTTP-free so it can be unit-tested and embedded. */
export class BranchgateMetrics {
  readonly registry = new Registry();
  readonly #now: () => number;
  /** Per-tunnel SA counter totals, fed per SA (raw keys: tunnel NUL spi NUL field). */
  readonly #sa = new Deltas();
  /** Engine drops and UDP counters: raw cumulative values that restart when their owner does. */
  readonly #raw = new Deltas();
  /** Child SAs (tunnel NUL spi) closed by a child-final event; ignored if a late snapshot still shows them. */
  readonly #final = new Set<string>();
  /** Tunnels whose handshake histogram exists (zero() would wipe its observations). */
  readonly #seen = new Set<string>();
  readonly #g;
  readonly #c;
  readonly #e;
  /** Drops by reason and the bounds' counters (metrics-drops.ts). */
  readonly drops: DropSeries;

  constructor(opts: { now?: () => number; defaultMetrics?: boolean } = {}) {
    this.#now = opts.now ?? Date.now;
    const registers = [this.registry];
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
      new Gauge<L>({ name, help, labelNames, registers });
    const counter = <L extends string>(name: string, help: string, labelNames: readonly L[] = []) =>
      new Counter<L>({ name, help, labelNames, registers });
    this.#g = {
      info: gauge('branchgate_build_info', 'always 1; the version is a label', ['version']),
      native: gauge('branchgate_native_fast_path_loaded', '1 when the native fast path (N-API addon) is loaded'),
      state: gauge('branchgate_tunnel_state', `tunnel state set: 1 for the current state (${TUNNEL_STATES.join('|')})`, ['tunnel', 'state']),
      ikeAt: gauge('branchgate_ike_sa_established_timestamp_seconds', 'when the current IKE SA was established (Unix time)', ['tunnel']),
      childAt: gauge('branchgate_child_sa_installed_timestamp_seconds', 'when the newest installed Child SA was installed (Unix time)', ['tunnel']),
      children: gauge('branchgate_child_sas', 'installed Child SAs (2 while a rekey overlaps old and new)', ['tunnel']),
      reloadOk: gauge('branchgate_config_last_reload_successful', '1 if the last config load (start or reload) succeeded, 0 if it failed and the previous config still runs'),
      reloadAt: gauge('branchgate_config_last_reload_success_timestamp_seconds', 'when the config was last loaded successfully (Unix time)'),
      bgpState: gauge('branchgate_bgp_session_state', `BGP session state set: 1 for the current state (${BGP_STATES.join('|')})`, ['neighbor', 'tunnel', 'state']),
      bgpRx: gauge('branchgate_bgp_routes_received', 'routes received from the BGP neighbor', ['neighbor', 'tunnel']),
      bgpTx: gauge('branchgate_bgp_routes_advertised', 'routes advertised to the BGP neighbor', ['neighbor', 'tunnel']),
      // RFC 7296 §2.6: near limits.cookieThreshold the responder asks for COOKIEs; at
      // limits.halfOpen it drops IKE_SA_INITs (branchgate_ike_datagrams_dropped_total).
      halfOpen: gauge('branchgate_ike_half_open_sas', 'responder IKE SAs waiting for IKE_AUTH (half-open)'),
    };
    const sa = (name: string, help: string) => counter(name, help, ['tunnel']);
    const udp = new Map<string, Counter<string>>();
    for (const [, name, help, labels] of UDP_SERIES) if (!udp.has(name)) udp.set(name, counter(name, help, Object.keys(labels)));
    this.#c = {
      sa: {
        bytesIn: sa('branchgate_tunnel_receive_bytes_total', 'bytes received through the tunnel, all its Child SAs (SaCounters.bytesIn)'),
        bytesOut: sa('branchgate_tunnel_transmit_bytes_total', 'bytes sent through the tunnel (SaCounters.bytesOut)'),
        packetsIn: sa('branchgate_tunnel_receive_packets_total', 'packets received through the tunnel (SaCounters.packetsIn)'),
        packetsOut: sa('branchgate_tunnel_transmit_packets_total', 'packets sent through the tunnel (SaCounters.packetsOut)'),
        replayDrops: sa('branchgate_tunnel_replay_drops_total', 'inbound ESP packets dropped by the replay window'),
        authFailures: sa('branchgate_tunnel_auth_failures_total', 'inbound ESP packets whose ICV did not verify'),
        policyDrops: sa('branchgate_tunnel_policy_drops_total', 'packets outside the Child SA traffic selectors'),
      } satisfies Record<CounterField, Counter<'tunnel'>>,
      ikeDrops: counter('branchgate_ike_datagrams_dropped_total', 'IKE datagrams dropped by the engine, by reason', ['reason']),
      udp,
    };
    this.#e = {
      rekeys: counter('branchgate_rekeys_total', 'completed rekeys, by SA kind', ['tunnel', 'kind']),
      dpd: counter('branchgate_dpd_failures_total', 'peers declared dead by DPD', ['tunnel']),
      handshake: new Histogram<'tunnel'>({
        name: 'branchgate_handshake_duration_seconds', help: 'time from the first IKE_SA_INIT to the established IKE SA',
        labelNames: ['tunnel'], buckets: HANDSHAKE_BUCKETS, registers,
      }),
    };
    this.drops = new DropSeries(registers);
    // prom-client's process_* (resident memory, open fds, CPU) and nodejs_* (heap, event-loop
    // lag) series: what a soak watches to see memory return and the loop stay responsive.
    if (opts.defaultMetrics ?? false) collectDefaultMetrics({ register: this.registry });
  }

  /** Count one event; events of other types (engine events, future ones) are ignored. */
  onEvent(e: MetricsEvent | { readonly type: string }): void {
    const ev = e as Partial<Record<string, unknown>>;
    const tunnel = typeof ev.tunnel === 'string' ? ev.tunnel : undefined;
    if (tunnel === undefined) return;
    switch (e.type) {
      case 'rekey':
        if (ev.kind === 'ike' || ev.kind === 'child') this.#e.rekeys.inc({ tunnel, kind: ev.kind });
        return;
      case 'dpd-failed':
        this.#e.dpd.inc({ tunnel });
        return;
      case 'handshake':
        if (typeof ev.ms === 'number' && Number.isFinite(ev.ms) && ev.ms >= 0) {
          this.#seen.add(tunnel);
          this.#e.handshake.observe({ tunnel }, ev.ms / 1000);
        }
        return;
      case 'child-final': {
        const spi = ev.spiIn;
        const counters = ev.counters as Partial<SaCounters> | null | undefined;
        if ((typeof spi !== 'number' && typeof spi !== 'string') || typeof counters !== 'object' || counters === null) return;
        const sa = key(tunnel, spiLabel(spi));
        if (this.#final.has(sa)) return;
        for (const f of COUNTER_FIELDS) this.#sa.add(key(sa, f), key(tunnel, f), counters[f] ?? 0);
        this.#final.add(sa);
        if (this.#final.size > MAX_FINAL) this.#final.delete(this.#final.values().next().value as string);
        return;
      }
    }
  }

  /** Set every snapshot-derived series from one snapshot (called on each scrape). */
  update(s: MetricsSnapshot): void {
    const g = this.#g;
    // Series of tunnels, SAs and neighbors that are gone must disappear: rebuild them all.
    for (const m of Object.values(g)) m.reset();
    for (const c of [...Object.values(this.#c.sa), this.#c.ikeDrops, ...this.#c.udp.values()]) c.reset();
    if (s.version !== undefined) g.info.set({ version: s.version }, 1);
    g.native.set(s.nativeFastPath ? 1 : 0);
    if (s.ikeHalfOpen !== undefined) g.halfOpen.set(s.ikeHalfOpen);
    if (s.config) {
      g.reloadOk.set(s.config.lastReloadSuccessful ? 1 : 0);
      g.reloadAt.set(s.config.lastSuccessAt / 1000);
    }

    const live = new Set<string>();
    for (const t of s.tunnels) this.#tunnel(t, live);
    // SAs that left the datapath: their growth stays in the totals, their baselines can go.
    this.#sa.forget((k) => live.has(k.slice(0, k.lastIndexOf('\0'))));
    for (const sa of this.#final) if (!live.has(sa)) this.#final.delete(sa);

    for (const n of s.bgpNeighbors ?? []) {
      const labels = { neighbor: n.address, tunnel: n.tunnel ?? '' };
      for (const st of withState(BGP_STATES, n.state)) g.bgpState.set({ ...labels, state: st }, st === n.state ? 1 : 0);
      g.bgpRx.set(labels, n.received);
      g.bgpTx.set(labels, n.advertised);
    }
    for (const [reason, raw] of Object.entries(s.ikeDrops ?? {})) {
      const id = key('ike', reason);
      this.#c.ikeDrops.inc({ reason }, this.#raw.add(id, id, raw));
    }
    if (s.udp) {
      for (const [field, name, , labels] of UDP_SERIES) {
        const id = key('udp', field);
        this.#c.udp.get(name)!.inc(labels, this.#raw.add(id, id, s.udp[field]));
      }
    }
    this.drops.update(s);
  }

  #tunnel(t: TunnelMetrics, live: Set<string>): void {
    const tunnel = t.name;
    const g = this.#g;
    for (const st of withState(TUNNEL_STATES, t.state)) g.state.set({ tunnel, state: st }, st === t.state ? 1 : 0);
    if (t.ikeEstablishedAt !== null && t.ikeEstablishedAt > 0) g.ikeAt.set({ tunnel }, t.ikeEstablishedAt / 1000);
    const newest = Math.max(0, ...t.children.map((c) => c.installedAt));
    if (newest > 0) g.childAt.set({ tunnel }, newest / 1000);
    g.children.set({ tunnel }, t.children.length);
    for (const c of t.children) {
      const spi = spiLabel(c.spiIn);
      const sa = key(tunnel, spi);
      live.add(sa);
      if (this.#final.has(sa)) continue; // closed by child-final: a late view of a removed SA
      for (const f of COUNTER_FIELDS) this.#sa.add(key(sa, f), key(tunnel, f), c.counters[f]);
    }
    for (const f of COUNTER_FIELDS) this.#c.sa[f].inc({ tunnel }, this.#sa.total(key(tunnel, f)));
    // Known label sets start at 0, so rate() and increase() work before the first event.
    this.#e.rekeys.inc({ tunnel, kind: 'ike' }, 0);
    this.#e.rekeys.inc({ tunnel, kind: 'child' }, 0);
    this.#e.dpd.inc({ tunnel }, 0);
    if (!this.#seen.has(tunnel)) {
      this.#seen.add(tunnel);
      this.#e.handshake.zero({ tunnel });
    }
  }

  async render(snapshot: MetricsSnapshot): Promise<string> {
    this.update(snapshot);
    return this.registry.metrics();
  }
}
