/**
 * The Next Payload chain, RFC 7296 §3.2 (generic payload header) and §2.5 (critical bit).
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field          | offset | size  | notes                                              |
 * |----------------|--------|-------|----------------------------------------------------|
 * | Next Payload   | 0      | 1     | type of the next payload; 0 ends the chain          |
 * | C              | 1      | 1 bit | reported as received; unknown + C ⇒ reject message  |
 * | RESERVED       | 1      | 7 bit | sent 0, ignored on receipt                          |
 * | Payload Length | 2      | 2     | ≥ 4, header included, must not run past the end     |
 *
 * Payloads of unknown type become { type: 'unknown' } so the engine can skip them or, when
 * critical, answer UNSUPPORTED_CRITICAL_PAYLOAD (§2.5). SK and SKF end the chain: their Next
 * Payload field names the first inner payload, and nothing may follow them (§3.14).
 */
import { PayloadType, payloadName } from '../constants.js';
import { ByteReader, ByteWriter, EncodeError, catchDecode, type PayloadCodec } from './bytes.js';
import { authCodec } from './payloads/auth.js';
import { certCodec } from './payloads/cert.js';
import { certReqCodec } from './payloads/certreq.js';
import { cpCodec } from './payloads/cp.js';
import { deleteCodec } from './payloads/delete.js';
import { eapCodec } from './payloads/eap.js';
import { idCodec } from './payloads/id.js';
import { keCodec } from './payloads/ke.js';
import { nonceCodec } from './payloads/nonce.js';
import { notifyCodec } from './payloads/notify.js';
import { saCodec } from './payloads/sa.js';
import { skCodec } from './payloads/sk.js';
import { skfCodec } from './payloads/skf.js';
import { tsCodec } from './payloads/ts.js';
import { vendorCodec } from './payloads/vendor.js';
import { DecodeError, type DecodeResult, type Payload, type UnknownPayload } from './types.js';

/** Implementation limit: more payloads than this in one chain is 'too-many-payloads'. */
export const MAX_PAYLOADS = 64;

const CRITICAL = 0x80;

export type KnownPayload = Exclude<Payload, UnknownPayload>;

const CODECS: ReadonlyMap<number, PayloadCodec<KnownPayload>> = new Map<number, PayloadCodec<KnownPayload>>([
  [PayloadType.SA, saCodec],
  [PayloadType.KE, keCodec],
  [PayloadType.IDi, idCodec],
  [PayloadType.IDr, idCodec],
  [PayloadType.CERT, certCodec],
  [PayloadType.CERTREQ, certReqCodec],
  [PayloadType.AUTH, authCodec],
  [PayloadType.NONCE, nonceCodec],
  [PayloadType.NOTIFY, notifyCodec],
  [PayloadType.DELETE, deleteCodec],
  [PayloadType.VENDOR, vendorCodec],
  [PayloadType.TSi, tsCodec],
  [PayloadType.TSr, tsCodec],
  [PayloadType.SK, skCodec],
  [PayloadType.CP, cpCodec],
  [PayloadType.EAP, eapCodec],
  [PayloadType.SKF, skfCodec],
]);

/** The wire type number of a payload (rawType for unknown ones). */
export function payloadTypeOf(p: Payload): number {
  return p.type === 'unknown' ? p.rawType : p.type;
}

/** True for SK and SKF, which end a chain (§3.14, RFC 7383 §2.5). */
export function isEncrypted(type: number): boolean {
  return type === PayloadType.SK || type === PayloadType.SKF;
}

/**
 * Walks the chain starting at `offset` with first payload type `firstType` and requires it to
 * end exactly at the end of `bytes`. Never throws on malformed input.
 */
export function decodePayloads(bytes: Uint8Array, firstType: number, offset = 0): DecodeResult<Payload[]> {
  return catchDecode(() => {
    if (!Number.isInteger(offset) || offset < 0 || offset > bytes.length) {
      throw new DecodeError('truncated', `chain offset ${offset} outside ${bytes.length} octets`, 0);
    }
    const r = new ByteReader(bytes, offset);
    const out: Payload[] = [];
    let type = firstType;
    while (type !== PayloadType.NONE) {
      const at = r.pos;
      if (out.length === MAX_PAYLOADS) r.fail('too-many-payloads', `more than ${MAX_PAYLOADS} payloads`);
      const next = r.u8('next payload');
      const critical = (r.u8('payload flags') & CRITICAL) !== 0;
      const len = r.u16('payload length');
      if (len < 4) r.fail('bad-length', `${payloadName(type)} length ${len} < 4`, at + 2);
      if (len - 4 > r.remaining) {
        r.fail('bad-length', `${payloadName(type)} length ${len} exceeds the ${r.remaining + 4} octets left`, at + 2);
      }
      const body = r.sub(len - 4);
      const codec = CODECS.get(type);
      if (codec === undefined) {
        out.push({ type: 'unknown', rawType: type, critical, data: body.rest() });
      } else {
        out.push(codec.decode(body, { type, next, critical }));
        if (!body.atEnd()) body.fail('bad-length', `${body.remaining} unparsed octets in ${payloadName(type)}`);
      }
      if (isEncrypted(type)) {
        if (!r.atEnd()) r.fail('trailing-bytes', `${r.remaining} octets after ${payloadName(type)} (§3.14: must be last)`);
        return out;
      }
      type = next;
    }
    if (!r.atEnd()) r.fail('trailing-bytes', `${r.remaining} octets after the last payload`);
    return out;
  });
}

/**
 * Encodes payloads with their generic headers, setting every Next Payload and Payload Length.
 * The first payload's type (the header's Next Payload) is `payloadTypeOf(payloads[0])`.
 * Throws EncodeError if SK/SKF is not last or a field does not fit.
 */
export function encodePayloads(payloads: readonly Payload[]): Uint8Array {
  const w = new ByteWriter(512);
  payloads.forEach((p, i) => {
    const following = payloads[i + 1];
    let next: number;
    if (p.type === PayloadType.SK || p.type === PayloadType.SKF) {
      if (following !== undefined) throw new EncodeError(`${payloadName(p.type)} must be the last payload`);
      next = p.innerNext;
    } else {
      next = following === undefined ? PayloadType.NONE : payloadTypeOf(following);
    }
    const start = w.length;
    w.u8(next, 'next payload').u8(p.critical === true ? CRITICAL : 0).u16(0);
    if (p.type === 'unknown') {
      w.bytes(p.data);
    } else {
      const codec = CODECS.get(p.type);
      if (codec === undefined) throw new EncodeError(`no codec for payload type ${String(p.type)}`);
      codec.encode(w, p);
    }
    const len = w.length - start;
    if (len > 0xffff) throw new EncodeError(`${payloadName(payloadTypeOf(p))} of ${len} octets`);
    w.patchU16(start + 2, len, 'payload length');
  });
  return w.finish();
}

/** Semantic check of one payload (the module's verify()); null when fine. Unknown payloads pass. */
export function verifyPayload(p: Payload): string | null {
  if (p.type === 'unknown') return null;
  const codec = CODECS.get(p.type);
  return codec === undefined ? `no codec for payload type ${String(p.type)}` : codec.verify(p);
}
