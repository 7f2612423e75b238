/**
 * Small builders for Notify payloads (RFC 7296 §3.10) and the stateless error answers a
 * responder sends to an IKE_SA_INIT it will not accept (RFC 7296 §1.2, §2.6: "HDR(A,0), N(...)").
 * Finding payloads in a message is codec/message.ts (findPayload, findNotify, findNotifies).
 */
import { PayloadType } from '../constants.js';
import type { IkeHeader, NotifyPayload, Payload } from '../codec/types.js';
import { encodeMessage } from '../codec/message.js';
import type { Arrival } from '../actions.js';
import type { EngineContext } from '../sa.js';

export function notify(notifyType: number, data: Uint8Array = new Uint8Array(0), protocol = 0, spi: Uint8Array = new Uint8Array(0)): NotifyPayload {
  return { type: PayloadType.NOTIFY, protocol, spi, notifyType, data };
}

export function u16(n: number): Uint8Array {
  return Uint8Array.of((n >> 8) & 0xff, n & 0xff);
}

export function readU16(b: Uint8Array): number | null {
  return b.length === 2 ? (b[0]! << 8) | b[1]! : null;
}

/** Answer a request without creating any state: same SPIi, SPIr zero, response flag set. */
export function sendStatelessResponse(ctx: EngineContext, req: IkeHeader, arrival: Arrival, payloads: Payload[]): void {
  const bytes = encodeMessage(
    {
      spiI: req.spiI,
      spiR: new Uint8Array(8),
      majorVersion: 2,
      minorVersion: 0,
      exchangeType: req.exchangeType,
      initiator: false,
      response: true,
      version: false,
      messageId: req.messageId,
    },
    payloads,
  );
  ctx.actions.push({ kind: 'send', from: { ...arrival.to }, to: { ...arrival.from }, natT: arrival.natT, bytes });
}
