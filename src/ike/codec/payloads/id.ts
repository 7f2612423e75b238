/**
 * Identification payloads IDi / IDr, RFC 7296 §3.5.
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   ID Type     |                 RESERVED                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * ~                   Identification Data                         ~
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field    | body offset | size | notes                                   |
 * |----------|-------------|------|-----------------------------------------|
 * | idType   | 0           | 1    | IdType (§3.5)                           |
 * | RESERVED | 1           | 3    | sent 0; but part of RestOfIDPayload     |
 * | data     | 4           | rest | 4 octets IPv4, 16 IPv6, else variable   |
 *
 * The body (ID Type ‖ RESERVED ‖ data) is what §2.15 calls RestOfInitIDPayload /
 * RestOfRespIDPayload and is signed in AUTH. We always rebuild it with zero RESERVED octets;
 * §3.5 requires senders to send zero, so a peer's received body has the same octets.
 */
import { IdType, PayloadType } from '../../constants.js';
import { ByteWriter, type ByteReader, type PayloadCodec, type PayloadContext } from '../bytes.js';
import type { IdPayload } from '../types.js';

/** RFC 7296 §2.15 RestOfIDPayload: ID Type ‖ 3 reserved zero octets ‖ Identification Data. */
export function idBody(p: IdPayload): Uint8Array {
  const w = new ByteWriter(4 + p.data.length);
  idCodec.encode(w, p);
  return w.finish();
}

export const idCodec: PayloadCodec<IdPayload> = {
  decode(r: ByteReader, ctx: PayloadContext): IdPayload {
    const idType = r.u8('ID type');
    r.skip(3, 'ID reserved');
    const type = ctx.type === PayloadType.IDr ? PayloadType.IDr : PayloadType.IDi;
    return { type, critical: ctx.critical, idType, data: r.rest() };
  },
  encode(w: ByteWriter, p: IdPayload): void {
    w.u8(p.idType, 'ID type').zeros(3).bytes(p.data);
  },
  verify(p: IdPayload): string | null {
    if (p.idType === IdType.ID_IPV4_ADDR && p.data.length !== 4) return `ID_IPV4_ADDR of ${p.data.length} octets`;
    if (p.idType === IdType.ID_IPV6_ADDR && p.data.length !== 16) return `ID_IPV6_ADDR of ${p.data.length} octets`;
    if (p.data.length === 0) return 'empty identification data';
    return null;
  },
};
