/**
 * The `gsa:` section: GSA's connectivityConfiguration pasted in (or a file holding it), expanded
 * into the same keys a hand-written config has, before the schema runs. So a config written
 * from the portal's JSON and one written by hand resolve to the same Config, and every rule
 * applies to both (docs/gsa.md "Pasting connectivityConfiguration").
 *
 * For each tunnel with `gsaEndpoint: K` (K indexes the link's localConfigurations):
 *   tunnels[i].remoteAddress  ← localConfigurations[K].endpoint
 *   tunnels[i].localId        ← peerConfiguration.endpoint (the public IP GSA expects), if unset
 *   bgp.neighbors[+]          ← { address: localConfigurations[K].bgpAddress, asn: localConfigurations[K].asn, tunnel }
 * and once for the config:
 *   bgp.asn                   ← peerConfiguration.asn         (the "Device ASN")
 *   bgp.address               ← peerConfiguration.bgpAddress  (the "Device BGP address")
 * A value the YAML also sets must agree with the JSON; a mismatch is an error on the YAML key
 * (one of the two is stale: device links are recreated, endpoints change, gsa.md §3).
 *
 * Every generated value is recorded as an Origin, so a later error about it (say, a reserved
 * ASN) points into the JSON where the value came from, not at a key the user never wrote.
 */
import { quoteInput } from './duration.js';
import { readConnectivity, selectLink, type GsaEndpointInfo, type GsaLinkInfo } from './gsa-connectivity.js';

export type Path = (string | number)[];

/** A position-able place: a path in one of the loader's sources (0 = the YAML file). */
export interface Ref {
  source: number;
  path: Path;
  /** An exact position (a syntax error), used instead of path. */
  pos?: { line: number; col: number };
}

/** The value at `from` in the expanded document came from `to`. */
export interface Origin {
  from: Path;
  to: Ref;
}

export interface ExpandIssue {
  at: Ref;
  message: string;
}

/** The opened connectivityConfiguration: its data and how its paths map to sources. */
export interface Connectivity {
  doc: unknown;
  at(path: Path): Ref;
}

export interface ExpandResult {
  raw: unknown;
  origins: Origin[];
  issues: ExpandIssue[];
  /** Paths whose schema issues would only repeat one of `issues` (a value that could not be filled). */
  suppress: Path[];
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const main = (...path: Path): Ref => ({ source: 0, path });

interface Ctx {
  conn: Connectivity;
  link: GsaLinkInfo;
  origins: Origin[];
  issues: ExpandIssue[];
  suppress: Path[];
}

/** Set obj[key] from the JSON, or check that the YAML's own value agrees. */
function fill(ctx: Ctx, obj: Record<string, unknown>, objPath: Path, key: string, value: unknown, from: Path, what: string): void {
  const here = [...objPath, key];
  if (obj[key] === undefined) {
    obj[key] = value;
    ctx.origins.push({ from: here, to: ctx.conn.at(from) });
  } else if (obj[key] !== value) {
    ctx.issues.push({
      at: main(...here),
      message: `the connectivityConfiguration says ${what} is ${JSON.stringify(value)} (${from.join('.')}): remove ${key} here or make it match (one of the two is out of date)`,
    });
  }
}

function expandTunnel(ctx: Ctx, t: Record<string, unknown>, i: number, neighbors: { entry: Record<string, unknown>; e: GsaEndpointInfo }[]): void {
  const k = t.gsaEndpoint;
  if (typeof k !== 'number' || !Number.isInteger(k)) return; // the schema reports the type
  const e = ctx.link.local[k];
  if (e === null) {
    // Malformed in the JSON, and reported there; "remoteAddress is required" would only repeat it.
    ctx.suppress.push(['tunnels', i, 'remoteAddress']);
    return;
  }
  if (!e) {
    ctx.suppress.push(['tunnels', i, 'remoteAddress']);
    const n = ctx.link.local.length;
    ctx.issues.push({ at: main('tunnels', i, 'gsaEndpoint'), message: `the link has ${n} localConfigurations entr${n === 1 ? 'y' : 'ies'}: gsaEndpoint is 0${n > 1 ? `..${n - 1}` : ''}` });
    return;
  }
  fill(ctx, t, ['tunnels', i], 'remoteAddress', e.endpoint, [...e.path, 'endpoint'], 'this endpoint');
  const peer = ctx.link.peer;
  if (t.localId === undefined && peer?.endpoint !== undefined) {
    t.localId = peer.endpoint;
    ctx.origins.push({ from: ['tunnels', i, 'localId'], to: ctx.conn.at([...peer.path, 'endpoint']) });
  }
  if (typeof t.name === 'string') neighbors.push({ entry: { address: e.bgpAddress, asn: e.asn, tunnel: t.name }, e });
}

function expandBgp(ctx: Ctx, raw: Record<string, unknown>, generated: { entry: Record<string, unknown>; e: GsaEndpointInfo }[], tunnelAt: Map<string, number>): void {
  if (raw.bgp !== undefined && !isObj(raw.bgp)) return; // the schema reports it
  if (raw.bgp === undefined) {
    raw.bgp = {};
    ctx.origins.push({ from: ['bgp'], to: main('gsa') });
  }
  const bgp = raw.bgp as Record<string, unknown>;
  const peer = ctx.link.peer;
  if (peer?.asn !== undefined) fill(ctx, bgp, ['bgp'], 'asn', peer.asn, [...peer.path, 'asn'], 'the Device ASN');
  if (peer?.bgpAddress !== undefined) fill(ctx, bgp, ['bgp'], 'address', peer.bgpAddress, [...peer.path, 'bgpAddress'], 'the Device BGP address');
  if (bgp.neighbors !== undefined && !Array.isArray(bgp.neighbors)) return;
  const list = (bgp.neighbors ?? []) as unknown[];
  bgp.neighbors = list;
  for (const { entry, e } of generated) {
    const j = list.findIndex((n) => isObj(n) && n.tunnel === entry.tunnel);
    if (j >= 0) {
      // Written by hand too: it must say what GSA says.
      const n = list[j] as Record<string, unknown>;
      fill(ctx, n, ['bgp', 'neighbors', j], 'address', e.bgpAddress, [...e.path, 'bgpAddress'], 'GSA\'s BGP address for this endpoint');
      fill(ctx, n, ['bgp', 'neighbors', j], 'asn', e.asn, [...e.path, 'asn'], 'GSA\'s ASN');
      continue;
    }
    const at = list.length;
    list.push(entry);
    const ti = tunnelAt.get(String(entry.tunnel))!;
    ctx.origins.push(
      { from: ['bgp', 'neighbors', at], to: ctx.conn.at(e.path) },
      { from: ['bgp', 'neighbors', at, 'address'], to: ctx.conn.at([...e.path, 'bgpAddress']) },
      { from: ['bgp', 'neighbors', at, 'asn'], to: ctx.conn.at([...e.path, 'asn']) },
      { from: ['bgp', 'neighbors', at, 'tunnel'], to: main('tunnels', ti, 'gsaEndpoint') },
    );
  }
}

/** When the JSON could not be used: keys it would have filled are not also "required" errors. */
function missingWouldBeFilled(raw: Record<string, unknown>, users: number[]): Path[] {
  const tunnels = raw.tunnels as unknown[];
  const out: Path[] = users.filter((i) => isObj(tunnels[i]) && (tunnels[i] as Record<string, unknown>).remoteAddress === undefined)
    .map((i) => ['tunnels', i, 'remoteAddress']);
  const bgp = raw.bgp;
  if (users.length > 0 && isObj(bgp)) for (const k of ['asn', 'address', 'neighbors']) if (bgp[k] === undefined) out.push(['bgp', k]);
  return out;
}

/**
 * Expand raw (a fresh copy is returned; the input is not modified). conn is undefined when the
 * config has no gsa: section, 'failed' when it has one that could not be opened (already reported).
 */
export function expandGsa(input: unknown, conn: Connectivity | 'failed' | undefined): ExpandResult {
  const origins: Origin[] = [];
  const issues: ExpandIssue[] = [];
  const suppress: Path[] = [];
  if (!isObj(input)) return { raw: input, origins, issues, suppress };
  const raw = structuredClone(input);
  const tunnels = Array.isArray(raw.tunnels) ? (raw.tunnels as unknown[]) : [];
  const users = tunnels.flatMap((t, i) => (isObj(t) && t.gsaEndpoint !== undefined ? [i] : []));
  if (conn === undefined) {
    for (const i of users) issues.push({ at: main('tunnels', i, 'gsaEndpoint'), message: 'gsaEndpoint needs a gsa: section with connectivityConfiguration (GSA\'s JSON, pasted or as a file path)' });
    return { raw, origins, issues, suppress };
  }
  const unusable = () => ({ raw, origins, issues, suppress: missingWouldBeFilled(raw, users) });
  if (conn === 'failed') return unusable();
  const read = readConnectivity(conn.doc);
  for (const x of read.issues) issues.push({ at: conn.at(x.path), message: x.message });
  if (read.links.length === 0) return unusable();
  const gsa = raw.gsa as Record<string, unknown>;
  const sel = selectLink(read.links, gsa.link);
  if (!sel.ok) {
    issues.push({ at: main('gsa', gsa.link === undefined ? 'connectivityConfiguration' : 'link'), message: sel.error });
    return unusable();
  }
  const ctx: Ctx = { conn, link: sel.link, origins, issues, suppress };
  const generated: { entry: Record<string, unknown>; e: GsaEndpointInfo }[] = [];
  const tunnelAt = new Map<string, number>();
  tunnels.forEach((t, i) => {
    if (!isObj(t)) return;
    if (typeof t.name === 'string' && !tunnelAt.has(t.name)) tunnelAt.set(t.name, i);
    expandTunnel(ctx, t, i, generated);
  });
  if (users.length === 0) {
    issues.push({ at: main('gsa'), message: `no tunnel uses this connectivityConfiguration: add gsaEndpoint: 0${sel.link.local.length > 1 ? ` (and a second tunnel with gsaEndpoint: 1)` : ''} to the tunnel to ${quoteInput(sel.link.local[0]?.endpoint ?? 'GSA')}` });
    return { raw, origins, issues, suppress };
  }
  expandBgp(ctx, raw, generated, tunnelAt);
  return { raw, origins, issues, suppress };
}
