/**
 * Nonce payload, RFC 7296 §3.9.
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * ~                            Nonce Data                         ~
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field | body offset | size | notes                                       |
 * |-------|-------------|------|---------------------------------------------|
 * | data  | 0           | rest | §3.9: MUST be between 16 and 256 octets     |
 */
import { PayloadType } from '../../constants.js';
import type { ByteReader, ByteWriter, PayloadCodec, PayloadContext } from '../bytes.js';
import type { NoncePayload } from '../types.js';

/** RFC 7296 §3.9: "The size of the Nonce Data MUST be between 16 and 256 octets, inclusive." */
export const NONCE_MIN = 16;
export const NONCE_MAX = 256;

export const nonceCodec: PayloadCodec<NoncePayload> = {
  decode(r: ByteReader, ctx: PayloadContext): NoncePayload {
    return { type: PayloadType.NONCE, critical: ctx.critical, data: r.rest() };
  },
  encode(w: ByteWriter, p: NoncePayload): void {
    w.bytes(p.data);
  },
  verify(p: NoncePayload): string | null {
    const n = p.data.length;
    return n < NONCE_MIN || n > NONCE_MAX ? `nonce of ${n} octets outside ${NONCE_MIN}..${NONCE_MAX}` : null;
  },
};
