/**
 * Rules that hold only when the peer is Microsoft Global Secure Access. They come from GSA's
 * device-link restrictions (docs/gsa-reference.md §2–§4), which a strongSwan or other IKEv2
 * peer does not have: a 4-byte ASN, a 60 s Child SA, AES-CBC in ESP are all fine elsewhere.
 *
 * A tunnel is a GSA tunnel when it says so explicitly: `profile: gsa-default`, `profile:
 * gsa-custom` or `gsaEndpoint: N`, and it initiates. Two deliberate exclusions:
 * - a tunnel that only falls back to the default profile (no profile:, no ike:/esp:) gets GSA's
 *   crypto table but not these rules: it may well be a lab or strongSwan peer;
 * - a tunnel with `initiate: false` plays GSA's own role (the lab's emulated endpoint): GSA never
 *   connects to a CPE (gsa.md §1), so device-link rules do not describe it. With gsaEndpoint,
 *   whose peer is by definition GSA, `initiate: false` is an error.
 * The Device ASN rules apply when any BGP neighbor sits on a GSA tunnel.
 */
import { DhId, EncrId, IntegId, PrfId, TransformType } from '../ike/constants.js';
import type { ProposalTemplate } from './types.js';
import { cidrContains, isIPv4, parseCidr } from './cidr.js';
import { parseDuration } from './duration.js';
import { GSA_MIN_LIFETIME, GSA_POLICY_VALUES, gsaPolicyValue, resolveGsaPolicy, type GsaPolicy, type GsaPolicyField } from './gsa-policy.js';
import { GSA_CUSTOM_PROFILE, isGsaProfile } from './profiles.js';
import { parseEspProposal, parseIkeProposal, proposalToString } from './proposals.js';
import { isObj, rawPrefixes } from './rules.js';
import type { RawIssue } from './types.js';

/** GSA's reserved ASNs (gsa.md §4.1 [S1]): Azure's, IANA's, and GSA's own 65476. */
const GSA_RESERVED_ASNS: readonly [number, number, string][] = [
  [8075, 8076, 'reserved by Azure'], [12076, 12076, 'reserved by Azure'], [65517, 65520, 'reserved by Azure'],
  [23456, 23456, 'reserved by IANA'], [64496, 64511, 'reserved by IANA'], [65535, 65551, 'reserved by IANA'],
  [65476, 65476, 'GSA\'s own ASN'],
];
/** The ASN every published connectivityConfiguration shows for GSA (gsa.md §4.1). */
export const GSA_ASN = 65476;

export function isGsaTunnel(t: Record<string, unknown>): boolean {
  return (isGsaProfile(t.profile) || t.gsaEndpoint !== undefined) && t.initiate !== false;
}

/** The gsaPolicy mapping with canonical names, or undefined if a value is malformed (reported by the schema). */
export function rawGsaPolicy(v: unknown): GsaPolicy | undefined {
  if (!isObj(v)) return undefined;
  const out: Record<string, string> = {};
  for (const f of Object.keys(GSA_POLICY_VALUES) as GsaPolicyField[]) {
    const r = gsaPolicyValue(f, v[f] ?? (f === 'pfsGroup' ? 'none' : undefined));
    if (!r.ok) return undefined;
    out[f] = r.value;
  }
  const life = v.saLifeTimeSeconds === undefined ? undefined : parseDuration(v.saLifeTimeSeconds);
  if (life && !life.ok) return undefined;
  return { ...(out as unknown as GsaPolicy), ...(life ? { saLifeTimeSeconds: life.value } : {}) };
}

const IKE_OK = {
  [TransformType.ENCR]: (t: { id: number; keyLength?: number }) =>
    (t.id === EncrId.AES_CBC && [128, 192, 256].includes(t.keyLength ?? 0)) || (t.id === EncrId.AES_GCM_16 && [128, 256].includes(t.keyLength ?? 0)),
  [TransformType.PRF]: (t: { id: number }) => t.id === PrfId.HMAC_SHA2_256 || t.id === PrfId.HMAC_SHA2_384,
  [TransformType.INTEG]: (t: { id: number }) => t.id === IntegId.HMAC_SHA2_256_128 || t.id === IntegId.HMAC_SHA2_384_192,
  [TransformType.DH]: (t: { id: number }) => ([DhId.MODP_2048, DhId.MODP_2048_256, DhId.ECP_256, DhId.ECP_384] as number[]).includes(t.id),
} as Record<number, (t: { id: number; keyLength?: number }) => boolean>;

/** Why GSA's custom policy cannot express this IKE proposal (gsa.md §2.3 field values), or undefined. */
function ikeProblem(p: ProposalTemplate): string | undefined {
  const bad = p.transforms.find((t) => IKE_OK[t.type] && !IKE_OK[t.type]!(t));
  if (!bad) return undefined;
  return `${proposalToString(p)}: GSA offers only aes128/aes192/aes256 (CBC) or aes128gcm16/aes256gcm16, sha256/sha384, and DH groups modp2048 (14), modp2048s256 (24), ecp256, ecp384 for phase 1 (gsa.md §2.3)`;
}

/** GSA's phase-2 rule on one ESP proposal: AES-GCM-16 alone, or NULL + HMAC-SHA2-256-128. */
function espProblem(p: ProposalTemplate): string | undefined {
  const encr = p.transforms.filter((t) => t.type === TransformType.ENCR);
  const integ = p.transforms.filter((t) => t.type === TransformType.INTEG);
  const gcm = encr.length > 0 && integ.length === 0 && encr.every((t) => t.id === EncrId.AES_GCM_16);
  const nullSha = encr.length === 1 && encr[0]!.id === EncrId.NULL && integ.length === 1 && integ[0]!.id === IntegId.HMAC_SHA2_256_128;
  if (gcm || nullSha) return undefined;
  return `${proposalToString(p)}: GSA's phase-2 rule allows only AES-GCM (aes128gcm16, aes192gcm16, aes256gcm16) or null-sha256 (gsa.md §2.1, §2.3)`;
}

function checkProposals(t: Record<string, unknown>, at: (path: (string | number)[], m: string) => void): void {
  for (const [key, parse, problem] of [['ike', parseIkeProposal, ikeProblem], ['esp', parseEspProposal, espProblem]] as const) {
    const list = t[key];
    if (!Array.isArray(list)) continue;
    list.forEach((s, k) => {
      const r = parse(s);
      const why = r.ok ? problem(r.value) : undefined;
      if (why) at([key, k], why);
    });
  }
}

function checkTunnel(t: Record<string, unknown>, i: number, issues: RawIssue[], warnings: RawIssue[]): void {
  const at = (path: (string | number)[], message: string) => issues.push({ path: ['tunnels', i, ...path], message });
  const warn = (path: (string | number)[], message: string) => warnings.push({ path: ['tunnels', i, ...path], message });
  const custom = t.profile === GSA_CUSTOM_PROFILE;
  if (t.gsaPolicy !== undefined && !custom) {
    at(['gsaPolicy'], 'gsaPolicy is GSA\'s "Custom" IPsec/IKE policy: it needs profile: gsa-custom');
  }
  if (custom) {
    const lists = t.ike !== undefined || t.esp !== undefined;
    if (t.gsaPolicy === undefined && !lists) at(['profile'], 'profile gsa-custom needs gsaPolicy: (the portal\'s custom policy fields) or explicit ike: and esp: lists');
    else if (t.gsaPolicy !== undefined && lists) at([t.ike !== undefined ? 'ike' : 'esp'], 'gsaPolicy and ike:/esp: are both set: the custom policy comes from one of them');
    else if (lists && (t.ike === undefined || t.esp === undefined)) at([t.ike === undefined ? 'ike' : 'esp'], 'give both ike: and esp: with profile gsa-custom, or use gsaPolicy:');
  }
  if (t.gsaEndpoint !== undefined && t.initiate === false) {
    at(['initiate'], 'GSA only responds, the CPE must initiate (gsa.md §1): remove initiate: false');
  }
  if (!isGsaTunnel(t)) return;
  if (custom || t.profile === undefined) checkProposals(t, at);
  const policy = custom ? rawGsaPolicy(t.gsaPolicy) : undefined;
  if (policy) {
    const r = resolveGsaPolicy(policy);
    if (!r.ok) for (const x of r.issues) at(['gsaPolicy', x.field], x.message);
    else for (const x of r.value.warnings) warn(['gsaPolicy', x.field], x.message);
    if (policy.saLifeTimeSeconds !== undefined && t.childLifetime !== undefined) {
      at(['childLifetime'], 'gsaPolicy.saLifeTimeSeconds and childLifetime are both set: the custom policy\'s SA lifetime is the Child SA lifetime; keep one');
    }
    if (t.pfs !== undefined) at(['pfs'], 'with gsaPolicy, PFS comes from gsaPolicy.pfsGroup: remove pfs:');
  }
  const child = t.childLifetime === undefined ? undefined : parseDuration(t.childLifetime);
  if (child?.ok && child.value < GSA_MIN_LIFETIME) {
    at(['childLifetime'], `GSA requires an SA lifetime of at least ${GSA_MIN_LIFETIME} seconds (gsa.md §2.3); got ${child.value}`);
  }
  if (t.profile === 'gsa-default' && t.pfs !== undefined && t.pfs !== 'none') {
    at(['pfs'], 'GSA\'s Default policy has PFS group None (gsa.md §2.2): a KE in rekeys would not match; use pfs: none, or profile gsa-custom with the same pfsGroup as the portal');
  }
  for (const key of ['localTs', 'remoteTs'] as const) {
    const list = rawPrefixes(t[key]);
    if (list.length > 0 && !list.some((c) => c.prefix === 0)) {
      warn([key], `GSA tunnels are route-based with 0.0.0.0/0 selectors on both sides (gsa.md §9 item 3); a narrower ${key} may be refused with TS_UNACCEPTABLE`);
    }
  }
  if (t.dpd === 0 || t.dpd === '0' || t.dpd === '0s') {
    warn(['dpd'], 'GSA cannot re-initiate a tunnel: keep DPD on so a dead SA is noticed and rebuilt (gsa.md §3)');
  }
}

const PRIVATE = ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10'].map((p) => parseCidr(p)).flatMap((r) => (r.ok ? [r.value] : []));

function checkBgp(raw: Record<string, unknown>, gsaTunnels: Set<string>, issues: RawIssue[], warnings: RawIssue[]): void {
  const bgp = raw.bgp;
  if (!isObj(bgp) || !Array.isArray(bgp.neighbors)) return;
  let anyGsa = false;
  (bgp.neighbors as unknown[]).forEach((n, j) => {
    if (!isObj(n) || typeof n.tunnel !== 'string' || !gsaTunnels.has(n.tunnel)) return;
    anyGsa = true;
    const warn = (key: string, message: string) => warnings.push({ path: ['bgp', 'neighbors', j, key], message });
    if (typeof n.asn === 'number' && n.asn !== GSA_ASN) {
      warn('asn', `GSA's ASN has been ${GSA_ASN} in every published connectivityConfiguration (gsa.md §4.1); check the "Link ASN" the portal shows`);
    }
    if (typeof n.address === 'string' && isIPv4(n.address) && !PRIVATE.some((c) => cidrContains(c, n.address as string))) {
      warn('address', 'GSA\'s "Local BGP address" is meant to be a private address (RFC 1918 or 100.64.0.0/10) outside the branch\'s networks (gsa.md §4.1)');
    }
  });
  if (!anyGsa || typeof bgp.asn !== 'number') return;
  const at = (message: string) => issues.push({ path: ['bgp', 'asn'], message });
  const asn = bgp.asn;
  if (asn < 1 || asn > 65534) {
    at(`GSA accepts a 2-byte Device ASN, 1..65534 (gsa.md §4.1); ${asn} is not one`);
    return;
  }
  const hit = GSA_RESERVED_ASNS.find(([lo, hi]) => asn >= lo && asn <= hi);
  if (hit) {
    const range = hit[0] === hit[1] ? `${hit[0]}` : `${hit[0]}-${hit[1]}`;
    at(`Device ASN ${asn} is ${hit[2]} (${range}); GSA refuses 8075, 8076, 12076, 23456, 64496-64511, 65476, 65517-65520 and 65535-65551 (gsa.md §4.1)`);
  }
}

/** GSA's rules; warnings are reported but do not fail check-config. */
export function checkGsaRules(raw: unknown): { issues: RawIssue[]; warnings: RawIssue[] } {
  const issues: RawIssue[] = [];
  const warnings: RawIssue[] = [];
  if (!isObj(raw)) return { issues, warnings };
  const tunnels = Array.isArray(raw.tunnels) ? (raw.tunnels as unknown[]) : [];
  const gsa = new Set<string>();
  tunnels.forEach((t, i) => {
    if (!isObj(t)) return;
    checkTunnel(t, i, issues, warnings);
    if (isGsaTunnel(t) && typeof t.name === 'string') gsa.add(t.name);
  });
  checkBgp(raw, gsa, issues, warnings);
  return { issues, warnings };
}
