/**
 * Key Exchange payload, RFC 7296 §3.4.
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   Diffie-Hellman Group Num    |           RESERVED            |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                                                               |
 * ~                       Key Exchange Data                       ~
 * |                                                               |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field    | body offset | size | notes                                     |
 * |----------|-------------|------|-------------------------------------------|
 * | group    | 0           | 2    | Transform Type 4 ID                       |
 * | RESERVED | 2           | 2    | sent 0, ignored on receipt                |
 * | data     | 4           | rest | length is fixed by the group (§3.4, §3.7) |
 */
import { PayloadType } from '../../constants.js';
import type { ByteReader, ByteWriter, PayloadCodec, PayloadContext } from '../bytes.js';
import type { KePayload } from '../types.js';

export const keCodec: PayloadCodec<KePayload> = {
  decode(r: ByteReader, ctx: PayloadContext): KePayload {
    const group = r.u16('KE group');
    r.skip(2, 'KE reserved');
    return { type: PayloadType.KE, critical: ctx.critical, group, data: r.rest() };
  },
  encode(w: ByteWriter, p: KePayload): void {
    w.u16(p.group, 'KE group').zeros(2).bytes(p.data);
  },
  /** Group-specific length checks belong to the DH module; here only "something was sent". */
  verify(p: KePayload): string | null {
    if (p.group === 0) return 'KE group 0 (NONE)';
    if (p.data.length === 0) return 'KE data empty';
    return null;
  },
};
