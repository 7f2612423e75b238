/**
 * Delete payload, RFC 7296 §3.11.
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Protocol ID   |   SPI Size    |          Num of SPIs          |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * ~               Security Parameter Index(es) (SPI)              ~
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field    | body offset | size           | notes                                  |
 * |----------|-------------|----------------|----------------------------------------|
 * | protocol | 0           | 1              | 1 IKE, 2 AH, 3 ESP                     |
 * | spiSize  | 1           | 1              | 0 for IKE (the SA is the header's), 4 ESP/AH |
 * | numSpis  | 2           | 2              | 0 for IKE                              |
 * | spis     | 4           | spiSize×numSpis| must fill the body exactly             |
 */
import { ProtocolId, PayloadType } from '../../constants.js';
import { EncodeError, type ByteReader, type ByteWriter, type PayloadCodec, type PayloadContext } from '../bytes.js';
import type { DeletePayload } from '../types.js';

export const deleteCodec: PayloadCodec<DeletePayload> = {
  decode(r: ByteReader, ctx: PayloadContext): DeletePayload {
    const start = r.pos;
    const protocol = r.u8('delete protocol');
    const spiSize = r.u8('delete SPI size');
    const count = r.u16('delete SPI count');
    if (spiSize === 0 && count !== 0) r.fail('bad-field', `${count} SPIs of size 0`, start + 2);
    if (spiSize * count !== r.remaining) {
      r.fail('bad-length', `${count} SPIs of ${spiSize} octets in ${r.remaining} octets`, start + 2);
    }
    const spis: Uint8Array[] = [];
    for (let i = 0; i < count; i++) spis.push(r.bytes(spiSize, 'delete SPI'));
    return { type: PayloadType.DELETE, critical: ctx.critical, protocol, spiSize, spis };
  },
  encode(w: ByteWriter, p: DeletePayload): void {
    if (p.spiSize === 0 && p.spis.length !== 0) throw new EncodeError('delete: SPIs with SPI size 0');
    w.u8(p.protocol, 'delete protocol').u8(p.spiSize, 'delete SPI size').u16(p.spis.length, 'delete SPI count');
    for (const spi of p.spis) {
      if (spi.length !== p.spiSize) throw new EncodeError(`delete: SPI of ${spi.length} octets, size ${p.spiSize}`);
      w.bytes(spi);
    }
  },
  /** §3.11: IKE → SPI size 0 and no SPIs; ESP/AH → SPI size 4 and at least one SPI. */
  verify(p: DeletePayload): string | null {
    if (p.protocol === ProtocolId.IKE) {
      return p.spiSize === 0 && p.spis.length === 0 ? null : 'IKE delete must have SPI size 0 and no SPIs';
    }
    if (p.protocol === ProtocolId.ESP || p.protocol === ProtocolId.AH) {
      if (p.spiSize !== 4) return `ESP/AH delete with SPI size ${p.spiSize}`;
      return p.spis.length > 0 ? null : 'ESP/AH delete without SPIs';
    }
    return `delete protocol ${p.protocol}`;
  },
};
