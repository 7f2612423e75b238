/**
 * The engine as the daemon drives it: inputs with an explicit clock in, actions out (sans-IO).
 * IkeEngine implements it; the daemon's tests substitute a scripted fake. The optional members
 * are the engine's own counters and settings, which a fake may leave out.
 */
import type { Action, Arrival, TunnelStatus } from './actions.js';
import type { LimitsConfig, TunnelConfig } from '../config/types.js';
import type { DropReason } from './drops.js';

export interface EngineApi {
  tunnelNames(): string[];
  /** Initiate every tunnel with initiate: true. */
  start(now: number): Action[];
  onDatagram(bytes: Uint8Array, arrival: Arrival, now: number): Action[];
  onTick(now: number): Action[];
  /** When onTick has something to do next, or null. */
  nextWakeup(): number | null;
  up(name: string, now: number): Action[];
  down(name: string, now: number): Action[];
  /** Operator rekey (`branchgate rekey NAME [--ike]`): CREATE_CHILD_SA for the Child SA or the IKE SA. */
  rekey(name: string, what: 'child' | 'ike', now: number): Action[];
  /** A Child SA reached a volume lifetime or is near sequence-number exhaustion: rekey it. */
  childVolumeExceeded(tunnel: string, spiIn: number, reason: 'bytes' | 'packets' | 'seq-exhausted', now: number): Action[];
  /** Authenticated ESP arrived on the tunnel since the last call (liveness without a DPD exchange). */
  noteInboundEsp(tunnel: string, now: number): void;
  /** Config reload: the new tunnel list (reconfigure.ts). */
  reconfigure(tunnels: TunnelConfig[], now: number): Action[];
  status(now: number): TunnelStatus[];
  /** Config reload of `limits:`. */
  setLimits?(limits: LimitsConfig): void;
  /** debug.wiresharkKeys on or off: emit export-keys actions from now on. */
  setExportKeys?(on: boolean): void;
  /** Dropped datagrams by reason, for metrics. */
  readonly drops?: Readonly<Record<DropReason, number>>;
  /** Half-open responder IKE SAs right now, for metrics. */
  readonly halfOpenCount?: number;
}

/** How the daemon (or a test) builds an IkeEngine. */
export interface EngineOptions {
  tunnels: TunnelConfig[];
  /** Randomness for SPIs, nonces and timer jitter; tests inject a seeded source. */
  random?: (n: number) => Uint8Array;
  /**
   * The datapath has no raw ESP (protocol 50) path, only ESP-in-UDP: fake NAT detection so every
   * peer encapsulates, as strongSwan's kernel-libipsec does. The daemon sets this.
   */
  udpEncapsulationOnly?: boolean;
  /**
   * Debug only (Wireshark decryption tables, src/debug/key-export.ts): emit an `export-keys`
   * action with the IKE SA's SK_e and SK_a keys when they are derived (IKE_SA_INIT, IKE rekey)
   * and with a Child SA's keys when it is installed (creation, rekey). Default false: the keys
   * never leave the engine but through install-child to the datapath.
   */
  exportKeys?: boolean;
  /** Responder protection thresholds (config `limits:`); absent: the config defaults (init-guard.ts). */
  limits?: LimitsConfig;
}
