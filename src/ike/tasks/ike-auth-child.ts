/**
 * The first Child SA, negotiated inside IKE_AUTH (RFC 7296 §1.2, §2.9, §2.17): ESP in tunnel
 * mode, no KE (DH transforms are ignored there), traffic selectors narrowed by the responder.
 * Later Child SAs come from CREATE_CHILD_SA (child-create.ts).
 */
import { NotifyType, PayloadType, ProtocolId } from '../constants.js';
import type { Payload, TrafficSelector } from '../codec/types.js';
import { newChild, randomEspSpi } from '../child-sa.js';
import { acceptResponseProposal, describeProposals, selectProposal, toProposals, type Selection } from '../proposals.js';
import { isSubsetOf, narrow } from '../traffic-selectors.js';
import { selectorToString } from '../../config/cidr.js';
import type { EngineContext, IkeSa } from '../sa.js';
import { hex } from '../spi.js';
import type { ChildSa } from '../sa-types.js';
import { notify } from './notify.js';
import { findNotify, findPayload } from '../codec/message.js';

/** Initiator: SA, TSi, TSr for IKE_AUTH (and remember what we asked for). */
export function buildChildRequest(ctx: EngineContext, sa: IkeSa): Payload[] {
  const spiIn = randomEspSpi(ctx);
  const proposals = toProposals(sa.tunnel.espProposals, ProtocolId.ESP, spiIn, true);
  sa.pendingChild = { spiIn, proposals, tsi: sa.tunnel.localTs, tsr: sa.tunnel.remoteTs };
  return [
    { type: PayloadType.SA, proposals },
    { type: PayloadType.TSi, selectors: sa.tunnel.localTs },
    { type: PayloadType.TSr, selectors: sa.tunnel.remoteTs },
  ];
}

function makeChild(
  ctx: EngineContext,
  sa: IkeSa,
  sel: Selection,
  spiIn: Uint8Array,
  spiOut: Uint8Array,
  localTs: TrafficSelector[],
  remoteTs: TrafficSelector[],
): ChildSa {
  // IKE_AUTH: the nonces of IKE_SA_INIT, no KE; "i" is the IKE SA's initiator (RFC 7296 §2.17).
  return newChild(ctx, sa, { sel, spiIn, spiOut, localTs, remoteTs, ni: sa.nonceI, nr: sa.nonceR, weInitiated: sa.initiator, active: true });
}

export type ChildAnswer = { payloads: Payload[]; child: ChildSa | null };

/**
 * Responder: choose an ESP proposal and narrow the selectors. A failure here does not fail the
 * IKE SA: the response carries the error notify instead of SA/TS (RFC 7296 §2.21.3).
 */
export function answerChildRequest(ctx: EngineContext, sa: IkeSa, req: Payload[]): ChildAnswer {
  const name = sa.tunnel.name;
  const saP = findPayload(req, PayloadType.SA);
  const tsi = findPayload(req, PayloadType.TSi);
  const tsr = findPayload(req, PayloadType.TSr);
  if (!saP || !tsi || !tsr) {
    // Childless request (RFC 6023) or a broken one: the IKE SA stands, no Child SA.
    ctx.log('warn', name, 'IKE_AUTH carries no Child SA request (SA/TSi/TSr missing)');
    return { payloads: [], child: null };
  }
  if (findNotify(req, NotifyType.USE_TRANSPORT_MODE)) {
    ctx.log('error', name, 'peer asked for transport mode; only tunnel mode is supported');
    return { payloads: [notify(NotifyType.NO_PROPOSAL_CHOSEN)], child: null };
  }
  const sel = selectProposal(sa.tunnel.espProposals, saP.proposals, { protocol: ProtocolId.ESP, skipDh: true });
  if (!sel || sel.spi.length !== 4) {
    ctx.log('error', name, `NO_PROPOSAL_CHOSEN for the Child SA: peer offered ${describeProposals(saP.proposals)}; we accept ${describeProposals(sa.tunnel.espProposals)}`);
    return { payloads: [notify(NotifyType.NO_PROPOSAL_CHOSEN)], child: null };
  }
  // TSi is the initiator's side: our remote side as responder.
  const remote = narrow(tsi.selectors, sa.tunnel.remoteTs);
  const local = narrow(tsr.selectors, sa.tunnel.localTs);
  if (remote.length === 0 || local.length === 0) {
    ctx.log('error', name, `TS_UNACCEPTABLE: peer proposed TSi ${tsi.selectors.map(selectorToString).join(',')} TSr ${tsr.selectors.map(selectorToString).join(',')}; we allow local ${sa.tunnel.localTs.map(selectorToString).join(',')} remote ${sa.tunnel.remoteTs.map(selectorToString).join(',')}`);
    return { payloads: [notify(NotifyType.TS_UNACCEPTABLE)], child: null };
  }
  const spiIn = randomEspSpi(ctx);
  const child = makeChild(ctx, sa, sel, spiIn, sel.spi, local, remote);
  return {
    child,
    payloads: [
      { type: PayloadType.SA, proposals: [{ num: sel.num, protocol: ProtocolId.ESP, spi: spiIn, transforms: sel.transforms }] },
      { type: PayloadType.TSi, selectors: remote },
      { type: PayloadType.TSr, selectors: local },
    ],
  };
}

/** Initiator: the Child SA part of the IKE_AUTH response. Returns null (and logs why) on failure. */
export function acceptChildResponse(ctx: EngineContext, sa: IkeSa, resp: Payload[]): ChildSa | null {
  const name = sa.tunnel.name;
  const pending = sa.pendingChild;
  sa.pendingChild = null;
  if (!pending) return null;
  if (findNotify(resp, NotifyType.NO_PROPOSAL_CHOSEN)) {
    ctx.log('error', name, `NO_PROPOSAL_CHOSEN for the Child SA: the peer accepted none of our ESP proposals; we offered: ${describeProposals(sa.tunnel.espProposals)}`);
    return null;
  }
  if (findNotify(resp, NotifyType.TS_UNACCEPTABLE)) {
    ctx.log('error', name, `TS_UNACCEPTABLE: the peer refused our traffic selectors local ${pending.tsi.map(selectorToString).join(',')} remote ${pending.tsr.map(selectorToString).join(',')}; make localTs/remoteTs match the peer's policy (a peer that failed to install the SA, e.g. strongSwan whose kernel interface refused it, may also answer TS_UNACCEPTABLE: check its log)`);
    return null;
  }
  const saP = findPayload(resp, PayloadType.SA);
  const tsi = findPayload(resp, PayloadType.TSi);
  const tsr = findPayload(resp, PayloadType.TSr);
  if (!saP || !tsi || !tsr) {
    ctx.log('error', name, 'IKE_AUTH response has no Child SA (SA/TSi/TSr missing)');
    return null;
  }
  const sel = acceptResponseProposal(sa.tunnel.espProposals, saP.proposals, { protocol: ProtocolId.ESP, skipDh: true });
  if (!sel || sel.spi.length !== 4) {
    ctx.log('error', name, 'the peer chose an ESP proposal we did not offer; not installing the Child SA');
    return null;
  }
  if (!isSubsetOf(tsi.selectors, pending.tsi) || !isSubsetOf(tsr.selectors, pending.tsr)) {
    ctx.log('error', name, 'the peer answered with traffic selectors wider than we proposed; not installing the Child SA');
    return null;
  }
  ctx.log('debug', name, `child SA selected`, { spiIn: hex(pending.spiIn), spiOut: hex(sel.spi) });
  return makeChild(ctx, sa, sel, pending.spiIn, sel.spi, tsi.selectors, tsr.selectors);
}
