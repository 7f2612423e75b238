/**
 * The records an IKE SA keeps that do not refer back to it: Child SAs, the Child SA asked for
 * in IKE_AUTH, and one-shot timers. sa.ts holds the IKE SA itself and what refers to it (tasks,
 * the engine context).
 */
import type { ChildSaInfo, ChildSaKeys } from './actions.js';
import type { Proposal, TrafficSelector } from './codec/types.js';
import type { Suite } from './proposals.js';

/**
 *   installed ──▶ rekeying ──▶ rekeyed (replaced; old inbound kept for the grace period) ──▶ gone
 *   installed ──▶ deleting ──▶ gone
 */
export type ChildState = 'installed' | 'rekeying' | 'rekeyed' | 'deleting';

export interface ChildSa {
  info: ChildSaInfo;
  keys: ChildSaKeys;
  /** The negotiated selectors: the datapath enforces them on inbound packets. */
  localTs: TrafficSelector[];
  remoteTs: TrafficSelector[];
  suite: Suite;
  state: ChildState;
  /** Soft (rekey) and hard (delete) expiry, absolute ms (lifetime.ts). */
  rekeyAt: number;
  expireAt: number;
  /** Its outbound SA carries the tunnel's traffic (false: rekey responder, before activation). */
  active: boolean;
  /** Rekey responder: our inbound SPI of the replacement, activated when the peer deletes this one. */
  replacedBy?: number;
  /** The peer answered NO_ADDITIONAL_SAS: keep this SA until hard expiry, then re-establish. */
  noRekey?: boolean;
  /** A rekey of this SA by the peer that we answered (to resolve a collision, §2.8.1). */
  passive?: { spiIn: number; lowerNonce: Uint8Array };
  /** Replaced by the peer's rekey, switched by the fallback timer: the peer's Delete is still due. */
  awaitingPeerDelete?: boolean;
  /** The peer deleted this SA while our rekey of it was in flight (§2.25.1). */
  deletedByPeer?: boolean;
}

/** The Child SA the initiator asked for in IKE_AUTH, kept until the response arrives. */
export interface PendingChild {
  spiIn: Uint8Array;
  proposals: Proposal[];
  tsi: TrafficSelector[];
  tsr: TrafficSelector[];
}

/**
 * One-shot timers an exchange sets on its IKE SA (timers.ts fires them). They carry SPIs, not
 * objects: the Child SA is looked up again when the timer fires, and may be gone.
 */
export type SaTimer =
  | { kind: 'remove-child'; at: number; spiIn: number }
  | { kind: 'activate-child'; at: number; spiIn: number }
  | { kind: 'retry-child-rekey'; at: number; spiIn: number }
  | { kind: 'retry-ike-rekey'; at: number }
  | { kind: 'rekeyed-expire'; at: number };

