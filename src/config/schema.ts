/**
 * The YAML shape of contract.md "Configuration", as zod 4 strict schemas. Objects reject unknown
 * keys: a typo in an IPsec config ("pks:", "remoteTS:") silently falling back to a default is
 * the most common support case. Values are converted as they are checked (durations → seconds,
 * proposal strings → transforms, CIDRs → selectors), each through the parser that owns the
 * spelling, so every message lands on the value that caused it.
 *
 * Rules spanning several keys (unique names, initiate vs addresses, profile vs ike/esp, BGP
 * addresses and ASNs) are in rules.ts, and GSA's own rules in gsa-rules.ts; they read the raw
 * data, so they still run when some other value is malformed and the user sees every problem in
 * one pass.
 */
import { z } from 'zod';
import type { Identity, PfsSetting, ProposalTemplate, RawIssue } from './types.js';
import { parseCidr, cidrToSelector, cidrToString, isIPv4 } from './cidr.js';
import { parseDuration, quoteInput, type ParseResult } from './duration.js';
import { parseIdentity } from './identity.js';
import { DH_GROUPS, dhGroupByName, parseEspProposal, parseIkeProposal } from './proposals.js';
import { GSA_CUSTOM_PROFILE, PROFILE_NAMES } from './profiles.js';
import { GSA_POLICY_VALUES, gsaPolicyValue, type GsaPolicyField } from './gsa-policy.js';
import { BGP_DEFAULTS } from './bgp-defaults.js';
import { describeIssue, unknownKeyMessage } from './messages.js';
import { BypassShape, DefaultRouteShape, Ipv6Keys, Ipv6Shape, ProfilesShape } from './internet.js';

/** Wrap a ParseResult parser as a schema; its error becomes an issue at this value's path. */
function parsed<T>(fn: (v: unknown) => ParseResult<T>) {
  return z.unknown().transform((v, ctx): T => {
    if (v === undefined) {
      // A missing required key: let describeIssue word it like zod's own "required" issues.
      ctx.addIssue({ code: 'invalid_type', expected: 'nonoptional', input: v });
      return z.NEVER;
    }
    const r = fn(v);
    if (r.ok) return r.value;
    ctx.addIssue({ code: 'custom', message: r.error, input: v });
    return z.NEVER;
  });
}

const fail = (error: string): { ok: false; error: string } => ({ ok: false, error });
const asString = <T>(v: unknown, what: string, f: (s: string) => ParseResult<T>): ParseResult<T> =>
  typeof v === 'string' ? f(v) : fail(`expected ${what}`);

const ipv4 = (allowAny: boolean) =>
  parsed<string>((v) => {
    const what = allowAny ? 'an IPv4 address such as 192.0.2.10, or "%any"' : 'an IPv4 address such as 192.0.2.10';
    if (typeof v === 'string' && (isIPv4(v) || (allowAny && v === '%any'))) return { ok: true, value: v };
    return fail(typeof v === 'string' ? `${quoteInput(v)} is not ${what}` : `expected ${what}`);
  });

const lifetime = parsed<number>((v) => {
  const r = parseDuration(v);
  return r.ok && r.value < 60 ? fail('must be at least 60 seconds (SAs this short rekey constantly)') : r;
});

const cidr = parsed((v) => asString(v, 'an IPv4 prefix such as 10.0.0.0/8', parseCidr));
const selectors = z.array(cidr.transform(cidrToSelector)).min(1);
const prefixes = z.array(cidr.transform(cidrToString));

const ID_FORMS = 'an identity: an IPv4 address, fqdn:NAME, email:ADDR or keyid:HEX';
const localId = parsed<Identity>((v) => {
  const r = asString(v, ID_FORMS, (s) => parseIdentity(s, false));
  // parseIdentity(s, false) refuses "%any", so a success always carries an identity.
  return r.ok && r.value === null ? fail('"%any" is only valid for remoteId') : (r as ParseResult<Identity>);
});
const remoteId = parsed((v) => asString(v, `${ID_FORMS}, or "%any"`, (s) => parseIdentity(s, true)));

const proposals = (parse: (s: unknown) => ParseResult<ProposalTemplate>) => z.array(parsed(parse)).min(1);

const pfs = parsed<PfsSetting>((v) => {
  const names = ['none', 'same', ...Object.keys(DH_GROUPS)];
  if (v === 'none') return { ok: true, value: { kind: 'none' } };
  if (v === 'same') return { ok: true, value: { kind: 'same' } };
  const group = typeof v === 'string' ? dhGroupByName(v) : undefined;
  if (group !== undefined) return { ok: true, value: { kind: 'group', group } };
  return fail(`${typeof v === 'string' ? quoteInput(v) : 'this'} is not a PFS setting; use one of: ${names.join(', ')}`);
});

/** The MTU when a tunnel does not set one; mssClamp defaults to this minus 40 (IPv4 + TCP). */
export const DEFAULT_MTU = 1380;

const int = (min: number, max: number) => z.number().int().min(min).max(max);

function GsaPolicyShape() {
  const field = (f: GsaPolicyField) => parsed((v) => gsaPolicyValue(f, v));
  const shape = Object.fromEntries(Object.keys(GSA_POLICY_VALUES).map((f) => [f, field(f as GsaPolicyField)])) as
    Record<GsaPolicyField, ReturnType<typeof field>>;
  return {
    ...shape,
    pfsGroup: shape.pfsGroup.default('none'),
    // Graph's saLifeTimeSeconds is a number of seconds; "1h" is accepted too. The 300..86400
    // range is checked with the other GSA rules so the message can cite them.
    saLifeTimeSeconds: parsed(parseDuration).optional(),
  };
}

const TunnelShape = {
  name: z.string().regex(/^[a-zA-Z0-9_-]{1,32}$/, { error: 'tunnel names are 1-32 letters, digits, "-" or "_"' }),
  localAddress: ipv4(false).optional(),
  remoteAddress: ipv4(true),
  localId: localId.optional(),
  remoteId: remoteId.optional(),
  // Type and presence of the PSK sources are checked with the file/env reads (load.ts), so the
  // "exactly one" rule and "file missing" come out as one coherent message per tunnel.
  psk: z.unknown().optional(),
  pskFile: z.unknown().optional(),
  pskEnv: z.unknown().optional(),
  profile: z.enum([...PROFILE_NAMES, GSA_CUSTOM_PROFILE] as unknown as [string, ...string[]]).optional(),
  // profile gsa-custom: GSA's custom policy in the portal's own names (gsa-policy.ts).
  gsaPolicy: z.strictObject(GsaPolicyShape()).optional(),
  // Index into the selected link's localConfigurations of gsa.connectivityConfiguration
  // (gsa-expand.ts fills remoteAddress and the BGP neighbor from it before this schema runs).
  gsaEndpoint: z.number().int().min(0).max(15).optional(),
  ike: proposals(parseIkeProposal).optional(),
  esp: proposals(parseEspProposal).optional(),
  ikeLifetime: lifetime.default(8 * 3600),
  childLifetime: lifetime.default(3600),
  // RFC 4301 §4.4.2.1 soft lifetimes by volume; 0 means "by time only".
  childLifetimeBytes: int(0, Number.MAX_SAFE_INTEGER).default(0),
  childLifetimePackets: int(0, Number.MAX_SAFE_INTEGER).default(0),
  pfs: pfs.optional(),
  natT: z.enum(['auto', 'force']).default('auto'),
  dpd: parsed(parseDuration).default(10),
  // RFC 7383: offer IKE fragmentation and split messages larger than fragmentSize.
  fragmentation: z.enum(['auto', 'off']).default('auto'),
  fragmentSize: int(576, 9000).default(1280),
  initiate: z.boolean().default(true),
  localTs: selectors.default(() => [cidrToSelector({ address: new Uint8Array(4), prefix: 0 })]),
  remoteTs: selectors.default(() => [cidrToSelector({ address: new Uint8Array(4), prefix: 0 })]),
  // IFNAMSIZ is 16 including the NUL; the kernel refuses "/", whitespace, "." and "..".
  interface: z.string().regex(/^(?!\.\.?$)[a-zA-Z0-9_.-]{1,15}$/, { error: 'interface names are 1-15 letters, digits, ".", "-" or "_"' }).optional(),
  mtu: int(576, 9000).default(DEFAULT_MTU),
  mssClamp: int(0, 65535).optional(),
  routes: prefixes.default([]),
};

const LogShape = { level: z.enum(['trace', 'debug', 'info', 'warn', 'error']).default('info') };
const ControlShape = {
  socket: z.string().min(1).default('/run/branchgate/control.sock'),
  metrics: parsed<string>((v) => {
    const m = typeof v === 'string' ? /^([a-zA-Z0-9.-]+|\[[0-9a-fA-F:.]+\]):([1-9]\d{0,4})$/.exec(v) : null;
    if (!m || Number(m[2]) > 65535) return fail('metrics is "host:port" with a port 1..65535, e.g. 127.0.0.1:9477');
    return { ok: true, value: m[0] };
  }).optional(),
};
/**
 * debug.wiresharkKeys: a directory where the daemon writes Wireshark's esp_sa and
 * ikev2_decryption_table files (every SA's keys, so a capture can be decrypted). Off unless set;
 * the daemon logs a warning about it at every start.
 */
const DebugShape = { wiresharkKeys: z.string().min(1).optional() };
const RoutingShape = {
  failMode: z.enum(['open', 'closed']).default('open'),
  pinUnderlay: z.boolean().default(true),
  defaultRoute: DefaultRouteShape.optional(),
};
/**
 * limits: responder protection (RFC 7296 §2.6, §2.1). The defaults follow strongSwan's
 * charon.cookie_threshold (30), cookie_threshold_ip (3) and block_threshold (5), with a hard cap
 * on half-open IKE SAs so a flood can never grow memory without bound.
 */
const LimitsShape = {
  // Half-open IKE SAs (IKE_SA_INIT answered, IKE_AUTH not yet seen) kept at most.
  halfOpen: int(1, 1_000_000).default(1000),
  // At this many half-open IKE SAs (in all) every IKE_SA_INIT must carry a COOKIE; 0: always.
  // (strongSwan's cookie_threshold counts the same way, but there 0 turns cookies off.)
  cookieThreshold: int(0, 1_000_000).default(30),
  // At this many half-open IKE SAs from one address its IKE_SA_INITs must carry a COOKIE.
  cookieThresholdPerSource: int(0, 1_000_000).default(3),
  // Half-open IKE SAs one address may hold; IKE_SA_INITs beyond it are dropped.
  halfOpenPerSource: int(1, 1_000_000).default(5),
  // IKE_SA_INIT requests per second one address may send (bursts up to twice that); 0: no limit.
  initRatePerSource: int(0, 1_000_000).default(10),
};
/**
 * privileges: after the UDP sockets, TUN devices, control socket and metrics listener are open,
 * the daemon switches to this user (and group) and keeps only CAP_NET_ADMIN and
 * CAP_NET_BIND_SERVICE (src/native/privileges.ts). Absent: it keeps running as it was started.
 */
const PrivilegesShape = {
  user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}\$?$|^\d{1,10}$/i, { error: 'a user name (e.g. branchgate) or a numeric uid' }),
  group: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}\$?$|^\d{1,10}$/i, { error: 'a group name or a numeric gid' }).optional(),
};
const NeighborShape = { address: ipv4(false), asn: int(1, 4294967295), tunnel: z.string() };
/** A path BIRD gets on its command line and in `configure "PATH"`: no quotes, no control characters. */
const birdPath = (max: number) =>
  z.string().min(1).max(max).regex(/^[^"\\\x00-\x1f]+$/, { error: 'a path without quotes, backslashes or control characters' });
const BirdShape = {
  binary: birdPath(4096).optional(),
  // sun_path holds 108 bytes including the NUL.
  socket: birdPath(107).optional(),
  config: birdPath(4096).optional(),
};
const BgpShape = {
  asn: int(1, 4294967295),
  address: ipv4(false),
  advertise: prefixes.default([]),
  neighbors: z.array(z.strictObject(NeighborShape)).min(1),
  // Default filled by load.ts: it depends on gsa.profiles (config/internet.ts).
  maxPrefixes: int(1, 10_000_000).optional(),
  maxPrefixAction: z.enum(['disable', 'restart', 'block', 'warn']).default(BGP_DEFAULTS.maxPrefixAction),
  // RFC 4271 §4.2: 0 (no keepalives) or at least 3 seconds.
  holdTime: parsed<number>((v) => {
    const r = parseDuration(v);
    return r.ok && ((r.value > 0 && r.value < 3) || r.value > 65535) ? fail('must be 0 or 3..65535 seconds (RFC 4271 §4.2)') : r;
  }).default(BGP_DEFAULTS.holdTime),
  multipath: z.boolean().default(BGP_DEFAULTS.multipath),
  // Not 0: branchgate's static routes live at metric 0 and BIRD would replace them.
  kernelMetric: int(1, 4294967295).default(BGP_DEFAULTS.kernelMetric),
  acceptCoveringEndpoint: z.boolean().default(BGP_DEFAULTS.acceptCoveringEndpoint),
  bird: z.strictObject(BirdShape).optional(),
};
/** gsa: the device link as the portal shows it (gsa-expand.ts reads it; here only its keys). */
const GsaShape = {
  // Required; its content is read by gsa-expand.ts (reported there, with JSON positions).
  connectivityConfiguration: parsed((v) => ({ ok: true, value: v })).optional(),
  link: z.union([z.string().min(1), z.number().int().min(0)]).optional(),
  profiles: ProfilesShape.optional(),
};
const RootShape = {
  log: z.strictObject(LogShape).prefault({}),
  control: z.strictObject(ControlShape).prefault({}),
  tunnels: z.array(z.strictObject(TunnelShape)),
  // prefault, not default: the inner defaults must still apply to an absent section.
  routing: z.strictObject(RoutingShape).prefault({}),
  bgp: z.strictObject(BgpShape).optional(),
  gsa: z.strictObject(GsaShape).optional(),
  debug: z.strictObject(DebugShape).prefault({}),
  limits: z.strictObject(LimitsShape).prefault({}),
  privileges: z.strictObject(PrivilegesShape).optional(),
  bypass: BypassShape.optional(),
  ipv6: Ipv6Shape.optional(),
};

export const ConfigSchema = z.strictObject(RootShape);
export type ConfigFile = z.output<typeof ConfigSchema>;

const SHAPES = new Map<string, object>([
  ['', RootShape], ['log', LogShape], ['control', ControlShape], ['tunnels', TunnelShape],
  ['routing', RoutingShape], ['bgp', BgpShape], ['bgp.neighbors', NeighborShape], ['bgp.bird', BirdShape],
  ['gsa', GsaShape], ['tunnels.gsaPolicy', GsaPolicyShape()], ['debug', DebugShape],
  ['limits', LimitsShape], ['privileges', PrivilegesShape], ['ipv6', Ipv6Keys],
]);

/** Every object section of the config as a dotted path ('' is the top level), for docs/contract.md's check. */
export const CONFIG_SECTIONS: readonly string[] = [...SHAPES.keys()];

/** Keys allowed in the object at path (array indices ignored); [] if path is not an object. */
export function knownKeys(path: readonly PropertyKey[]): string[] {
  const shape = SHAPES.get(path.filter((p) => typeof p === 'string').join('.'));
  return shape ? Object.keys(shape) : [];
}


/** Shape and per-value checks. data is set only when there were no issues. */
export function validateShape(raw: unknown): { data?: ConfigFile; issues: RawIssue[] } {
  if (raw === null || raw === undefined) {
    return { issues: [{ path: [], message: 'the file is empty; a config needs at least a tunnels: list' }] };
  }
  const r = ConfigSchema.safeParse(raw, { error: describeIssue });
  if (r.success) return { data: r.data, issues: [] };
  const issues: RawIssue[] = [];
  for (const i of r.error.issues) {
    const path = i.path.filter((p): p is string | number => typeof p !== 'symbol');
    if (i.code === 'unrecognized_keys') {
      for (const key of i.keys) issues.push({ path, key, message: unknownKeyMessage(key, knownKeys(path)) });
    } else {
      issues.push({ path, message: i.message });
    }
  }
  return { issues };
}
