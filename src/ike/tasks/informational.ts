/**
 * Requests on an established IKE SA that this version answers (RFC 7296 §1.4, §4): INFORMATIONAL
 * is always answered (liveness, Delete of Child and IKE SAs); CREATE_CHILD_SA is answered with
 * NO_ADDITIONAL_SAS until rekeying lands (RFC 7296 §4 allows exactly that).
 */
import { ExchangeType, NotifyType, PayloadType, ProtocolId } from '../constants.js';
import type { DeletePayload, Payload } from '../codec/types.js';
import type { ChildSa, EngineContext, IkeSa } from '../sa.js';
import { notify } from './notify.js';

export interface RequestOutcome {
  /** The peer deleted the IKE SA: tear it down after answering. */
  closeIke: boolean;
  removedChildren: ChildSa[];
}

function spiNumber(b: Uint8Array): number {
  return b.length === 4 ? Buffer.from(b).readUInt32BE(0) : -1;
}

/** RFC 7296 §1.4.1: delete the listed SAs and answer with Deletes for their paired SAs. */
function handleDeletes(ctx: EngineContext, sa: IkeSa, deletes: DeletePayload[], out: RequestOutcome): Payload[] {
  const answer: number[] = [];
  for (const d of deletes) {
    if (d.protocol === ProtocolId.IKE) {
      out.closeIke = true;
      continue;
    }
    if (d.protocol !== ProtocolId.ESP) continue;
    for (const spi of d.spis) {
      // The peer lists its inbound SPIs: our outbound ones.
      const n = spiNumber(spi);
      const idx = sa.children.findIndex((c) => c.info.spiOut === n);
      if (idx < 0) continue;
      const [child] = sa.children.splice(idx, 1);
      out.removedChildren.push(child!);
      answer.push(child!.info.spiIn);
    }
  }
  if (out.closeIke || answer.length === 0) return [];
  const spis = answer.map((n) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(n >>> 0);
    return new Uint8Array(b);
  });
  return [{ type: PayloadType.DELETE, protocol: ProtocolId.ESP, spiSize: 4, spis }];
}

export function answerRequest(ctx: EngineContext, sa: IkeSa, exchangeType: number, messageId: number, req: Payload[]): RequestOutcome {
  const out: RequestOutcome = { closeIke: false, removedChildren: [] };
  if (exchangeType === ExchangeType.INFORMATIONAL) {
    const deletes = req.filter((p): p is DeletePayload => p.type === PayloadType.DELETE);
    const resp = handleDeletes(ctx, sa, deletes, out);
    sa.sendResponse(ctx, ExchangeType.INFORMATIONAL, messageId, resp, true);
    return out;
  }
  if (exchangeType === ExchangeType.CREATE_CHILD_SA) {
    ctx.log('info', sa.tunnel.name, 'peer requested CREATE_CHILD_SA; answering NO_ADDITIONAL_SAS (rekeying is not supported in this version)');
    sa.sendResponse(ctx, ExchangeType.CREATE_CHILD_SA, messageId, [notify(NotifyType.NO_ADDITIONAL_SAS)], true);
    return out;
  }
  ctx.log('warn', sa.tunnel.name, `ignoring request of unknown exchange type ${exchangeType}`);
  return out;
}

/** Start deleting the whole IKE SA (and with it every Child SA, RFC 7296 §1.4.1). */
export function sendIkeDelete(ctx: EngineContext, sa: IkeSa): void {
  sa.state = 'deleting';
  sa.sendRequest(ctx, ExchangeType.INFORMATIONAL, [{ type: PayloadType.DELETE, protocol: ProtocolId.IKE, spiSize: 0, spis: [] }], true);
}
