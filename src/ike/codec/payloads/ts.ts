/**
 * Traffic Selector payloads TSi / TSr, RFC 7296 §3.13 and §3.13.1.
 *
 *                      1                   2                   3
 *  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Next Payload  |C|  RESERVED   |         Payload Length        |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * | Number of TSs |                 RESERVED                      |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                       <Traffic Selectors>                     ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Traffic Selector (§3.13.1):
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |   TS Type     |IP Protocol ID*|       Selector Length         |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * |           Start Port*         |           End Port*           |
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                         Starting Address*                     ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * ~                         Ending Address*                       ~
 * +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * | field          | offset | size  | notes                                           |
 * |----------------|--------|-------|-------------------------------------------------|
 * | Number of TSs  | 0      | 1     | must equal the selectors present                |
 * | RESERVED       | 1      | 3     | sent 0, ignored                                 |
 * | TS Type        | +0     | 1     | 7 IPv4 range, 8 IPv6 range; others rejected     |
 * | IP Protocol ID | +1     | 1     | 0 = any                                         |
 * | Selector Length| +2     | 2     | 16 for TS_IPV4_ADDR_RANGE, 40 for IPV6          |
 * | Start/End Port | +4     | 2+2   | 0..65535 = any; start > end means OPAQUE        |
 * | Start/End Addr | +8     | 4+4 / 16+16 |                                           |
 */
import { PayloadType, TsType } from '../../constants.js';
import { EncodeError, type ByteReader, type ByteWriter, type PayloadCodec, type PayloadContext } from '../bytes.js';
import type { TrafficSelector, TsPayload } from '../types.js';

/** Address length for a TS type we understand, or undefined. */
export function tsAddressLength(tsType: number): 4 | 16 | undefined {
  if (tsType === TsType.TS_IPV4_ADDR_RANGE) return 4;
  if (tsType === TsType.TS_IPV6_ADDR_RANGE) return 16;
  return undefined;
}

function decodeSelector(r: ByteReader): TrafficSelector {
  const at = r.pos;
  const tsType = r.u8('TS type');
  const ipProtocol = r.u8('TS protocol');
  const selectorLength = r.u16('TS length');
  const addrLen = tsAddressLength(tsType);
  // Unknown TS types (e.g. RFC 4595 FC, RFC 9478 SECLABEL) cannot be represented: reject.
  if (addrLen === undefined) r.fail('bad-field', `unsupported TS type ${tsType}`, at);
  if (selectorLength !== 8 + 2 * addrLen) {
    r.fail('bad-length', `TS type ${tsType} with selector length ${selectorLength}`, at + 2);
  }
  const s = r.sub(selectorLength - 4, 'traffic selector');
  const startPort = s.u16('TS start port');
  const endPort = s.u16('TS end port');
  const startAddr = s.bytes(addrLen, 'TS start address');
  const endAddr = s.bytes(addrLen, 'TS end address');
  return { tsType, ipProtocol, startPort, endPort, startAddr, endAddr };
}

export const tsCodec: PayloadCodec<TsPayload> = {
  decode(r: ByteReader, ctx: PayloadContext): TsPayload {
    const count = r.u8('number of TSs');
    r.skip(3, 'TS reserved');
    const selectors: TrafficSelector[] = [];
    for (let i = 0; i < count; i++) selectors.push(decodeSelector(r));
    if (!r.atEnd()) r.fail('bad-length', `${r.remaining} octets after ${count} traffic selectors`);
    const type = ctx.type === PayloadType.TSr ? PayloadType.TSr : PayloadType.TSi;
    return { type, critical: ctx.critical, selectors };
  },
  encode(w: ByteWriter, p: TsPayload): void {
    w.u8(p.selectors.length, 'number of TSs').zeros(3);
    for (const ts of p.selectors) {
      const addrLen = tsAddressLength(ts.tsType);
      if (addrLen === undefined) throw new EncodeError(`unsupported TS type ${ts.tsType}`);
      if (ts.startAddr.length !== addrLen || ts.endAddr.length !== addrLen) {
        throw new EncodeError(`TS type ${ts.tsType} needs ${addrLen}-octet addresses`);
      }
      w.u8(ts.tsType).u8(ts.ipProtocol, 'TS protocol').u16(8 + 2 * addrLen);
      w.u16(ts.startPort, 'TS start port').u16(ts.endPort, 'TS end port');
      w.bytes(ts.startAddr).bytes(ts.endAddr);
    }
  },
  verify(p: TsPayload): string | null {
    if (p.selectors.length === 0) return 'no traffic selectors';
    for (const ts of p.selectors) {
      const addrLen = tsAddressLength(ts.tsType);
      if (addrLen === undefined) return `unsupported TS type ${ts.tsType}`;
      if (ts.startAddr.length !== addrLen || ts.endAddr.length !== addrLen) return 'TS address length';
    }
    return null;
  },
};
