/**
 * IkeEngine: the sans-IO front door of the IKEv2 core. The daemon feeds it datagrams, ticks and
 * operator commands with an explicit clock, and performs the actions it returns.
 */
import type { Action, Arrival, TunnelStatus } from './actions.js';
import type { TunnelConfig } from '../config/types.js';

export interface EngineOptions {
  tunnels: TunnelConfig[];
  /** Source of randomness (SPIs, nonces, IVs come from crypto; this is for SPIs/nonces/jitter). */
  random?: (n: number) => Uint8Array;
}

export class IkeEngine {
  constructor(_opts: EngineOptions) {
    throw new Error('IkeEngine: not implemented yet');
  }
  /** Initiate every tunnel with initiate: true. */
  start(_now: number): Action[] { return []; }
  /** One IKE message (non-ESP marker already stripped when it came in on port 4500). */
  onDatagram(_bytes: Uint8Array, _arrival: Arrival, _now: number): Action[] { return []; }
  /** Timers: retransmissions, half-open expiry. Call at or after nextWakeup(). */
  onTick(_now: number): Action[] { return []; }
  /** Earliest time (ms) the engine wants onTick, or null. */
  nextWakeup(): number | null { return null; }
  up(_name: string, _now: number): Action[] { return []; }
  down(_name: string, _now: number): Action[] { return []; }
  status(_now: number): TunnelStatus[] { return []; }
  tunnelNames(): string[] { return []; }
}
