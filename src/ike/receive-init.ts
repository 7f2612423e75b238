/**
 * IKE_SA_INIT intake for IkeEngine (RFC 7296 §1.2, §2.1, §2.5, §2.6): retransmitted requests
 * answered from the half-open SA, unsupported critical payloads, matching a request to the
 * tunnels its addresses fit; the initiator's side hands over to IKE_AUTH.
 */
import type { Arrival } from './actions.js';
import type { IkeMessage } from './codec/types.js';
import { criticalUnknown } from './payload-checks.js';
import { NotifyType } from './constants.js';
import { hex, type EngineContext, type IkeSa } from './sa.js';
import { processInitRequest, processInitResponse } from './tasks/ike-init.js';
import { sendAuthRequest } from './tasks/ike-auth.js';
import { notify, sendStatelessResponse } from './tasks/notify.js';
import type { IkeEngine } from './engine.js';

export function onInitRequest(engine: IkeEngine, ctx: EngineContext, msg: IkeMessage, bytes: Uint8Array, arrival: Arrival): void {
  const key = `${hex(msg.header.spiI)}|${arrival.from.address}:${arrival.from.port}`;
  const known = engine.halfOpen.get(key);
  if (known) {
    // RFC 7296 §2.1: a retransmitted request gets the cached response, not a new SA.
    if (Buffer.compare(Buffer.from(known.initRequest), Buffer.from(bytes)) === 0) known.resendLastResponse(ctx);
    else engine.drops.unexpected++;
    return;
  }
  const critical = criticalUnknown(msg.payloads);
  if (critical !== null) {
    engine.drops['critical-payload']++;
    ctx.log('warn', undefined, `IKE_SA_INIT from ${arrival.from.address} has unsupported critical payload ${critical}; answering UNSUPPORTED_CRITICAL_PAYLOAD`);
    sendStatelessResponse(ctx, msg.header, arrival, [notify(NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, Uint8Array.of(critical))]);
    return;
  }
  const candidates = [...engine.tunnels.values()]
    .map((t) => t.config)
    .filter((c) => (!c.localAddress || c.localAddress === arrival.to.address) && (c.remoteAddress === '%any' || c.remoteAddress === arrival.from.address));
  if (candidates.length === 0) {
    engine.drops['no-tunnel']++;
    ctx.log('warn', undefined, `IKE_SA_INIT from ${arrival.from.address} to ${arrival.to.address} matches no tunnel; ignoring it`);
    return;
  }
  const sa = processInitRequest(ctx, candidates, msg, bytes, arrival);
  if (!sa) return;
  engine.sas.set(hex(sa.spiR), sa);
  engine.halfOpen.set(key, sa);
}

export function onInitResponse(engine: IkeEngine, ctx: EngineContext, sa: IkeSa, msg: IkeMessage, bytes: Uint8Array, arrival: Arrival): void {
  if (sa.state !== 'init-sent' || !msg.header.response || msg.header.messageId !== 0) {
    engine.drops.unexpected++;
    return;
  }
  if (criticalUnknown(msg.payloads) !== null) {
    engine.drops['critical-payload']++;
    ctx.log('error', sa.tunnel.name, 'IKE_SA_INIT response carries an unsupported critical payload; aborting (RFC 7296 §2.5)');
    engine.remove(ctx, sa, 'unsupported critical payload', true);
    return;
  }
  const outcome = processInitResponse(ctx, sa, msg, bytes, arrival);
  if (outcome === 'failed') engine.remove(ctx, sa, 'IKE_SA_INIT failed', true);
  else if (outcome === 'established-init') sendAuthRequest(ctx, sa);
}
