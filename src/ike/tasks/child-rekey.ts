/**
 * CREATE_CHILD_SA for Child SAs (RFC 7296 §1.3.1, §1.3.3, §2.8, §2.17): rekeying one (with
 * N(REKEY_SA)) or creating one, by either side, with PFS when configured; collisions (§2.8.1,
 * lowest nonce loses) and the exchange collisions of §2.25 (TEMPORARY_FAILURE,
 * CHILD_SA_NOT_FOUND); INVALID_KE_PAYLOAD (one retry with the suggested group, §1.3) and
 * NO_ADDITIONAL_SAS (§4: keep the old SA to its hard expiry).
 *
 * Make-before-break, as strongSwan ≥ 5.8 does it (child_rekey.c; "like installing the outbound
 * SA, we only trigger the child-rekey event once the old SA is deleted"): the initiator installs
 * the new SA in both directions when the response arrives, deletes the old one with a Delete
 * payload and removes it from the datapath REKEY_GRACE_MS later; the responder installs the new
 * SA inbound-only when it answers and switches its outbound to it when the initiator's Delete of
 * the old SA arrives (child-delete.ts), or after ACTIVATE_FALLBACK_MS if no Delete comes.
 */
import { DhId, ExchangeType, NotifyType, PayloadType, ProtocolId, notifyName, isErrorNotify } from '../constants.js';
import type { Payload } from '../codec/types.js';
import { createKeyExchange } from '../crypto/dh.js';
import type { KeyExchange } from '../crypto/types.js';
import { acceptResponseProposal } from '../proposals.js';
import { isSubsetOf } from '../traffic-selectors.js';
import { dropChild, espProposals, installChild, keGroup, lostCollision, lowerNonce, newChild, offersGroup, rekeyTemplates } from '../child-sa.js';
import { retryDelay } from '../lifetime.js';
import { spiBytes, spiHex, type ChildSa, type EngineContext, type IkeSa, type Task } from '../sa.js';
import { NONCE_LENGTH } from './ike-init.js';
import { randomEspSpi } from './child-create.js';
import { first, notifies, notify, readU16 } from './notify.js';
import { queueChildDelete } from './child-delete.js';

/** The old inbound SA keeps accepting this long after the switch (in-flight packets). */
export const REKEY_GRACE_MS = 2000;
/** The rekey responder activates the new SA by itself if the initiator's Delete never comes. */
export const ACTIVATE_FALLBACK_MS = 10_000;

function ikeDh(sa: IkeSa): number {
  return sa.suite?.dhId ?? DhId.NONE;
}

/** Start rekeying `child` (idempotent while one runs). Returns false when it cannot start. */
export function startChildRekey(ctx: EngineContext, sa: IkeSa, child: ChildSa, why: string): boolean {
  if (sa.state !== 'established' || child.state !== 'installed' || !child.active || child.noRekey) return false;
  child.state = 'rekeying';
  ctx.log('info', sa.tunnel.name, `rekeying Child SA (${why})`, { spiIn: spiHex(child.info.spiIn) });
  sa.queue(ctx, new ChildRekeyTask(child.info.spiIn));
  return true;
}

/** A new Child SA on an IKE SA that has none (after CHILD_SA_NOT_FOUND). */
export function startChildCreate(ctx: EngineContext, sa: IkeSa): void {
  if (!sa.hasTask('child-create')) sa.queue(ctx, new ChildRekeyTask(null));
}

export class ChildRekeyTask implements Task {
  readonly name: 'child-rekey' | 'child-create';
  private spiIn: Uint8Array = new Uint8Array(4);
  private nonce: Uint8Array = new Uint8Array(0);
  private ke: KeyExchange | null = null;
  private templates: ReturnType<typeof rekeyTemplates> = [];

  /** oldSpiIn: our inbound SPI of the SA to rekey; null creates a new Child SA. */
  constructor(readonly oldSpiIn: number | null, private readonly forceGroup?: number) {
    this.name = oldSpiIn === null ? 'child-create' : 'child-rekey';
  }

  build(ctx: EngineContext, sa: IkeSa): { exchange: number; payloads: Payload[] } | null {
    const old = this.oldSpiIn === null ? undefined : sa.child(this.oldSpiIn);
    if (this.oldSpiIn !== null && (!old || old.state !== 'rekeying')) return null;
    if (this.oldSpiIn === null && sa.children.some((c) => c.active && c.state !== 'rekeyed')) return null;
    this.templates = rekeyTemplates(sa.tunnel, ikeDh(sa), this.forceGroup);
    this.spiIn = randomEspSpi(ctx);
    this.nonce = ctx.random(NONCE_LENGTH);
    const group = keGroup(this.templates);
    this.ke = group !== DhId.NONE ? createKeyExchange(group) : null;
    const payloads: Payload[] = [];
    // §1.3.3: N(REKEY_SA) carries the SPI of the SA being rekeyed: ours, the peer's outbound.
    if (old) payloads.push(notify(NotifyType.REKEY_SA, new Uint8Array(0), ProtocolId.ESP, spiBytes(old.info.spiIn)));
    payloads.push({ type: PayloadType.SA, proposals: espProposals(this.templates, this.spiIn) });
    payloads.push({ type: PayloadType.NONCE, data: this.nonce });
    if (this.ke) payloads.push({ type: PayloadType.KE, group: this.ke.group, data: this.ke.publicValue });
    payloads.push({ type: PayloadType.TSi, selectors: old?.localTs ?? sa.tunnel.localTs });
    payloads.push({ type: PayloadType.TSr, selectors: old?.remoteTs ?? sa.tunnel.remoteTs });
    return { exchange: ExchangeType.CREATE_CHILD_SA, payloads };
  }

  wipe(): void {
    this.ke?.wipe();
  }

  onResponse(ctx: EngineContext, sa: IkeSa, resp: Payload[]): void {
    try {
      this.handle(ctx, sa, resp);
    } finally {
      // Whatever the answer, this exchange's DH private value is done with.
      this.ke?.wipe();
    }
  }

  private handle(ctx: EngineContext, sa: IkeSa, resp: Payload[]): void {
    const name = sa.tunnel.name;
    const old = this.oldSpiIn === null ? undefined : sa.child(this.oldSpiIn);
    const back = () => {
      if (old && old.state === 'rekeying') old.state = 'installed';
    };
    const retryLater = () => {
      back();
      if (old) sa.addTimer({ kind: 'retry-child-rekey', at: ctx.now + retryDelay(ctx.random), spiIn: old.info.spiIn });
      else if (this.oldSpiIn === null) sa.childCreateAfter = ctx.now + retryDelay(ctx.random);
    };
    const err = notifies(resp).find((n) => isErrorNotify(n.notifyType));
    if (err) {
      switch (err.notifyType) {
        case NotifyType.TEMPORARY_FAILURE:
          // §2.25: the peer is busy with a colliding exchange; try again a little later.
          ctx.log('info', name, 'peer answered TEMPORARY_FAILURE to our Child SA rekey; retrying later (RFC 7296 §2.25)');
          return retryLater();
        case NotifyType.CHILD_SA_NOT_FOUND:
          // §2.25: the peer no longer has it. Drop ours and create a replacement.
          if (old && !old.deletedByPeer) {
            ctx.log('warn', name, 'peer did not find the Child SA we tried to rekey (CHILD_SA_NOT_FOUND); creating a replacement', { spiIn: spiHex(old.info.spiIn) });
            dropChild(ctx, sa, old, 'not found by peer');
            startChildCreate(ctx, sa);
          }
          return;
        case NotifyType.NO_ADDITIONAL_SAS:
          ctx.log('warn', name, 'peer refuses CREATE_CHILD_SA (NO_ADDITIONAL_SAS): keeping the current Child SA until its hard lifetime, then re-establishing the IKE SA', old ? { spiIn: spiHex(old.info.spiIn) } : undefined);
          back();
          if (old) old.noRekey = true;
          return;
        case NotifyType.INVALID_KE_PAYLOAD: {
          const g = readU16(err.data);
          if (this.forceGroup === undefined && g !== null && g !== this.ke?.group && offersGroup(this.templates, g)) {
            ctx.log('info', name, `peer wants DH group ${g} for the Child SA rekey; retrying (INVALID_KE_PAYLOAD)`);
            sa.queue(ctx, new ChildRekeyTask(this.oldSpiIn, g), true);
            return;
          }
          ctx.log('error', name, `INVALID_KE_PAYLOAD asks for DH group ${g ?? '?'} which our pfs/esp settings do not offer; check pfs on both sides`);
          return retryLater();
        }
        default:
          ctx.log('error', name, `Child SA rekey failed: ${notifyName(err.notifyType)}`);
          return retryLater();
      }
    }
    const saP = first(resp, PayloadType.SA);
    const nonce = first(resp, PayloadType.NONCE);
    const tsi = first(resp, PayloadType.TSi);
    const tsr = first(resp, PayloadType.TSr);
    const ke = first(resp, PayloadType.KE);
    const sel = saP ? acceptResponseProposal(this.templates, saP.proposals, { protocol: ProtocolId.ESP }) : null;
    if (!sel || sel.spi.length !== 4 || !nonce || nonce.data.length < 16 || !tsi || !tsr) {
      ctx.log('error', name, 'CREATE_CHILD_SA response lacks SA, Nonce or TS, or chose a proposal we did not offer');
      return retryLater();
    }
    const pfs = sel.suite.dhId !== DhId.NONE;
    if (pfs !== (this.ke !== null) || (pfs && (!ke || ke.group !== this.ke!.group))) {
      ctx.log('error', name, 'CREATE_CHILD_SA response has a KE that does not match our request');
      return retryLater();
    }
    const wantTsi = old?.localTs ?? sa.tunnel.localTs;
    const wantTsr = old?.remoteTs ?? sa.tunnel.remoteTs;
    if (!isSubsetOf(tsi.selectors, wantTsi) || !isSubsetOf(tsr.selectors, wantTsr)) {
      ctx.log('error', name, 'CREATE_CHILD_SA response has traffic selectors wider than we proposed');
      return retryLater();
    }
    let shared: Uint8Array | undefined;
    try {
      shared = pfs ? this.ke!.computeShared(ke!.data) : undefined;
    } catch (e) {
      ctx.log('error', name, `the peer's KE value is invalid: ${e instanceof Error ? e.message : String(e)}`);
      return retryLater();
    }
    const fresh = newChild(ctx, sa, {
      sel, spiIn: this.spiIn, spiOut: sel.spi, localTs: tsi.selectors, remoteTs: tsr.selectors,
      ni: this.nonce, nr: nonce.data, ...(shared ? { shared } : {}), weInitiated: true, active: true,
    });
    if (this.oldSpiIn === null) {
      sa.children.push(fresh);
      installChild(ctx, fresh);
      ctx.actions.push({ kind: 'event', event: { type: 'child-up', tunnel: name, spiIn: spiHex(fresh.info.spiIn), spiOut: spiHex(fresh.info.spiOut) } });
      ctx.log('info', name, 'Child SA created', { spiIn: spiHex(fresh.info.spiIn), spiOut: spiHex(fresh.info.spiOut) });
      return;
    }
    if (!old || old.deletedByPeer) {
      // §2.25.1: the peer deleted the SA while we rekeyed it; the new one is not wanted either.
      ctx.log('info', name, 'the Child SA we rekeyed was deleted by the peer meanwhile; deleting the new one too', { spiIn: spiHex(fresh.info.spiIn) });
      queueChildDelete(ctx, sa, [fresh.info.spiIn]);
      return;
    }
    if (old.state === 'rekeyed') {
      // The peer's rekey of the same SA completed first (its Delete of the old SA came before
      // our response): ours is redundant (strongSwan: "abort active rekeying").
      ctx.log('info', name, 'the peer already rekeyed this Child SA; deleting our redundant one', { redundant: spiHex(fresh.info.spiIn) });
      queueChildDelete(ctx, sa, [fresh.info.spiIn]);
      return;
    }
    const ours = lowerNonce(this.nonce, nonce.data);
    if (old.passive) {
      // §2.8.1: both sides rekeyed this SA. The exchange with the lowest nonce made the redundant SA.
      const passive = sa.child(old.passive.spiIn);
      if (lostCollision(ours, old.passive.lowerNonce)) {
        ctx.log('info', name, 'Child SA rekey collision lost: deleting our redundant SA, the peer deletes the old one (RFC 7296 §2.8.1)', { redundant: spiHex(fresh.info.spiIn) });
        old.state = 'rekeyed';
        queueChildDelete(ctx, sa, [fresh.info.spiIn]);
        return;
      }
      ctx.log('info', name, 'Child SA rekey collision won: the peer deletes its redundant SA (RFC 7296 §2.8.1)', { kept: spiHex(fresh.info.spiIn) });
      old.replacedBy = undefined;
      old.passive = undefined;
      if (passive) sa.timers = sa.timers.filter((t) => !(t.kind === 'activate-child' && t.spiIn === passive.info.spiIn));
    }
    sa.children.push(fresh);
    installChild(ctx, fresh);
    old.state = 'rekeyed';
    old.active = false;
    ctx.actions.push({ kind: 'event', event: { type: 'child-rekeyed', tunnel: name, oldSpiIn: spiHex(old.info.spiIn), spiIn: spiHex(fresh.info.spiIn), spiOut: spiHex(fresh.info.spiOut), initiator: true } });
    ctx.log('info', name, `Child SA rekeyed${pfs ? ' with PFS' : ''}`, { oldSpiIn: spiHex(old.info.spiIn), spiIn: spiHex(fresh.info.spiIn), spiOut: spiHex(fresh.info.spiOut), pfs });
    // Make-before-break: delete the old SA now; its inbound half stays for the grace period.
    queueChildDelete(ctx, sa, [old.info.spiIn]);
    sa.addTimer({ kind: 'remove-child', at: ctx.now + REKEY_GRACE_MS, spiIn: old.info.spiIn });
  }
}

