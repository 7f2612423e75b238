/**
 * The keys that decide what happens to internet traffic (docs/gsa.md "Internet Access"):
 *
 *   gsa.profiles:          [microsoft, internet]   GSA's traffic profiles assigned to the remote network
 *   routing.defaultRoute:  security | productivity  what wins when GSA's routes come and go
 *   bypass:                [prefix | hostname]      always through the underlay (CPE-side bypass)
 *   ipv6:                  block | allow | { policy, branchPrefixes }
 *
 * Shapes here, cross-key rules (checkInternetRules) and the resolved InternetConfig. The rules
 * read the raw document, like rules.ts, so every problem is reported in one pass.
 */
import { isIP, isIPv6 } from 'node:net';
import { z } from 'zod';
import { cidrToString, parseCidr } from './cidr.js';
import { quoteInput } from './duration.js';
import type { InternetConfig } from './types.js';
import type { RawIssue } from './types.js';

// Local copies of rules.ts's helpers: importing it would close an import cycle through schema.ts.
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const rawPrefixes = (v: unknown) => (Array.isArray(v) ? v : []).flatMap((p) => {
  const c = typeof p === 'string' ? parseCidr(p) : undefined;
  return c?.ok ? [c.value] : [];
});

export const TRAFFIC_PROFILES = ['microsoft', 'internet'] as const;
export type TrafficProfile = (typeof TRAFFIC_PROFILES)[number];

/** Default BGP import limit with the Internet Access profile: GSA may send thousands of specifics. */
export const INTERNET_MAX_PREFIXES = 200_000;

/**
 * The routing table GSA's learned routes go to with the Internet Access profile: branchgate's
 * own (the same number as its route protocol tag, 249), so nothing else's routes live there.
 */
export const INTERNET_TABLE = 249;

/** RFC 1123 host name with at least one dot (a bare label would go through the search list). */
const HOSTNAME = /^(?=.{1,253}$)(?!-)[a-z0-9-]{1,63}(?<!-)(\.(?!-)[a-z0-9-]{1,63}(?<!-))+\.?$/i;

const fail = (message: string) => ({ ok: false as const, message });

/** One bypass entry: an IPv4 prefix/address or a host name. */
export function parseBypassEntry(v: unknown): { ok: true; kind: 'prefix' | 'hostname'; value: string } | { ok: false; message: string } {
  if (typeof v !== 'string' || v === '') return fail('expected an IPv4 prefix (198.51.100.0/24), an address or a host name (updates.example.com)');
  if (isIP(v) === 4 || /^[0-9.]+\/\d+$/.test(v)) {
    const c = parseCidr(v.includes('/') ? v : `${v}/32`);
    return c.ok ? { ok: true, kind: 'prefix', value: cidrToString(c.value) } : fail(c.error);
  }
  if (isIPv6(v.split('/')[0] ?? '')) return fail(`${quoteInput(v)} is IPv6: GSA carries IPv4 only, so IPv6 never enters the tunnel; see ipv6: instead`);
  if (HOSTNAME.test(v)) return { ok: true, kind: 'hostname', value: v.toLowerCase().replace(/\.$/, '') };
  return fail(`${quoteInput(v)} is neither an IPv4 prefix nor a host name`);
}

function parseV6Prefix(v: unknown): string | undefined {
  if (typeof v !== 'string') return undefined;
  const [addr, len, extra] = v.split('/');
  if (extra !== undefined || addr === undefined || !isIPv6(addr)) return undefined;
  const n = len === undefined ? 128 : Number(len);
  return Number.isInteger(n) && n >= 0 && n <= 128 && (len === undefined || /^\d+$/.test(len)) ? `${addr}/${n}` : undefined;
}

const custom = <T>(f: (v: unknown) => { ok: true; value: T } | { ok: false; message: string }) =>
  z.unknown().transform((v, ctx): T => {
    const r = f(v);
    if (r.ok) return r.value;
    ctx.addIssue({ code: 'custom', message: r.message, input: v });
    return z.NEVER;
  });

const profile = custom<TrafficProfile>((v) => {
  if (v === 'private') return fail('the Private Access profile is reserved: branchgate does not route Private Access yet; remove "private"');
  if (typeof v === 'string' && (TRAFFIC_PROFILES as readonly string[]).includes(v)) return { ok: true, value: v as TrafficProfile };
  return fail(`${typeof v === 'string' ? quoteInput(v) : 'this'} is not a traffic profile; use microsoft and/or internet (the portal's names)`);
});

/** gsa.profiles */
export const ProfilesShape = z.array(profile).min(1);
/** routing.defaultRoute */
export const DefaultRouteShape = z.enum(['security', 'productivity']);
/** bypass: */
export const BypassShape = z.array(custom((v) => {
  const r = parseBypassEntry(v);
  return r.ok ? { ok: true, value: r.value } : r;
}));
const v6prefix = custom((v) => {
  const p = parseV6Prefix(v);
  return p !== undefined ? { ok: true, value: p } : fail('expected an IPv6 prefix such as 2001:db8:10::/64');
});
export const Ipv6Keys = { policy: z.enum(['block', 'allow']), branchPrefixes: z.array(v6prefix).default([]) };
/** ipv6: the short form `ipv6: block` is `{ policy: block }`. */
export const Ipv6Shape = z.preprocess((v) => (typeof v === 'string' ? { policy: v } : v), z.strictObject(Ipv6Keys));

const hasDefault = (routes: unknown): boolean => rawPrefixes(routes).some((c) => c.prefix === 0);

/** Cross-key rules of the Internet Access keys. */
export function checkInternetRules(raw: unknown): RawIssue[] {
  const issues: RawIssue[] = [];
  if (!isObj(raw)) return issues;
  const gsa = isObj(raw.gsa) ? raw.gsa : {};
  if (isObj(raw.gsa) && gsa.connectivityConfiguration === undefined && gsa.profiles === undefined) {
    issues.push({ path: ['gsa'], message: 'gsa: needs connectivityConfiguration (GSA\'s JSON, pasted or as a file path) and/or profiles: [microsoft, internet]' });
  }
  const profiles = Array.isArray(gsa.profiles) ? gsa.profiles : [];
  const internet = profiles.includes('internet');
  const routing = isObj(raw.routing) ? raw.routing : {};
  const tunnels = Array.isArray(raw.tunnels) ? raw.tunnels.filter(isObj) : [];
  const fullTunnel = tunnels.some((t) => hasDefault(t.routes));
  if (internet && raw.bgp === undefined && !fullTunnel) {
    issues.push({ path: ['gsa', 'profiles'], message: 'the internet profile needs GSA\'s routes: add a bgp: section (GSA advertises the internet over BGP) or routes: [0.0.0.0/0] on the GSA tunnel' });
  }
  if (internet && routing.pinUnderlay === false) {
    issues.push({ path: ['routing', 'pinUnderlay'], message: 'the internet profile covers every tunnel endpoint: set pinUnderlay: true (or remove it) so IKE/ESP keeps the underlay' });
  }
  if (routing.defaultRoute !== undefined && !internet && !fullTunnel) {
    issues.push({ path: ['routing', 'defaultRoute'], message: 'defaultRoute only decides internet traffic: add internet to gsa.profiles (or a full-tunnel route), or remove defaultRoute' });
  }
  if (internet && routing.defaultRoute === 'productivity' && routing.failMode === 'closed') {
    issues.push({ path: ['routing', 'failMode'], message: 'failMode: closed holds GSA\'s routes as blackholes, which defeats defaultRoute: productivity; use failMode: open, or defaultRoute: security' });
  }
  if (isObj(raw.bgp) && raw.bgp.acceptCoveringEndpoint === false && internet) {
    issues.push({ path: ['bgp', 'acceptCoveringEndpoint'], message: 'the internet profile accepts routes that cover the endpoints (the /32 pins protect them): remove acceptCoveringEndpoint: false' });
  }
  return issues;
}

interface RawFile {
  gsa?: { profiles?: TrafficProfile[] };
  routing: { defaultRoute?: 'security' | 'productivity' };
  tunnels: { routes: string[] }[];
  bypass?: string[];
  ipv6?: 'block' | 'allow' | { policy: 'block' | 'allow'; branchPrefixes: string[] };
}

/** The resolved settings (the file already passed the schema and the rules). */
export function buildInternet(file: RawFile): InternetConfig {
  const profiles = file.gsa?.profiles ?? ['microsoft'];
  const internetProfile = profiles.includes('internet');
  const carriesInternet = internetProfile || file.tunnels.some((t) => hasDefault(t.routes));
  const bypass = { prefixes: [] as string[], hostnames: [] as string[] };
  for (const e of file.bypass ?? []) {
    const r = parseBypassEntry(e);
    if (r.ok && r.kind === 'prefix' && !bypass.prefixes.includes(r.value)) bypass.prefixes.push(r.value);
    if (r.ok && r.kind === 'hostname' && !bypass.hostnames.includes(r.value)) bypass.hostnames.push(r.value);
  }
  const v6 = file.ipv6;
  const ipv6 = v6 === undefined
    ? { policy: carriesInternet ? 'block' as const : 'allow' as const, branchPrefixes: [], explicit: false }
    : typeof v6 === 'string' ? { policy: v6, branchPrefixes: [], explicit: true } : { ...v6, explicit: true };
  return { profiles, internetProfile, carriesInternet, defaultRoute: file.routing.defaultRoute ?? 'security', bypass, ipv6 };
}
