/**
 * TCP MSS clamping inside the datapath: a SYN or SYN-ACK whose MSS option (RFC 793 §3.1 kind 2,
 * RFC 6691 / RFC 9293 §3.7.1) exceeds what fits through the tunnel gets it lowered, so TCP never
 * builds segments the ESP overhead would push past the path MTU. Applied in both directions.
 *
 * The TCP checksum is updated incrementally (RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m')), word by
 * word over the aligned 16-bit words the rewritten octets touch, so an MSS option at an odd
 * offset (after a single NOP) is handled too. Every option length is bounds-checked; malformed
 * options leave the packet untouched. In place, no allocation.
 */

const PROTO_TCP = 6;
const TCP_SYN = 0x02;
const OPT_EOL = 0;
const OPT_NOP = 1;
const OPT_MSS = 2;

/**
 * Lower the MSS option of the IPv4 TCP SYN at buf[off, off + len) to `mss` when it is larger.
 * Returns true when the packet was changed.
 */
export function clampMss(buf: Uint8Array, off: number, len: number, mss: number): boolean {
  if (!Number.isInteger(mss) || mss <= 0 || mss > 0xffff) return false;
  if (!Number.isInteger(off) || !Number.isInteger(len) || off < 0 || len < 20 || off + len > buf.length) return false;
  const b0 = buf[off]!;
  const ihl = (b0 & 0x0f) * 4;
  const total = (buf[off + 2]! << 8) | buf[off + 3]!;
  if (b0 >> 4 !== 4 || ihl < 20 || total > len || total < ihl + 20) return false;
  if (buf[off + 9] !== PROTO_TCP) return false;
  if ((((buf[off + 6]! << 8) | buf[off + 7]!) & 0x1fff) !== 0) return false; // non-first fragment
  const tcp = off + ihl;
  const tcpLen = total - ihl;
  const dataOff = (buf[tcp + 12]! >> 4) * 4;
  if (dataOff < 20 || dataOff > tcpLen) return false;
  if ((buf[tcp + 13]! & TCP_SYN) === 0) return false;

  const end = tcp + dataOff;
  let i = tcp + 20;
  while (i < end) {
    const kind = buf[i]!;
    if (kind === OPT_EOL) return false;
    if (kind === OPT_NOP) {
      i += 1;
      continue;
    }
    if (i + 1 >= end) return false;
    const optLen = buf[i + 1]!;
    if (optLen < 2 || i + optLen > end) return false; // malformed: leave the packet alone
    if (kind === OPT_MSS) {
      if (optLen !== 4) return false;
      const cur = (buf[i + 2]! << 8) | buf[i + 3]!;
      if (cur <= mss) return false;
      rewrite16(buf, tcp, i + 2, mss);
      return true;
    }
    i += optLen;
  }
  return false;
}

/**
 * Write the 16-bit value `v` at buf[pos] inside the TCP segment starting at `seg`, fixing the TCP
 * checksum (segment offset 16) per RFC 1624 for each aligned word the two octets fall in.
 */
function rewrite16(buf: Uint8Array, seg: number, pos: number, v: number): void {
  const first = seg + ((pos - seg) & ~1); // aligned word holding buf[pos]
  const last = seg + ((pos + 1 - seg) & ~1); // aligned word holding buf[pos + 1]
  const old0 = word(buf, first);
  const old1 = last !== first ? word(buf, last) : 0;
  buf[pos] = v >>> 8;
  buf[pos + 1] = v & 0xff;
  let sum = ~word(buf, seg + 16) & 0xffff;
  sum += ~old0 & 0xffff;
  sum += word(buf, first);
  if (last !== first) {
    sum += ~old1 & 0xffff;
    sum += word(buf, last);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const hc = ~sum & 0xffff;
  buf[seg + 16] = hc >>> 8;
  buf[seg + 17] = hc & 0xff;
}

function word(buf: Uint8Array, at: number): number {
  return (buf[at]! << 8) | buf[at + 1]!;
}
