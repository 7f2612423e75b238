/**
 * The shapes tasks and the engine share around an IKE SA (sa.ts holds the machinery): the
 * engine context, Child SA records, tasks and timers (architecture rules 4 and 5).
 */
import type { Action, ChildSaInfo, ChildSaKeys, LogLevel } from './actions.js';
import type { Payload, Proposal, TrafficSelector } from './codec/types.js';
import type { Suite } from './proposals.js';
import type { IkeSa } from './sa.js';
import type { FloodKind } from './log-limiter.js';

/** What the engine lets tasks do to SAs they do not own (architecture rule 5: look SAs up again). */
export interface EngineOps {
  /** Tear an SA down locally; `reconnect`: an initiating tunnel starts again (with backoff). */
  removeIke(ctx: EngineContext, sa: IkeSa, reason: string, reconnect: boolean): void;
  /** Make a new SA findable by its SPI (a rekeyed IKE SA, §2.18). */
  register(sa: IkeSa): void;
  /** The tunnel's current IKE SA is now `sa`. */
  setCurrent(sa: IkeSa): void;
  current(tunnel: string): IkeSa | null;
}

/** Everything the engine hands to a task: randomness, the clock, and where actions go. */
export interface EngineContext {
  now: number;
  /** The datapath carries ESP only in UDP 4500: always ask the peer to encapsulate. */
  udpEncapsulationOnly: boolean;
  /** Emit export-keys actions (EngineOptions.exportKeys; debug only). Absent: false. */
  exportKeys?: boolean;
  random(n: number): Uint8Array;
  actions: Action[];
  log(level: LogLevel, tunnel: string | undefined, msg: string, fields?: Record<string, string | number | boolean>): void;
  /**
   * A line about one hostile or broken datagram, limited per kind (log-limiter.ts) so a flood
   * does not become a flood of log lines. Absent: lines go to log() unlimited (tests).
   */
  floodLog?(kind: FloodKind, level: LogLevel, tunnel: string | undefined, msg: string, fields?: Record<string, string | number | boolean>): void;
  ops?: EngineOps;
}

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

/** One job that needs a request of its own (architecture rule 4). */
export interface Task {
  readonly name: 'child-rekey' | 'child-create' | 'child-delete' | 'ike-rekey' | 'ike-delete' | 'dpd' | 'raw';
  /** The payloads of the request, or null when the job became moot while it waited. */
  build(ctx: EngineContext, sa: IkeSa): { exchange: number; payloads: Payload[] } | null;
  onResponse(ctx: EngineContext, sa: IkeSa, payloads: Payload[]): void;
  /** Forget secret state (a DH private value) when the SA goes before the answer came. */
  wipe?(): void;
}

/** Timers carry ids, not objects (architecture rule 5). */
export type SaTimer =
  | { kind: 'remove-child'; at: number; spiIn: number }
  | { kind: 'activate-child'; at: number; spiIn: number }
  | { kind: 'retry-child-rekey'; at: number; spiIn: number }
  | { kind: 'retry-ike-rekey'; at: number }
  | { kind: 'rekeyed-expire'; at: number };

