/**
 * The one seam between control and data (docs/architecture.md, rule 2). The IKE side installs and
 * removes Child SAs only through a Dataplane; implementations: the pure TypeScript path (the
 * reference), an in-memory twin for tests, and later the native fast path.
 */
import type { Endpoint } from '../ike/actions.js';
import type { TrafficSelector } from '../ike/codec/types.js';
import type { EspSaParams } from '../esp/params.js';
import type { EspDropCounts } from './drops.js';

/** One direction of a Child SA (defined in src/esp/params.ts: src/esp/ imports nothing from here). */
export type { EspSaParams };

export interface ChildSaSpec {
  tunnel: string;
  inbound: EspSaParams;
  outbound: EspSaParams;
  /** Inbound inner packets must have src in remoteTs and dst in localTs (RFC 4301 §5.2). */
  localTs: TrafficSelector[];
  remoteTs: TrafficSelector[];
  /** Where ESP-in-UDP goes (RFC 3948), from our port-4500 socket. */
  local: Endpoint;
  remote: Endpoint;
}

export interface SaCounters {
  bytesIn: number;
  bytesOut: number;
  packetsIn: number;
  packetsOut: number;
  replayDrops: number;
  authFailures: number;
  /** Inner packets that did not match the SA's traffic selectors. */
  policyDrops: number;
}

export interface TunnelInterface {
  name: string;
  mtu: number;
  /** 0 disables MSS clamping. */
  mssClamp: number;
}

/** Reasons the datapath asks the IKE side for something (sequence numbers near exhaustion). */
export type DataplaneEvent = { type: 'rekey-needed'; tunnel: string; spiIn: number; reason: 'seq-exhausted' };

export interface Dataplane {
  /** Create or attach the tunnel's interface. */
  attachTunnel(tunnel: string, iface: TunnelInterface): Promise<void>;
  detachTunnel(tunnel: string): Promise<void>;
  /**
   * Install a Child SA: the inbound SA first, then (unless activate is false) the outbound one
   * becomes the tunnel's sender. activate: false is the rekey responder's make-before-break: it
   * accepts on the new SA at once but keeps sending on the old one until activateChildSa (when
   * the initiator deletes the old SA, RFC 7296 §2.8), so no packet reaches the peer on an SPI
   * the peer has not installed yet.
   */
  addChildSa(spec: ChildSaSpec, opts?: { activate?: boolean }): void;
  /** Make this (installed) Child SA the tunnel's outbound sender. No-op for an unknown SPI. */
  activateChildSa(spiIn: number): void;
  /** Remove a Child SA by our inbound SPI. */
  deleteChildSa(spiIn: number): void;
  /** The peer's NAT mapping moved (authenticated IKE or ESP from a new address/port). */
  updateRemote(tunnel: string, remote: Endpoint): void;
  counters(spiIn: number): SaCounters | null;
  /**
   * Dropped packets by reason (src/dataplane/drops.ts), datapath-wide and cumulative: they
   * survive SA deletion and reloads. Read on demand; the hot path only increments.
   */
  drops(): EspDropCounts;
  /** An ESP datagram that arrived on our port-4500 socket (non-ESP marker already ruled out). */
  receiveEsp(datagram: Uint8Array, from: Endpoint): void;
  onEvent(fn: (e: DataplaneEvent) => void): void;
  close(): Promise<void>;
}
