/**
 * Deleting the IKE SA (RFC 7296 §1.4.1): a Delete payload with protocol IKE in an INFORMATIONAL
 * request; the answer is an empty INFORMATIONAL, and both sides drop the IKE SA and every Child
 * SA on it. Also used for an IKE SA made redundant by a rekey (§2.8, §2.8.2), which has no
 * Child SAs any more and goes quietly.
 */
import { ExchangeType, PayloadType, ProtocolId } from '../constants.js';
import type { Payload } from '../codec/types.js';
import type { EngineContext, IkeSa, Task } from '../sa.js';

export class IkeDeleteTask implements Task {
  readonly name = 'ike-delete';
  /** reconnect: an initiating tunnel starts again once this SA is gone. */
  constructor(readonly reason: string, readonly reconnect: boolean) {}

  build(): { exchange: number; payloads: Payload[] } {
    return { exchange: ExchangeType.INFORMATIONAL, payloads: [{ type: PayloadType.DELETE, protocol: ProtocolId.IKE, spiSize: 0, spis: [] }] };
  }

  onResponse(ctx: EngineContext, sa: IkeSa): void {
    ctx.ops?.removeIke(ctx, sa, this.reason, this.reconnect);
  }
}

/**
 * Start deleting the whole IKE SA. It goes to the front of the queue (window of one, §2.3) and
 * the SA stops starting anything else.
 */
export function sendIkeDelete(ctx: EngineContext, sa: IkeSa, reason = 'deleted', reconnect = false): void {
  if (sa.hasTask('ike-delete')) return;
  if (sa.state === 'established') sa.state = 'deleting';
  sa.tasks = [];
  sa.queue(ctx, new IkeDeleteTask(reason, reconnect), true);
}
