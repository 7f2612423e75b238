/**
 * Encrypted and Authenticated payload (SK), RFC 7296 §3.14 — outer form only.
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                     Initialization Vector                     |
 * |         (length is block size for encryption algorithm)       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                    Encrypted IKE Payloads                     ~
 * +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |               |             Padding (0-255 octets)            |
 * +-+-+-+-+-+-+-+-+                               +-+-+-+-+-+-+-+-+
 * |                                               |  Pad Length   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                    Integrity Checksum Data                    ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field     | offset | size | notes                                                   |
 * |-----------|--------|------|---------------------------------------------------------|
 * | innerNext | hdr 0  | 1    | the generic Next Payload field = first inner payload     |
 * | body      | 0      | rest | IV ‖ ciphertext ‖ ICV, opaque here; SkCipher opens it   |
 *
 * §3.14: the SK payload MUST be the last payload in the message (enforced by the chain).
 */
import { PayloadType } from '../../constants.js';
import type { ByteReader, ByteWriter, PayloadCodec, PayloadContext } from '../bytes.js';
import type { SkPayload } from '../types.js';

export const skCodec: PayloadCodec<SkPayload> = {
  decode(r: ByteReader, ctx: PayloadContext): SkPayload {
    return { type: PayloadType.SK, critical: ctx.critical, innerNext: ctx.next, body: r.rest() };
  },
  encode(w: ByteWriter, p: SkPayload): void {
    w.bytes(p.body);
  },
  verify(p: SkPayload): string | null {
    return p.body.length === 0 ? 'empty SK payload' : null;
  },
};
