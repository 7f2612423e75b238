/**
 * Minimal IPv4 inner-packet parsing (RFC 791 header, RFC 793 / RFC 768 ports) for the selector
 * checks the tunnel-mode datapath owes: after decryption the inner packet must match the SA's
 * traffic selectors or be dropped (RFC 4301 §5.2, step 4), and outbound packets pick their SA by
 * the same match (RFC 4301 §5.1).
 *
 * IPv6 inner packets are out of scope for now: parseIpv4 rejects them (and anything else that is
 * not a well-formed IPv4 header), so the datapath drops them. TS_IPV6_ADDR_RANGE selectors never
 * match.
 *
 * parseIpv4 fills a caller-owned Ipv4Info (hot path, no allocation); ipv4Info is the allocating
 * convenience for control code and tests.
 */
import type { TrafficSelector } from '../ike/codec/types.js';

/** RFC 7296 §3.13.1 TS Type for an IPv4 address range. */
export const TS_IPV4_ADDR_RANGE = 7;

const PROTO_ICMP = 1;
const PROTO_TCP = 6;
const PROTO_UDP = 17;
const PROTO_SCTP = 132;

export interface Ipv4Info {
  version: number;
  /** Header length in octets (IHL × 4). */
  headerLength: number;
  totalLength: number;
  protocol: number;
  /** Addresses as unsigned 32-bit numbers (network order read big-endian). */
  src: number;
  dst: number;
  /**
   * TCP/UDP/SCTP ports; for ICMP both hold type << 8 | code (the RFC 7296 §3.13.1 encoding).
   * -1 when unknown: non-first fragment, L4 header truncated, or a protocol without ports.
   */
  srcPort: number;
  dstPort: number;
  /** Fragment offset in octets; non-zero means a non-first fragment. */
  fragmentOffset: number;
  moreFragments: boolean;
}

export function newIpv4Info(): Ipv4Info {
  return {
    version: 0, headerLength: 0, totalLength: 0, protocol: 0, src: 0, dst: 0,
    srcPort: -1, dstPort: -1, fragmentOffset: 0, moreFragments: false,
  };
}

/**
 * Parse the IPv4 header at buf[off, off + len) into `into`. False when it is not a well-formed
 * IPv4 packet: version ≠ 4, IHL < 5, header or Total Length beyond `len`, Total Length < IHL.
 */
export function parseIpv4(buf: Uint8Array, off: number, len: number, into: Ipv4Info): boolean {
  if (!Number.isInteger(off) || !Number.isInteger(len) || off < 0 || len < 20 || off + len > buf.length) return false;
  const b0 = buf[off]!;
  const hl = (b0 & 0x0f) * 4;
  const total = (buf[off + 2]! << 8) | buf[off + 3]!;
  if (b0 >> 4 !== 4 || hl < 20 || hl > len || total < hl || total > len) return false;
  const frag = (buf[off + 6]! << 8) | buf[off + 7]!;
  into.version = 4;
  into.headerLength = hl;
  into.totalLength = total;
  into.protocol = buf[off + 9]!;
  into.src = readU32(buf, off + 12);
  into.dst = readU32(buf, off + 16);
  into.fragmentOffset = (frag & 0x1fff) * 8;
  into.moreFragments = (frag & 0x2000) !== 0;
  into.srcPort = -1;
  into.dstPort = -1;
  if (into.fragmentOffset !== 0) return true; // RFC 4301 §4.4.1.3: ports are OPAQUE here
  const l4 = off + hl;
  const l4Len = total - hl;
  const p = into.protocol;
  if ((p === PROTO_TCP || p === PROTO_UDP || p === PROTO_SCTP) && l4Len >= 4) {
    into.srcPort = (buf[l4]! << 8) | buf[l4 + 1]!;
    into.dstPort = (buf[l4 + 2]! << 8) | buf[l4 + 3]!;
  } else if (p === PROTO_ICMP && l4Len >= 2) {
    into.srcPort = into.dstPort = (buf[l4]! << 8) | buf[l4 + 1]!;
  }
  return true;
}

/** Allocating form of parseIpv4 for control code and tests; null when not well-formed IPv4. */
export function ipv4Info(buf: Uint8Array, off: number, len: number): Ipv4Info | null {
  const info = newIpv4Info();
  return parseIpv4(buf, off, len, info) ? info : null;
}

/**
 * RFC 4301 §5.2 / RFC 7296 §2.9: the packet's source must fall in one of `srcTs` and its
 * destination in one of `dstTs` (address range, IP protocol, port range each). Inbound on a Child
 * SA: src against the peer's selectors (remoteTs), dst against ours (localTs); outbound the other
 * way round.
 */
export function matchesSelectors(info: Ipv4Info, srcTs: readonly TrafficSelector[], dstTs: readonly TrafficSelector[]): boolean {
  return anyMatch(srcTs, info.protocol, info.src, info.srcPort) && anyMatch(dstTs, info.protocol, info.dst, info.dstPort);
}

function anyMatch(list: readonly TrafficSelector[], protocol: number, addr: number, port: number): boolean {
  for (let i = 0; i < list.length; i++) {
    if (selectorMatches(list[i]!, protocol, addr, port)) return true;
  }
  return false;
}

function selectorMatches(ts: TrafficSelector, protocol: number, addr: number, port: number): boolean {
  if (ts.tsType !== TS_IPV4_ADDR_RANGE || ts.startAddr.length !== 4 || ts.endAddr.length !== 4) return false;
  if (ts.ipProtocol !== 0 && ts.ipProtocol !== protocol) return false;
  if (addr < readU32(ts.startAddr, 0) || addr > readU32(ts.endAddr, 0)) return false;
  if (ts.startPort === 0 && ts.endPort === 0xffff) return true; // ANY, including OPAQUE
  // RFC 7296 §3.13.1: Start Port 65535 with End Port 0 means OPAQUE: matches only unknown ports.
  if (ts.startPort > ts.endPort) return port < 0;
  return port >= 0 && port >= ts.startPort && port <= ts.endPort;
}

function readU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}
