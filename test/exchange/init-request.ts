/**
 * Raw IKE_SA_INIT requests for the responder-protection tests: what an initiator (or a flood of
 * spoofed ones) would send, built with the codec from a tunnel's IKE proposals, with the SPI,
 * nonce, KE value and an optional leading COOKIE chosen by the test.
 */
import { encodeMessage } from '../../src/ike/codec/message.js';
import type { Payload } from '../../src/ike/codec/types.js';
import { ExchangeType, NotifyType, PayloadType, ProtocolId } from '../../src/ike/constants.js';
import { toProposals } from '../../src/ike/proposals.js';
import { notify } from '../../src/ike/tasks/notify.js';
import type { ProposalTemplate } from '../../src/config/types.js';
import type { Endpoint } from '../../src/ike/actions.js';
import { decodeOrFail } from './harness.js';

export interface InitFields {
  spiI: Uint8Array;
  nonce: Uint8Array;
  group: number;
  ke: Uint8Array;
  proposals: ProposalTemplate[];
  cookie?: Uint8Array;
}

export function initRequest(f: InitFields): Uint8Array {
  const payloads: Payload[] = [];
  // RFC 7296 §2.6: the COOKIE goes first.
  if (f.cookie) payloads.push(notify(NotifyType.COOKIE, f.cookie));
  payloads.push(
    { type: PayloadType.SA, proposals: toProposals(f.proposals, ProtocolId.IKE, new Uint8Array(0)) },
    { type: PayloadType.KE, group: f.group, data: f.ke },
    { type: PayloadType.NONCE, data: f.nonce },
  );
  return encodeMessage(
    { spiI: f.spiI, spiR: new Uint8Array(8), majorVersion: 2, minorVersion: 0, exchangeType: ExchangeType.IKE_SA_INIT, initiator: true, response: false, version: false, messageId: 0 },
    payloads,
  );
}

/** The COOKIE a response carries when it is a cookie challenge (its only payload), else null. */
export function cookieOf(bytes: Uint8Array): Uint8Array | null {
  const m = decodeOrFail(bytes);
  const p = m.payloads[0];
  if (m.payloads.length !== 1 || p?.type !== PayloadType.NOTIFY || p.notifyType !== NotifyType.COOKIE) return null;
  return p.data;
}

/** Whether a response is a real IKE_SA_INIT answer (SA, KE and Nonce: the responder did DH). */
export function isFullAnswer(bytes: Uint8Array): boolean {
  const types = decodeOrFail(bytes).payloads.map((p) => p.type);
  return types.includes(PayloadType.SA) && types.includes(PayloadType.KE) && types.includes(PayloadType.NONCE);
}

export function arrivalFrom(address: string, to: string, port = 500): { from: Endpoint; to: Endpoint; natT: boolean } {
  return { from: { address, port }, to: { address: to, port }, natT: false };
}

/** The same request with a COOKIE put first (what an initiator sends after a challenge, §2.6). */
export function withCookie(req: Uint8Array, cookie: Uint8Array): Uint8Array {
  const m = decodeOrFail(req);
  return encodeMessage(m.header, [notify(NotifyType.COOKIE, cookie), ...m.payloads]);
}
