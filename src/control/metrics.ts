/**
 * Prometheus exporter: `GET /metrics` on its own TCP listener (config `control.metrics`, loopback
 * by default), served by node:http from a private prom-client Registry (never the global one, so
 * tests and embedders can run several).
 *
 * Two inputs, so the daemon only passes a function and forwards events:
 *   - a snapshot provider, `() => MetricsSnapshot`, called once per scrape. Point-in-time values
 *     are computed on scrape rather than on a timer, as prom-client's README asks ("you should not
 *     update metric values in a setInterval"; shared/reference/eco.md §A3);
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
 * | branchgate_ike_sa_age_seconds | gauge | tunnel | now - ikeEstablishedAt |
 * | branchgate_child_sa_age_seconds | gauge | tunnel, spi_in | now - installedAt |
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
 *
 * Counters are kept per tunnel, not per Child SA: a rekey replaces the SA (new SPI, counters from
 * zero), and a per-SA counter would make the tunnel's traffic go backwards. Each tunnel total is
 * the sum of the deltas seen on every SA it ever had, so it only grows; a `child-final` event
 * with the removed SA's last counters closes the gap between the last scrape and the removal.
 * Raw cumulative inputs that can restart from zero (engine drops after a reload, UDP counters
 * after the transport is reopened) are absorbed the same way.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { SaCounters } from '../dataplane/types.js';
import type { TunnelState } from '../ike/actions.js';
import type { UdpCounters } from '../net/udp.js';

// ---------------------------------------------------------------------------------------------
// Inputs

export interface ChildMetrics {
  /** Our inbound SPI: a number, or the status document's 8-hex-digit string. */
  spiIn: number | string;
  /** Milliseconds since the epoch; 0 or less when unknown (no age series then). */
  installedAt: number;
  counters: SaCounters;
}

export interface TunnelMetrics {
  name: string;
  state: TunnelState;
  /** When the current IKE SA was established (ms since the epoch); null when there is none. */
  ikeEstablishedAt: number | null;
  children: ChildMetrics[];
}

export interface BgpNeighborMetrics {
  address: string;
  tunnel?: string;
  /** RFC 4271 §8.2.2 state name as BIRD prints it: Idle, Connect, Active, OpenSent, OpenConfirm, Established. */
  state: string;
  received: number;
  advertised: number;
}

export interface MetricsSnapshot {
  version?: string;
  nativeFastPath: boolean;
  tunnels: TunnelMetrics[];
  bgpNeighbors?: BgpNeighborMetrics[];
  /** IkeEngine.drops: cumulative count of dropped IKE datagrams by reason. */
  ikeDrops?: Readonly<Record<string, number>>;
  /** UdpTransport.counters (cumulative). */
  udp?: Readonly<UdpCounters>;
}

/** Events the exporter counts. Anything else passed to onEvent() is ignored. */
export type MetricsEvent =
  | { type: 'rekey'; tunnel: string; kind: 'ike' | 'child' }
  | { type: 'dpd-failed'; tunnel: string }
  | { type: 'handshake'; tunnel: string; ms: number }
  /** A Child SA is being removed: its last counters (read just before datapath.remove). */
  | { type: 'child-final'; tunnel: string; spiIn: number | string; counters: SaCounters };

/** The part of the status / list-sas documents (shared/design/contract.md) the exporter reads. */
export interface StatusLike {
  version?: string;
  nativeFastPath: boolean;
  tunnels: ReadonlyArray<{
    name: string;
    state: TunnelState;
    ike: { establishedAt: string | null } | null;
    children: ReadonlyArray<
      Pick<SaCounters, 'bytesIn' | 'bytesOut' | 'packetsIn' | 'packetsOut' | 'replayDrops' | 'authFailures'> & {
        spiIn: string;
        policyDrops?: number;
        installedAt?: string | null;
      }
    >;
  }>;
  bgp?: { neighbors: ReadonlyArray<{ address: string; state: string; received: number; advertised: number; tunnel?: string }> };
  udp?: UdpCounters;
}

/**
 * Build a snapshot from the status or list-sas document, so the daemon's provider can be
 * `() => snapshotFromStatus(daemon.listSas(), { ikeDrops: engine.drops, bgp: status.bgp })`.
 * list-sas carries installedAt (Child SA age) and the UDP counters but no `bgp`; plain status
 * has `bgp` but neither of the others. `extra.bgp` wins over the document's.
 */
export function snapshotFromStatus(
  doc: StatusLike,
  extra: { ikeDrops?: Readonly<Record<string, number>>; bgp?: StatusLike['bgp'] } = {},
): MetricsSnapshot {
  const ms = (iso: string | null | undefined): number => (iso ? Date.parse(iso) || 0 : 0);
  const snap: MetricsSnapshot = {
    nativeFastPath: doc.nativeFastPath,
    tunnels: doc.tunnels.map((t) => ({
      name: t.name,
      state: t.state,
      ikeEstablishedAt: t.ike ? ms(t.ike.establishedAt) || null : null,
      children: t.children.map((c) => ({
        spiIn: c.spiIn,
        installedAt: ms(c.installedAt),
        counters: {
          bytesIn: c.bytesIn, bytesOut: c.bytesOut, packetsIn: c.packetsIn, packetsOut: c.packetsOut,
          replayDrops: c.replayDrops, authFailures: c.authFailures, policyDrops: c.policyDrops ?? 0,
        },
      })),
    })),
  };
  if (doc.version !== undefined) snap.version = doc.version;
  const bgp = extra.bgp ?? doc.bgp;
  if (bgp) snap.bgpNeighbors = bgp.neighbors.map((n) => ({ ...n }));
  if (doc.udp) snap.udp = doc.udp;
  if (extra.ikeDrops) snap.ikeDrops = extra.ikeDrops;
  return snap;
}

// ---------------------------------------------------------------------------------------------
// Monotonic accumulation

const COUNTER_FIELDS = ['bytesIn', 'bytesOut', 'packetsIn', 'packetsOut', 'replayDrops', 'authFailures', 'policyDrops'] as const;
type CounterField = (typeof COUNTER_FIELDS)[number];

/**
 * Turns raw cumulative values into totals that only grow: each total adds the growth of the raw
 * values fed under it; a raw value that went down has restarted from zero (a replaced SA, engine
 * or transport), so all of it is growth.
 */
class Deltas {
  readonly #last = new Map<string, number>();
  readonly #total = new Map<string, number>();

  /** Feed the raw value for `key`, add its growth to `total`; returns the new total. */
  add(key: string, total: string, raw: number): number {
    const v = Number.isFinite(raw) && raw > 0 ? raw : 0;
    const last = this.#last.get(key);
    const grown = last === undefined || v < last ? v : v - last;
    this.#last.set(key, v);
    const t = (this.#total.get(total) ?? 0) + grown;
    this.#total.set(total, t);
    return t;
  }

  total(total: string): number {
    return this.#total.get(total) ?? 0;
  }

  /** Forget the raw baselines of keys that no longer exist (their growth stays in the totals). */
  forget(keep: (key: string) => boolean): void {
    for (const k of this.#last.keys()) if (!keep(k)) this.#last.delete(k);
  }
}

/** Joins key parts; NUL cannot occur in tunnel names, SPIs or reasons. */
const key = (...parts: string[]): string => parts.join('\0');

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
      ikeAge: gauge('branchgate_ike_sa_age_seconds', 'age of the current IKE SA', ['tunnel']),
      childAge: gauge('branchgate_child_sa_age_seconds', 'age of each installed Child SA', ['tunnel', 'spi_in']),
      bgpState: gauge('branchgate_bgp_session_state', `BGP session state set: 1 for the current state (${BGP_STATES.join('|')})`, ['neighbor', 'tunnel', 'state']),
      bgpRx: gauge('branchgate_bgp_routes_received', 'routes received from the BGP neighbor', ['neighbor', 'tunnel']),
      bgpTx: gauge('branchgate_bgp_routes_advertised', 'routes advertised to the BGP neighbor', ['neighbor', 'tunnel']),
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
    const now = this.#now();
    const g = this.#g;
    // Series of tunnels, SAs and neighbors that are gone must disappear: rebuild them all.
    for (const m of Object.values(g)) m.reset();
    for (const c of [...Object.values(this.#c.sa), this.#c.ikeDrops, ...this.#c.udp.values()]) c.reset();
    if (s.version !== undefined) g.info.set({ version: s.version }, 1);
    g.native.set(s.nativeFastPath ? 1 : 0);

    const live = new Set<string>();
    for (const t of s.tunnels) this.#tunnel(t, now, live);
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
  }

  #tunnel(t: TunnelMetrics, now: number, live: Set<string>): void {
    const tunnel = t.name;
    const g = this.#g;
    for (const st of withState(TUNNEL_STATES, t.state)) g.state.set({ tunnel, state: st }, st === t.state ? 1 : 0);
    if (t.ikeEstablishedAt !== null && t.ikeEstablishedAt > 0) g.ikeAge.set({ tunnel }, Math.max(0, (now - t.ikeEstablishedAt) / 1000));
    for (const c of t.children) {
      const spi = spiLabel(c.spiIn);
      const sa = key(tunnel, spi);
      if (c.installedAt > 0) g.childAge.set({ tunnel, spi_in: spi }, Math.max(0, (now - c.installedAt) / 1000));
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

// ---------------------------------------------------------------------------------------------
// HTTP

export interface ListenAddress {
  host: string;
  port: number;
}

/** Parse "host:port" (IPv6 as "[::1]:9477"); port 0 picks a free port (tests). */
export function parseListen(s: string): ListenAddress {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s.trim());
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new RangeError(`metrics listen address ${JSON.stringify(s)} is not "host:port", e.g. 127.0.0.1:9477`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

/** The metrics listener could not be opened; the message names the address and what to do. */
export class MetricsBindError extends Error {
  constructor(message: string, readonly code: string | undefined) {
    super(message);
    this.name = 'MetricsBindError';
  }
}

function bindHint(code: string | undefined, { host, port }: ListenAddress): string {
  switch (code) {
    case 'EADDRINUSE':
      return `port ${port} is in use (another exporter or a second branchgate); choose another control.metrics port`;
    case 'EACCES':
      return `permission denied; ports below 1024 need CAP_NET_BIND_SERVICE, use e.g. ${host}:9477`;
    case 'EADDRNOTAVAIL':
      return `${host} is not an address of this machine; use 127.0.0.1 or an address configured on an interface`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot resolve ${host}; use an IP address`;
    default:
      return `${code ?? 'error'}; check control.metrics`;
  }
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

export interface MetricsExporterOptions {
  /** "host:port" (config control.metrics) or a parsed address. */
  listen: string | ListenAddress;
  snapshot: () => MetricsSnapshot;
  logger?: { warn(obj: object, msg: string): void; error(obj: object, msg: string): void };
  now?: () => number;
  /** Also export prom-client's process_* and nodejs_* series (default true). */
  defaultMetrics?: boolean;
}

export class MetricsExporter {
  readonly metrics: BranchgateMetrics;
  readonly #server: http.Server;
  readonly #opts: MetricsExporterOptions;

  private constructor(opts: MetricsExporterOptions, server: http.Server, metrics: BranchgateMetrics) {
    this.#opts = opts;
    this.#server = server;
    this.metrics = metrics;
  }

  /** Listen; rejects with MetricsBindError (and nothing left open) if the address cannot be bound. */
  static async start(opts: MetricsExporterOptions): Promise<MetricsExporter> {
    const addr = typeof opts.listen === 'string' ? parseListen(opts.listen) : opts.listen;
    const metrics = new BranchgateMetrics({ ...(opts.now ? { now: opts.now } : {}), defaultMetrics: opts.defaultMetrics ?? true });
    const server = http.createServer();
    const exporter = new MetricsExporter(opts, server, metrics);
    server.on('request', (req, res) => exporter.#handle(req, res));
    // A scraper never needs long: bound slow or idle clients.
    server.requestTimeout = 10_000;
    server.headersTimeout = 5_000;
    server.keepAliveTimeout = 5_000;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        server.close();
        reject(new MetricsBindError(`cannot listen for metrics on ${addr.host}:${addr.port}: ${bindHint(err.code, addr)}`, err.code));
      };
      server.once('error', onError);
      server.listen({ host: addr.host, port: addr.port }, () => {
        server.off('error', onError);
        server.on('error', (err) => opts.logger?.error({ err }, 'metrics listener failed'));
        resolve();
      });
    });
    if (!LOOPBACK.test(addr.host)) {
      opts.logger?.warn({ metrics: `${addr.host}:${addr.port}` },
        'metrics endpoint is reachable from the network (tunnel names, peers, states); bind to 127.0.0.1 unless a remote scraper needs it');
    }
    return exporter;
  }

  address(): ListenAddress {
    const a = this.#server.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  /** Forward every daemon/engine event here; only MetricsEvent types are counted. */
  onEvent(e: MetricsEvent | { readonly type: string }): void {
    this.metrics.onEvent(e);
  }

  /** The exposition text for the current snapshot (what GET /metrics returns). */
  render(): Promise<string> {
    return this.metrics.render(this.#opts.snapshot());
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('not found: branchgate serves only /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return;
    }
    let body: Promise<string>;
    try {
      body = this.render();
    } catch (err) {
      body = Promise.reject(err);
    }
    body.then(
      (text) => {
        res.writeHead(200, { 'Content-Type': this.metrics.registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        this.#opts.logger?.error({ err }, 'metrics scrape failed');
        res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end('metrics snapshot failed; see the branchgate log\n');
      },
    );
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }
}
