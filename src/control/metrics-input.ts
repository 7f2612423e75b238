/**
 * What the Prometheus exporter (metrics.ts) reads: a snapshot per scrape, built from the status or
 * list-sas document (snapshotFromStatus), and the events it counts. Plain data, no prom-client.
 */
import type { SaCounters } from '../dataplane/types.js';
import type { TunnelState } from '../ike/actions.js';
import type { UdpCounters } from '../net/udp.js';
import type { ControlCounters } from './server.js';
import type { UdpSocketDoc } from './udp-socket-drops.js';

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
  /** IkeEngine.halfOpenCount: responder IKE SAs between IKE_SA_INIT and IKE_AUTH right now. */
  ikeHalfOpen?: number;
  /** UdpTransport.counters (cumulative). */
  udp?: Readonly<UdpCounters>;
  /** Datapath drops by reason, cumulative (list-sas dataplane.drops; src/dataplane/drops.ts). */
  espDrops?: Readonly<Record<string, number>>;
  /** Our UDP sockets and the kernel's drop counter for each (list-sas udpSockets). */
  udpSockets?: ReadonlyArray<Readonly<UdpSocketDoc>>;
  /** The control socket's bounds at work (list-sas control). */
  control?: Readonly<ControlCounters>;
  /** The last config load: start, `reload` or SIGHUP. */
  config?: ConfigLoadState;
}

export interface ConfigLoadState {
  lastReloadSuccessful: boolean;
  /** ms since the epoch of the last successful load (the start, if no reload succeeded since). */
  lastSuccessAt: number;
}

/** Events the exporter counts. Anything else passed to onEvent() is ignored. */
export type MetricsEvent =
  | { type: 'rekey'; tunnel: string; kind: 'ike' | 'child' }
  | { type: 'dpd-failed'; tunnel: string }
  | { type: 'handshake'; tunnel: string; ms: number }
  /** A Child SA is being removed: its last counters (read just before datapath.remove). */
  | { type: 'child-final'; tunnel: string; spiIn: number | string; counters: SaCounters };

/** The part of the status / list-sas documents (docs/contract.md) the exporter reads. */
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
  dataplane?: { drops: Readonly<Record<string, number>> };
  udpSockets?: ReadonlyArray<Readonly<UdpSocketDoc>>;
  control?: Readonly<ControlCounters>;
}

/**
 * Build a snapshot from the status or list-sas document, so the daemon's provider can be
 * `() => snapshotFromStatus(daemon.listSas(), { ikeDrops: engine.drops, bgp: status.bgp })`.
 * list-sas carries installedAt (Child SA age) and the UDP counters but no `bgp`; plain status
 * has `bgp` but neither of the others. `extra.bgp` wins over the document's.
 */
export function snapshotFromStatus(
  doc: StatusLike,
  extra: { ikeDrops?: Readonly<Record<string, number>>; ikeHalfOpen?: number; bgp?: StatusLike['bgp']; config?: ConfigLoadState } = {},
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
  if (doc.dataplane) snap.espDrops = doc.dataplane.drops;
  if (doc.udpSockets) snap.udpSockets = doc.udpSockets;
  if (doc.control) snap.control = doc.control;
  if (extra.ikeDrops) snap.ikeDrops = extra.ikeDrops;
  if (extra.ikeHalfOpen !== undefined) snap.ikeHalfOpen = extra.ikeHalfOpen;
  if (extra.config) snap.config = { ...extra.config };
  return snap;
}
