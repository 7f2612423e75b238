/**
 * Pure route planning: from a tunnel's routing settings and state to the routes that should be
 * in the kernel. No I/O here; routes.ts reads the kernel, calls these functions and applies the
 * difference.
 *
 * The rules (docs/contract.md `routes`, `routing.failMode`, `routing.pinUnderlay`;
 * docs/gsa-reference.md §9 items 8–9):
 *
 * - Up: every prefix in `routes:` goes to the tunnel's interface (one TUN per tunnel).
 * - Down, failMode open: no route for the prefixes, so their traffic takes the normal route.
 * - Down, failMode closed: a `blackhole` route per prefix, so their traffic is dropped instead of
 *   leaking out of the underlay. Going up/down swaps unicast↔blackhole with `ip route replace`,
 *   which is atomic: there is no instant in which the prefix falls back to the default route.
 * - pinUnderlay: a /32 to the remote endpoint via the gateway/device the kernel uses for it
 *   outside every tunnel, installed whatever the tunnel state. A /32 is the longest possible
 *   prefix, so no tunnel route — nor a BGP-learned "whole internet" — can capture the tunnel's own
 *   outer IKE/ESP packets. If the pin cannot be resolved, prefixes containing the remote are left
 *   out rather than installed: capturing the outer packets would keep the tunnel down for good.
 *
 * Full tunnel: `0.0.0.0/0` is installed as the two halves 0.0.0.0/1 and 128.0.0.0/1 (what wg-quick
 * and OpenVPN's def1 do). A /1 is more specific than /0, so the halves win over the default route
 * whatever its metric (DHCP clients use 100, 600, ...), yet the original default route stays in
 * the table untouched: `ip route replace 0.0.0.0/0` would overwrite it (same key), and a crash
 * would then leave the box without its way out. With the default route intact, the underlay
 * lookup for pins (pickUnderlay, and the kernel's own answer) keeps finding the real gateway, and
 * removing our two halves restores the previous behaviour exactly.
 */
import { cidrToString, ipv4ToBytes, parseCidr, type Cidr } from '../config/cidr.js';
import type { KernelRoute, RouteSpec } from './ip.js';

export type FailMode = 'open' | 'closed';
export type TunnelState = 'up' | 'down';

export interface TunnelRouting {
  name: string;
  /** The tunnel's TUN interface. */
  interface: string;
  /** CIDR prefixes steered into the tunnel (config `routes:`). */
  routes: readonly string[];
  /** Remote endpoint address; "%any" (a responder) has no fixed endpoint and gets no pin. */
  remote: string;
  failMode: FailMode;
  pinUnderlay: boolean;
}

/** How the kernel reaches the remote endpoint outside every tunnel. */
export interface Underlay {
  dev: string;
  gateway?: string;
  onlink?: boolean;
}

export type RouteKind = 'pin' | 'tunnel' | 'blackhole';

export interface DesiredRoute extends RouteSpec {
  kind: RouteKind;
  /** The tunnel the route belongs to. */
  tunnel: string;
}

export interface RoutePlan {
  tunnel: string;
  /** The remote endpoint when it is an IPv4 address. */
  remote?: string;
  /** pinUnderlay was asked for (whether or not a pin could be resolved). */
  pinWanted: boolean;
  /** Pins first. */
  routes: DesiredRoute[];
  /** Things the operator should know (bad prefixes, routes left out, capture risks). */
  problems: string[];
}

const toU32 = (b: Uint8Array): number => ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
const maskOf = (prefix: number): number => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

function addrU32(s: string): number | undefined {
  const b = ipv4ToBytes(s);
  return b ? toU32(b) : undefined;
}

function contains(c: Cidr, addr: number): boolean {
  return ((addr & maskOf(c.prefix)) >>> 0) === toU32(c.address);
}

/** True when prefix (CIDR string) contains the IPv4 address; false for anything unparsable. */
export function prefixContains(prefix: string, addr: string): boolean {
  const c = parseCidr(prefix);
  const a = addrU32(addr);
  return c.ok && a !== undefined && contains(c.value, a);
}

const HALVES: readonly Cidr[] = [
  { address: Uint8Array.of(0, 0, 0, 0), prefix: 1 },
  { address: Uint8Array.of(128, 0, 0, 0), prefix: 1 },
];

/**
 * Canonical, de-duplicated prefixes in configuration order, 0.0.0.0/0 split into its halves.
 * Config validation already rejects bad prefixes; anything unparsable that still gets here is
 * reported and skipped, never thrown (planning is total).
 */
export function expandPrefixes(routes: readonly string[]): { prefixes: Cidr[]; problems: string[] } {
  const seen = new Set<string>();
  const prefixes: Cidr[] = [];
  const problems: string[] = [];
  for (const r of routes) {
    const parsed = parseCidr(r);
    if (!parsed.ok) {
      problems.push(`route ${JSON.stringify(r)} skipped: ${parsed.error}`);
      continue;
    }
    for (const c of parsed.value.prefix === 0 ? HALVES : [parsed.value]) {
      const key = cidrToString(c);
      if (seen.has(key)) continue;
      seen.add(key);
      prefixes.push(c);
    }
  }
  return { prefixes, problems };
}

/** The routes one tunnel wants in the kernel. `underlay` is undefined when it could not be resolved. */
export function planRoutes(t: TunnelRouting, state: TunnelState, underlay: Underlay | undefined): RoutePlan {
  const { prefixes, problems } = expandPrefixes(t.routes);
  const remote = addrU32(t.remote);
  const plan: RoutePlan = { tunnel: t.name, pinWanted: t.pinUnderlay, routes: [], problems };
  if (remote !== undefined) plan.remote = t.remote;
  let pinned = false;
  if (t.pinUnderlay && remote === undefined) {
    problems.push(`no underlay pin: remote ${JSON.stringify(t.remote)} is not an IPv4 address (a responder's %any has no fixed endpoint to pin)`);
  } else if (t.pinUnderlay && underlay === undefined) {
    problems.push(`no underlay pin for ${t.remote}: the kernel has no route to it outside the tunnels; prefixes containing it are left out so they cannot capture the tunnel's own packets`);
  } else if (t.pinUnderlay && underlay !== undefined) {
    const pin: DesiredRoute = { kind: 'pin', tunnel: t.name, type: 'unicast', dst: `${t.remote}/32`, dev: underlay.dev };
    if (underlay.gateway !== undefined) pin.gateway = underlay.gateway;
    if (underlay.onlink === true) pin.onlink = true;
    plan.routes.push(pin);
    pinned = true;
  }
  for (const c of prefixes) {
    const dst = cidrToString(c);
    if (remote !== undefined && contains(c, remote)) {
      if (pinned && c.prefix === 32) {
        problems.push(`${dst} is the remote endpoint itself: the underlay pin takes it, not the tunnel`);
        continue;
      }
      if (t.pinUnderlay && !pinned) {
        problems.push(`${dst} left out: it contains the remote endpoint ${t.remote}, which has no underlay pin`);
        continue;
      }
      if (!t.pinUnderlay) {
        problems.push(`${dst} contains the remote endpoint ${t.remote} and pinUnderlay is false: the tunnel's own IKE/ESP packets will be routed into the tunnel; set routing.pinUnderlay: true`);
      }
    }
    if (state === 'up') plan.routes.push({ kind: 'tunnel', tunnel: t.name, type: 'unicast', dst, dev: t.interface });
    else if (t.failMode === 'closed') plan.routes.push({ kind: 'blackhole', tunnel: t.name, type: 'blackhole', dst });
  }
  return plan;
}

export function sameSpec(a: RouteSpec, b: RouteSpec): boolean {
  if (a.dst !== b.dst || a.type !== b.type) return false;
  if (a.type === 'blackhole') return true;
  return a.dev === b.dev && a.gateway === b.gateway && (a.onlink === true) === (b.onlink === true);
}

/** True when the kernel's route is exactly the desired one (metric 0 in table main). */
export function matchesKernel(d: RouteSpec, k: KernelRoute): boolean {
  if (k.dst !== d.dst || k.type !== d.type || k.metric !== 0) return false;
  if (d.type === 'blackhole') return true;
  return k.dev === d.dev && k.gateway === d.gateway && k.flags.includes('onlink') === (d.onlink === true);
}

/** How `ip route` would print it. */
export function describeRoute(r: RouteSpec): string {
  if (r.type === 'blackhole') return `blackhole ${r.dst}`;
  return [r.dst, r.gateway !== undefined ? `via ${r.gateway}` : '', r.dev !== undefined ? `dev ${r.dev}` : '', r.onlink ? 'onlink' : '']
    .filter((s) => s !== '')
    .join(' ');
}

const RANK: Record<RouteKind, number> = { pin: 3, tunnel: 2, blackhole: 1 };

/**
 * One route per prefix across all tunnels (the kernel has one slot per prefix and metric).
 * A pin beats a tunnel route beats a blackhole: a backup tunnel that is up takes a prefix from a
 * failed-closed primary. Between equals, the tunnel planned first (configured first) keeps it.
 * Pins come first in the result, so they are installed before anything that could capture them.
 */
export function mergePlans(plans: readonly RoutePlan[]): { routes: DesiredRoute[]; problems: string[] } {
  const best = new Map<string, DesiredRoute>();
  const problems: string[] = [];
  for (const p of plans) {
    for (const r of p.routes) {
      const cur = best.get(r.dst);
      if (cur === undefined || RANK[r.kind] > RANK[cur.kind]) best.set(r.dst, r);
      else if (RANK[r.kind] === RANK[cur.kind] && !sameSpec(r, cur)) {
        problems.push(`${r.dst}: tunnel ${cur.tunnel} already has ${describeRoute(cur)}; tunnel ${r.tunnel}'s ${describeRoute(r)} is not installed (one route per prefix)`);
      }
    }
  }
  // Another tunnel's route may contain this tunnel's endpoint; only a pin protects it.
  for (const p of plans) {
    if (p.remote === undefined || best.get(`${p.remote}/32`)?.kind === 'pin') continue;
    for (const [dst, r] of best) {
      if (r.kind === 'pin' || r.tunnel === p.tunnel || !prefixContains(dst, p.remote)) continue;
      if (p.pinWanted) {
        best.delete(dst);
        problems.push(`${dst} of tunnel ${r.tunnel} left out: it contains tunnel ${p.tunnel}'s remote endpoint ${p.remote}, which has no underlay pin`);
      } else {
        problems.push(`${dst} of tunnel ${r.tunnel} contains tunnel ${p.tunnel}'s remote endpoint ${p.remote} and pinUnderlay is false: ${p.tunnel}'s outer packets will be captured`);
      }
    }
  }
  const routes = [...best.values()].sort((a, b) => RANK[b.kind] - RANK[a.kind]);
  return { routes, problems };
}

/**
 * The underlay route to `remote` as the kernel would choose it from table main if our routes
 * were not there: longest prefix, then lowest metric, ignoring routes with our protocol and routes
 * through any tunnel interface (BGP-learned routes into a tunnel must not become a pin either).
 * Used when the kernel's own answer (`ip route get`) lands on one of ours. Policy-routing rules
 * are not evaluated here; the kernel's answer, taken first, does evaluate them.
 */
export function pickUnderlay(
  table: readonly KernelRoute[],
  remote: string,
  exclude: { proto: string; devs: ReadonlySet<string> },
): Underlay | undefined {
  const addr = addrU32(remote);
  if (addr === undefined) return undefined;
  let best: KernelRoute | undefined;
  let bestLen = -1;
  for (const r of table) {
    if (r.protocol === exclude.proto || (r.dev !== undefined && exclude.devs.has(r.dev))) continue;
    const c = parseCidr(r.dst);
    if (!c.ok || !contains(c.value, addr)) continue;
    if (c.value.prefix > bestLen || (c.value.prefix === bestLen && best !== undefined && r.metric < best.metric)) {
      best = r;
      bestLen = c.value.prefix;
    }
  }
  if (best === undefined || best.type !== 'unicast') return undefined;
  const hop = best.dev !== undefined ? best : best.nexthops?.find((h) => h.dev !== undefined && !exclude.devs.has(h.dev));
  if (hop?.dev === undefined) return undefined;
  const u: Underlay = { dev: hop.dev };
  if (hop.gateway !== undefined) u.gateway = hop.gateway;
  if (hop.flags.includes('onlink')) u.onlink = true;
  return u;
}
