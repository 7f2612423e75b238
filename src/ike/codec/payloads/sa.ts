/**
 * Security Association payload, RFC 7296 §3.3 (proposals §3.3.1, transforms §3.3.2,
 * attributes §3.3.5).
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                          <Proposals>                          ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Proposal substructure (§3.3.1):
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Last Substruc |   RESERVED    |         Proposal Length       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Proposal Num  |  Protocol ID  |    SPI Size   |Num  Transforms|
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                        SPI (variable)                         ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                        <Transforms>                           ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Transform substructure (§3.3.2):
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Last Substruc |   RESERVED    |        Transform Length       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |Transform Type |   RESERVED    |          Transform ID         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                      Transform Attributes                     ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Data attribute (§3.3.5):
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |A|       Attribute Type        |    AF=0  Attribute Length     |
 * |F|                             |    AF=1  Attribute Value      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |                   AF=0  Attribute Value                       |
 * |                   AF=1  Not Transmitted                       |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field            | size | notes                                                  |
 * |------------------|------|--------------------------------------------------------|
 * | Last Substruc    | 1    | proposal: 0 last / 2 more; transform: 0 last / 3 more  |
 * | Proposal Length  | 2    | ≥ 8 + SPI Size, covers its transforms exactly          |
 * | Proposal Num     | 1    | 1, 2, ... in a request; the chosen number in a reply   |
 * | Protocol ID      | 1    | 1 IKE, 2 AH, 3 ESP                                     |
 * | SPI Size         | 1    | 0 (IKE_SA_INIT), 8 (IKE rekey), 4 (ESP/AH)             |
 * | Num Transforms   | 1    | must equal the transforms present                      |
 * | Transform Length | 2    | ≥ 8, covers its attributes exactly                     |
 * | Key Length attr  | 2+2  | type 14, TV (AF=1), bits; the only attribute defined   |
 *
 * Unknown attributes are skipped (the Transform type has nowhere to keep them); a TLV-form Key
 * Length or a repeated Key Length is rejected as 'bad-field'.
 */
import { ATTR_KEY_LENGTH, PayloadType, ProtocolId } from '../../constants.js';
import { EncodeError, type ByteReader, type ByteWriter, type PayloadCodec, type PayloadContext } from '../bytes.js';
import type { Proposal, SaPayload, Transform } from '../types.js';

const LAST = 0;
const MORE_PROPOSALS = 2;
const MORE_TRANSFORMS = 3;
const AF_TV = 0x8000;

function decodeTransform(r: ByteReader, isLast: boolean): Transform {
  const at = r.pos;
  const more = r.u8('transform last substruc');
  r.skip(1, 'transform reserved');
  const len = r.u16('transform length');
  if (more !== (isLast ? LAST : MORE_TRANSFORMS)) {
    r.fail('bad-field', `transform last-substruc ${more}, expected ${isLast ? LAST : MORE_TRANSFORMS}`, at);
  }
  if (len < 8) r.fail('bad-length', `transform length ${len} < 8`, at + 2);
  const t = r.sub(len - 4, 'transform');
  const type = t.u8('transform type');
  t.skip(1, 'transform reserved');
  const id = t.u16('transform id');
  let keyLength: number | undefined;
  while (!t.atEnd()) {
    const aAt = t.pos;
    const word = t.u16('attribute type');
    const attrType = word & 0x7fff;
    const tv = (word & AF_TV) !== 0;
    const value = t.u16(tv ? 'attribute value' : 'attribute length');
    if (attrType === ATTR_KEY_LENGTH) {
      if (!tv) t.fail('bad-field', 'Key Length attribute in TLV form', aAt);
      if (keyLength !== undefined) t.fail('bad-field', 'repeated Key Length attribute', aAt);
      keyLength = value;
    } else if (!tv) {
      t.skip(value, 'attribute value');
    }
  }
  return keyLength === undefined ? { type, id } : { type, id, keyLength };
}

function decodeProposal(r: ByteReader): { proposal: Proposal; more: boolean } {
  const at = r.pos;
  const more = r.u8('proposal last substruc');
  r.skip(1, 'proposal reserved');
  const len = r.u16('proposal length');
  if (more !== LAST && more !== MORE_PROPOSALS) r.fail('bad-field', `proposal last-substruc ${more}`, at);
  if (len < 8) r.fail('bad-length', `proposal length ${len} < 8`, at + 2);
  const p = r.sub(len - 4, 'proposal');
  const num = p.u8('proposal num');
  const protocol = p.u8('protocol id');
  const spiSize = p.u8('SPI size');
  const count = p.u8('num transforms');
  const spi = p.bytes(spiSize, 'proposal SPI');
  const transforms: Transform[] = [];
  while (!p.atEnd()) {
    if (transforms.length === count) p.fail('bad-field', `more than ${count} transforms`);
    transforms.push(decodeTransform(p, transforms.length === count - 1));
  }
  if (transforms.length !== count) {
    r.fail('bad-field', `proposal ${num} announces ${count} transforms, has ${transforms.length}`, at + 7);
  }
  return { proposal: { num, protocol, spi, transforms }, more: more === MORE_PROPOSALS };
}

function encodeTransform(w: ByteWriter, t: Transform, isLast: boolean): void {
  const hasKeyLength = t.keyLength !== undefined;
  w.u8(isLast ? LAST : MORE_TRANSFORMS).u8(0).u16(hasKeyLength ? 12 : 8);
  w.u8(t.type, 'transform type').u8(0).u16(t.id, 'transform id');
  if (t.keyLength !== undefined) w.u16(AF_TV | ATTR_KEY_LENGTH).u16(t.keyLength, 'key length');
}

export const saCodec: PayloadCodec<SaPayload> = {
  decode(r: ByteReader, ctx: PayloadContext): SaPayload {
    const proposals: Proposal[] = [];
    let more = !r.atEnd();
    while (more) {
      const d = decodeProposal(r);
      proposals.push(d.proposal);
      more = d.more;
      if (more && r.atEnd()) r.fail('bad-field', 'last proposal marked "more"');
      if (!more && !r.atEnd()) r.fail('bad-field', `${r.remaining} octets after the last proposal`);
    }
    return { type: PayloadType.SA, critical: ctx.critical, proposals };
  },
  encode(w: ByteWriter, p: SaPayload): void {
    p.proposals.forEach((prop, i) => {
      const start = w.length;
      w.u8(i === p.proposals.length - 1 ? LAST : MORE_PROPOSALS).u8(0).u16(0);
      w.u8(prop.num, 'proposal num').u8(prop.protocol, 'protocol id');
      w.u8(prop.spi.length, 'SPI size').u8(prop.transforms.length, 'num transforms');
      w.bytes(prop.spi);
      prop.transforms.forEach((t, j) => encodeTransform(w, t, j === prop.transforms.length - 1));
      const len = w.length - start;
      if (len > 0xffff) throw new EncodeError(`proposal ${prop.num} of ${len} octets`);
      w.patchU16(start + 2, len, 'proposal length');
    });
  },
  /**
   * §3.3.1: proposal numbers ascend by one; protocol is IKE/AH/ESP; SPI is 0 or 8 octets for
   * IKE and 4 for ESP/AH; §3.3.3: every proposal carries at least one transform.
   */
  verify(p: SaPayload): string | null {
    if (p.proposals.length === 0) return 'SA without proposals';
    let prev: number | undefined;
    for (const prop of p.proposals) {
      if (prev !== undefined && prop.num !== prev + 1) return `proposal ${prop.num} follows ${prev}`;
      prev = prop.num;
      const n = prop.spi.length;
      if (prop.protocol === ProtocolId.IKE) {
        if (n !== 0 && n !== 8) return `IKE proposal with ${n}-octet SPI`;
      } else if (prop.protocol === ProtocolId.ESP || prop.protocol === ProtocolId.AH) {
        if (n !== 4) return `ESP/AH proposal with ${n}-octet SPI`;
      } else {
        return `proposal protocol ${prop.protocol}`;
      }
      if (prop.transforms.length === 0) return `proposal ${prop.num} without transforms`;
    }
    return null;
  },
};
