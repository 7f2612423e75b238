/**
 * What check-config cannot know: the host's connected subnets. GSA's BGP address must sit
 * outside every prefix the CPE treats as directly connected (docs/gsa-reference.md §4.1 [S6]:
 * otherwise "the CPE tries to reach it on the physical wire (ARP) instead of through the tunnel,
 * and BGP never establishes even though the IPsec tunnel is up"). branchgate's /32 through the
 * tunnel outranks a connected prefix, so the session still works, but a host of that subnet
 * with the same address becomes unreachable; an address of this host itself cannot work at all.
 * Checked once when BGP starts, reported as log lines (the tunnels are not held back).
 */
import { execFile } from 'node:child_process';
import { cidrContains, cidrToString, ipv4ToBytes, type Cidr } from '../config/cidr.js';
import type { BgpNeighborConfig } from '../config/types.js';

export interface HostAddress {
  ifname: string;
  local: string;
  prefixlen: number;
}

export interface PreflightIssue {
  level: 'error' | 'warn';
  neighbor: string;
  ifname: string;
  message: string;
}

/** The connected prefix of an interface address (host bits cleared). */
function network(local: string, prefixlen: number): Cidr | undefined {
  const b = ipv4ToBytes(local);
  if (!b || prefixlen < 0 || prefixlen > 32) return undefined;
  const address = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const bits = Math.max(0, Math.min(8, prefixlen - i * 8));
    address[i] = b[i]! & ((0xff << (8 - bits)) & 0xff);
  }
  return { address, prefix: prefixlen };
}

/** Pure: the issues for these neighbors given the host's addresses (tunnel interfaces excluded). */
export function connectedIssues(neighbors: readonly BgpNeighborConfig[], addrs: readonly HostAddress[], tunnelIfaces: ReadonlySet<string>): PreflightIssue[] {
  const out: PreflightIssue[] = [];
  for (const n of neighbors) {
    for (const a of addrs) {
      if (tunnelIfaces.has(a.ifname)) continue;
      if (a.local === n.address) {
        out.push({ level: 'error', neighbor: n.address, ifname: a.ifname,
          message: `GSA's BGP address ${n.address} (neighbor on tunnel ${n.tunnel}) is an address of this host (${a.ifname}): the session can never reach the peer; pick another "Local BGP address" (gsa.md §4.1)` });
        continue;
      }
      if (a.prefixlen >= 32 || a.ifname === 'lo') continue;
      const c = network(a.local, a.prefixlen);
      if (c && cidrContains(c, n.address)) {
        out.push({ level: 'warn', neighbor: n.address, ifname: a.ifname,
          message: `GSA's BGP address ${n.address} (neighbor on tunnel ${n.tunnel}) is inside ${cidrToString(c)}, connected on ${a.ifname}: ` +
            'branchgate reaches it through the tunnel (a /32), but a host of that subnet with this address becomes unreachable; GSA asks for an address outside every connected prefix (gsa.md §4.1)' });
      }
    }
  }
  return out;
}

interface IpAddrJson {
  ifname?: unknown;
  addr_info?: { family?: unknown; local?: unknown; prefixlen?: unknown }[];
}

/** The host's IPv4 addresses from `ip -j -4 addr show`. */
export function hostAddresses(wrap: readonly string[] = []): Promise<HostAddress[]> {
  const [cmd, ...pre] = [...wrap, 'ip'];
  return new Promise((resolve) => {
    execFile(cmd!, [...pre, '-j', '-4', 'addr', 'show'], { timeout: 10_000 }, (err, stdout) => {
      if (err) return resolve([]);
      try {
        const links = JSON.parse(String(stdout)) as IpAddrJson[];
        resolve(links.flatMap((l) => (Array.isArray(l.addr_info) ? l.addr_info : []).flatMap((a) =>
          typeof a.local === 'string' && typeof a.prefixlen === 'number' && typeof l.ifname === 'string'
            ? [{ ifname: l.ifname, local: a.local, prefixlen: a.prefixlen }] : [])));
      } catch {
        resolve([]);
      }
    });
  });
}
