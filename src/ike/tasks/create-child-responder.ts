/**
 * The responder's half of CREATE_CHILD_SA for Child SAs (RFC 7296 §1.3.1, §1.3.3, §2.8,
 * §2.25): checks in the order §2.25 asks (IKE SA busy → TEMPORARY_FAILURE, unknown SA →
 * CHILD_SA_NOT_FOUND, SA being deleted → TEMPORARY_FAILURE), proposal and KE group (§1.3:
 * INVALID_KE_PAYLOAD), then the new SA, installed inbound-only until the rekey initiator's Delete
 * of the old SA switches it on (child-sa.ts activateReplacement; strongSwan ≥ 5.8 does the same).
 */
import { DhId, NotifyType, PayloadType, ProtocolId } from '../constants.js';
import type { Payload } from '../codec/types.js';
import { createKeyExchange } from '../crypto/dh.js';
import type { KeyExchange } from '../crypto/types.js';
import { describeProposals, selectProposal } from '../proposals.js';
import { narrow } from '../traffic-selectors.js';
import { ACTIVATE_FALLBACK_MS, installChild, lowerNonce, newChild, randomEspSpi, rekeyTemplates } from '../child-sa.js';
import type { EngineContext, IkeSa } from '../sa.js';
import { spiHex } from '../spi.js';
import type { ChildSa } from '../sa-types.js';
import { NONCE_LENGTH } from './ike-init.js';
import { notify, u16 } from './notify.js';
import { findNotify, findPayload } from '../codec/message.js';
import { logFlood } from '../engine-context.js';

function ikeDh(sa: IkeSa): number {
  return sa.suite?.dhId ?? DhId.NONE;
}

/** Responder: answer a CREATE_CHILD_SA request for a Child SA. Returns the response payloads. */
export function answerCreateChild(ctx: EngineContext, sa: IkeSa, req: Payload[]): Payload[] {
  const name = sa.tunnel.name;
  const rekey = findNotify(req, NotifyType.REKEY_SA);
  if (sa.rekeying || sa.state !== 'established') {
    // §2.25.2: we are rekeying (or deleting) the IKE SA.
    ctx.log('info', name, 'peer asked for CREATE_CHILD_SA while we rekey or delete the IKE SA; answering TEMPORARY_FAILURE');
    return [notify(NotifyType.TEMPORARY_FAILURE)];
  }
  let old: ChildSa | undefined;
  if (rekey) {
    const spi = rekey.spi.length === 4 ? Buffer.from(rekey.spi).readUInt32BE(0) : -1;
    old = sa.childByOut(spi);
    if (!old) {
      ctx.log('info', name, `peer asked to rekey a Child SA we do not have (SPI ${spi >= 0 ? spiHex(spi) : '?'}); answering CHILD_SA_NOT_FOUND (RFC 7296 §2.25)`);
      return [notify(NotifyType.CHILD_SA_NOT_FOUND, new Uint8Array(0), ProtocolId.ESP, rekey.spi)];
    }
    if (old.state === 'deleting' || old.state === 'rekeyed') {
      ctx.log('info', name, 'peer asked to rekey a Child SA we are deleting; answering TEMPORARY_FAILURE (RFC 7296 §2.25.1)', { spiIn: spiHex(old.info.spiIn) });
      return [notify(NotifyType.TEMPORARY_FAILURE)];
    }
  } else if (sa.children.some((c) => c.state !== 'rekeyed' && c.state !== 'deleting')) {
    ctx.log('info', name, 'peer asked for an additional Child SA; one per tunnel is supported, answering NO_ADDITIONAL_SAS');
    return [notify(NotifyType.NO_ADDITIONAL_SAS)];
  }
  const saP = findPayload(req, PayloadType.SA);
  const nonce = findPayload(req, PayloadType.NONCE);
  const tsi = findPayload(req, PayloadType.TSi);
  const tsr = findPayload(req, PayloadType.TSr);
  const ke = findPayload(req, PayloadType.KE);
  if (!saP || !nonce || nonce.data.length < 16 || nonce.data.length > 256 || !tsi || !tsr) {
    ctx.log('warn', name, 'CREATE_CHILD_SA request lacks SA, Nonce or TS; answering INVALID_SYNTAX');
    return [notify(NotifyType.INVALID_SYNTAX)];
  }
  const templates = rekeyTemplates(sa.tunnel, ikeDh(sa));
  const sel = selectProposal(templates, saP.proposals, { protocol: ProtocolId.ESP, ...(ke ? { preferDh: ke.group } : {}) });
  if (!sel || sel.spi.length !== 4) {
    ctx.log('error', name, `NO_PROPOSAL_CHOSEN for the Child SA rekey: peer offered ${describeProposals(saP.proposals)}; we accept ${describeProposals(templates)} (check pfs on both sides)`);
    return [notify(NotifyType.NO_PROPOSAL_CHOSEN)];
  }
  if (sel.suite.dhId !== DhId.NONE && (!ke || ke.group !== sel.suite.dhId)) {
    // §1.3: the responder MUST reject a KE of another group and say which one it wants.
    ctx.log('info', name, `peer's Child SA rekey KE is group ${ke?.group ?? 'none'}; asking for group ${sel.suite.dhId} (INVALID_KE_PAYLOAD)`);
    return [notify(NotifyType.INVALID_KE_PAYLOAD, u16(sel.suite.dhId))];
  }
  const remote = narrow(tsi.selectors, sa.tunnel.remoteTs);
  const local = narrow(tsr.selectors, sa.tunnel.localTs);
  if (remote.length === 0 || local.length === 0) {
    ctx.log('error', name, 'TS_UNACCEPTABLE for the Child SA rekey');
    return [notify(NotifyType.TS_UNACCEPTABLE)];
  }
  let kex: KeyExchange | null = null;
  let shared: Uint8Array | undefined;
  if (sel.suite.dhId !== DhId.NONE) {
    kex = createKeyExchange(sel.suite.dhId);
    try {
      shared = kex.computeShared(ke!.data);
    } catch (e) {
      // RFC 6989: a peer value that fails the checks ends the exchange, nothing is installed.
      logFlood(ctx, 'dh-rejected', 'warn', name, `rejecting CREATE_CHILD_SA: ${e instanceof Error ? e.message : String(e)}`);
      return [notify(NotifyType.INVALID_SYNTAX)];
    } finally {
      kex.wipe();
    }
  }
  const spiIn = randomEspSpi(ctx);
  const nr = ctx.random(NONCE_LENGTH);
  const fresh = newChild(ctx, sa, {
    sel, spiIn, spiOut: sel.spi, localTs: local, remoteTs: remote, ni: nonce.data, nr,
    ...(shared ? { shared } : {}), weInitiated: false, active: !old,
  });
  sa.children.push(fresh);
  installChild(ctx, fresh);
  if (old) {
    old.replacedBy = fresh.info.spiIn;
    // Our own rekey of this SA is in flight: a collision, resolved when its answer comes (§2.8.1).
    if (sa.outstanding?.task?.rekeysChild === old.info.spiIn) {
      old.passive = { spiIn: fresh.info.spiIn, lowerNonce: lowerNonce(nonce.data, nr) };
    } else old.state = 'rekeyed';
    sa.addTimer({ kind: 'activate-child', at: ctx.now + ACTIVATE_FALLBACK_MS, spiIn: fresh.info.spiIn });
    ctx.log('info', name, 'answered Child SA rekey; new SA inbound-only until the peer deletes the old one', { oldSpiIn: spiHex(old.info.spiIn), spiIn: spiHex(fresh.info.spiIn) });
  } else {
    ctx.actions.push({ kind: 'event', event: { type: 'child-up', tunnel: name, spiIn: spiHex(fresh.info.spiIn), spiOut: spiHex(fresh.info.spiOut) } });
  }
  const resp: Payload[] = [
    { type: PayloadType.SA, proposals: [{ num: sel.num, protocol: ProtocolId.ESP, spi: spiIn, transforms: sel.transforms }] },
    { type: PayloadType.NONCE, data: nr },
  ];
  if (kex) resp.push({ type: PayloadType.KE, group: kex.group, data: kex.publicValue });
  resp.push({ type: PayloadType.TSi, selectors: remote }, { type: PayloadType.TSr, selectors: local });
  return resp;
}
