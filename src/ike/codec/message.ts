/**
 * Whole IKE messages: header (RFC 7296 §3.1) + payload chain (§3.2), and protection of the
 * chain inside one SK payload (§3.14, RFC 5282 §5).
 *
 * Protected message layout and what is authenticated:
 *
 *   0            28           32                                       length
 *   +------------+------------+----+-------------------------+-----+----+
 *   | IKE header | SK generic | IV | inner payloads ‖ pad ‖ pl | ICV |
 *   +------------+------------+----+-------------------------+-----+----+
 *   \_______ AAD (final lengths) _/\______ SkCipher.seal output _______/
 *
 * Both Length fields (header offset 24 and SK header offset 30) hold their final values before
 * sealing: the AAD for AEAD, and the first octets of the ICV input for AES-CBC + HMAC, are
 * exactly these octets (RFC 5282 §5.1; strongSwan encrypted_payload.c append_header()).
 */
import { IKE_HEADER_LENGTH, PayloadType } from '../constants.js';
import type { SkCipher } from '../crypto/types.js';
import { ByteWriter, EncodeError } from './bytes.js';
import { decodeHeader, writeHeader } from './header.js';
import { decodePayloads, encodePayloads, isEncrypted, payloadTypeOf } from './payload-chain.js';
import {
  DecodeError,
  type DecodeResult,
  type IkeHeader,
  type IkeMessage,
  type NotifyPayload,
  type Payload,
} from './types.js';

/** Header fields the caller chooses; Next Payload and Length are computed. */
export type MessageHeaderFields = Omit<IkeHeader, 'length' | 'nextPayload'>;

/** Result of opening an SK payload: 'integrity' (drop silently, §2.21.2) vs a malformed inner chain. */
export type OpenResult =
  | { ok: true; value: Payload[] }
  | { ok: false; error: 'integrity' }
  | { ok: false; error: DecodeError };

const SK_HEADER_LENGTH = 4;

/** Header + outer payload chain. The SK payload, if any, stays sealed. Never throws on bad input. */
export function decodeMessage(bytes: Uint8Array): DecodeResult<IkeMessage> {
  const header = decodeHeader(bytes);
  if (!header.ok) return header;
  const payloads = decodePayloads(bytes, header.value.nextPayload, IKE_HEADER_LENGTH);
  if (!payloads.ok) return payloads;
  return { ok: true, value: { header: header.value, payloads: payloads.value } };
}

/**
 * Encodes a message. With `protect`, all `payloads` go inside one SK payload: the inner chain
 * is built, its sealed length computed, the header and SK generic header written with their
 * final lengths, and those 32 octets passed to `protect.seal` as AAD.
 */
export function encodeMessage(header: MessageHeaderFields, payloads: readonly Payload[], protect?: SkCipher): Uint8Array {
  const first = payloads[0];
  const firstType = first === undefined ? PayloadType.NONE : payloadTypeOf(first);
  const chain = encodePayloads(payloads);

  if (protect === undefined) {
    const length = IKE_HEADER_LENGTH + chain.length;
    const w = new ByteWriter(length);
    writeHeader(w, { ...header, nextPayload: firstType, length });
    w.bytes(chain);
    return w.finish();
  }

  if (payloads.some((p) => isEncrypted(payloadTypeOf(p)))) {
    throw new EncodeError('SK/SKF cannot be nested inside SK');
  }
  const sealedLength = protect.sealedLength(chain.length);
  const skLength = SK_HEADER_LENGTH + sealedLength;
  if (skLength > 0xffff) throw new EncodeError(`SK payload of ${skLength} octets`);
  const length = IKE_HEADER_LENGTH + skLength;
  const w = new ByteWriter(length);
  writeHeader(w, { ...header, nextPayload: PayloadType.SK, length });
  w.u8(firstType, 'SK next payload').u8(0).u16(skLength);
  const aad = w.finish();
  const body = protect.seal(aad, chain);
  if (body.length !== sealedLength) {
    throw new EncodeError(`SkCipher.seal returned ${body.length} octets, sealedLength said ${sealedLength}`);
  }
  w.bytes(body);
  return w.finish();
}

/**
 * Verifies and decrypts the SK payload of `msg` (decoded from exactly `bytes`) and decodes the
 * inner chain from SK's Next Payload. AAD = bytes from the message start through the SK generic
 * header. SKF fragments must be reassembled first.
 */
export function openMessage(bytes: Uint8Array, msg: IkeMessage, protect: SkCipher): OpenResult {
  const bad = (reason: 'bad-field' | 'bad-length', detail: string, at: number): OpenResult => ({
    ok: false,
    error: new DecodeError(reason, detail, at),
  });
  const sk = msg.payloads[msg.payloads.length - 1];
  if (sk === undefined || sk.type !== PayloadType.SK) {
    return bad('bad-field', 'no SK payload at the end of the message', IKE_HEADER_LENGTH);
  }
  if (bytes.length !== msg.header.length) {
    return bad('bad-length', `message of ${bytes.length} octets, header says ${msg.header.length}`, 24);
  }
  const skStart = bytes.length - SK_HEADER_LENGTH - sk.body.length;
  const skLen = skStart >= IKE_HEADER_LENGTH ? ((bytes[skStart + 2] ?? 0) << 8) | (bytes[skStart + 3] ?? 0) : -1;
  if (skLen !== SK_HEADER_LENGTH + sk.body.length || bytes[skStart] !== sk.innerNext) {
    return bad('bad-field', 'SK payload does not match the message bytes', Math.max(skStart, 0));
  }
  if (sk.body.length < protect.ivLength + protect.icvLength) return { ok: false, error: 'integrity' };
  const plain = protect.open(bytes.slice(0, skStart + SK_HEADER_LENGTH), sk.body);
  if (plain === null) return { ok: false, error: 'integrity' };
  const inner = decodePayloads(plain, sk.innerNext);
  if (!inner.ok) return inner;
  if (inner.value.some((p) => isEncrypted(payloadTypeOf(p)))) return bad('bad-field', 'SK/SKF inside SK', 0);
  return inner;
}

/** The payload variant whose `type` can be T (IDi and IDr both map to IdPayload). */
export type PayloadOf<T extends Payload['type']> = Payload extends infer P
  ? P extends { type: infer U }
    ? T extends U
      ? P
      : never
    : never
  : never;

/** First payload of the given type, typed accordingly. */
export function findPayload<T extends Payload['type']>(payloads: readonly Payload[], type: T): PayloadOf<T> | undefined {
  return payloads.find((p) => p.type === type) as PayloadOf<T> | undefined;
}

/** Every Notify payload, or only those of `notifyType`. */
export function findNotifies(payloads: readonly Payload[], notifyType?: number): NotifyPayload[] {
  return payloads.filter(
    (p): p is NotifyPayload =>
      p.type === PayloadType.NOTIFY && (notifyType === undefined || p.notifyType === notifyType),
  );
}

/** First Notify payload of `notifyType`. */
export function findNotify(payloads: readonly Payload[], notifyType: number): NotifyPayload | undefined {
  return findNotifies(payloads, notifyType)[0];
}
