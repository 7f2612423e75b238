/**
 * Deleting Child SAs with Delete payloads in INFORMATIONAL exchanges (RFC 7296 §1.4.1, §3.11),
 * both directions. A Delete lists the sender's inbound SPIs; the responder deletes those SAs and
 * answers with Deletes for the paired SPIs, except for SAs it was deleting itself at the same
 * time (a simultaneous delete: the response leaves them out).
 *
 * A Delete of an SA we answered a rekey for is the rekey initiator's "switch now" signal: the
 * replacement's outbound becomes active and the old inbound lingers for the grace period
 * (child-rekey.ts, make-before-break).
 */
import { ExchangeType, PayloadType, ProtocolId } from '../constants.js';
import type { DeletePayload, Payload } from '../codec/types.js';
import { REKEY_GRACE_MS, activateReplacement, dropChild } from '../child-sa.js';
import type { EngineContext, IkeSa, Task } from '../sa.js';
import { spiBytes, spiHex } from '../spi.js';

class ChildDeleteTask implements Task {
  readonly name = 'child-delete';
  constructor(readonly spis: number[]) {}

  build(): { exchange: number; payloads: Payload[] } {
    return { exchange: ExchangeType.INFORMATIONAL, payloads: [{ type: PayloadType.DELETE, protocol: ProtocolId.ESP, spiSize: 4, spis: this.spis.map(spiBytes) }] };
  }

  onResponse(ctx: EngineContext, sa: IkeSa): void {
    for (const spi of this.spis) {
      const c = sa.child(spi);
      // Rekeyed SAs stay for their grace period; those we were deleting go now.
      if (c && c.state === 'deleting') dropChild(ctx, sa, c, 'deleted');
    }
  }
}

/** Delete our Child SAs with these inbound SPIs (installed ones go to 'deleting'). */
export function queueChildDelete(ctx: EngineContext, sa: IkeSa, spis: number[]): void {
  for (const spi of spis) {
    const c = sa.child(spi);
    if (c && (c.state === 'installed' || c.state === 'rekeying')) c.state = 'deleting';
  }
  sa.queue(ctx, new ChildDeleteTask(spis));
}

/** Responder: process the peer's ESP Delete payloads; returns our Delete for the paired SPIs. */
export function deleteChildren(ctx: EngineContext, sa: IkeSa, deletes: DeletePayload[]): Payload[] {
  const name = sa.tunnel.name;
  const answer: number[] = [];
  for (const d of deletes) {
    if (d.protocol !== ProtocolId.ESP) continue;
    for (const raw of d.spis) {
      if (raw.length !== 4) continue;
      // The peer lists its inbound SPIs: our outbound ones.
      const child = sa.childByOut(Buffer.from(raw).readUInt32BE(0));
      if (!child) continue;
      const fresh = child.replacedBy !== undefined ? sa.child(child.replacedBy) : undefined;
      if (fresh) {
        // The rekey initiator deletes the old SA: switch to the new one (make-before-break).
        answer.push(child.info.spiIn);
        activateReplacement(ctx, sa, child, fresh);
        sa.addTimer({ kind: 'remove-child', at: ctx.now + REKEY_GRACE_MS, spiIn: child.info.spiIn });
        ctx.log('info', name, 'Child SA rekeyed by peer', { oldSpiIn: spiHex(child.info.spiIn), spiIn: spiHex(fresh.info.spiIn) });
        continue;
      }
      switch (child.state) {
        case 'deleting':
          // Simultaneous delete (§1.4.1): ours is in flight, nothing to pair.
          dropChild(ctx, sa, child, 'deleted by both sides');
          break;
        case 'rekeyed':
          if (child.awaitingPeerDelete) {
            // The late Delete of an SA we already switched away from (fallback): pair and drop.
            child.awaitingPeerDelete = false;
            answer.push(child.info.spiIn);
            sa.timers = sa.timers.filter((t) => !(t.kind === 'remove-child' && t.spiIn === child.info.spiIn));
            sa.addTimer({ kind: 'remove-child', at: ctx.now + REKEY_GRACE_MS, spiIn: child.info.spiIn });
          }
          // Otherwise we replaced it ourselves and our own Delete for it is under way.
          break;
        case 'rekeying':
          // §2.25.1: deleted while we rekey it: answer as usual; the rekey's result goes too.
          child.deletedByPeer = true;
          answer.push(child.info.spiIn);
          dropChild(ctx, sa, child, 'deleted by peer');
          break;
        default:
          answer.push(child.info.spiIn);
          dropChild(ctx, sa, child, 'deleted by peer');
          ctx.log('info', name, 'peer deleted Child SA', { spiIn: spiHex(child.info.spiIn) });
      }
    }
  }
  return answer.length ? [{ type: PayloadType.DELETE, protocol: ProtocolId.ESP, spiSize: 4, spis: answer.map(spiBytes) }] : [];
}
