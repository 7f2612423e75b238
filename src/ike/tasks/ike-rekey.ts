/**
 * Rekeying the IKE SA with CREATE_CHILD_SA (RFC 7296 §1.3.2, §2.8, §2.18), by either side: SA
 * with the new SPI, Ni/Nr and KE (mandatory). SKEYSEED' = prf(SK_d old, g^ir new | Ni | Nr);
 * the new SA's initiator is the rekey's initiator, its message IDs start at 0, the Child SAs
 * move to it and the rekey initiator deletes the old IKE SA.
 *
 * Collisions (§2.8.2): when both sides rekey at once, the exchange with the lowest nonce made the
 * redundant SA; its initiator deletes it, the winner's initiator deletes the old SA. A Child SA
 * exchange in flight makes us answer TEMPORARY_FAILURE (§2.25.2), and so does an old SA we are
 * already deleting.
 */
import { ExchangeType, NotifyType, PayloadType, ProtocolId, isErrorNotify, notifyName } from '../constants.js';
import type { Payload } from '../codec/types.js';
import { createKeyExchange } from '../crypto/dh.js';
import { deriveIkeKeysRekey } from '../crypto/keymat.js';
import { createSkCipher } from '../crypto/sk-cipher.js';
import type { KeyExchange } from '../crypto/types.js';
import { acceptResponseProposal, offersDhGroup, selectProposal, toProposals, type Selection } from '../proposals.js';
import { lostCollision, lowerNonce } from '../child-sa.js';
import { retryDelay, schedule } from '../lifetime.js';
import { IkeSa, type EngineContext, type Task } from '../sa.js';
import { hex } from '../spi.js';
import { NONCE_LENGTH } from './ike-init.js';
import { notify, readU16, u16 } from './notify.js';
import { findNotifies, findPayload } from '../codec/message.js';
import { IkeDeleteTask } from './ike-delete.js';
import { exportIkeKeys } from '../key-export.js';
import { logFlood } from '../engine-context.js';

/** An old or redundant IKE SA waits this long for the peer's Delete before it goes by itself. */
export const REKEYED_EXPIRE_MS = 30_000;

/** Start rekeying the IKE SA (idempotent while one runs). */
export function startIkeRekey(ctx: EngineContext, sa: IkeSa, why: string): boolean {
  if (sa.state !== 'established' || sa.rekeying || sa.hasTask('ike-rekey')) return false;
  ctx.log('info', sa.tunnel.name, `rekeying IKE SA (${why})`, { spiI: hex(sa.spiI), spiR: hex(sa.spiR) });
  sa.queue(ctx, new IkeRekeyTask());
  return true;
}

/** The SA that replaces `old`, keyed per §2.18. */
function successor(ctx: EngineContext, old: IkeSa, weInitiated: boolean, sel: Selection, ourSpi: Uint8Array, peerSpi: Uint8Array, ni: Uint8Array, nr: Uint8Array, shared: Uint8Array): IkeSa {
  const fresh = new IkeSa(old.tunnel, weInitiated, weInitiated ? ourSpi : peerSpi, { ...old.local }, { ...old.remote }, ctx.now);
  fresh.spiR = weInitiated ? peerSpi : ourSpi;
  const s = sel.suite;
  fresh.suite = s;
  fresh.nonceI = ni;
  fresh.nonceR = nr;
  fresh.keys = deriveIkeKeysRekey({
    prfId: s.prfId, encrId: s.encrId, encrKeyBits: s.encrKeyBits, integId: s.integId, ni, nr,
    spiI: fresh.spiI, spiR: fresh.spiR, sharedSecret: shared, skDOld: old.keys!.skD, prfIdOld: old.suite!.prfId,
  });
  shared.fill(0);
  exportIkeKeys(ctx, fresh);
  const k = fresh.keys;
  const cipher = (e: Uint8Array, a: Uint8Array) => createSkCipher({ encrId: s.encrId, encrKeyBits: s.encrKeyBits, integId: s.integId, encrKey: e, integKey: a });
  const i = cipher(k.skEi, k.skAi);
  const r = cipher(k.skEr, k.skAr);
  fresh.cipherOut = weInitiated ? i : r;
  fresh.cipherIn = weInitiated ? r : i;
  for (const f of ['natT', 'natDetected', 'selfBehindNat', 'encap', 'fragmentation', 'peerId', 'policy', 'candidates'] as const) {
    (fresh as unknown as Record<string, unknown>)[f] = old[f];
  }
  fresh.state = 'established';
  fresh.establishedAt = ctx.now;
  fresh.initialContact = false;
  // Its Child SAs arrive with handOver(); until then it must not ask for a new one.
  fresh.childCreateAfter = Infinity;
  const life = schedule(ctx.now, old.tunnel.ikeLifetime, ctx.random);
  fresh.rekeyAt = life.rekeyAt;
  fresh.expireAt = life.expireAt;
  return fresh;
}

/** Move the Child SAs, their timers and waiting jobs from `from` to `to`, and make `to` current. */
export function handOver(ctx: EngineContext, from: IkeSa, to: IkeSa, weInitiated: boolean): void {
  to.children.push(...from.children);
  to.childCreateAfter = 0;
  from.children = [];
  to.timers.push(...from.timers.filter((t) => 'spiIn' in t));
  from.timers = from.timers.filter((t) => !('spiIn' in t));
  to.tasks.push(...from.tasks.filter((t) => t.name !== 'ike-delete' && t.name !== 'ike-rekey' && t.name !== 'dpd'));
  from.tasks = from.tasks.filter((t) => t.name === 'ike-delete');
  from.state = 'rekeyed';
  from.replacedBy = to;
  from.rekeying = false;
  from.addTimer({ kind: 'rekeyed-expire', at: ctx.now + REKEYED_EXPIRE_MS });
  ctx.ops?.setCurrent(to);
  ctx.actions.push({ kind: 'event', event: { type: 'ike-rekeyed', tunnel: from.tunnel.name, oldSpiI: hex(from.spiI), oldSpiR: hex(from.spiR), spiI: hex(to.spiI), spiR: hex(to.spiR), initiator: weInitiated } });
  ctx.log('info', from.tunnel.name, 'IKE SA rekeyed', { oldSpiI: hex(from.spiI), spiI: hex(to.spiI), spiR: hex(to.spiR), initiator: weInitiated });
  to.kick(ctx);
}

/** Delete an IKE SA that a rekey made redundant (or the replaced one); it has no Child SAs. */
function retire(ctx: EngineContext, sa: IkeSa): void {
  sa.state = 'rekeyed';
  sa.addTimer({ kind: 'rekeyed-expire', at: ctx.now + REKEYED_EXPIRE_MS });
  sa.tasks = [];
  sa.queue(ctx, new IkeDeleteTask('rekeyed', false), true);
}

class IkeRekeyTask implements Task {
  readonly name = 'ike-rekey';
  private spi: Uint8Array = new Uint8Array(8);
  private nonce: Uint8Array = new Uint8Array(0);
  private ke: KeyExchange | null = null;
  constructor(private readonly group?: number) {}

  build(ctx: EngineContext, sa: IkeSa): { exchange: number; payloads: Payload[] } | null {
    if (sa.state !== 'established') return null;
    sa.rekeying = true;
    this.spi = ctx.random(8);
    this.nonce = ctx.random(NONCE_LENGTH);
    this.ke = createKeyExchange(this.group ?? sa.suite!.dhId);
    return {
      exchange: ExchangeType.CREATE_CHILD_SA,
      payloads: [
        { type: PayloadType.SA, proposals: toProposals(sa.tunnel.ikeProposals, ProtocolId.IKE, this.spi) },
        { type: PayloadType.NONCE, data: this.nonce },
        { type: PayloadType.KE, group: this.ke.group, data: this.ke.publicValue },
      ],
    };
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
    const passive = sa.passiveRekey;
    sa.passiveRekey = null;
    sa.rekeying = false;
    const fail = (why: string, retry: boolean) => {
      ctx.log(retry ? 'info' : 'warn', name, why);
      if (sa.state !== 'established') return;
      if (passive) return handOver(ctx, sa, passive.sa, false);
      if (retry) sa.addTimer({ kind: 'retry-ike-rekey', at: ctx.now + retryDelay(ctx.random) });
    };
    const err = findNotifies(resp).find((n) => isErrorNotify(n.notifyType));
    if (err) {
      if (err.notifyType === NotifyType.INVALID_KE_PAYLOAD) {
        const g = readU16(err.data);
        if (this.group === undefined && g !== null && g !== this.ke?.group && offersDhGroup(sa.tunnel.ikeProposals, g) && !passive) {
          ctx.log('info', name, `peer wants DH group ${g} for the IKE SA rekey; retrying (INVALID_KE_PAYLOAD)`);
          sa.queue(ctx, new IkeRekeyTask(g), true);
          return;
        }
      }
      if (err.notifyType === NotifyType.NO_ADDITIONAL_SAS) {
        return fail('peer refuses to rekey the IKE SA (NO_ADDITIONAL_SAS); it is re-established at its hard lifetime', false);
      }
      return fail(`IKE SA rekey: peer answered ${notifyName(err.notifyType)}; retrying later (RFC 7296 §2.25)`, true);
    }
    const saP = findPayload(resp, PayloadType.SA);
    const nonce = findPayload(resp, PayloadType.NONCE);
    const ke = findPayload(resp, PayloadType.KE);
    const sel = saP ? acceptResponseProposal(sa.tunnel.ikeProposals, saP.proposals, { protocol: ProtocolId.IKE }) : null;
    if (!sel || sel.spi.length !== 8 || !nonce || nonce.data.length < 16 || !ke || ke.group !== this.ke!.group || sel.suite.dhId !== ke.group) {
      return fail('IKE SA rekey response lacks SA, Nonce or a matching KE; retrying later', true);
    }
    let shared: Uint8Array;
    try {
      shared = this.ke!.computeShared(ke.data);
    } catch (e) {
      return fail(`IKE SA rekey: the peer's KE value is invalid: ${e instanceof Error ? e.message : String(e)}`, true);
    }
    const fresh = successor(ctx, sa, true, sel, this.spi, sel.spi, this.nonce, nonce.data, shared);
    ctx.ops?.register(fresh);
    if (passive && lostCollision(lowerNonce(this.nonce, nonce.data), passive.lowerNonce)) {
      // §2.8.2: ours is redundant; we delete it, the peer deletes the old one.
      ctx.log('info', name, 'IKE SA rekey collision lost: deleting our redundant IKE SA (RFC 7296 §2.8.2)', { redundant: hex(fresh.spiI) });
      handOver(ctx, sa, passive.sa, false);
      retire(ctx, fresh);
      return;
    }
    if (passive) {
      ctx.log('info', name, 'IKE SA rekey collision won: the peer deletes its redundant IKE SA (RFC 7296 §2.8.2)', { kept: hex(fresh.spiI) });
      passive.sa.state = 'rekeyed';
      passive.sa.addTimer({ kind: 'rekeyed-expire', at: ctx.now + REKEYED_EXPIRE_MS });
    }
    handOver(ctx, sa, fresh, true);
    sa.tasks = [];
    sa.queue(ctx, new IkeDeleteTask('rekeyed', false), true);
  }
}

/** Responder: answer a CREATE_CHILD_SA that rekeys the IKE SA. Returns the response payloads. */
export function answerIkeRekey(ctx: EngineContext, sa: IkeSa, req: Payload[]): Payload[] {
  const name = sa.tunnel.name;
  const busy = sa.outstanding?.task?.name;
  if (sa.state !== 'established' || busy === 'child-rekey' || busy === 'child-create' || busy === 'child-delete') {
    ctx.log('info', name, `peer asked to rekey the IKE SA while ${sa.state !== 'established' ? 'we delete it' : 'a Child SA exchange is in flight'}; answering TEMPORARY_FAILURE (RFC 7296 §2.25.2)`);
    return [notify(NotifyType.TEMPORARY_FAILURE)];
  }
  const saP = findPayload(req, PayloadType.SA);
  const nonce = findPayload(req, PayloadType.NONCE);
  const ke = findPayload(req, PayloadType.KE);
  if (!saP || !nonce || nonce.data.length < 16 || nonce.data.length > 256 || !ke) {
    return [notify(NotifyType.INVALID_SYNTAX)];
  }
  const sel = selectProposal(sa.tunnel.ikeProposals, saP.proposals, { protocol: ProtocolId.IKE, preferDh: ke.group });
  if (!sel || sel.spi.length !== 8) return [notify(NotifyType.NO_PROPOSAL_CHOSEN)];
  if (sel.suite.dhId !== ke.group) {
    ctx.log('info', name, `peer's IKE rekey KE is group ${ke.group}; asking for group ${sel.suite.dhId} (INVALID_KE_PAYLOAD)`);
    return [notify(NotifyType.INVALID_KE_PAYLOAD, u16(sel.suite.dhId))];
  }
  const kex = createKeyExchange(sel.suite.dhId);
  let shared: Uint8Array;
  try {
    shared = kex.computeShared(ke.data);
  } catch (e) {
    // RFC 6989: a peer value that fails the checks ends the exchange; the IKE SA stays as it is.
    logFlood(ctx, 'dh-rejected', 'warn', name, `rejecting the IKE SA rekey: ${e instanceof Error ? e.message : String(e)}`);
    return [notify(NotifyType.INVALID_SYNTAX)];
  } finally {
    kex.wipe();
  }
  const ourSpi = ctx.random(8);
  const nr = ctx.random(NONCE_LENGTH);
  const fresh = successor(ctx, sa, false, sel, ourSpi, sel.spi, nonce.data, nr, shared);
  ctx.ops?.register(fresh);
  if (sa.rekeying) {
    // Our own rekey is in flight: decide when its response comes (§2.8.2).
    sa.passiveRekey = { sa: fresh, lowerNonce: lowerNonce(nonce.data, nr) };
  } else {
    handOver(ctx, sa, fresh, false);
  }
  return [
    { type: PayloadType.SA, proposals: [{ num: sel.num, protocol: ProtocolId.IKE, spi: ourSpi, transforms: sel.transforms }] },
    { type: PayloadType.NONCE, data: nr },
    { type: PayloadType.KE, group: kex.group, data: kex.publicValue },
  ];
}
