/**
 * Requests the peer sends on an established IKE SA (RFC 7296 §1.3, §1.4, §4): INFORMATIONAL is
 * always answered (liveness checks, Deletes of Child SAs and of the IKE SA); CREATE_CHILD_SA
 * rekeys the IKE SA (an SA payload with protocol IKE, ike-rekey.ts) or creates or rekeys a
 * Child SA (create-child-responder.ts).
 */
import { ExchangeType, PayloadType, ProtocolId } from '../constants.js';
import type { DeletePayload, Payload } from '../codec/types.js';
import type { EngineContext, IkeSa } from '../sa.js';
import { deleteChildren } from './child-delete.js';
import { answerCreateChild } from './create-child-responder.js';
import { answerIkeRekey } from './ike-rekey.js';

export { sendIkeDelete } from './ike-delete.js';

export interface RequestOutcome {
  /** The peer deleted the IKE SA: tear it down after answering. */
  closeIke: boolean;
}

export function answerRequest(ctx: EngineContext, sa: IkeSa, exchangeType: number, messageId: number, req: Payload[]): RequestOutcome {
  const out: RequestOutcome = { closeIke: false };
  if (exchangeType === ExchangeType.INFORMATIONAL) {
    const deletes = req.filter((p): p is DeletePayload => p.type === PayloadType.DELETE);
    out.closeIke = deletes.some((d) => d.protocol === ProtocolId.IKE);
    // §1.4.1: the answer to an IKE SA Delete is empty; Child SAs go with the IKE SA.
    const resp = out.closeIke ? [] : deleteChildren(ctx, sa, deletes);
    sa.sendResponse(ctx, ExchangeType.INFORMATIONAL, messageId, resp, true);
    return out;
  }
  if (exchangeType === ExchangeType.CREATE_CHILD_SA) {
    const saP = req.find((p) => p.type === PayloadType.SA);
    const ike = saP?.type === PayloadType.SA && saP.proposals.some((p) => p.protocol === ProtocolId.IKE);
    const resp = ike ? answerIkeRekey(ctx, sa, req) : answerCreateChild(ctx, sa, req);
    sa.sendResponse(ctx, ExchangeType.CREATE_CHILD_SA, messageId, resp, true);
    return out;
  }
  ctx.log('warn', sa.tunnel.name, `ignoring request of unknown exchange type ${exchangeType}`);
  return out;
}
