/**
 * Reconnecting a tunnel that initiates: after a failed, dead, expired or peer-deleted
 * IKE SA the engine initiates again, forever, with capped exponential backoff and jitter:
 *
 *   delay(attempt) = min(5 s, 0.5 s × 2^attempt) × (0.5 + 0.5·u)     (u uniform in [0, 1))
 *
 * An attempt's IKE_SA_INIT is retransmitted every 2 s (retransmit.ts RECONNECT_RETRANSMIT), so
 * the longest silence towards the peer is 2 s + 5 s = 7 s: a peer that becomes reachable again is
 * reached — and the tunnel is back — within 10 s, however long the outage was.
 */
import { uniform } from './lifetime.js';
import type { EngineContext } from './sa.js';

export const RECONNECT_BASE_MS = 500;
export const RECONNECT_CAP_MS = 5000;

export interface ReconnectState {
  attempt: number;
  at: number;
  reason: string;
}

export function reconnectDelay(attempt: number, random: (n: number) => Uint8Array): number {
  const ceiling = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * Math.pow(2, attempt));
  return Math.round(ceiling * (0.5 + 0.5 * uniform(random)));
}

/** The part of a tunnel's engine entry reconnecting reads and writes (engine.ts TunnelEntry). */
export interface Reconnectable {
  config: { name: string; initiate: boolean; remoteAddress: string };
  wanted: boolean;
  reconnect: ReconnectState | null;
  failures: number;
}

/** The tunnel lost its IKE SA: when it initiates and is wanted, schedule the next attempt. */
export function scheduleReconnect(ctx: EngineContext, t: Reconnectable, reason: string): void {
  if (!t.wanted || !t.config.initiate || t.config.remoteAddress === '%any') return;
  const inMs = reconnectDelay(t.failures, ctx.random);
  t.failures++;
  t.reconnect = { attempt: t.failures, at: ctx.now + inMs, reason };
  ctx.actions.push({ kind: 'event', event: { type: 'reconnect', tunnel: t.config.name, attempt: t.failures, inMs, reason } });
  ctx.log('info', t.config.name, `reconnecting in ${inMs} ms (attempt ${t.failures}): ${reason}`);
}
