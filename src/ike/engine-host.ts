/**
 * The engine as its intake and reload modules see it (receive.ts, receive-init.ts,
 * reconfigure.ts): the operations they may perform on its tables, never the tables themselves.
 * IkeEngine implements it; the modules take it as a parameter, so none of them imports the
 * engine (the same pattern as EngineOps for tasks, sa.ts).
 */
import type { TunnelConfig } from '../config/types.js';
import type { DropReason } from './drops.js';
import type { HalfOpenTable } from './half-open.js';
import type { InitGuard } from './init-guard.js';
import type { ReconnectState } from './reconnect.js';
import type { EngineContext, IkeSa } from './sa.js';

/** The engine's record of one configured tunnel. */
export interface TunnelEntry {
  config: TunnelConfig;
  sa: IkeSa | null;
  /** false after `down NAME`: no reconnecting until `up NAME`. */
  wanted: boolean;
  reconnect: ReconnectState | null;
  /** Consecutive failed attempts (reset when an IKE SA comes up). */
  failures: number;
}

export interface EngineHost {
  /** Rate limits, cookies and half-open caps for IKE_SA_INIT (init-guard.ts). */
  readonly guard: InitGuard;
  /** Half-open responder SAs (half-open.ts). */
  readonly halfOpen: HalfOpenTable;
  /** Count one dropped datagram (drops.ts). */
  drop(reason: DropReason): void;
  tunnel(name: string): TunnelEntry | undefined;
  /** Every tunnel, in config order. */
  tunnelList(): TunnelEntry[];
  /** Replace the tunnel table (a reload); entries keep the given order. */
  setTunnels(entries: TunnelEntry[]): void;
  /** A snapshot of every live IKE SA (safe to remove SAs while walking it). */
  saList(): IkeSa[];
  /** Make a new SA findable by our SPI. */
  addSa(sa: IkeSa): void;
  /** Drop an SA; `reconnect`: an initiating tunnel that is wanted starts again with backoff. */
  remove(ctx: EngineContext, sa: IkeSa, reason: string, reconnect: boolean): void;
  /** The tunnel came up: reset its reconnect backoff. */
  connected(name: string): void;
}
