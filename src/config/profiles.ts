/**
 * Named proposal profiles. `gsa-default` is Microsoft Global Secure Access's published
 * "Default" IPsec/IKE policy (docs/gsa-reference.md §2.2, the 2026-03-13 version: eight IKE
 * combinations, three ESP), translated to strongSwan syntax with the mapping of gsa.md §2.4:
 *   GCMAESnnn (IKE)  → aesNNNgcm16 + the PRF named by the integrity column (no INTEG transform)
 *   AESnnn + SHAnnn  → aesNNN-shaNNN (CBC + HMAC; the PRF follows the integrity algorithm)
 *   DHGroup24 → modp2048s256 (group 24), DHGroup14 → modp2048 (group 14)
 *   ESP GCMAESnnn/GCMAESnnn → aesNNNgcm16, ESN not documented → noesn (gsa.md §2.4)
 * The table is exported as data so tests and docs can enumerate every combination.
 */
import type { PfsSetting, ProposalTemplate } from './types.js';
import type { ParseResult } from './duration.js';
import { parseEspProposal, parseIkeProposal } from './proposals.js';

export interface GsaPhase1Row {
  /** Column name in the GSA table (C1..C8). */
  name: string;
  encryption: 'GCMAES256' | 'GCMAES128' | 'AES256' | 'AES128';
  integrity: 'SHA384' | 'SHA256';
  dhGroup: 'DHGroup24' | 'DHGroup14';
  /** The same combination in strongSwan proposal syntax. */
  proposal: string;
}

export interface GsaPhase2Row {
  name: string;
  encryption: 'GCMAES256' | 'GCMAES192' | 'GCMAES128';
  integrity: 'GCMAES256' | 'GCMAES192' | 'GCMAES128';
  pfsGroup: 'None';
  proposal: string;
}

/** Most preferred first, in the order GSA lists them (C1..C8). */
export const GSA_DEFAULT_PHASE1: readonly GsaPhase1Row[] = [
  { name: 'C1', encryption: 'GCMAES256', integrity: 'SHA384', dhGroup: 'DHGroup24', proposal: 'aes256gcm16-prfsha384-modp2048s256' },
  { name: 'C2', encryption: 'GCMAES128', integrity: 'SHA256', dhGroup: 'DHGroup24', proposal: 'aes128gcm16-prfsha256-modp2048s256' },
  { name: 'C3', encryption: 'AES256', integrity: 'SHA384', dhGroup: 'DHGroup24', proposal: 'aes256-sha384-modp2048s256' },
  { name: 'C4', encryption: 'AES128', integrity: 'SHA256', dhGroup: 'DHGroup24', proposal: 'aes128-sha256-modp2048s256' },
  { name: 'C5', encryption: 'GCMAES256', integrity: 'SHA384', dhGroup: 'DHGroup14', proposal: 'aes256gcm16-prfsha384-modp2048' },
  { name: 'C6', encryption: 'GCMAES128', integrity: 'SHA256', dhGroup: 'DHGroup14', proposal: 'aes128gcm16-prfsha256-modp2048' },
  { name: 'C7', encryption: 'AES256', integrity: 'SHA384', dhGroup: 'DHGroup14', proposal: 'aes256-sha384-modp2048' },
  { name: 'C8', encryption: 'AES128', integrity: 'SHA256', dhGroup: 'DHGroup14', proposal: 'aes128-sha256-modp2048' },
];

export const GSA_DEFAULT_PHASE2: readonly GsaPhase2Row[] = [
  { name: 'C1', encryption: 'GCMAES256', integrity: 'GCMAES256', pfsGroup: 'None', proposal: 'aes256gcm16-noesn' },
  { name: 'C2', encryption: 'GCMAES192', integrity: 'GCMAES192', pfsGroup: 'None', proposal: 'aes192gcm16-noesn' },
  { name: 'C3', encryption: 'GCMAES128', integrity: 'GCMAES128', pfsGroup: 'None', proposal: 'aes128gcm16-noesn' },
];

export interface Profile {
  description: string;
  ike: readonly string[];
  esp: readonly string[];
  /** Used when the tunnel does not set pfs: itself. */
  pfs: PfsSetting;
}

export const PROFILES: Readonly<Record<string, Profile>> = {
  'gsa-default': {
    description: 'Microsoft Global Secure Access "Default" IPsec/IKE policy (2026 table)',
    ike: GSA_DEFAULT_PHASE1.map((r) => r.proposal),
    esp: GSA_DEFAULT_PHASE2.map((r) => r.proposal),
    pfs: { kind: 'none' },
  },
};

export const PROFILE_NAMES: readonly string[] = Object.keys(PROFILES);

/** The profile used when a tunnel names neither a profile nor ike:/esp: proposals. */
export const DEFAULT_PROFILE = 'gsa-default';

/**
 * GSA's "Custom" policy: not a fixed table but the tunnel's gsaPolicy: (portal names, see
 * gsa-policy.ts), or explicit ike:/esp: lists that GSA's custom rules are then checked against.
 */
export const GSA_CUSTOM_PROFILE = 'gsa-custom';

/** Profiles that say "the peer is Microsoft Global Secure Access" (gsa-rules.ts applies). */
export function isGsaProfile(name: unknown): boolean {
  return name === 'gsa-default' || name === GSA_CUSTOM_PROFILE;
}

export interface ExpandedProfile {
  ike: ProposalTemplate[];
  esp: ProposalTemplate[];
  pfs: PfsSetting;
}

/** Expand a profile into proposal templates (fresh objects on every call: callers may mutate). */
export function expandProfile(name: string): ParseResult<ExpandedProfile> {
  const p = Object.hasOwn(PROFILES, name) ? PROFILES[name] : undefined;
  if (!p) return { ok: false, error: `unknown profile "${name}"; known profiles: ${PROFILE_NAMES.join(', ')}` };
  const ike: ProposalTemplate[] = [];
  const esp: ProposalTemplate[] = [];
  for (const [list, parse, out] of [[p.ike, parseIkeProposal, ike], [p.esp, parseEspProposal, esp]] as const) {
    for (const s of list) {
      const r = parse(s);
      // The tables above are constants; a failure here is a bug in this file, not in a config.
      if (!r.ok) throw new Error(`profile ${name}: ${r.error}`);
      out.push(r.value);
    }
  }
  return { ok: true, value: { ike, esp, pfs: { ...p.pfs } } };
}

/**
 * Where a tunnel's proposals come from: a profile, or explicit ike: and esp: lists, never a mix
 * (a profile silently overriding one list, or being overridden, is how mismatches get shipped).
 * Returns the offending key and a message, or undefined when the combination is valid.
 */
export function proposalSourceError(has: {
  profile: boolean;
  ike: boolean;
  esp: boolean;
}): { key: 'ike' | 'esp'; message: string } | undefined {
  if (has.profile && (has.ike || has.esp)) {
    const key = has.ike ? 'ike' : 'esp';
    return { key, message: `profile and ${key} are both set: use either a profile or explicit ike:/esp: proposals, not both` };
  }
  if (has.ike !== has.esp) {
    const [set, missing] = has.ike ? ['ike', 'esp'] as const : ['esp', 'ike'] as const;
    return {
      key: missing,
      message: `${set} is set but ${missing} is not: give both ike: and esp: proposals, or neither to use profile ${DEFAULT_PROFILE}`,
    };
  }
  return undefined;
}
