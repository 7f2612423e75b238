/**
 * Configuration payload (CP), RFC 7296 §3.15 and §3.15.1.
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C| RESERVED    |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   CFG Type    |                    RESERVED                   |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                   Configuration Attributes                    ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Configuration Attribute (§3.15.1):
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |R|         Attribute Type      |            Length             |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                             Value                             ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field          | offset | size   | notes                                  |
 * |----------------|--------|--------|----------------------------------------|
 * | cfgType        | 0      | 1      | 1 REQUEST, 2 REPLY, 3 SET, 4 ACK       |
 * | RESERVED       | 1      | 3      | sent 0, ignored                        |
 * | R              | +0     | 1 bit  | sent 0, ignored on receipt             |
 * | Attribute Type | +0     | 15 bit |                                        |
 * | Length         | +2     | 2      | value length; 0 in a request is normal |
 * | Value          | +4     | Length |                                        |
 */
import { CfgType, PayloadType } from '../../constants.js';
import { EncodeError, type ByteReader, type ByteWriter, type PayloadCodec, type PayloadContext } from '../bytes.js';
import type { CpAttribute, CpPayload } from '../types.js';

export const cpCodec: PayloadCodec<CpPayload> = {
  decode(r: ByteReader, ctx: PayloadContext): CpPayload {
    const cfgType = r.u8('CFG type');
    r.skip(3, 'CP reserved');
    const attributes: CpAttribute[] = [];
    while (!r.atEnd()) {
      const type = r.u16('CP attribute type') & 0x7fff;
      const len = r.u16('CP attribute length');
      attributes.push({ type, value: r.bytes(len, 'CP attribute value') });
    }
    return { type: PayloadType.CP, critical: ctx.critical, cfgType, attributes };
  },
  encode(w: ByteWriter, p: CpPayload): void {
    w.u8(p.cfgType, 'CFG type').zeros(3);
    for (const a of p.attributes) {
      if (a.type > 0x7fff) throw new EncodeError(`CP attribute type ${a.type} > 32767`);
      w.u16(a.type, 'CP attribute type').u16(a.value.length, 'CP attribute length').bytes(a.value);
    }
  },
  verify(p: CpPayload): string | null {
    const known: number[] = Object.values(CfgType);
    return known.includes(p.cfgType) ? null : `CFG type ${p.cfgType}`;
  },
};
