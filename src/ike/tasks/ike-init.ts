/**
 * IKE_SA_INIT (RFC 7296 §1.2): proposals, key exchange, nonces, NAT detection, COOKIE (§2.6)
 * and INVALID_KE_PAYLOAD (§1.2) on both sides, then SKEYSEED and the SK_* keys (§2.14).
 */
import { ExchangeType, NotifyType, PayloadType, ProtocolId, notifyName, isErrorNotify } from '../constants.js';
import type { IkeMessage, Payload } from '../codec/types.js';
import type { Arrival } from '../actions.js';
import type { TunnelConfig } from '../../config/types.js';
import { createKeyExchange } from '../crypto/dh.js';
import { deriveIkeKeys } from '../crypto/keymat.js';
import { createSkCipher } from '../crypto/sk-cipher.js';
import { DhPeerValueError } from '../crypto/types.js';
import { acceptResponseProposal, describeProposals, firstDhGroup, offersDhGroup, selectProposal, toProposals } from '../proposals.js';
import { checkNat, sourceHash, natHash } from '../natd.js';
import { IkeSa, type EngineContext } from '../sa.js';
import type { RetransmitPolicy } from '../retransmit.js';
import { exportIkeKeys } from '../key-export.js';
import { notify, readU16, sendStatelessResponse, u16 } from './notify.js';
import { findNotifies, findNotify, findPayload } from '../codec/message.js';
import { logFlood } from '../engine-context.js';

/** RFC 7296 §2.10: at least 128 bits and at least half the PRF key size; 32 octets covers SHA2-512. */
export const NONCE_LENGTH = 32;

/**
 * COOKIE rounds one initiation follows (strongSwan ike_init.c: MAX_RETRIES 5). A responder may
 * send a new cookie when it rotated its secret or did not recognise ours (§2.6); a bound keeps a
 * forged or broken responder from holding us in the loop.
 */
export const MAX_COOKIE_ROUNDS = 5;

/**
 * Whether we make the peer encapsulate ESP in UDP even without a NAT: `natT: force`, or a
 * datapath that can only carry ESP-in-UDP (ours, like strongSwan's kernel-libipsec).
 */
function forcesEncap(ctx: EngineContext, tunnel: TunnelConfig): boolean {
  return tunnel.natT === 'force' || ctx.udpEncapsulationOnly;
}

function natdPayloads(sa: IkeSa, forceEncap: boolean): Payload[] {
  const spiR = sa.initiator ? new Uint8Array(8) : sa.spiR;
  return [
    notify(NotifyType.NAT_DETECTION_SOURCE_IP, sourceHash(sa.spiI, spiR, sa.local, forceEncap)),
    notify(NotifyType.NAT_DETECTION_DESTINATION_IP, natHash(sa.spiI, spiR, sa.remote)),
  ];
}

/** Build and send (or re-send, after COOKIE / INVALID_KE) the initiator's IKE_SA_INIT request. */
export function sendInitRequest(ctx: EngineContext, sa: IkeSa, group: number): void {
  if (!sa.ke || sa.ke.group !== group) {
    sa.ke?.wipe();
    sa.ke = createKeyExchange(group);
  }
  if (sa.nonceI.length === 0) sa.nonceI = ctx.random(NONCE_LENGTH);
  const payloads: Payload[] = [];
  // RFC 7296 §2.6: the cookie goes first, everything else unchanged.
  if (sa.cookie) payloads.push(notify(NotifyType.COOKIE, sa.cookie));
  payloads.push(
    { type: PayloadType.SA, proposals: toProposals(sa.tunnel.ikeProposals, ProtocolId.IKE, new Uint8Array(0)) },
    { type: PayloadType.KE, group, data: sa.ke.publicValue },
    { type: PayloadType.NONCE, data: sa.nonceI },
    ...natdPayloads(sa, forcesEncap(ctx, sa.tunnel)),
  );
  // RFC 7383 §2.3: offer fragmentation.
  if (sa.tunnel.fragmentation === 'auto') payloads.push(notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED));
  sa.nextRequestId = 0;
  sa.initRequest = sa.sendRequest(ctx, ExchangeType.IKE_SA_INIT, payloads, false);
}

export function startInitiator(ctx: EngineContext, tunnel: TunnelConfig, local: { address: string }, remote: { address: string }, policy?: RetransmitPolicy): IkeSa | null {
  const group = firstDhGroup(tunnel.ikeProposals);
  if (group === null) {
    ctx.log('error', tunnel.name, 'no DH group in the IKE proposals; add one (e.g. modp2048s256)');
    return null;
  }
  const sa = new IkeSa(tunnel, true, ctx.random(8), { address: local.address, port: 500 }, { address: remote.address, port: 500 }, ctx.now);
  if (policy) sa.policy = policy;
  sendInitRequest(ctx, sa, group);
  ctx.log('info', tunnel.name, `initiating IKE_SA to ${remote.address}`, { spiI: Buffer.from(sa.spiI).toString('hex') });
  return sa;
}

function deriveKeys(sa: IkeSa, sharedSecret: Uint8Array): void {
  const s = sa.suite!;
  const keys = deriveIkeKeys({
    prfId: s.prfId,
    encrId: s.encrId,
    encrKeyBits: s.encrKeyBits,
    integId: s.integId,
    ni: sa.nonceI,
    nr: sa.nonceR,
    spiI: sa.spiI,
    spiR: sa.spiR,
    sharedSecret,
  });
  sharedSecret.fill(0);
  sa.keys = keys;
  const cipher = (encrKey: Uint8Array, integKey: Uint8Array) =>
    createSkCipher({ encrId: s.encrId, encrKeyBits: s.encrKeyBits, integId: s.integId, encrKey, integKey });
  const i = cipher(keys.skEi, keys.skAi);
  const r = cipher(keys.skEr, keys.skAr);
  sa.cipherOut = sa.initiator ? i : r;
  sa.cipherIn = sa.initiator ? r : i;
}

function applyNat(ctx: EngineContext, sa: IkeSa, payloads: Payload[], arrival: Arrival): void {
  const src = findNotifies(payloads).filter((n) => n.notifyType === NotifyType.NAT_DETECTION_SOURCE_IP).map((n) => n.data);
  const dst = findNotify(payloads, NotifyType.NAT_DETECTION_DESTINATION_IP)?.data;
  const spiR = sa.initiator ? sa.spiR : new Uint8Array(8);
  const nat = checkNat(sa.spiI, spiR, arrival.from, arrival.to, src, dst);
  sa.natDetected = nat !== null && (nat.peerBehindNat || nat.selfBehindNat);
  sa.selfBehindNat = nat !== null && nat.selfBehindNat;
  const forced = forcesEncap(ctx, sa.tunnel);
  sa.encap = sa.natDetected || forced;
  if (nat) {
    ctx.log('debug', sa.tunnel.name, 'NAT detection', { peerBehindNat: nat.peerBehindNat, selfBehindNat: nat.selfBehindNat, forced });
  }
}

export type InitOutcome = 'established-init' | 'retrying' | 'failed' | 'ignored';

/** Initiator: handle the IKE_SA_INIT response. */
export function processInitResponse(ctx: EngineContext, sa: IkeSa, msg: IkeMessage, bytes: Uint8Array, arrival: Arrival): InitOutcome {
  const p = msg.payloads;
  const name = sa.tunnel.name;
  const cookie = findNotify(p, NotifyType.COOKIE);
  if (cookie) {
    // §3.10.1: 1..64 octets. The same cookie again answers a retransmission we already followed.
    const same = sa.cookie !== null && Buffer.compare(Buffer.from(sa.cookie), Buffer.from(cookie.data)) === 0;
    if (cookie.data.length < 1 || cookie.data.length > 64 || same || sa.cookieRounds >= MAX_COOKIE_ROUNDS) {
      ctx.log(same ? 'debug' : 'warn', name, same ? 'the responder repeated its COOKIE; already retried with it' : `ignoring COOKIE: ${sa.cookieRounds >= MAX_COOKIE_ROUNDS ? `already ${MAX_COOKIE_ROUNDS} cookie rounds` : 'bad length'}`);
      return 'ignored';
    }
    sa.cookie = cookie.data;
    sa.cookieRounds++;
    ctx.log('info', name, `responder asked for a${sa.cookieRounds > 1 ? ' new' : ''} COOKIE; retrying IKE_SA_INIT with it (RFC 7296 §2.6)`);
    sendInitRequest(ctx, sa, sa.ke!.group);
    return 'retrying';
  }
  const invalidKe = findNotify(p, NotifyType.INVALID_KE_PAYLOAD);
  if (invalidKe) {
    const group = readU16(invalidKe.data);
    if (group === null || group === sa.ke?.group || !offersDhGroup(sa.tunnel.ikeProposals, group)) {
      ctx.log('error', name, `INVALID_KE_PAYLOAD asks for DH group ${group ?? '?'} which we did not offer; check the IKE proposals on both sides`);
      return 'failed';
    }
    ctx.log('info', name, `responder wants DH group ${group}; retrying IKE_SA_INIT (INVALID_KE_PAYLOAD)`);
    sa.cookie = null;
    sendInitRequest(ctx, sa, group);
    return 'retrying';
  }
  const err = findNotifies(p).find((n) => isErrorNotify(n.notifyType));
  if (err) {
    if (err.notifyType === NotifyType.NO_PROPOSAL_CHOSEN) {
      // The peer's refusal: a warning (the tunnel retries; the status and its check say it is down).
      ctx.log('warn', name, `NO_PROPOSAL_CHOSEN: ${arrival.from.address} accepted none of our IKE proposals; we offered: ${describeProposals(sa.tunnel.ikeProposals)}`);
    } else {
      ctx.log('warn', name, `IKE_SA_INIT rejected by ${arrival.from.address}: ${notifyName(err.notifyType)}`);
    }
    return 'failed';
  }
  const saP = findPayload(p, PayloadType.SA);
  const ke = findPayload(p, PayloadType.KE);
  const nonce = findPayload(p, PayloadType.NONCE);
  if (!saP || !ke || !nonce || nonce.data.length < 16 || nonce.data.length > 256) {
    ctx.log('error', name, 'IKE_SA_INIT response lacks SA, KE or a valid Nonce; dropping it');
    return 'ignored';
  }
  const sel = acceptResponseProposal(sa.tunnel.ikeProposals, saP.proposals, { protocol: ProtocolId.IKE });
  if (!sel || sel.suite.dhId !== sa.ke!.group || ke.group !== sa.ke!.group) {
    ctx.log('error', name, 'the responder chose an IKE proposal or DH group we did not offer; aborting');
    return 'failed';
  }
  sa.suite = sel.suite;
  sa.spiR = new Uint8Array(msg.header.spiR);
  sa.nonceR = new Uint8Array(nonce.data);
  sa.initResponse = bytes;
  let shared: Uint8Array;
  try {
    shared = sa.ke!.computeShared(ke.data);
  } catch (e) {
    ctx.log('error', name, `the responder's KE value is invalid: ${e instanceof Error ? e.message : String(e)}`);
    return 'failed';
  }
  deriveKeys(sa, shared);
  // Exported now, not at IKE_AUTH's end: a capture of a failing IKE_AUTH is the one most worth
  // decrypting (strongSwan's save-keys does the same). The responder exports when the first
  // IKE_AUTH request authenticates (receive.ts), so a flood of IKE_SA_INITs writes nothing.
  exportIkeKeys(ctx, sa);
  sa.ke!.wipe();
  sa.ke = null;
  sa.outstanding = null;
  applyNat(ctx, sa, p, arrival);
  sa.fragmentation = sa.tunnel.fragmentation === 'auto' && findNotify(p, NotifyType.IKEV2_FRAGMENTATION_SUPPORTED) !== undefined;
  return 'established-init';
}

export interface ResponderInitResult {
  sa: IkeSa | null;
}

/** Responder: answer an IKE_SA_INIT request, creating a half-open SA when we accept it. */
export function processInitRequest(
  ctx: EngineContext,
  candidates: TunnelConfig[],
  msg: IkeMessage,
  bytes: Uint8Array,
  arrival: Arrival,
): IkeSa | null {
  const p = msg.payloads;
  const tunnel = candidates[0]!;
  const saP = findPayload(p, PayloadType.SA);
  const ke = findPayload(p, PayloadType.KE);
  const nonce = findPayload(p, PayloadType.NONCE);
  if (!saP || !ke || !nonce || nonce.data.length < 16 || nonce.data.length > 256) {
    logFlood(ctx, 'init-syntax', 'warn', tunnel.name, `IKE_SA_INIT from ${arrival.from.address} lacks SA, KE or a valid Nonce; answering INVALID_SYNTAX`);
    sendStatelessResponse(ctx, msg.header, arrival, [notify(NotifyType.INVALID_SYNTAX)]);
    return null;
  }
  let chosen = null;
  let chosenTunnel = tunnel;
  for (const t of candidates) {
    chosen = selectProposal(t.ikeProposals, saP.proposals, { protocol: ProtocolId.IKE, preferDh: ke.group });
    if (chosen) {
      chosenTunnel = t;
      break;
    }
  }
  if (!chosen) {
    // A scanner (ike-scan) or a misconfigured peer: a warning, not an error of ours.
    logFlood(ctx, 'no-proposal', 'warn', tunnel.name, `NO_PROPOSAL_CHOSEN: ${arrival.from.address} offered ${describeProposals(saP.proposals)}; we accept ${describeProposals(tunnel.ikeProposals)}`);
    sendStatelessResponse(ctx, msg.header, arrival, [notify(NotifyType.NO_PROPOSAL_CHOSEN)]);
    return null;
  }
  if (chosen.suite.dhId !== ke.group) {
    logFlood(ctx, 'invalid-ke', 'info', chosenTunnel.name, `peer sent KE for DH group ${ke.group}; asking for group ${chosen.suite.dhId} (INVALID_KE_PAYLOAD)`);
    sendStatelessResponse(ctx, msg.header, arrival, [notify(NotifyType.INVALID_KE_PAYLOAD, u16(chosen.suite.dhId))]);
    return null;
  }
  const sa = new IkeSa(chosenTunnel, false, new Uint8Array(msg.header.spiI), { ...arrival.to }, { ...arrival.from }, ctx.now);
  sa.candidates = candidates;
  sa.natT = arrival.natT;
  sa.spiR = ctx.random(8);
  sa.suite = chosen.suite;
  sa.nonceI = new Uint8Array(nonce.data);
  sa.nonceR = ctx.random(NONCE_LENGTH);
  sa.initRequest = bytes;
  const kex = createKeyExchange(chosen.suite.dhId);
  let shared: Uint8Array;
  try {
    shared = kex.computeShared(ke.data);
  } catch (e) {
    kex.wipe();
    const why = e instanceof DhPeerValueError ? e.message : 'invalid KE payload';
    logFlood(ctx, 'dh-rejected', 'warn', chosenTunnel.name, `rejecting IKE_SA_INIT from ${arrival.from.address}: ${why}`);
    sendStatelessResponse(ctx, msg.header, arrival, [notify(NotifyType.INVALID_SYNTAX)]);
    return null;
  }
  kex.wipe(); // publicValue stays readable; the private value is no longer needed
  applyNat(ctx, sa, p, arrival);
  const response: Payload[] = [
    { type: PayloadType.SA, proposals: [{ num: chosen.num, protocol: ProtocolId.IKE, spi: new Uint8Array(0), transforms: chosen.transforms }] },
    { type: PayloadType.KE, group: chosen.suite.dhId, data: kex.publicValue },
    { type: PayloadType.NONCE, data: sa.nonceR },
    ...natdPayloads(sa, forcesEncap(ctx, chosenTunnel)),
  ];
  if (chosenTunnel.fragmentation === 'auto' && findNotify(p, NotifyType.IKEV2_FRAGMENTATION_SUPPORTED)) {
    response.push(notify(NotifyType.IKEV2_FRAGMENTATION_SUPPORTED));
    sa.fragmentation = true;
  }
  sa.initResponse = sa.sendResponse(ctx, ExchangeType.IKE_SA_INIT, msg.header.messageId, response, false);
  deriveKeys(sa, shared);
  return sa;
}
