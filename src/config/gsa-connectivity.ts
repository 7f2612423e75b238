/**
 * GSA's `connectivityConfiguration` (Graph beta `GET …/remoteNetworks/{id}/connectivityConfiguration`,
 * also the portal's "View configuration"; docs/gsa-reference.md §6.2):
 *
 *   { "remoteNetworkId": "...", "remoteNetworkName": "...",
 *     "links": [ { "id": "...", "displayName": "...",
 *         "localConfigurations": [ { "endpoint": "20.245.111.21", "asn": 65476, "bgpAddress": "192.168.1.2", "region": "westUS" }, ... ],
 *         "peerConfiguration": { "endpoint": "20.172.65.16", "asn": 65533, "bgpAddress": "10.0.2.5" } } ] }
 *
 * localConfigurations is Microsoft's end (one entry, or two with zone redundancy); peerConfiguration
 * is the customer's end as GSA recorded it. This module reads that document as data: Microsoft's
 * other keys (@odata.context, headerRequestId, ...) are ignored, the fields branchgate uses are
 * type-checked, and every problem carries its path inside the document so the loader can point
 * at it. Nothing here trusts the document more than the YAML: the values it yields go through
 * the same schema and rules as hand-written ones.
 */
import { isIPv4 } from './cidr.js';
import { quoteInput } from './duration.js';

type Path = (string | number)[];

export interface GsaEndpointInfo {
  endpoint: string;
  asn: number;
  bgpAddress: string;
  /** Where this entry sits in the document. */
  path: Path;
}

export interface GsaPeerInfo {
  endpoint?: string;
  asn?: number;
  bgpAddress?: string;
  path: Path;
}

export interface GsaLinkInfo {
  id?: string;
  displayName?: string;
  /** In document order; null where the entry is malformed (and reported), so indices stay put. */
  local: (GsaEndpointInfo | null)[];
  peer?: GsaPeerInfo;
  path: Path;
}

export interface DocIssue {
  path: Path;
  message: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isAsn = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 4294967295;

/** A document may be the response itself or a Graph-style wrapper {"value": {...}}. */
function unwrap(doc: unknown): { root: unknown; base: Path } {
  if (isObj(doc) && !('links' in doc) && isObj(doc.value) && 'links' in doc.value) return { root: doc.value, base: ['value'] };
  return { root: doc, base: [] };
}

function readEndpoint(v: unknown, path: Path, issues: DocIssue[]): GsaEndpointInfo | undefined {
  if (!isObj(v)) return issues.push({ path, message: 'expected an object with endpoint, asn and bgpAddress' }), undefined;
  const bad = issues.length;
  if (typeof v.endpoint !== 'string' || !isIPv4(v.endpoint)) {
    issues.push({ path: [...path, 'endpoint'], message: 'endpoint: expected GSA\'s public IPv4 address (Graph: "public IPv4 address")' });
  }
  if (!isAsn(v.asn)) issues.push({ path: [...path, 'asn'], message: 'asn: expected GSA\'s ASN, a whole number (65476 in every published example)' });
  if (typeof v.bgpAddress !== 'string' || !isIPv4(v.bgpAddress)) {
    issues.push({ path: [...path, 'bgpAddress'], message: 'bgpAddress: expected GSA\'s BGP IPv4 address' });
  }
  if (issues.length > bad) return undefined;
  return { endpoint: v.endpoint as string, asn: v.asn as number, bgpAddress: v.bgpAddress as string, path };
}

function readPeer(v: unknown, path: Path, issues: DocIssue[]): GsaPeerInfo | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObj(v)) return issues.push({ path, message: 'peerConfiguration: expected an object' }), undefined;
  const peer: GsaPeerInfo = { path };
  // Each field is optional (the CPE side may be written by hand instead), but never malformed.
  if (v.endpoint !== undefined) {
    if (typeof v.endpoint === 'string' && isIPv4(v.endpoint)) peer.endpoint = v.endpoint;
    else issues.push({ path: [...path, 'endpoint'], message: 'endpoint: expected the CPE\'s public IPv4 address' });
  }
  if (v.asn !== undefined) {
    if (isAsn(v.asn)) peer.asn = v.asn;
    else issues.push({ path: [...path, 'asn'], message: 'asn: expected the CPE\'s ASN, a whole number' });
  }
  if (v.bgpAddress !== undefined) {
    if (typeof v.bgpAddress === 'string' && isIPv4(v.bgpAddress)) peer.bgpAddress = v.bgpAddress;
    else issues.push({ path: [...path, 'bgpAddress'], message: 'bgpAddress: expected the CPE\'s BGP IPv4 address' });
  }
  return peer;
}

/** Every link of the document, with problems at their paths. */
export function readConnectivity(doc: unknown): { links: GsaLinkInfo[]; issues: DocIssue[] } {
  const issues: DocIssue[] = [];
  const { root, base } = unwrap(doc);
  if (!isObj(root) || !Array.isArray(root.links)) {
    issues.push({ path: base, message: 'not a connectivityConfiguration: expected an object with a "links" list (Graph: GET …/remoteNetworks/{id}/connectivityConfiguration)' });
    return { links: [], issues };
  }
  const links: GsaLinkInfo[] = [];
  root.links.forEach((l: unknown, i: number) => {
    const path = [...base, 'links', i];
    if (!isObj(l)) return void issues.push({ path, message: 'expected a link object' });
    const info: GsaLinkInfo = { local: [], path };
    if (typeof l.id === 'string') info.id = l.id;
    if (typeof l.displayName === 'string') info.displayName = l.displayName;
    if (!Array.isArray(l.localConfigurations) || l.localConfigurations.length === 0) {
      issues.push({ path: [...path, 'localConfigurations'], message: 'localConfigurations: expected a list of GSA endpoints (one, or two with zone redundancy)' });
    } else {
      l.localConfigurations.forEach((c: unknown, k: number) => {
        info.local.push(readEndpoint(c, [...path, 'localConfigurations', k], issues) ?? null);
      });
    }
    const peer = readPeer(l.peerConfiguration, [...path, 'peerConfiguration'], issues);
    if (peer) info.peer = peer;
    links.push(info);
  });
  if (root.links.length === 0) issues.push({ path: [...base, 'links'], message: 'links is empty: the remote network has no device link yet' });
  return { links, issues };
}

const describe = (l: GsaLinkInfo, i: number) => (l.displayName ?? l.id ?? `#${i}`);

/**
 * The link gsa.link names (displayName, id, or index), or the only one. Errors say which
 * links exist so the fix is a copy-paste.
 */
export function selectLink(links: GsaLinkInfo[], want: unknown): { ok: true; link: GsaLinkInfo } | { ok: false; error: string } {
  const list = links.map(describe).map((d) => quoteInput(d)).join(', ');
  if (want === undefined) {
    if (links.length === 1) return { ok: true, link: links[0]! };
    return { ok: false, error: `the connectivityConfiguration has ${links.length} links (${list}): set gsa.link to the displayName or id of this device's link` };
  }
  const hit = typeof want === 'number'
    ? links[want]
    : links.find((l) => l.displayName === want || l.id === want);
  if (hit) return { ok: true, link: hit };
  return { ok: false, error: `no link ${typeof want === 'string' ? quoteInput(want) : String(want)} in the connectivityConfiguration; its links are: ${list}` };
}
