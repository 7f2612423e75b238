/**
 * Rekeying a Child SA (RFC 7296 §1.3.3, §2.8): the child-rekey task composes a CREATE_CHILD_SA
 * with N(REKEY_SA) (child-create.ts, CreateChildExchange) and a Delete of the old SA
 * (child-delete.ts). Collisions: both sides rekeying the same SA (§2.8.1, lowest nonce loses,
 * resolveCollision) and the exchange collisions of §2.25 (TEMPORARY_FAILURE, CHILD_SA_NOT_FOUND).
 *
 * Make-before-break, as strongSwan ≥ 5.8 does it (child_rekey.c; "like installing the outbound
 * SA, we only trigger the child-rekey event once the old SA is deleted"): the initiator installs
 * the new SA in both directions when the response arrives, deletes the old one with a Delete
 * payload and removes it from the datapath REKEY_GRACE_MS later; the responder installs the new
 * SA inbound-only when it answers and switches its outbound to it when the initiator's Delete of
 * the old SA arrives (child-delete.ts), or after ACTIVATE_FALLBACK_MS if no Delete comes.
 */
import type { Payload } from '../codec/types.js';
import { REKEY_GRACE_MS, dropChild, installChild, lostCollision, lowerNonce } from '../child-sa.js';
import { retryDelay } from '../lifetime.js';
import type { EngineContext, IkeSa, Task } from '../sa.js';
import type { ChildSa } from '../sa-types.js';
import { spiHex } from '../spi.js';
import { CreateChildExchange, startChildCreate, type CreateChildResult } from './child-create.js';
import { queueChildDelete } from './child-delete.js';

/** Start rekeying `child` (idempotent while one runs). Returns false when it cannot start. */
export function startChildRekey(ctx: EngineContext, sa: IkeSa, child: ChildSa, why: string): boolean {
  if (sa.state !== 'established' || child.state !== 'installed' || !child.active || child.noRekey) return false;
  child.state = 'rekeying';
  ctx.log('info', sa.tunnel.name, `rekeying Child SA (${why})`, { spiIn: spiHex(child.info.spiIn) });
  sa.queue(ctx, new ChildRekeyTask(child.info.spiIn));
  return true;
}

/** The child-rekey task: a CREATE_CHILD_SA with N(REKEY_SA), then a Delete of the old SA. */
export class ChildRekeyTask implements Task {
  readonly name = 'child-rekey';
  private readonly exchange: CreateChildExchange;

  /** rekeysChild: our inbound SPI of the Child SA this task replaces. */
  constructor(readonly rekeysChild: number, forceGroup?: number) {
    this.exchange = new CreateChildExchange(forceGroup);
  }

  build(ctx: EngineContext, sa: IkeSa): { exchange: number; payloads: Payload[] } | null {
    const old = sa.child(this.rekeysChild);
    if (!old || old.state !== 'rekeying') return null;
    return this.exchange.request(ctx, sa, old);
  }

  wipe(): void {
    this.exchange.wipe();
  }

  onResponse(ctx: EngineContext, sa: IkeSa, resp: Payload[]): void {
    const name = sa.tunnel.name;
    const old = sa.child(this.rekeysChild);
    const r = this.exchange.accept(ctx, sa, resp, old);
    if (!r.ok) return this.failed(ctx, sa, old, r);
    const fresh = r.child;
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
    if (this.resolveCollision(ctx, sa, old, fresh, r.nonceR) === 'lost') return;
    sa.children.push(fresh);
    installChild(ctx, fresh);
    old.state = 'rekeyed';
    old.active = false;
    ctx.actions.push({ kind: 'event', event: { type: 'child-rekeyed', tunnel: name, oldSpiIn: spiHex(old.info.spiIn), spiIn: spiHex(fresh.info.spiIn), spiOut: spiHex(fresh.info.spiOut), initiator: true } });
    ctx.log('info', name, `Child SA rekeyed${r.pfs ? ' with PFS' : ''}`, { oldSpiIn: spiHex(old.info.spiIn), spiIn: spiHex(fresh.info.spiIn), spiOut: spiHex(fresh.info.spiOut), pfs: r.pfs });
    // Make-before-break: delete the old SA now; its inbound half stays for the grace period.
    queueChildDelete(ctx, sa, [old.info.spiIn]);
    sa.addTimer({ kind: 'remove-child', at: ctx.now + REKEY_GRACE_MS, spiIn: old.info.spiIn });
  }

  /**
   * RFC 7296 §2.8.1: the peer rekeyed the same Child SA while this rekey was in flight (we
   * answered its request, old.passive). The exchange with the lowest of the four nonces made the
   * redundant SA, and its initiator deletes that SA. 'lost': ours is redundant and is being
   * deleted; 'won': the peer deletes its own, we go on; 'none': there was no collision.
   */
  resolveCollision(ctx: EngineContext, sa: IkeSa, old: ChildSa, fresh: ChildSa, nonceR: Uint8Array): 'lost' | 'won' | 'none' {
    if (!old.passive) return 'none';
    const name = sa.tunnel.name;
    const ours = lowerNonce(this.exchange.nonceI, nonceR);
    const passive = sa.child(old.passive.spiIn);
    if (lostCollision(ours, old.passive.lowerNonce)) {
      ctx.log('info', name, 'Child SA rekey collision lost: deleting our redundant SA, the peer deletes the old one (RFC 7296 §2.8.1)', { redundant: spiHex(fresh.info.spiIn) });
      old.state = 'rekeyed';
      queueChildDelete(ctx, sa, [fresh.info.spiIn]);
      return 'lost';
    }
    ctx.log('info', name, 'Child SA rekey collision won: the peer deletes its redundant SA (RFC 7296 §2.8.1)', { kept: spiHex(fresh.info.spiIn) });
    old.replacedBy = undefined;
    old.passive = undefined;
    if (passive) sa.timers = sa.timers.filter((t) => !(t.kind === 'activate-child' && t.spiIn === passive.info.spiIn));
    return 'won';
  }

  private failed(ctx: EngineContext, sa: IkeSa, old: ChildSa | undefined, r: Exclude<CreateChildResult, { ok: true }>): void {
    const back = () => {
      if (old && old.state === 'rekeying') old.state = 'installed';
    };
    switch (r.error) {
      case 'retry-group':
        sa.queue(ctx, new ChildRekeyTask(this.rekeysChild, r.group), true);
        return;
      case 'not-found':
        // §2.25: the peer no longer has it. Drop ours and create a replacement.
        if (old && !old.deletedByPeer) {
          ctx.log('warn', sa.tunnel.name, 'peer did not find the Child SA we tried to rekey (CHILD_SA_NOT_FOUND); creating a replacement', { spiIn: spiHex(old.info.spiIn) });
          dropChild(ctx, sa, old, 'not found by peer');
          startChildCreate(ctx, sa);
        }
        return;
      case 'no-additional-sas':
        back();
        if (old) old.noRekey = true;
        return;
      case 'temporary-failure':
      case 'failed':
        back();
        if (old) sa.addTimer({ kind: 'retry-child-rekey', at: ctx.now + retryDelay(ctx.random), spiIn: old.info.spiIn });
    }
  }
}
