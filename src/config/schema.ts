/**
 * The YAML shape of contract.md "Configuration", as zod 4 strict schemas. Objects reject unknown
 * keys: a typo in an IPsec config ("pks:", "remoteTS:") silently falling back to a default is
 * the most common support case. Values are converted as they are checked (durations → seconds,
 * proposal strings → transforms, CIDRs → selectors), each through the parser that owns the
 * spelling, so every message lands on the value that caused it.
 *
 * Rules spanning several keys (unique names, initiate vs addresses, profile vs ike/esp) are in
 * checkRules(); it reads the raw data, so it still runs when some other value is malformed and
 * the user sees every problem in one pass.
 */
import { z } from 'zod';
import type { Identity, PfsSetting, ProposalTemplate } from './types.js';
import { parseCidr, cidrToSelector, cidrToString, isIPv4 } from './cidr.js';
import { parseDuration, quoteInput, type ParseResult } from './duration.js';
import { parseIdentity } from './identity.js';
import { DH_GROUPS, dhGroupByName, parseEspProposal, parseIkeProposal } from './proposals.js';
import { PROFILE_NAMES, proposalSourceError } from './profiles.js';

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
  profile: z.enum(PROFILE_NAMES as [string, ...string[]]).optional(),
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
const RoutingShape = {
  failMode: z.enum(['open', 'closed']).default('open'),
  pinUnderlay: z.boolean().default(true),
};
const NeighborShape = { address: ipv4(false), asn: int(1, 4294967295), tunnel: z.string() };
const BgpShape = {
  asn: int(1, 4294967295),
  address: ipv4(false),
  advertise: prefixes.default([]),
  neighbors: z.array(z.strictObject(NeighborShape)).min(1),
};
const RootShape = {
  log: z.strictObject(LogShape).prefault({}),
  control: z.strictObject(ControlShape).prefault({}),
  tunnels: z.array(z.strictObject(TunnelShape)),
  // prefault, not default: the inner defaults must still apply to an absent section.
  routing: z.strictObject(RoutingShape).prefault({}),
  bgp: z.strictObject(BgpShape).optional(),
};

export const ConfigSchema = z.strictObject(RootShape);
export type ConfigFile = z.output<typeof ConfigSchema>;

const SHAPES = new Map<string, object>([
  ['', RootShape], ['log', LogShape], ['control', ControlShape], ['tunnels', TunnelShape],
  ['routing', RoutingShape], ['bgp', BgpShape], ['bgp.neighbors', NeighborShape],
]);

/** Keys allowed in the object at path (array indices ignored); [] if path is not an object. */
export function knownKeys(path: readonly PropertyKey[]): string[] {
  const shape = SHAPES.get(path.filter((p) => typeof p === 'string').join('.'));
  return shape ? Object.keys(shape) : [];
}

/** An issue before it gets a position: path into the document, and for unknown keys the key. */
export interface RawIssue {
  path: (string | number)[];
  message: string;
  /** Set for unknown keys: point at the key itself rather than at the object. */
  key?: string;
}

const REQUIRED = new Map([
  ['tunnels', 'add a tunnels: list with at least one tunnel'],
  ['name', 'every tunnel needs a name'],
  ['remoteAddress', 'set the peer\'s IPv4 address, or "%any" on a responder'],
  ['neighbors', 'list the BGP neighbors (address, asn, tunnel)'],
]);

function kindOf(v: unknown): string {
  if (v === null) return 'nothing (an empty value)';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'boolean') return 'true/false';
  return typeof v === 'object' ? 'a mapping' : `a ${typeof v}`;
}

const WANT: Record<string, string> = {
  string: 'text', number: 'a number', int: 'a whole number', boolean: 'true or false',
  array: 'a list', object: 'a mapping (key: value lines)',
};

/** Per-parse zod error map: short messages that say what to write instead. Never echoes input. */
function describeIssue(iss: z.core.$ZodRawIssue): string | undefined {
  const key = String(iss.path?.[iss.path.length - 1] ?? '');
  switch (iss.code) {
    case 'invalid_type': {
      if (iss.input === undefined) return `required: ${REQUIRED.get(key) ?? `add ${key}:`}`;
      const got = kindOf(iss.input);
      const quote = iss.expected === 'string' && typeof iss.input !== 'object' ? '; quote it so YAML keeps it as text' : '';
      return `expected ${(Object.hasOwn(WANT, iss.expected) && WANT[iss.expected]) || iss.expected}, got ${got}${quote}`;
    }
    case 'invalid_value':
      return `must be one of: ${iss.values.map(String).join(', ')}`;
    case 'too_small':
      if (iss.origin === 'array') return `needs at least ${iss.minimum} entry`;
      return iss.origin === 'string' ? 'must not be empty' : `must be at least ${iss.minimum}`;
    case 'too_big':
      return `must be at most ${iss.maximum}`;
  }
  return undefined;
}

/** Optimal-string-alignment distance, for "did you mean": "pks" → "psk" is 1 (a swap). */
function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) v = Math.min(v, d[i - 2]![j - 2]! + 1);
      d[i]![j] = v;
    }
  }
  return d[a.length]![b.length]!;
}

function unknownKeyMessage(key: string, valid: string[]): string {
  const lower = key.toLowerCase();
  const best = valid
    .map((k) => ({ k, d: k.toLowerCase() === lower ? 0 : distance(lower, k.toLowerCase()) }))
    .sort((x, y) => x.d - y.d)[0];
  const hint = best && best.d <= Math.max(1, Math.floor(key.length / 3)) ? ` (did you mean "${best.k}"?)` : '';
  return `unknown key ${quoteInput(key)}${hint}; valid keys here: ${valid.join(', ')}`;
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

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * Rules across keys. Reads the raw document and skips values of the wrong type (validateShape
 * reports those), so a typo in one tunnel does not hide a duplicate name in another.
 */
export function checkRules(raw: unknown): RawIssue[] {
  const issues: RawIssue[] = [];
  if (!isObj(raw)) return issues;
  const tunnels = Array.isArray(raw.tunnels) ? (raw.tunnels as unknown[]) : [];
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
    const src = proposalSourceError({ profile: t.profile !== undefined, ike: t.ike !== undefined, esp: t.esp !== undefined });
    if (src) at(src.key, src.message);
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
  const bgp = raw.bgp;
  if (isObj(bgp) && Array.isArray(bgp.neighbors)) {
    (bgp.neighbors as unknown[]).forEach((n, j) => {
      if (!isObj(n) || typeof n.tunnel !== 'string' || names.has(n.tunnel)) return;
      const known = [...names.keys()].join(', ') || '(none)';
      issues.push({ path: ['bgp', 'neighbors', j, 'tunnel'], message: `no tunnel named ${quoteInput(n.tunnel)}; known tunnels: ${known}` });
    });
  }
  return issues;
}
