/**
 * IKE_SA_INIT intake for IkeEngine (RFC 7296 §1.2, §2.1, §2.5, §2.6), responder side first. The
 * checks run cheapest first, and nothing costly happens before the sender proved, under load,
 * that it receives what we send to its address (init-guard.ts has the thresholds):
 *
 *  1. per-source rate, on the raw header before decoding (initRateGate); a request over the rate
 *     goes on only if it starts with a COOKIE, and then only if that cookie verifies;
 *  2. a retransmission of the request of a known half-open SA gets the cached response (§2.1);
 *  3. a request no tunnel's addresses match is ignored;
 *  4. cookies (§2.6): when required, a request without a valid COOKIE gets a fresh one, a stateless
 *     28 + 8 + 36 octet answer, smaller than any acceptable request (no amplification), and no
 *     state; a COOKIE that does not verify is ignored as §2.6 says, i.e. answered with a new one;
 *  5. hard caps on half-open SAs, in all and per source address;
 *  6. unsupported critical payloads (§2.5), then proposals, KE group and the DH computation
 *     (tasks/ike-init.ts), which create the half-open SA.
 * The initiator's side hands over to IKE_AUTH.
 */
import type { Arrival } from './actions.js';
import type { IkeMessage, NotifyPayload } from './codec/types.js';
import { criticalUnknown } from './payload-checks.js';
import { ExchangeType, IKE_HEADER_LENGTH, NotifyType, PayloadType } from './constants.js';
import type { EngineContext, IkeSa } from './sa.js';
import { hex } from './spi.js';
import { processInitRequest, processInitResponse } from './tasks/ike-init.js';
import { sendAuthRequest } from './tasks/ike-auth.js';
import { notify, sendStatelessResponse } from './tasks/notify.js';
import { findPayload } from './codec/message.js';
import { logFlood } from './engine-context.js';
import { HalfOpenTable } from './half-open.js';
import type { EngineHost } from './engine-host.js';

/** An IKE_SA_INIT request by its header octets (exchange type at 18, flags at 19: R = 0x20). */
function isInitRequest(bytes: Uint8Array): boolean {
  return bytes.length >= IKE_HEADER_LENGTH && bytes[18] === ExchangeType.IKE_SA_INIT && (bytes[19]! & 0x20) === 0;
}

/** The first payload is a Notify of type COOKIE (§2.6 puts it first), read from the raw octets. */
function startsWithCookie(bytes: Uint8Array): boolean {
  return bytes.length >= IKE_HEADER_LENGTH + 8 && bytes[16] === PayloadType.NOTIFY && ((bytes[34]! << 8) | bytes[35]!) === NotifyType.COOKIE;
}

/**
 * Step 1, before the datagram is decoded. Returns 'drop' (counted) for an IKE_SA_INIT request over
 * its source's rate without a COOKIE, 'over' for one over the rate that carries a COOKIE (it may
 * pass only if the cookie verifies), 'ok' otherwise.
 */
export function initRateGate(engine: EngineHost, ctx: EngineContext, bytes: Uint8Array, arrival: Arrival): 'ok' | 'over' | 'drop' {
  if (!isInitRequest(bytes) || engine.guard.rate.take(arrival.from.address, ctx.now)) return 'ok';
  if (startsWithCookie(bytes)) return 'over';
  engine.drop('rate-limited');
  logFlood(ctx, 'rate-limited', 'warn', undefined, `IKE_SA_INIT from ${arrival.from.address} over its rate of ${engine.guard.limits.initRatePerSource}/s; dropped`);
  return 'drop';
}

export function onInitRequest(engine: EngineHost, ctx: EngineContext, msg: IkeMessage, bytes: Uint8Array, arrival: Arrival, overRate: boolean): void {
  const src = arrival.from.address;
  const key = HalfOpenTable.key(hex(msg.header.spiI), src, arrival.from.port);
  const known = engine.halfOpen.get(key);
  if (known) {
    // RFC 7296 §2.1: a retransmitted request gets the cached response, not a new SA.
    if (Buffer.compare(Buffer.from(known.initRequest), Buffer.from(bytes)) === 0) known.resendLastResponse(ctx);
    else engine.drop('unexpected');
    return;
  }
  const candidates = engine.tunnelList()
    .map((t) => t.config)
    .filter((c) => (!c.localAddress || c.localAddress === arrival.to.address) && (c.remoteAddress === '%any' || c.remoteAddress === src));
  if (candidates.length === 0) {
    engine.drop('no-tunnel');
    logFlood(ctx, 'no-tunnel', 'warn', undefined, `IKE_SA_INIT from ${src} to ${arrival.to.address} matches no tunnel; ignoring it`);
    return;
  }
  if (!passesCookieCheck(engine, ctx, msg, arrival, overRate)) return;
  const cap = engine.guard.overCap(src, engine.halfOpen);
  if (cap) {
    engine.drop(cap);
    const what = cap === 'half-open-limit' ? `${engine.halfOpen.size} half-open IKE SAs (limits.halfOpen)` : `${engine.halfOpen.from(src)} half-open IKE SAs from ${src} (limits.halfOpenPerSource)`;
    logFlood(ctx, 'half-open-limit', 'warn', undefined, `IKE_SA_INIT from ${src} dropped: ${what}`);
    return;
  }
  const critical = criticalUnknown(msg.payloads);
  if (critical !== null) {
    engine.drop('critical-payload');
    logFlood(ctx, 'critical-payload', 'warn', undefined, `IKE_SA_INIT from ${src} has unsupported critical payload ${critical}; answering UNSUPPORTED_CRITICAL_PAYLOAD`);
    sendStatelessResponse(ctx, msg.header, arrival, [notify(NotifyType.UNSUPPORTED_CRITICAL_PAYLOAD, Uint8Array.of(critical))]);
    return;
  }
  const sa = processInitRequest(ctx, candidates, msg, bytes, arrival);
  if (!sa) return;
  engine.addSa(sa);
  engine.halfOpen.add(key, sa, src);
}

/**
 * Step 4 (and the end of step 1): false when the request was answered with a COOKIE or dropped.
 * A request with a valid cookie proved return routability and passes even when cookies are
 * required or its source is over its rate (so spoofing a peer's address cannot lock it out).
 */
function passesCookieCheck(engine: EngineHost, ctx: EngineContext, msg: IkeMessage, arrival: Arrival, overRate: boolean): boolean {
  const src = arrival.from.address;
  const head = msg.payloads[0];
  const cookie = head?.type === PayloadType.NOTIFY && head.notifyType === NotifyType.COOKIE ? (head as NotifyPayload) : undefined;
  const nonce = findPayload(msg.payloads, PayloadType.NONCE);
  const input = nonce ? { ni: nonce.data, address: src, spiI: msg.header.spiI } : null;
  if (cookie && input && engine.guard.cookies.verify(cookie.data, input, ctx.now)) return true;
  const required = overRate || engine.guard.cookieRequired(src, engine.halfOpen, ctx.now);
  if (!required) return true; // §2.6: a cookie that does not match is ignored
  if (!input) {
    // No nonce: nothing to bind a cookie to, and an unproven sender gets no error answer. One
    // datagram, one reason: this one is malformed, not also a cookie or rate drop.
    engine.drop('malformed');
    return false;
  }
  if (cookie) {
    engine.drop('invalid-cookie');
    logFlood(ctx, 'cookie', 'info', undefined, `IKE_SA_INIT from ${src} carries a COOKIE we did not issue (or one that expired)${overRate ? '; over its rate, dropped' : '; answering with a new one'}`);
  } else if (overRate) {
    engine.drop('rate-limited');
  } else {
    engine.drop('cookie-required');
    logFlood(ctx, 'cookie', 'info', undefined, `IKE_SA_INIT from ${src}: answering with a COOKIE (RFC 7296 §2.6; ${engine.halfOpen.size} half-open IKE SAs)`);
  }
  if (overRate) return false;
  sendStatelessResponse(ctx, msg.header, arrival, [notify(NotifyType.COOKIE, engine.guard.cookies.issue(input, ctx.now))]);
  return false;
}

export function onInitResponse(engine: EngineHost, ctx: EngineContext, sa: IkeSa, msg: IkeMessage, bytes: Uint8Array, arrival: Arrival): void {
  if (sa.state !== 'init-sent' || !msg.header.response || msg.header.messageId !== 0) {
    engine.drop('unexpected');
    return;
  }
  if (criticalUnknown(msg.payloads) !== null) {
    engine.drop('critical-payload');
    ctx.log('error', sa.tunnel.name, 'IKE_SA_INIT response carries an unsupported critical payload; aborting (RFC 7296 §2.5)');
    engine.remove(ctx, sa, 'unsupported critical payload', true);
    return;
  }
  const outcome = processInitResponse(ctx, sa, msg, bytes, arrival);
  if (outcome === 'failed') engine.remove(ctx, sa, 'IKE_SA_INIT failed', true);
  else if (outcome === 'established-init') sendAuthRequest(ctx, sa);
}
