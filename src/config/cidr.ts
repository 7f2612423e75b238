/**
 * IPv4 addresses, CIDR prefixes and their IKEv2 traffic-selector form (RFC 7296 §3.13.1).
 * branchgate's tunnels are IPv4-only for now; selectorToString also prints IPv6 selectors
 * because a peer may send them and they end up in logs.
 */
import { TsType } from '../ike/constants.js';
import type { TrafficSelector } from '../ike/codec/types.js';
import { quoteInput, type ParseResult } from './duration.js';

export interface Cidr {
  /** The network address (host bits are zero). */
  address: Uint8Array;
  prefix: number;
}

/**
 * Strict dotted quad. Leading zeros are refused: "010.0.0.1" is octal to inet_aton and decimal
 * to most humans, and guessing wrong here sends traffic to the wrong place.
 */
const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const IPV4_RE = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

export function isIPv4(s: string): boolean {
  return IPV4_RE.test(s);
}

/** 4 octets, or undefined when s is not a dotted quad. */
export function ipv4ToBytes(s: string): Uint8Array | undefined {
  if (!isIPv4(s)) return undefined;
  return Uint8Array.from(s.split('.').map(Number));
}

export function bytesToIPv4(b: Uint8Array): string {
  return `${b[0]}.${b[1]}.${b[2]}.${b[3]}`;
}

const toU32 = (b: Uint8Array): number => ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
const fromU32 = (n: number): Uint8Array => Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
const maskOf = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

/** True when the prefix contains the IPv4 address (a dotted quad; false when it is not one). */
export function cidrContains(c: Cidr, address: string): boolean {
  const b = ipv4ToBytes(address);
  return b !== undefined && ((toU32(b) & maskOf(c.prefix)) >>> 0) === toU32(c.address);
}

/** True when the two prefixes share at least one address (one contains the other). */
export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  const m = maskOf(Math.min(a.prefix, b.prefix));
  return ((toU32(a.address) & m) >>> 0) === ((toU32(b.address) & m) >>> 0);
}

/**
 * "10.0.0.0/8", or a bare address meaning /32. Host bits must be zero: "10.0.0.1/8" is
 * usually a typo for a host route or for the network, and routes/selectors need the network.
 */
export function parseCidr(s: string): ParseResult<Cidr> {
  const howto = 'write an IPv4 prefix such as 10.0.0.0/8 (or a bare address for /32)';
  const m = /^([^/]*)(?:\/(\d{1,2}))?$/.exec(s.trim());
  const bytes = m ? ipv4ToBytes(m[1] ?? '') : undefined;
  if (!m || !bytes) return { ok: false, error: `${quoteInput(s)} is not an IPv4 prefix: ${howto}` };
  const prefix = m[2] === undefined ? 32 : Number(m[2]);
  if (prefix > 32) return { ok: false, error: `${quoteInput(s)}: prefix length must be 0..32` };
  const addr = toU32(bytes);
  const net = (addr & maskOf(prefix)) >>> 0;
  if (net !== addr) {
    return {
      ok: false,
      error: `${quoteInput(s)} has host bits set: did you mean ${bytesToIPv4(fromU32(net))}/${prefix}?`,
    };
  }
  return { ok: true, value: { address: bytes, prefix } };
}

export function cidrToString(c: Cidr): string {
  return `${bytesToIPv4(c.address)}/${c.prefix}`;
}

/** The selector covering exactly the prefix: any protocol, all ports (RFC 7296 §3.13.1). */
export function cidrToSelector(c: Cidr): TrafficSelector {
  const mask = maskOf(c.prefix);
  const start = (toU32(c.address) & mask) >>> 0;
  return {
    tsType: TsType.TS_IPV4_ADDR_RANGE,
    ipProtocol: 0,
    startPort: 0,
    endPort: 65535,
    startAddr: fromU32(start),
    endAddr: fromU32((start | ~mask) >>> 0),
  };
}

/** Prefix length when start..end is exactly one prefix, else undefined. Works for 4 or 16 octets. */
function prefixOf(start: Uint8Array, end: Uint8Array): number | undefined {
  let prefix = 0;
  let inHost = false;
  for (let i = 0; i < start.length; i++) {
    for (let bit = 7; bit >= 0; bit--) {
      const s = (start[i]! >> bit) & 1;
      const e = (end[i]! >> bit) & 1;
      if (!inHost && s === e) prefix++;
      else if (s === 0 && e === 1) inHost = true;
      else return undefined;
    }
  }
  return prefix;
}

function ipToString(b: Uint8Array): string {
  if (b.length === 4) return bytesToIPv4(b);
  if (b.length !== 16) return `<${b.length}-octet address>`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  // RFC 5952 §4.2: compress the longest run (≥2) of zero groups.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/**
 * "10.0.0.0/8", or "a.b.c.d-e.f.g.h" for a range that is not a prefix; "[6/80]",
 * "[6/1024-65535]" or "[17]" appended only when protocol or ports are restricted
 * (strongSwan's notation).
 */
export function selectorToString(ts: TrafficSelector): string {
  const p = prefixOf(ts.startAddr, ts.endAddr);
  const addr =
    p !== undefined && ts.startAddr.length === ts.endAddr.length
      ? `${ipToString(ts.startAddr)}/${p}`
      : `${ipToString(ts.startAddr)}-${ipToString(ts.endAddr)}`;
  const anyPorts = ts.startPort === 0 && ts.endPort === 65535;
  if (ts.ipProtocol === 0 && anyPorts) return addr;
  if (anyPorts) return `${addr}[${ts.ipProtocol}]`;
  const ports = ts.startPort === ts.endPort ? `${ts.startPort}` : `${ts.startPort}-${ts.endPort}`;
  return `${addr}[${ts.ipProtocol}/${ports}]`;
}
