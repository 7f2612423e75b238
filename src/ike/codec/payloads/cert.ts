/**
 * Certificate payload, RFC 7296 §3.6.
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Cert Encoding |                                               |
 * +-+-+-+-+-+-+-+-+                                               |
 * ~                       Certificate Data                        ~
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field    | body offset | size | notes                                  |
 * |----------|-------------|------|----------------------------------------|
 * | encoding | 0           | 1    | e.g. 4 = X.509 Certificate - Signature |
 * | data     | 1           | rest | opaque here                            |
 */
import { PayloadType } from '../../constants.js';
import type { ByteReader, ByteWriter, PayloadCodec, PayloadContext } from '../bytes.js';
import type { CertPayload } from '../types.js';

export const certCodec: PayloadCodec<CertPayload> = {
  decode(r: ByteReader, ctx: PayloadContext): CertPayload {
    const encoding = r.u8('cert encoding');
    return { type: PayloadType.CERT, critical: ctx.critical, encoding, data: r.rest() };
  },
  encode(w: ByteWriter, p: CertPayload): void {
    w.u8(p.encoding, 'cert encoding').bytes(p.data);
  },
  verify(p: CertPayload): string | null {
    return p.data.length === 0 ? 'empty certificate data' : null;
  },
};
