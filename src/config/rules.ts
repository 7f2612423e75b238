/**
 * Rules across keys that hold for every tunnel and every BGP peer, GSA or not (GSA's own rules
 * are in gsa-rules.ts). They read the raw document and skip values of the wrong type
 * (validateShape reports those), so a typo in one tunnel does not hide a duplicate name in
 * another.
 *
 * Why the BGP rules apply to every peer, not only to GSA:
 * - 0.0.0.0/32, 127/8, 224/4 and 255.255.255.255/32 (GSA's list, gsa.md §4.1 [S1]) are the
 *   unspecified, loopback, multicast and broadcast addresses: no BGP session can run between
 *   them (RFC 1122 §3.2.1.3, RFC 5771).
 * - branchgate generates eBGP sessions only (src/bgp/bird-config.ts), so a neighbor with our own
 *   ASN would be an iBGP session it does not configure; GSA also requires different ASNs (§4.1).
 * - A neighbor address inside the branch LAN (bgp.advertise), inside the tunnel's local traffic
 *   selectors, or equal to a local address is reached on the wire (ARP) instead of through the
 *   tunnel, so the session never establishes even with the tunnel up (gsa.md §4.1, [S6]). That is
 *   true of any route-based tunnel.
 * - AS_TRANS 23456 (RFC 6793 §9) and the last ASNs 65535 and 4294967295 (RFC 7300) are not
 *   usable as a real ASN by anyone.
 */
import { cidrContains, cidrToString, isIPv4, parseCidr, type Cidr } from './cidr.js';
import { quoteInput } from './duration.js';
import { GSA_CUSTOM_PROFILE, proposalSourceError } from './profiles.js';
import { DEFAULT_MTU } from './schema.js';
import type { RawIssue } from './types.js';

export const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** GSA's list of addresses that cannot be a BGP address (gsa.md §4.1 [S1]). */
const BAD_BGP_PREFIXES: readonly { cidr: string; what: string }[] = [
  { cidr: '0.0.0.0/32', what: 'the unspecified address' },
  { cidr: '127.0.0.0/8', what: 'loopback' },
  { cidr: '224.0.0.0/4', what: 'multicast' },
  { cidr: '255.255.255.255/32', what: 'the broadcast address' },
];

/** Why an address cannot be a BGP address, or undefined. */
export function badBgpAddress(address: string): string | undefined {
  for (const b of BAD_BGP_PREFIXES) {
    const c = parseCidr(b.cidr);
    if (c.ok && cidrContains(c.value, address)) {
      return `${address} is ${b.what} (${b.cidr}); BGP addresses may not be in 0.0.0.0/32, 127.0.0.0/8, 224.0.0.0/4 or 255.255.255.255/32 (gsa.md §4.1)`;
    }
  }
  return undefined;
}

const UNUSABLE_ASNS = new Map([
  [23456, 'AS_TRANS (RFC 6793), a placeholder for 4-byte ASNs'],
  [65535, 'reserved (RFC 7300)'],
  [4294967295, 'reserved (RFC 7300)'],
]);

/** Parsed prefixes of a raw list, skipping anything malformed (reported elsewhere). */
export function rawPrefixes(v: unknown): Cidr[] {
  if (!Array.isArray(v)) return [];
  return v.flatMap((p) => {
    const c = typeof p === 'string' ? parseCidr(p) : undefined;
    return c?.ok ? [c.value] : [];
  });
}

function checkTunnels(tunnels: unknown[], issues: RawIssue[]): Map<string, number> {
  const names = new Map<string, number>();
  const ifaces = new Map<string, number>();
  tunnels.forEach((t, i) => {
    if (!isObj(t)) return;
    const at = (key: string, message: string) => issues.push({ path: ['tunnels', i, key], message });
    if (typeof t.name === 'string') {
      const first = names.get(t.name);
      if (first !== undefined) at('name', `duplicate tunnel name ${quoteInput(t.name)} (tunnels.${first} has it too): names must be unique`);
      else names.set(t.name, i);
    }
    // Defaults count too: tunnel 1 defaults to bg1, which an explicit "interface: bg1" would steal.
    const iface = t.interface ?? `bg${i}`;
    if (typeof iface === 'string') {
      const first = ifaces.get(iface);
      const dflt = t.interface === undefined ? ' (this tunnel\'s default)' : '';
      if (first !== undefined) at('interface', `interface ${iface}${dflt} is already used by tunnels.${first}: set a distinct interface:`);
      else ifaces.set(iface, i);
    }
    // gsa-custom has its own source rule (gsa-rules.ts): gsaPolicy, or ike: and esp: lists.
    if (t.profile !== GSA_CUSTOM_PROFILE) {
      const src = proposalSourceError({ profile: t.profile !== undefined, ike: t.ike !== undefined, esp: t.esp !== undefined });
      if (src) at(src.key, src.message);
    }
    const initiate = t.initiate ?? true;
    if (initiate === false && t.localAddress === undefined) {
      at('localAddress', 'a responder (initiate: false) needs localAddress: the address it answers on');
    } else if (t.localId === undefined && t.localAddress === undefined) {
      at('localId', 'set localId, or localAddress (localId defaults to it): IKE needs a local identity');
    }
    if (initiate === true && t.remoteAddress === '%any') {
      at('remoteAddress', 'cannot initiate to "%any": set the peer\'s address, or initiate: false to wait for it');
    }
    const mtu = t.mtu ?? DEFAULT_MTU;
    if (typeof t.mssClamp === 'number' && typeof mtu === 'number' && t.mssClamp > mtu - 40) {
      at('mssClamp', `must be at most mtu - 40 (${mtu - 40}) so clamped segments fit the tunnel; 0 disables clamping`);
    }
  });
  return names;
}

function checkAsn(asn: unknown, what: string, at: (m: string) => void): void {
  const why = typeof asn === 'number' ? UNUSABLE_ASNS.get(asn) : undefined;
  if (why) at(`${what} ${asn} is ${why} and cannot be used as a real ASN`);
}

function checkBgp(raw: Record<string, unknown>, tunnels: unknown[], names: Map<string, number>, issues: RawIssue[]): void {
  const bgp = raw.bgp;
  if (!isObj(bgp)) return;
  const at = (path: (string | number)[], message: string) => issues.push({ path: ['bgp', ...path], message });
  const own = typeof bgp.address === 'string' && isIPv4(bgp.address) ? bgp.address : undefined;
  if (own !== undefined) {
    const bad = badBgpAddress(own);
    if (bad) at(['address'], `bgp.address (the CPE's "Device BGP address"): ${bad}`);
  }
  checkAsn(bgp.asn, 'bgp.asn', (m) => at(['asn'], m));
  const lan = rawPrefixes(bgp.advertise);
  const routing = isObj(raw.routing) ? raw.routing : {};
  if (bgp.acceptCoveringEndpoint === true && routing.pinUnderlay === false) {
    at(['acceptCoveringEndpoint'], 'acceptCoveringEndpoint: true needs routing.pinUnderlay: true: without the /32 pins a learned route that covers a tunnel endpoint captures the tunnel\'s own packets');
  }
  if (!Array.isArray(bgp.neighbors)) return;
  const seen = new Map<string, number>();
  (bgp.neighbors as unknown[]).forEach((n, j) => {
    if (!isObj(n)) return;
    const nat = (key: string, message: string) => at(['neighbors', j, key], message);
    if (typeof n.tunnel === 'string' && !names.has(n.tunnel)) {
      const known = [...names.keys()].join(', ') || '(none)';
      nat('tunnel', `no tunnel named ${quoteInput(n.tunnel)}; known tunnels: ${known}`);
    }
    if (typeof n.asn === 'number') {
      if (n.asn === bgp.asn) {
        nat('asn', `the neighbor's ASN must differ from bgp.asn (${n.asn}): branchgate runs eBGP only, and GSA requires different ASNs (gsa.md §4.1)`);
      } else checkAsn(n.asn, 'the neighbor\'s ASN', (m) => nat('asn', m));
    }
    if (typeof n.address !== 'string' || !isIPv4(n.address)) return;
    const addr = n.address;
    const first = seen.get(addr);
    if (first !== undefined) return nat('address', `bgp.neighbors.${first} has the same address ${addr}: each neighbor needs its own BGP address`);
    seen.set(addr, j);
    const bad = badBgpAddress(addr);
    if (bad) return nat('address', bad);
    if (addr === own) return nat('address', `${addr} is also bgp.address: the neighbor's BGP address (GSA's "Local BGP address") and the CPE's ("Device BGP address") must differ; the portal's names are swapped between the two sides (gsa.md §4.1)`);
    const inLan = lan.find((c) => cidrContains(c, addr));
    const arp = 'the CPE would look for it on the LAN (ARP) instead of sending it through the tunnel, and BGP never establishes (gsa.md §4.1); pick a private address outside every on-premises and connected prefix';
    if (inLan) return nat('address', `${addr} is inside the branch LAN ${cidrToString(inLan)} (bgp.advertise): ${arp}`);
    const ti = typeof n.tunnel === 'string' ? names.get(n.tunnel) : undefined;
    const t = ti === undefined ? undefined : tunnels[ti];
    if (!isObj(t)) return;
    if (t.localAddress === addr) return nat('address', `${addr} is the tunnel's own localAddress: ${arp}`);
    const ts = rawPrefixes(t.localTs).find((c) => c.prefix > 0 && cidrContains(c, addr));
    if (ts) nat('address', `${addr} is inside the tunnel's localTs ${cidrToString(ts)}, the branch side: ${arp}`);
  });
}

/** Every cross-key rule that is not GSA-specific. */
export function checkRules(raw: unknown): RawIssue[] {
  const issues: RawIssue[] = [];
  if (!isObj(raw)) return issues;
  const tunnels = Array.isArray(raw.tunnels) ? (raw.tunnels as unknown[]) : [];
  const names = checkTunnels(tunnels, issues);
  checkBgp(raw, tunnels, names, issues);
  return issues;
}
