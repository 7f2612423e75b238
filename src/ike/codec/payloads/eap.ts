/**
 * EAP payload, RFC 7296 §3.16.
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * ~                       EAP Message                             ~
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * The EAP message (RFC 3748 §4) starts with Code (1), Identifier (1), Length (2); the Length
 * covers the whole EAP message.
 *
 * | field | body offset | size | notes                                  |
 * |-------|-------------|------|----------------------------------------|
 * | data  | 0           | rest | one EAP packet, kept opaque            |
 */
import { PayloadType } from '../../constants.js';
import type { ByteReader, ByteWriter, PayloadCodec, PayloadContext } from '../bytes.js';
import type { EapPayload } from '../types.js';

export const eapCodec: PayloadCodec<EapPayload> = {
  decode(r: ByteReader, ctx: PayloadContext): EapPayload {
    return { type: PayloadType.EAP, critical: ctx.critical, data: r.rest() };
  },
  encode(w: ByteWriter, p: EapPayload): void {
    w.bytes(p.data);
  },
  /** RFC 3748 §4: at least Code, Identifier, Length; Length equals the message length. */
  verify(p: EapPayload): string | null {
    const d = p.data;
    if (d.length < 4) return `EAP message of ${d.length} octets`;
    const len = ((d[2] ?? 0) << 8) | (d[3] ?? 0);
    return len !== d.length ? `EAP length field ${len} != ${d.length}` : null;
  },
};
