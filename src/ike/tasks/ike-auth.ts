/**
 * IKE_AUTH with pre-shared keys (RFC 7296 §1.2, §2.15): identities, AUTH over the IKE_SA_INIT
 * messages, and the first Child SA. A failed AUTH never installs anything.
 */
import { AuthMethod, ExchangeType, NotifyType, PayloadType, isErrorNotify, notifyName } from '../constants.js';
import type { IdPayload, Payload } from '../codec/types.js';
import { idBody } from '../codec/payloads/id.js';
import { constantTimeEqual, pskAuthData } from '../crypto/psk-auth.js';
import type { Identity, TunnelConfig } from '../../config/types.js';
import type { EngineContext, IkeSa } from '../sa.js';
import { acceptChildResponse, answerChildRequest, buildChildRequest, type ChildAnswer } from './ike-auth-child.js';
import { notify } from './notify.js';
import { findNotifies, findNotify, findPayload } from '../codec/message.js';
import { logFlood } from '../engine-context.js';
import type { ChildSa } from '../sa-types.js';

function idPayload(type: typeof PayloadType.IDi | typeof PayloadType.IDr, id: Identity): IdPayload {
  return { type, idType: id.idType, data: id.data };
}

function sameId(a: Identity, p: IdPayload): boolean {
  return a.idType === p.idType && Buffer.compare(Buffer.from(a.data), Buffer.from(p.data)) === 0;
}

/** How an ID payload is shown in logs: "192.0.2.1", "fqdn:gw.example", "keyid:0a0b". */
export function showId(p: IdPayload): string {
  const d = Buffer.from(p.data);
  switch (p.idType) {
    case 1:
      return d.length === 4 ? Array.from(d).join('.') : `ipv4:${d.toString('hex')}`;
    case 2:
      return `fqdn:${d.toString('latin1')}`;
    case 3:
      return `email:${d.toString('latin1')}`;
    case 11:
      return `keyid:${d.toString('hex')}`;
    default:
      return `id${p.idType}:${d.toString('hex')}`;
  }
}

function authFor(sa: IkeSa, psk: Uint8Array, ours: boolean, id: IdPayload): Uint8Array {
  // RFC 7296 §2.15: each side signs its own IKE_SA_INIT message, the peer's nonce and prf(SK_p, ID).
  const sentByInitiator = sa.initiator === ours;
  return pskAuthData({
    prfId: sa.suite!.prfId,
    psk,
    realMessage: sentByInitiator ? sa.initRequest : sa.initResponse,
    peerNonce: sentByInitiator ? sa.nonceR : sa.nonceI,
    skP: sentByInitiator ? sa.keys!.skPi : sa.keys!.skPr,
    idBody: idBody(id),
  });
}

/** Initiator: float to 4500 if needed and send IKE_AUTH. */
export function sendAuthRequest(ctx: EngineContext, sa: IkeSa): void {
  if (sa.encap && !sa.natT) {
    // RFC 7296 §2.23: after NAT is detected, move to port 4500 from IKE_AUTH on.
    sa.natT = true;
    sa.remote = { address: sa.remote.address, port: 4500 };
    sa.local = { address: sa.local.address, port: 4500 };
  }
  const idi = idPayload(PayloadType.IDi, sa.tunnel.localId);
  // RFC 7296 §2.4: INITIAL_CONTACT in the first IKE_AUTH when we hold no other IKE SA with the peer.
  const payloads: Payload[] = sa.initialContact ? [idi, notify(NotifyType.INITIAL_CONTACT)] : [idi];
  if (sa.tunnel.remoteId) payloads.push(idPayload(PayloadType.IDr, sa.tunnel.remoteId));
  payloads.push({ type: PayloadType.AUTH, method: AuthMethod.SHARED_KEY_MIC, data: authFor(sa, sa.tunnel.psk.reveal(), true, idi) });
  payloads.push(...buildChildRequest(ctx, sa));
  sa.state = 'auth-sent';
  sa.sendRequest(ctx, ExchangeType.IKE_AUTH, payloads, true);
}

export type AuthOutcome = { ok: true; child: ChildSa | null } | { ok: false };

/** Responder: authenticate the initiator, pick the tunnel its identity belongs to, answer. */
export function processAuthRequest(ctx: EngineContext, sa: IkeSa, messageId: number, req: Payload[]): AuthOutcome {
  const idi = findPayload(req, PayloadType.IDi);
  const auth = findPayload(req, PayloadType.AUTH);
  const idr = findPayload(req, PayloadType.IDr);
  const fail = (why: string): AuthOutcome => {
    logFlood(ctx, 'auth-failed', 'error', sa.tunnel.name, `AUTHENTICATION_FAILED: ${why}`, { peer: sa.remote.address });
    sa.sendResponse(ctx, ExchangeType.IKE_AUTH, messageId, [notify(NotifyType.AUTHENTICATION_FAILED)], true);
    return { ok: false };
  };
  if (!idi || !auth) return fail('IKE_AUTH request without IDi or AUTH (EAP is not supported)');
  if (auth.method !== AuthMethod.SHARED_KEY_MIC) {
    return fail(`peer ${showId(idi)} uses auth method ${auth.method}; only pre-shared keys (method 2) are supported`);
  }
  sa.peerId = showId(idi);
  const byId = (t: TunnelConfig) => t.remoteId === null || sameId(t.remoteId, idi);
  let matches = sa.candidates.filter(byId);
  if (idr) {
    const exact = matches.filter((t) => sameId(t.localId, idr));
    if (exact.length > 0) matches = exact;
  }
  if (matches.length === 0) {
    return fail(`no tunnel accepts peer identity ${showId(idi)} from ${sa.remote.address}; set remoteId to it (or %any)`);
  }
  const tunnel = matches.find((t) => constantTimeEqual(authFor(sa, t.psk.reveal(), false, idi), auth.data));
  if (!tunnel) {
    return fail(`peer ${showId(idi)} at ${sa.remote.address} did not prove the pre-shared key; check that both sides use the same PSK`);
  }
  sa.tunnel = tunnel;
  const ourId = idPayload(PayloadType.IDr, tunnel.localId);
  const child: ChildAnswer = answerChildRequest(ctx, sa, req);
  const resp: Payload[] = [
    ourId,
    { type: PayloadType.AUTH, method: AuthMethod.SHARED_KEY_MIC, data: authFor(sa, tunnel.psk.reveal(), true, ourId) },
    ...child.payloads,
  ];
  sa.sendResponse(ctx, ExchangeType.IKE_AUTH, messageId, resp, true);
  return { ok: true, child: child.child };
}

/** Initiator: check the responder's identity and AUTH, then the Child SA. */
export function processAuthResponse(ctx: EngineContext, sa: IkeSa, resp: Payload[]): AuthOutcome {
  const name = sa.tunnel.name;
  if (findNotify(resp, NotifyType.AUTHENTICATION_FAILED)) {
    ctx.log('error', name, `AUTHENTICATION_FAILED: ${sa.remote.address} rejected our authentication; check the PSK and that our ID (${sa.tunnel.localId.display}) is what the peer expects`);
    return { ok: false };
  }
  const idr = findPayload(resp, PayloadType.IDr);
  const auth = findPayload(resp, PayloadType.AUTH);
  if (!idr || !auth) {
    const err = findNotifies(resp).find((n) => isErrorNotify(n.notifyType));
    ctx.log('error', name, `IKE_AUTH failed: ${err ? notifyName(err.notifyType) : 'response lacks IDr or AUTH'}`);
    return { ok: false };
  }
  sa.peerId = showId(idr);
  if (sa.tunnel.remoteId && !sameId(sa.tunnel.remoteId, idr)) {
    ctx.log('error', name, `AUTHENTICATION_FAILED: responder identified as ${showId(idr)}, expected ${sa.tunnel.remoteId.display}; fix remoteId`);
    return { ok: false };
  }
  if (auth.method !== AuthMethod.SHARED_KEY_MIC || !constantTimeEqual(authFor(sa, sa.tunnel.psk.reveal(), false, idr), auth.data)) {
    ctx.log('error', name, `AUTHENTICATION_FAILED: responder ${showId(idr)} did not prove the pre-shared key; check that both sides use the same PSK`);
    return { ok: false };
  }
  return { ok: true, child: acceptChildResponse(ctx, sa, resp) };
}
