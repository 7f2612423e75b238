/**
 * Certificate Request payload, RFC 7296 §3.7.
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Cert Encoding |                                               |
 * +-+-+-+-+-+-+-+-+                                               |
 * ~                    Certification Authority                    ~
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field    | body offset | size | notes                                                  |
 * |----------|-------------|------|--------------------------------------------------------|
 * | encoding | 0           | 1    | 4 = X.509: data is a list of 20-octet SHA-1 key hashes |
 * | data     | 1           | rest | may be empty (§3.7)                                    |
 */
import { PayloadType } from '../../constants.js';
import type { ByteReader, ByteWriter, PayloadCodec, PayloadContext } from '../bytes.js';
import type { CertReqPayload } from '../types.js';

/** §3.6 Certificate Encoding 4: X.509 Certificate - Signature. */
const X509_SIGNATURE = 4;

export const certReqCodec: PayloadCodec<CertReqPayload> = {
  decode(r: ByteReader, ctx: PayloadContext): CertReqPayload {
    const encoding = r.u8('certreq encoding');
    return { type: PayloadType.CERTREQ, critical: ctx.critical, encoding, data: r.rest() };
  },
  encode(w: ByteWriter, p: CertReqPayload): void {
    w.u8(p.encoding, 'certreq encoding').bytes(p.data);
  },
  /** §3.7: for X.509 the CA field is a concatenation of SHA-1 hashes of CA public keys. */
  verify(p: CertReqPayload): string | null {
    if (p.encoding === X509_SIGNATURE && p.data.length % 20 !== 0) {
      return `X.509 CERTREQ of ${p.data.length} octets is not a list of 20-octet hashes`;
    }
    return null;
  },
};
