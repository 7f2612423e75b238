/**
 * strongSwan proposal strings ("aes256gcm16-prfsha384-ecp384") → transform lists.
 *
 * Keywords are the subset of strongSwan's proposal_keywords_static.txt that branchgate
 * implements (contract.md "Proposal names"). The checks follow RFC 7296 §3.3.3 and strongSwan's
 * proposal.c check_proposal(), with two deliberate differences: an AEAD cipher next to an
 * integrity algorithm is an error here (strongSwan silently drops the integrity algorithm, which
 * hides a misunderstanding), and so is a prf keyword in an ESP proposal (strongSwan drops it).
 */
import { DhId, EncrId, EsnId, IntegId, PrfId, TransformType } from '../ike/constants.js';
import type { Transform } from '../ike/codec/types.js';
import type { ProposalTemplate } from './types.js';
import { quoteInput, type ParseResult } from './duration.js';

export type ProposalKind = 'ike' | 'esp';

interface Keyword {
  transform: Transform;
  aead?: boolean;
  /** Valid only in this kind of proposal. */
  only?: ProposalKind;
}

const KEYWORDS = new Map<string, Keyword>();
/** First keyword registered for a transform: the canonical spelling used when printing. */
const CANONICAL = new Map<string, string>();
const tkey = (t: Transform): string => `${t.type}/${t.id}/${t.keyLength ?? ''}`;

function add(names: string[], transform: Transform, extra: Omit<Keyword, 'transform'> = {}): void {
  for (const n of names) KEYWORDS.set(n, { transform, ...extra });
  if (!CANONICAL.has(tkey(transform))) CANONICAL.set(tkey(transform), names[0]!);
}

for (const kl of [128, 192, 256]) {
  add([`aes${kl}`], { type: TransformType.ENCR, id: EncrId.AES_CBC, keyLength: kl });
  // strongSwan: "aesNNNgcm" and "aesNNNgcm128" both mean the 16-octet (128-bit) ICV.
  const gcm = { type: TransformType.ENCR, id: EncrId.AES_GCM_16, keyLength: kl };
  add([`aes${kl}gcm16`, `aes${kl}gcm128`, `aes${kl}gcm`], gcm, { aead: true });
}
add(['chacha20poly1305'], { type: TransformType.ENCR, id: EncrId.CHACHA20_POLY1305 }, { aead: true }); // RFC 7634
add(['null'], { type: TransformType.ENCR, id: EncrId.NULL }, { only: 'esp' });
add(['sha256'], { type: TransformType.INTEG, id: IntegId.HMAC_SHA2_256_128 });
add(['sha384'], { type: TransformType.INTEG, id: IntegId.HMAC_SHA2_384_192 });
add(['sha512'], { type: TransformType.INTEG, id: IntegId.HMAC_SHA2_512_256 });
add(['prfsha256'], { type: TransformType.PRF, id: PrfId.HMAC_SHA2_256 }, { only: 'ike' });
add(['prfsha384'], { type: TransformType.PRF, id: PrfId.HMAC_SHA2_384 }, { only: 'ike' });
add(['prfsha512'], { type: TransformType.PRF, id: PrfId.HMAC_SHA2_512 }, { only: 'ike' });

/** DH group keywords; also the values `pfs:` accepts. */
export const DH_GROUPS: Readonly<Record<string, number>> = {
  modp2048: DhId.MODP_2048,
  modp2048s256: DhId.MODP_2048_256,
  ecp256: DhId.ECP_256,
  ecp384: DhId.ECP_384,
  ecp521: DhId.ECP_521,
  curve25519: DhId.CURVE_25519,
  x25519: DhId.CURVE_25519,
};
for (const [name, id] of Object.entries(DH_GROUPS)) add([name], { type: TransformType.DH, id });

/** Group id for a DH keyword (case-insensitive), or undefined; safe for names like "constructor". */
export function dhGroupByName(name: string): number | undefined {
  const k = name.toLowerCase();
  return Object.hasOwn(DH_GROUPS, k) ? DH_GROUPS[k] : undefined;
}
add(['noesn'], { type: TransformType.ESN, id: EsnId.NO_ESN }, { only: 'esp' });
add(['esn'], { type: TransformType.ESN, id: EsnId.ESN }, { only: 'esp' });

/** strongSwan derives the IKE PRF from the integrity algorithm when none is named. */
const PRF_FOR_INTEG: Record<number, number> = {
  [IntegId.HMAC_SHA2_256_128]: PrfId.HMAC_SHA2_256,
  [IntegId.HMAC_SHA2_384_192]: PrfId.HMAC_SHA2_384,
  [IntegId.HMAC_SHA2_512_256]: PrfId.HMAC_SHA2_512,
};

/** Canonical keywords valid in this kind of proposal (aliases left out to keep messages short). */
export function validKeywords(kind: ProposalKind): string[] {
  return [...CANONICAL.values()].filter((n) => {
    const k = KEYWORDS.get(n)!;
    return k.only === undefined || k.only === kind;
  });
}

/** RFC 7296 §3.3.2 order inside a proposal, as strongSwan sends it. */
const TYPE_ORDER = [TransformType.ENCR, TransformType.PRF, TransformType.INTEG, TransformType.DH, TransformType.ESN];

function parseProposal(kind: ProposalKind, input: unknown): ParseResult<ProposalTemplate> {
  const example = kind === 'ike' ? 'aes256gcm16-prfsha384-ecp384' : 'aes256gcm16';
  if (typeof input !== 'string' || input.trim() === '') {
    return { ok: false, error: `expected a proposal string such as ${example}` };
  }
  const s = input.trim();
  const q = quoteInput(s);
  const byType = new Map<number, { t: Transform; name: string }[]>(TYPE_ORDER.map((t) => [t, []]));
  for (const raw of s.split('-')) {
    const name = raw.toLowerCase();
    if (name === '') return { ok: false, error: `${q}: empty algorithm name (two dashes in a row?)` };
    const kw = KEYWORDS.get(name);
    if (!kw) {
      return { ok: false, error: `unknown algorithm ${quoteInput(raw)} in ${q}; valid in ${kind}: ${validKeywords(kind).join(', ')}` };
    }
    if (kw.only && kw.only !== kind) {
      const why = kw.only === 'ike' ? 'a PRF is negotiated only for IKE SAs' : `${name} applies only to ESP`;
      return { ok: false, error: `${q}: ${name} is not valid in an ${kind} proposal (${why}); remove it` };
    }
    const list = byType.get(kw.transform.type)!;
    // Aliases and repeats name the same transform; sending it twice would only confuse peers.
    if (!list.some((e) => tkey(e.t) === tkey(kw.transform))) list.push({ t: { ...kw.transform }, name });
  }
  const encr = byType.get(TransformType.ENCR)!;
  const prf = byType.get(TransformType.PRF)!;
  const integ = byType.get(TransformType.INTEG)!;
  const aead = encr.filter((e) => KEYWORDS.get(e.name)!.aead);
  const classic = encr.filter((e) => !KEYWORDS.get(e.name)!.aead);
  if (encr.length === 0) {
    return { ok: false, error: `${q}: no encryption algorithm; add one, e.g. ${example}` };
  }
  if (aead.length > 0 && classic.length > 0) {
    return {
      ok: false,
      error: `${q}: AEAD cipher ${aead[0]!.name} cannot be combined with non-AEAD cipher ${classic[0]!.name} in one proposal; list them as separate proposals`,
    };
  }
  if (aead.length > 0 && integ.length > 0) {
    const prfHint = kind === 'ike' ? ' (an IKE proposal still needs its prf, e.g. prfsha384)' : '';
    return {
      ok: false,
      error: `${q}: AEAD cipher ${aead[0]!.name} must not be combined with integrity algorithm ${integ[0]!.name}: AEAD authenticates by itself; remove ${integ[0]!.name}${prfHint}`,
    };
  }
  if (aead.length === 0 && integ.length === 0) {
    const what = classic.some((e) => e.t.id === EncrId.NULL) ? 'null encryption' : `non-AEAD cipher ${classic[0]!.name}`;
    return { ok: false, error: `${q}: ${what} needs an integrity algorithm; add sha256, sha384 or sha512` };
  }
  if (kind === 'ike') {
    if (prf.length === 0 && aead.length > 0) {
      return {
        ok: false,
        error: `${q}: an AEAD IKE proposal needs an explicit PRF (strongSwan: "a PRF algorithm is mandatory in IKE proposals"); add prfsha256, prfsha384 or prfsha512`,
      };
    }
    if (prf.length === 0) {
      for (const e of integ) {
        const id = PRF_FOR_INTEG[e.t.id]!;
        if (!prf.some((p) => p.t.id === id)) prf.push({ t: { type: TransformType.PRF, id }, name: `prf${e.name}` });
      }
    }
    if (byType.get(TransformType.DH)!.length === 0) {
      return { ok: false, error: `${q}: an IKE proposal needs a DH group; add e.g. ecp384, modp2048s256 or modp2048` };
    }
  } else if (byType.get(TransformType.ESN)!.length === 0) {
    byType.get(TransformType.ESN)!.push({ t: { type: TransformType.ESN, id: EsnId.NO_ESN }, name: 'noesn' });
  }
  return { ok: true, value: { transforms: TYPE_ORDER.flatMap((t) => byType.get(t)!.map((e) => e.t)) } };
}

/** An IKE proposal: ENCR, PRF, DH, and INTEG unless the cipher is AEAD. */
export function parseIkeProposal(s: unknown): ParseResult<ProposalTemplate> {
  return parseProposal('ike', s);
}

/** An ESP proposal: ENCR, INTEG unless AEAD, optional DH (rekey PFS only), ESN (default noesn). */
export function parseEspProposal(s: unknown): ParseResult<ProposalTemplate> {
  return parseProposal('esp', s);
}

/** strongSwan keyword for one transform, or "TYPE/ID[/BITS]" for one we have no name for. */
export function transformName(t: Transform): string {
  return CANONICAL.get(tkey(t)) ?? `${t.type}/${t.id}${t.keyLength ? `/${t.keyLength}` : ''}`;
}

/** Back to strongSwan syntax, for logs: "aes256gcm16-prfsha384-modp2048s256". */
export function proposalToString(p: ProposalTemplate): string {
  return p.transforms.map(transformName).join('-');
}
