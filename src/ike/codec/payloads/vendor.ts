/**
 * Vendor ID payload, RFC 7296 §3.12.
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * ~                        Vendor ID (VID)                        ~
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field | body offset | size | notes                                    |
 * |-------|-------------|------|------------------------------------------|
 * | data  | 0           | rest | opaque; unknown VIDs are simply ignored  |
 */
import { PayloadType } from '../../constants.js';
import type { ByteReader, ByteWriter, PayloadCodec, PayloadContext } from '../bytes.js';
import type { VendorPayload } from '../types.js';

export const vendorCodec: PayloadCodec<VendorPayload> = {
  decode(r: ByteReader, ctx: PayloadContext): VendorPayload {
    return { type: PayloadType.VENDOR, critical: ctx.critical, data: r.rest() };
  },
  encode(w: ByteWriter, p: VendorPayload): void {
    w.bytes(p.data);
  },
  verify(p: VendorPayload): string | null {
    return p.data.length === 0 ? 'empty vendor ID' : null;
  },
};
