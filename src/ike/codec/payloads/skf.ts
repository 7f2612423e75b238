/**
 * Encrypted and Authenticated Fragment payload (SKF), RFC 7383 §2.5.
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |        Fragment Number        |        Total Fragments        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                     Initialization Vector                     |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                      Encrypted content                        ~
 * +               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |               |             Padding (0-255 octets)            |
 * +-+-+-+-+-+-+-+-+                               +-+-+-+-+-+-+-+-+
 * |                                               |  Pad Length   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                    Integrity Checksum Data                    ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field          | offset | size | notes                                              |
 * |----------------|--------|------|----------------------------------------------------|
 * | innerNext      | hdr 0  | 1    | first inner payload in fragment 1, 0 in the others |
 * | fragmentNumber | 0      | 2    | ≥ 1                                                |
 * | totalFragments | 2      | 2    | ≥ fragmentNumber                                   |
 * | body           | 4      | rest | IV ‖ ciphertext ‖ ICV, opaque here                 |
 *
 * RFC 7383 §2.6: a fragment whose number exceeds its total is malformed and is rejected here.
 * The AAD for a fragment is the IKE header plus the whole 8-octet SKF header (§2.5).
 */
import { PayloadType } from '../../constants.js';
import { EncodeError, type ByteReader, type ByteWriter, type PayloadCodec, type PayloadContext } from '../bytes.js';
import type { SkfPayload } from '../types.js';

export const skfCodec: PayloadCodec<SkfPayload> = {
  decode(r: ByteReader, ctx: PayloadContext): SkfPayload {
    const at = r.pos;
    const fragmentNumber = r.u16('fragment number');
    const totalFragments = r.u16('total fragments');
    if (fragmentNumber < 1 || totalFragments < fragmentNumber) {
      r.fail('bad-field', `fragment ${fragmentNumber} of ${totalFragments}`, at);
    }
    return {
      type: PayloadType.SKF,
      critical: ctx.critical,
      innerNext: ctx.next,
      fragmentNumber,
      totalFragments,
      body: r.rest(),
    };
  },
  encode(w: ByteWriter, p: SkfPayload): void {
    if (p.fragmentNumber < 1 || p.totalFragments < p.fragmentNumber) {
      throw new EncodeError(`fragment ${p.fragmentNumber} of ${p.totalFragments}`);
    }
    w.u16(p.fragmentNumber, 'fragment number').u16(p.totalFragments, 'total fragments').bytes(p.body);
  },
  /** RFC 7383 §2.5: Next Payload is non-zero only in fragment 1. */
  verify(p: SkfPayload): string | null {
    if (p.fragmentNumber !== 1 && p.innerNext !== 0) return `fragment ${p.fragmentNumber} with next payload ${p.innerNext}`;
    if (p.fragmentNumber === 1 && p.innerNext === 0) return 'first fragment without next payload';
    return p.body.length === 0 ? 'empty SKF payload' : null;
  },
};
