/**
 * The first step for every datagram IkeEngine receives: decode the header and the outer payload
 * chain (codec/message.ts) and run every payload's semantic check (payload-checks.ts: nonce
 * sizes, SPI sizes, …). What fails is counted as 'malformed' and logged at debug, limited per
 * kind (log-limiter.ts); a request with a major version we do not speak gets
 * INVALID_MAJOR_VERSION (RFC 7296 §2.5).
 */
import type { Arrival } from './actions.js';
import type { IkeMessage } from './codec/types.js';
import { decodeMessage } from './codec/message.js';
import { BadVersionError } from './codec/header.js';
import { invalidPayload } from './payload-checks.js';
import { ExchangeType, NotifyType, exchangeName } from './constants.js';
import { notify, sendStatelessResponse } from './tasks/notify.js';
import { logFlood } from './engine-context.js';
import type { EngineHost } from './engine-host.js';
import type { EngineContext } from './sa.js';

export function decodeInbound(ctx: EngineContext, engine: Pick<EngineHost, 'drop'>, bytes: Uint8Array, arrival: Arrival): IkeMessage | null {
  const decoded = decodeMessage(bytes);
  if (!decoded.ok) {
    engine.drop('malformed');
    const e = decoded.error;
    if (e instanceof BadVersionError && !e.header.response && e.header.exchangeType === ExchangeType.IKE_SA_INIT) {
      // RFC 7296 §2.5: tell the peer the highest major version we speak.
      sendStatelessResponse(ctx, e.header, arrival, [notify(NotifyType.INVALID_MAJOR_VERSION)]);
    }
    logFlood(ctx, 'malformed', 'debug', undefined, `dropped malformed IKE message from ${arrival.from.address}: ${e.message}`);
    return null;
  }
  const bad = invalidPayload(decoded.value.payloads);
  if (bad) {
    engine.drop('malformed');
    logFlood(ctx, 'malformed', 'debug', undefined, `dropped ${exchangeName(decoded.value.header.exchangeType)} from ${arrival.from.address}: ${bad}`);
    return null;
  }
  return decoded.value;
}
