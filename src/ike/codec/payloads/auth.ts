/**
 * Authentication payload, RFC 7296 §3.8.
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Auth Method   |                RESERVED                       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * ~                      Authentication Data                      ~
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field    | body offset | size | notes                                  |
 * |----------|-------------|------|----------------------------------------|
 * | method   | 0           | 1    | AuthMethod (§3.8, RFC 7427 = 14)       |
 * | RESERVED | 1           | 3    | sent 0, ignored on receipt             |
 * | data     | 4           | rest | PSK: prf output; RFC 7427: len‖AlgId‖sig |
 */
import { PayloadType } from '../../constants.js';
import type { ByteReader, ByteWriter, PayloadCodec, PayloadContext } from '../bytes.js';
import type { AuthPayload } from '../types.js';

export const authCodec: PayloadCodec<AuthPayload> = {
  decode(r: ByteReader, ctx: PayloadContext): AuthPayload {
    const method = r.u8('auth method');
    r.skip(3, 'auth reserved');
    return { type: PayloadType.AUTH, critical: ctx.critical, method, data: r.rest() };
  },
  encode(w: ByteWriter, p: AuthPayload): void {
    w.u8(p.method, 'auth method').zeros(3).bytes(p.data);
  },
  verify(p: AuthPayload): string | null {
    return p.data.length === 0 ? 'empty authentication data' : null;
  },
};
