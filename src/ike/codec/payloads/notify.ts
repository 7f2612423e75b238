/**
 * Notify payload, RFC 7296 §3.10.
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |  Protocol ID  |   SPI Size    |      Notify Message Type      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * ~                Security Parameter Index (SPI)                 ~
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * ~                       Notification Data                       ~
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field      | body offset | size    | notes                                         |
 * |------------|-------------|---------|-----------------------------------------------|
 * | protocol   | 0           | 1       | 0 none, 1 IKE, 2 AH, 3 ESP                    |
 * | SPI Size   | 1           | 1       | length of spi; 0 for the IKE SA (§3.10)       |
 * | notifyType | 2           | 2       | < 16384 error, ≥ 16384 status (§3.10.1)       |
 * | spi        | 4           | SPISize |                                               |
 * | data       | 4+SPISize   | rest    |                                               |
 */
import { ProtocolId, PayloadType } from '../../constants.js';
import type { ByteReader, ByteWriter, PayloadCodec, PayloadContext } from '../bytes.js';
import type { NotifyPayload } from '../types.js';

export const notifyCodec: PayloadCodec<NotifyPayload> = {
  decode(r: ByteReader, ctx: PayloadContext): NotifyPayload {
    const protocol = r.u8('notify protocol');
    const spiSize = r.u8('notify SPI size');
    const notifyType = r.u16('notify type');
    const spi = r.bytes(spiSize, 'notify SPI');
    return { type: PayloadType.NOTIFY, critical: ctx.critical, protocol, spi, notifyType, data: r.rest() };
  },
  encode(w: ByteWriter, p: NotifyPayload): void {
    w.u8(p.protocol, 'notify protocol').u8(p.spi.length, 'notify SPI size').u16(p.notifyType, 'notify type');
    w.bytes(p.spi).bytes(p.data);
  },
  /**
   * §3.10: "For a notification concerning the IKE SA, the SPI Size MUST be zero". Some older
   * peers send the 8-octet IKE SPI anyway; that is tolerated. ESP/AH SPIs are 4 octets.
   */
  verify(p: NotifyPayload): string | null {
    const n = p.spi.length;
    switch (p.protocol) {
      case 0:
        return n === 0 ? null : `notify without protocol carries a ${n}-octet SPI`;
      case ProtocolId.IKE:
        return n === 0 || n === 8 ? null : `IKE notify with ${n}-octet SPI`;
      case ProtocolId.AH:
      case ProtocolId.ESP:
        return n === 0 || n === 4 ? null : `ESP/AH notify with ${n}-octet SPI`;
      default:
        return `notify protocol ${p.protocol}`;
    }
  },
};
