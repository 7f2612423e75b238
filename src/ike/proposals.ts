/**
 * Proposal selection (RFC 7296 §2.7, §3.3.6). The responder picks one proposal and exactly one
 * transform of each type; the initiator checks that what came back is a subset of its offer.
 * Like strongSwan's default (prefer_configured_proposals = yes), our configured order wins.
 */
import { DhId, EsnId, IntegId, TransformType } from './constants.js';
import type { Proposal, Transform } from './codec/types.js';
import type { ProposalTemplate } from '../config/types.js';
import { dhInfo, encrInfo, integInfo, prfInfo } from './crypto/transforms.js';
import { encrName, integName, keName, prfName } from './iana-names.js';

/** The algorithms one SA uses, read off a selected proposal. */
export interface Suite {
  encrId: number;
  encrKeyBits: number;
  integId: number;
  prfId: number;
  dhId: number;
  esn: boolean;
}

export interface Selection {
  /** The peer's proposal number and SPI (the SPI is theirs; it becomes our outbound SPI for ESP). */
  num: number;
  spi: Uint8Array;
  transforms: Transform[];
  suite: Suite;
}

const TYPES = [TransformType.ENCR, TransformType.PRF, TransformType.INTEG, TransformType.DH, TransformType.ESN];

/** RFC 7296 §3.3.2: INTEG NONE and DH NONE mean the same as leaving the type out. */
function meaningful(t: Transform, skipDh: boolean): boolean {
  if (t.type === TransformType.INTEG && t.id === IntegId.NONE) return false;
  if (t.type === TransformType.DH && (t.id === DhId.NONE || skipDh)) return false;
  return TYPES.includes(t.type as (typeof TYPES)[number]);
}

function same(a: Transform, b: Transform): boolean {
  return a.type === b.type && a.id === b.id && (a.keyLength ?? 0) === (b.keyLength ?? 0);
}

export interface SelectOptions {
  protocol: number;
  /** IKE_AUTH child SAs carry no KE: DH transforms are ignored (RFC 7296 §1.2). */
  skipDh?: boolean;
  /** Prefer this DH group when both sides allow it (the group of the KE payload received). */
  preferDh?: number;
}

/**
 * Intersect one of our templates with one peer proposal: for every transform type either side
 * uses, both must list it and share one; we take our first shared choice.
 */
function intersect(ours: ProposalTemplate, theirs: Proposal, opts: SelectOptions): Transform[] | null {
  const skipDh = opts.skipDh ?? false;
  const mine = ours.transforms.filter((t) => meaningful(t, skipDh));
  const peer = theirs.transforms.filter((t) => meaningful(t, skipDh));
  const chosen: Transform[] = [];
  for (const type of TYPES) {
    const a = mine.filter((t) => t.type === type);
    const b = peer.filter((t) => t.type === type);
    if (a.length === 0 && b.length === 0) {
      // RFC 7296 §3.3.3: ESP proposals must carry ESN; a peer that omits it means "no ESN".
      continue;
    }
    if (type === TransformType.ESN && b.length === 0 && a.some((t) => t.id === EsnId.NO_ESN)) {
      chosen.push({ type, id: EsnId.NO_ESN });
      continue;
    }
    const shared = a.filter((x) => b.some((y) => same(x, y)));
    if (shared.length === 0) return null;
    const pick =
      type === TransformType.DH && opts.preferDh !== undefined
        ? (shared.find((t) => t.id === opts.preferDh) ?? shared[0]!)
        : shared[0]!;
    chosen.push({ ...pick });
  }
  return chosen;
}

/** Responder side: pick from the peer's proposals, our preference order first. */
export function selectProposal(ours: ProposalTemplate[], theirs: Proposal[], opts: SelectOptions): Selection | null {
  let fallback: Selection | null = null;
  for (const tpl of ours) {
    for (const p of theirs) {
      if (p.protocol !== opts.protocol) continue;
      const t = intersect(tpl, p, opts);
      if (!t) continue;
      const suite = suiteOf(t);
      if (!suite) continue;
      const sel = { num: p.num, spi: p.spi, transforms: t, suite };
      // A selection whose DH matches the KE we already have avoids an INVALID_KE round trip.
      if (opts.preferDh === undefined || suite.dhId === opts.preferDh || opts.skipDh) return sel;
      fallback ??= sel;
    }
  }
  return fallback;
}

/**
 * Initiator side: the response must hold exactly one proposal with one transform per type,
 * and it must be one we offered (RFC 7296 §3.3.6 "MUST accept ... only ... if it is a subset").
 */
export function acceptResponseProposal(
  ours: ProposalTemplate[],
  response: Proposal[],
  opts: SelectOptions,
): Selection | null {
  if (response.length !== 1) return null;
  const p = response[0]!;
  if (p.protocol !== opts.protocol) return null;
  const skipDh = opts.skipDh ?? false;
  const got = p.transforms.filter((t) => meaningful(t, skipDh));
  for (const type of TYPES) if (got.filter((t) => t.type === type).length > 1) return null;
  for (const tpl of ours) {
    const allowed = tpl.transforms;
    if (!got.every((g) => allowed.some((a) => same(a, g)))) continue;
    const needed = new Set(allowed.filter((t) => meaningful(t, skipDh)).map((t) => t.type));
    // ESN may be omitted by a lax peer when we offered NO_ESN only.
    if (![...needed].every((type) => got.some((g) => g.type === type) || type === TransformType.ESN)) continue;
    const suite = suiteOf(got);
    if (suite) return { num: p.num, spi: p.spi, transforms: got, suite };
  }
  return null;
}

export function suiteOf(transforms: Transform[]): Suite | null {
  const get = (type: number) => transforms.find((t) => t.type === type);
  const encr = get(TransformType.ENCR);
  if (!encr) return null;
  const keyBits = encr.keyLength ?? 0;
  if (!encrInfo(encr.id, keyBits)) return null;
  const integ = get(TransformType.INTEG);
  const prf = get(TransformType.PRF);
  const dh = get(TransformType.DH);
  const esn = get(TransformType.ESN);
  if (integ && !integInfo(integ.id)) return null;
  if (prf && !prfInfo(prf.id)) return null;
  if (dh && !dhInfo(dh.id)) return null;
  return {
    encrId: encr.id,
    encrKeyBits: keyBits,
    integId: integ?.id ?? IntegId.NONE,
    prfId: prf?.id ?? 0,
    dhId: dh?.id ?? DhId.NONE,
    esn: esn?.id === EsnId.ESN,
  };
}

/** The DH group of our most preferred IKE proposal: what the first KE payload uses. */
export function firstDhGroup(ours: ProposalTemplate[]): number | null {
  for (const p of ours) {
    const dh = p.transforms.find((t) => t.type === TransformType.DH && t.id !== DhId.NONE);
    if (dh) return dh.id;
  }
  return null;
}

export function offersDhGroup(ours: ProposalTemplate[], group: number): boolean {
  return ours.some((p) => p.transforms.some((t) => t.type === TransformType.DH && t.id === group));
}

/** Our templates as numbered proposals for an SA payload. */
export function toProposals(ours: ProposalTemplate[], protocol: number, spi: Uint8Array, skipDh = false): Proposal[] {
  return ours.map((tpl, i) => ({
    num: i + 1,
    protocol,
    spi,
    transforms: tpl.transforms.filter((t) => !(skipDh && t.type === TransformType.DH)).map((t) => ({ ...t })),
  }));
}

/** "AES_GCM_16_256/PRF_HMAC_SHA2_384/MODP_2048_256" for logs. */
export function describeTransforms(transforms: Transform[]): string {
  const names: string[] = [];
  for (const t of transforms) {
    switch (t.type) {
      case TransformType.ENCR:
        names.push(encrInfo(t.id, t.keyLength ?? 0)?.name ?? encrName(t.id, t.keyLength ?? 0));
        break;
      case TransformType.PRF:
        names.push(prfInfo(t.id)?.name ?? prfName(t.id));
        break;
      case TransformType.INTEG:
        if (t.id !== IntegId.NONE) names.push(integInfo(t.id)?.name ?? integName(t.id));
        break;
      case TransformType.DH:
        if (t.id !== DhId.NONE) names.push(dhInfo(t.id)?.name ?? keName(t.id));
        break;
      case TransformType.ESN:
        names.push(t.id === EsnId.ESN ? 'ESN' : 'NO_ESN');
        break;
      default:
        names.push(`T${t.type}_${t.id}`);
    }
  }
  return names.join('/');
}

export function describeProposals(list: { transforms: Transform[] }[]): string {
  return list.map((p) => describeTransforms(p.transforms)).join(', ');
}
