/**
 * Intake of protected messages (IKE_AUTH onward) for IkeEngine: message-ID checks and the
 * response cache (RFC 7296 §2.1, §2.2), integrity, RFC 7383 reassembly, liveness bookkeeping
 * (§2.4), NAT mapping changes (§2.23: only authenticated messages move the peer's address), and
 * dispatch to the tasks.
 */
import type { Arrival } from './actions.js';
import type { IkeMessage, Payload } from './codec/types.js';
import { findNotify, openMessage } from './codec/message.js';
import { Reassembler, decodeReassembled } from './codec/reassembler.js';
import { criticalUnknown, invalidPayload } from './payload-checks.js';
import { ExchangeType, NotifyType, PayloadType, exchangeName } from './constants.js';
import type { EngineContext, IkeSa } from './sa.js';
import { hex } from './spi.js';
import { processAuthRequest, processAuthResponse } from './tasks/ike-auth.js';
import { answerRequest } from './tasks/informational.js';
import { sendIkeDelete } from './tasks/ike-delete.js';
import { handOver } from './tasks/ike-rekey.js';
import { notify } from './tasks/notify.js';
import { establish } from './engine-state.js';
import { exportIkeKeys } from './key-export.js';
import { logFlood } from './engine-context.js';
import type { EngineHost } from './engine-host.js';

/**
 * Reassembly limits while the SA is half-open (RFC 7383 §2.6 leaves them to us): a PSK IKE_AUTH
 * request is a few KB at most, and every half-open SA may hold one set, so up to limits.halfOpen
 * × 16 KiB in all (16 MiB at the default 1000) instead of × 64 KiB. The established SA starts a
 * new Reassembler with the defaults (codec/reassembler.ts).
 */
export const HALF_OPEN_REASSEMBLY = { maxFragments: 32, maxBytes: 16 * 1024 } as const;

/** Open an SK message, or feed an SKF fragment to the SA's reassembler. null: nothing (yet). */
function open(engine: EngineHost, ctx: EngineContext, sa: IkeSa, msg: IkeMessage, bytes: Uint8Array): Payload[] | null {
  const skf = msg.payloads[0];
  if (skf && skf.type === PayloadType.SKF) {
    sa.reassembler ??= new Reassembler(sa.cipherIn!, sa.state === 'half-open' ? HALF_OPEN_REASSEMBLY : {});
    const r = sa.reassembler.accept(bytes, msg, ctx.now);
    if (r.status === 'dropped') {
      if (r.reason === 'integrity') engine.drop('integrity');
      else if (r.reason !== 'duplicate' && r.reason !== 'stale') engine.drop('malformed');
      return null;
    }
    if (r.status === 'pending') return null;
    const inner = decodeReassembled(r.innerNext, r.plaintext);
    if (!inner.ok) {
      engine.drop('malformed');
      return null;
    }
    return inner.value;
  }
  const opened = openMessage(bytes, msg, sa.cipherIn!);
  if (!opened.ok) {
    engine.drop(opened.error === 'integrity' ? 'integrity' : 'malformed');
    logFlood(ctx, opened.error === 'integrity' ? 'integrity' : 'malformed', 'debug', sa.tunnel.name, `dropped ${exchangeName(msg.header.exchangeType)}: ${opened.error === 'integrity' ? 'integrity check failed' : 'malformed inner payloads'}`);
    return null;
  }
  return opened.value;
}

export function onProtected(engine: EngineHost, ctx: EngineContext, sa: IkeSa, msg: IkeMessage, bytes: Uint8Array, arrival: Arrival): void {
  const h = msg.header;
  if (!sa.cipherIn) {
    engine.drop('unexpected');
    return;
  }
  const first = msg.payloads[0];
  const laterFragment = first?.type === PayloadType.SKF && first.fragmentNumber !== 1;
  if (!h.response && h.messageId !== sa.expectedPeerRequestId) {
    // RFC 7296 §2.2: a retransmission of the last request gets the cached response (once per
    // retransmitted message, not per fragment, RFC 7383 §2.6.1); anything else is dropped.
    if (sa.lastResponse && h.messageId === sa.lastResponse.messageId && !laterFragment) sa.resendLastResponse(ctx);
    else engine.drop('unexpected');
    return;
  }
  if (h.response && (!sa.outstanding || h.messageId !== sa.outstanding.messageId)) {
    engine.drop('unexpected');
    return;
  }
  const inner = open(engine, ctx, sa, msg, bytes);
  if (!inner) return;
  const bad = invalidPayload(inner);
  if (bad) {
    // RFC 7296 §2.21.2: a protected request that does not parse is answered INVALID_SYNTAX.
    engine.drop('malformed');
    logFlood(ctx, 'malformed', 'warn', sa.tunnel.name, `malformed ${exchangeName(h.exchangeType)} from ${arrival.from.address}: ${bad}`);
    if (!h.response) sa.sendResponse(ctx, h.exchangeType, h.messageId, [notify(NotifyType.INVALID_SYNTAX)], true);
    return;
  }
  // Authenticated from here on (RFC 7296 §2.4: proves liveness).
  sa.lastInboundAt = Math.max(sa.lastInboundAt, ctx.now);
  followPeer(ctx, sa, arrival);
  const critical = criticalUnknown(inner);
  if (critical !== null) {
    engine.drop('critical-payload');
    if (!h.response) sa.sendResponse(ctx, h.exchangeType, h.messageId, [notify(NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, Uint8Array.of(critical))], true);
    logFlood(ctx, 'critical-payload', 'warn', sa.tunnel.name, `${exchangeName(h.exchangeType)} carries unsupported critical payload ${critical}; rejected`);
    return;
  }
  if (h.response) onResponse(engine, ctx, sa, h.exchangeType, inner);
  else onRequest(engine, ctx, sa, h.exchangeType, h.messageId, inner);
  sa.kick(ctx);
}

/**
 * RFC 7296 §2.23: before the SA is up, a responder follows the initiator's float to 4500. Once
 * it is up, an authenticated message from a new address/port means the peer's NAT mapping
 * moved: with NAT-T in use, send everything there from now on.
 */
function followPeer(ctx: EngineContext, sa: IkeSa, arrival: Arrival): void {
  const from = arrival.from;
  if (sa.state !== 'established' && sa.state !== 'rekeyed' && sa.state !== 'deleting') {
    sa.remote = { ...from };
    sa.local = { ...arrival.to };
    if (arrival.natT) sa.natT = true;
    return;
  }
  if (from.address === sa.remote.address && from.port === sa.remote.port) return;
  if (!sa.natT || !arrival.natT) return;
  const was = `${sa.remote.address}:${sa.remote.port}`;
  sa.remote = { ...from };
  for (const c of sa.children) c.info.remote = { ...from };
  ctx.actions.push({ kind: 'update-remote', tunnel: sa.tunnel.name, remote: { ...from } });
  ctx.actions.push({ kind: 'event', event: { type: 'remote-moved', tunnel: sa.tunnel.name, from: was, to: `${from.address}:${from.port}` } });
  ctx.log('info', sa.tunnel.name, `peer's NAT mapping moved from ${was} to ${from.address}:${from.port}; following it (RFC 7296 §2.23)`);
}

function onResponse(engine: EngineHost, ctx: EngineContext, sa: IkeSa, exchangeType: number, inner: Payload[]): void {
  const task = sa.outstanding?.task ?? null;
  sa.outstanding = null;
  if (sa.retired && task?.name !== 'ike-delete') {
    // A reload took this SA from its tunnel: what its last exchange would have set up is not
    // wanted any more; its Delete goes next (kick).
    ctx.log('debug', sa.tunnel.name, `ignoring the ${exchangeName(exchangeType)} response on an IKE SA retired by a reload`, { spiI: hex(sa.spiI) });
    return;
  }
  if (exchangeType === ExchangeType.IKE_AUTH && sa.state === 'auth-sent') {
    const r = processAuthResponse(ctx, sa, inner);
    if (!r.ok) return engine.remove(ctx, sa, 'authentication failed', true);
    adopt(engine, ctx, sa, false);
    establish(ctx, sa, r.child);
    // The backoff resets only for a usable tunnel: a peer that refuses the Child SA every time
    // is retried at the capped rate, not in a tight loop.
    if (r.child) engine.connected(sa.tunnel.name);
    else sendIkeDelete(ctx, sa, 'no Child SA', true);
    return;
  }
  if (task) task.onResponse(ctx, sa, inner);
}

function onRequest(engine: EngineHost, ctx: EngineContext, sa: IkeSa, exchangeType: number, messageId: number, inner: Payload[]): void {
  if (exchangeType === ExchangeType.IKE_AUTH && sa.state === 'half-open') {
    // The request passed the SK integrity check: the peer holds these keys (debug export only).
    exportIkeKeys(ctx, sa);
    const r = processAuthRequest(ctx, sa, messageId, inner);
    if (!r.ok) return engine.remove(ctx, sa, 'authentication failed', false);
    engine.halfOpen.forget(sa);
    // Message ID 0 is complete and the window check guards it from here on: the established SA
    // reassembles with the full limits.
    sa.reassembler = null;
    adopt(engine, ctx, sa, findNotify(inner, NotifyType.INITIAL_CONTACT) !== undefined);
    establish(ctx, sa, r.child);
    return;
  }
  if (sa.state !== 'established' && sa.state !== 'deleting' && sa.state !== 'rekeyed') {
    engine.drop('unexpected');
    return;
  }
  const out = answerRequest(ctx, sa, exchangeType, messageId, inner);
  if (!out.closeIke) return;
  if (sa.passiveRekey && sa.state === 'established') {
    // §2.8.2: the peer completed its rekey and deletes the old SA before our own rekey's answer
    // came: its new SA is the one (our exchange dies with the old SA).
    ctx.log('info', sa.tunnel.name, 'the peer deleted the old IKE SA after its rekey; taking its new IKE SA');
    handOver(ctx, sa, sa.passiveRekey.sa, false);
    sa.passiveRekey = null;
  }
  engine.remove(ctx, sa, 'deleted by peer', true);
}

/**
 * Make `sa` the tunnel's current SA. The previous one goes: a new IKE_AUTH for the same tunnel
 * means the peer restarted; with INITIAL_CONTACT (RFC 7296 §2.4) every other IKE SA of that
 * peer goes with it.
 */
function adopt(engine: EngineHost, ctx: EngineContext, sa: IkeSa, initialContact: boolean): void {
  const t = engine.tunnel(sa.tunnel.name);
  if (!t) return;
  if (initialContact) {
    for (const other of engine.saList()) {
      if (other === sa || other.tunnel.name !== sa.tunnel.name || other.peerId !== sa.peerId) continue;
      if (other.state !== 'established' && other.state !== 'rekeyed' && other.state !== 'deleting') continue;
      ctx.log('info', sa.tunnel.name, `INITIAL_CONTACT from ${sa.peerId}: the peer restarted; dropping its old IKE SA`, { spiI: hex(other.spiI) });
      engine.remove(ctx, other, 'peer restarted (INITIAL_CONTACT)', false);
    }
  }
  if (t.sa && t.sa !== sa) {
    ctx.log('info', sa.tunnel.name, 'a new IKE SA replaces the previous one');
    engine.remove(ctx, t.sa, 'replaced by a new IKE SA', false);
  }
  t.sa = sa;
}
