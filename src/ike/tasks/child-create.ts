/**
 * CREATE_CHILD_SA for a Child SA, initiator side (RFC 7296 §1.3.1): SA, Ni, [KEi], TSi, TSr out;
 * SA, Nr, [KEr], TSi, TSr back, with PFS when configured (§1.3.1: the KE group must be in the
 * SA). CreateChildExchange is that one exchange; the child-create task uses it for a new Child SA
 * and the child-rekey task (child-rekey.ts) for a replacement, with N(REKEY_SA) (§1.3.3).
 *
 * Failures the peer reports: TEMPORARY_FAILURE (§2.25: a colliding exchange, retry later),
 * CHILD_SA_NOT_FOUND (§2.25: the SA to rekey is gone), NO_ADDITIONAL_SAS (§1.3: keep what we
 * have), INVALID_KE_PAYLOAD (§1.3: one retry with the suggested group if we offered it).
 */
import { DhId, ExchangeType, NotifyType, PayloadType, ProtocolId, isErrorNotify, notifyName } from '../constants.js';
import type { Payload, TrafficSelector } from '../codec/types.js';
import { findNotifies, findPayload } from '../codec/message.js';
import { createKeyExchange } from '../crypto/dh.js';
import type { KeyExchange } from '../crypto/types.js';
import { acceptResponseProposal, offersDhGroup } from '../proposals.js';
import { isSubsetOf } from '../traffic-selectors.js';
import { espProposals, installChild, keGroup, newChild, randomEspSpi, rekeyTemplates } from '../child-sa.js';
import { retryDelay } from '../lifetime.js';
import type { EngineContext, IkeSa, Task } from '../sa.js';
import type { ChildSa } from '../sa-types.js';
import { spiBytes, spiHex } from '../spi.js';
import { NONCE_LENGTH } from './ike-init.js';
import { notify, readU16 } from './notify.js';

/** How a CREATE_CHILD_SA for a Child SA ended, seen from its initiator. */
export type CreateChildResult =
  | { ok: true; child: ChildSa; nonceR: Uint8Array; pfs: boolean }
  /** Logged already. `retry-group`: INVALID_KE_PAYLOAD named a group we offer; `failed`: anything else. */
  | { ok: false; error: 'temporary-failure' | 'not-found' | 'no-additional-sas' | 'failed' }
  | { ok: false; error: 'retry-group'; group: number };

/** One CREATE_CHILD_SA exchange for a Child SA: our request, and the checks on its response. */
export class CreateChildExchange {
  private spiIn: Uint8Array = new Uint8Array(4);
  private nonce: Uint8Array = new Uint8Array(0);
  private ke: KeyExchange | null = null;
  private templates: ReturnType<typeof rekeyTemplates> = [];

  /** forceGroup: the group INVALID_KE_PAYLOAD asked for (this exchange is the one retry). */
  constructor(readonly forceGroup?: number) {}

  /** Our nonce (RFC 7296 §2.8.1 compares nonces when two rekeys of one SA collide). */
  get nonceI(): Uint8Array {
    return this.nonce;
  }

  /** The request; `rekeyOf`: the Child SA this one replaces (N(REKEY_SA) and its selectors). */
  request(ctx: EngineContext, sa: IkeSa, rekeyOf: ChildSa | undefined): { exchange: number; payloads: Payload[] } {
    this.templates = rekeyTemplates(sa.tunnel, sa.suite?.dhId ?? DhId.NONE, this.forceGroup);
    this.spiIn = randomEspSpi(ctx);
    this.nonce = ctx.random(NONCE_LENGTH);
    const group = keGroup(this.templates);
    this.ke = group !== DhId.NONE ? createKeyExchange(group) : null;
    const payloads: Payload[] = [];
    // §1.3.3: N(REKEY_SA) carries the SPI of the SA being rekeyed: ours, the peer's outbound.
    if (rekeyOf) payloads.push(notify(NotifyType.REKEY_SA, new Uint8Array(0), ProtocolId.ESP, spiBytes(rekeyOf.info.spiIn)));
    payloads.push({ type: PayloadType.SA, proposals: espProposals(this.templates, this.spiIn) });
    payloads.push({ type: PayloadType.NONCE, data: this.nonce });
    if (this.ke) payloads.push({ type: PayloadType.KE, group: this.ke.group, data: this.ke.publicValue });
    payloads.push({ type: PayloadType.TSi, selectors: rekeyOf?.localTs ?? sa.tunnel.localTs });
    payloads.push({ type: PayloadType.TSr, selectors: rekeyOf?.remoteTs ?? sa.tunnel.remoteTs });
    return { exchange: ExchangeType.CREATE_CHILD_SA, payloads };
  }

  /** Check the response and build the new Child SA (not yet installed). Wipes the DH value. */
  accept(ctx: EngineContext, sa: IkeSa, resp: Payload[], rekeyOf: ChildSa | undefined): CreateChildResult {
    try {
      return this.check(ctx, sa, resp, rekeyOf?.localTs ?? sa.tunnel.localTs, rekeyOf?.remoteTs ?? sa.tunnel.remoteTs, rekeyOf);
    } finally {
      // Whatever the answer, this exchange's DH private value is done with.
      this.ke?.wipe();
    }
  }

  wipe(): void {
    this.ke?.wipe();
  }

  private check(ctx: EngineContext, sa: IkeSa, resp: Payload[], wantTsi: TrafficSelector[], wantTsr: TrafficSelector[], old: ChildSa | undefined): CreateChildResult {
    const name = sa.tunnel.name;
    const err = findNotifies(resp).find((n) => isErrorNotify(n.notifyType));
    if (err) {
      switch (err.notifyType) {
        case NotifyType.TEMPORARY_FAILURE:
          ctx.log('info', name, 'peer answered TEMPORARY_FAILURE to our Child SA rekey; retrying later (RFC 7296 §2.25)');
          return { ok: false, error: 'temporary-failure' };
        case NotifyType.CHILD_SA_NOT_FOUND:
          return { ok: false, error: 'not-found' };
        case NotifyType.NO_ADDITIONAL_SAS:
          ctx.log('warn', name, 'peer refuses CREATE_CHILD_SA (NO_ADDITIONAL_SAS): keeping the current Child SA until its hard lifetime, then re-establishing the IKE SA', old ? { spiIn: spiHex(old.info.spiIn) } : undefined);
          return { ok: false, error: 'no-additional-sas' };
        case NotifyType.INVALID_KE_PAYLOAD: {
          const g = readU16(err.data);
          if (this.forceGroup === undefined && g !== null && g !== this.ke?.group && offersDhGroup(this.templates, g)) {
            ctx.log('info', name, `peer wants DH group ${g} for the Child SA rekey; retrying (INVALID_KE_PAYLOAD)`);
            return { ok: false, error: 'retry-group', group: g };
          }
          ctx.log('error', name, `INVALID_KE_PAYLOAD asks for DH group ${g ?? '?'} which our pfs/esp settings do not offer; check pfs on both sides`);
          return { ok: false, error: 'failed' };
        }
        default:
          ctx.log('error', name, `Child SA rekey failed: ${notifyName(err.notifyType)}`);
          return { ok: false, error: 'failed' };
      }
    }
    const saP = findPayload(resp, PayloadType.SA);
    const nonce = findPayload(resp, PayloadType.NONCE);
    const tsi = findPayload(resp, PayloadType.TSi);
    const tsr = findPayload(resp, PayloadType.TSr);
    const ke = findPayload(resp, PayloadType.KE);
    const sel = saP ? acceptResponseProposal(this.templates, saP.proposals, { protocol: ProtocolId.ESP }) : null;
    if (!sel || sel.spi.length !== 4 || !nonce || nonce.data.length < 16 || !tsi || !tsr) {
      ctx.log('error', name, 'CREATE_CHILD_SA response lacks SA, Nonce or TS, or chose a proposal we did not offer');
      return { ok: false, error: 'failed' };
    }
    const pfs = sel.suite.dhId !== DhId.NONE;
    if (pfs !== (this.ke !== null) || (pfs && (!ke || ke.group !== this.ke!.group))) {
      ctx.log('error', name, 'CREATE_CHILD_SA response has a KE that does not match our request');
      return { ok: false, error: 'failed' };
    }
    if (!isSubsetOf(tsi.selectors, wantTsi) || !isSubsetOf(tsr.selectors, wantTsr)) {
      ctx.log('error', name, 'CREATE_CHILD_SA response has traffic selectors wider than we proposed');
      return { ok: false, error: 'failed' };
    }
    let shared: Uint8Array | undefined;
    try {
      shared = pfs ? this.ke!.computeShared(ke!.data) : undefined;
    } catch (e) {
      ctx.log('error', name, `the peer's KE value is invalid: ${e instanceof Error ? e.message : String(e)}`);
      return { ok: false, error: 'failed' };
    }
    const child = newChild(ctx, sa, {
      sel, spiIn: this.spiIn, spiOut: sel.spi, localTs: tsi.selectors, remoteTs: tsr.selectors,
      ni: this.nonce, nr: nonce.data, ...(shared ? { shared } : {}), weInitiated: true, active: true,
    });
    return { ok: true, child, nonceR: nonce.data, pfs };
  }
}

/**
 * The child-create task: a new Child SA on an IKE SA that has none (an initiating tunnel whose
 * Child SA was deleted or lost, e.g. after CHILD_SA_NOT_FOUND). GSA never initiates, so nobody
 * else would.
 */
export class ChildCreateTask implements Task {
  readonly name = 'child-create';
  private readonly exchange: CreateChildExchange;

  constructor(forceGroup?: number) {
    this.exchange = new CreateChildExchange(forceGroup);
  }

  build(ctx: EngineContext, sa: IkeSa): { exchange: number; payloads: Payload[] } | null {
    // Moot once a Child SA carries the tunnel again (one Child SA per tunnel).
    if (sa.children.some((c) => c.active && c.state !== 'rekeyed')) return null;
    return this.exchange.request(ctx, sa, undefined);
  }

  wipe(): void {
    this.exchange.wipe();
  }

  onResponse(ctx: EngineContext, sa: IkeSa, resp: Payload[]): void {
    const r = this.exchange.accept(ctx, sa, resp, undefined);
    if (!r.ok) {
      if (r.error === 'retry-group') sa.queue(ctx, new ChildCreateTask(r.group), true);
      else if (r.error === 'temporary-failure' || r.error === 'failed') sa.childCreateAfter = ctx.now + retryDelay(ctx.random);
      return;
    }
    const fresh = r.child;
    const name = sa.tunnel.name;
    sa.children.push(fresh);
    installChild(ctx, fresh);
    ctx.actions.push({ kind: 'event', event: { type: 'child-up', tunnel: name, spiIn: spiHex(fresh.info.spiIn), spiOut: spiHex(fresh.info.spiOut) } });
    ctx.log('info', name, 'Child SA created', { spiIn: spiHex(fresh.info.spiIn), spiOut: spiHex(fresh.info.spiOut) });
  }
}

/** Queue a child-create task unless one is queued or in flight. */
export function startChildCreate(ctx: EngineContext, sa: IkeSa): void {
  if (!sa.hasTask('child-create')) sa.queue(ctx, new ChildCreateTask());
}
