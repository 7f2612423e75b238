/**
 * GSA's "Custom" IPsec/IKE policy, written with the names the portal and Microsoft Graph use
 * (`tunnelConfigurationIKEv2Custom`: ikeEncryption, ikeIntegrity, dhGroup, ipSecEncryption,
 * ipSecIntegrity, pfsGroup, saLifeTimeSeconds), turned into IKEv2 proposals.
 *
 * The mapping is docs/gsa-reference.md §2.4 (itself from the Azure VPN Gateway / Windows IPsec
 * meaning of the names, A1/A2):
 *   IKE aesNNN + shaNNN        → ENCR_AES_CBC/NNN + AUTH_HMAC_SHA2 + PRF_HMAC_SHA2 ("aesNNN-shaNNN")
 *   IKE gcmAesNNN + shaNNN     → ENCR_AES_GCM_16/NNN, no INTEG, PRF_HMAC_SHA2 ("aesNNNgcm16-prfshaNNN")
 *   IKE gcmAesNNN + gcmAesNNN  → AEAD with a PRF GSA does not document (UNVERIFIED): both
 *                                prfsha384 and prfsha256 are offered and GSA picks one; a warning says so
 *   dhGroup14 = dhGroup2048 → MODP 2048 (14); dhGroup24 → group 24; ecp256 → 19; ecp384 → 20
 *   ESP gcmAesNNN/gcmAesNNN    → ENCR_AES_GCM_16/NNN, no INTEG
 *   ESP none/sha256            → ENCR_NULL + AUTH_HMAC_SHA2_256_128
 *   pfs14 = pfs2048 → 14, pfs24 → 24, ecp256/ecp384 → 19/20, pfsmm → the IKE SA's group ("same")
 *
 * GSA's phase-2 rule (gsa.md §2.3): the only valid encryption/integrity pairs are
 * gcmAes128/gcmAes128, gcmAes192/gcmAes192, gcmAes256/gcmAes256 and none/sha256. Names are
 * matched case-insensitively, so the portal's spellings (GCMAES256, DHGroup24, PFSMM) work too.
 */
import type { PfsSetting, ProposalTemplate } from './types.js';
import { quoteInput, type ParseResult } from './duration.js';
import { dhGroupByName, parseEspProposal, parseIkeProposal } from './proposals.js';

/** The Graph enum values of each custom-policy field (gsa.md §2.3), in Graph's spelling. */
export const GSA_POLICY_VALUES = {
  ikeEncryption: ['aes128', 'aes192', 'aes256', 'gcmAes128', 'gcmAes256'],
  ikeIntegrity: ['sha256', 'sha384', 'gcmAes128', 'gcmAes256'],
  dhGroup: ['dhGroup14', 'dhGroup24', 'dhGroup2048', 'ecp256', 'ecp384'],
  ipSecEncryption: ['none', 'gcmAes128', 'gcmAes192', 'gcmAes256'],
  ipSecIntegrity: ['gcmAes128', 'gcmAes192', 'gcmAes256', 'sha256'],
  pfsGroup: ['none', 'pfs1', 'pfs2', 'pfs14', 'pfs24', 'pfs2048', 'pfsmm', 'ecp256', 'ecp384'],
} as const;

export type GsaPolicyField = keyof typeof GSA_POLICY_VALUES;

/** The SA lifetime range the portal accepts (gsa.md §2.3: "must be >300 seconds"; P1: 300–86400). */
export const GSA_MIN_LIFETIME = 300;
export const GSA_MAX_LIFETIME = 86400;

/** A custom policy with every name in Graph's canonical spelling. */
export interface GsaPolicy {
  ikeEncryption: string;
  ikeIntegrity: string;
  dhGroup: string;
  ipSecEncryption: string;
  ipSecIntegrity: string;
  pfsGroup: string;
  saLifeTimeSeconds?: number;
}

/** Canonical Graph spelling of a value of `field`, matched case-insensitively. */
export function gsaPolicyValue(field: GsaPolicyField, v: unknown): ParseResult<string> {
  const valid: readonly string[] = GSA_POLICY_VALUES[field];
  const hit = typeof v === 'string' ? valid.find((x) => x.toLowerCase() === v.trim().toLowerCase()) : undefined;
  if (hit !== undefined) return { ok: true, value: hit };
  const what = typeof v === 'string' ? quoteInput(v) : 'this';
  return { ok: false, error: `${what} is not a GSA ${field} value; use one of: ${valid.join(', ')} (the portal's names, any case)` };
}

const DH: Record<string, string> = {
  dhGroup14: 'modp2048', dhGroup2048: 'modp2048', dhGroup24: 'modp2048s256', ecp256: 'ecp256', ecp384: 'ecp384',
};
const PFS: Record<string, string> = {
  pfs14: 'modp2048', pfs2048: 'modp2048', pfs24: 'modp2048s256', ecp256: 'ecp256', ecp384: 'ecp384',
};
/** "gcmAes256" → 256; undefined for a non-GCM name. */
const gcmBits = (name: string): number | undefined => {
  const m = /^gcmAes(\d+)$/.exec(name);
  return m ? Number(m[1]) : undefined;
};

/** A problem with one field, for the loader to place at tunnels.N.gsaPolicy.<field>. */
export interface GsaPolicyIssue {
  field: GsaPolicyField | 'saLifeTimeSeconds';
  message: string;
}

export interface GsaPolicyResult {
  /** strongSwan-syntax proposals (as the config would spell them) and the PFS setting. */
  ike: string;
  esp: string;
  pfs: PfsSetting;
  warnings: GsaPolicyIssue[];
}

/** The IKE proposal string, or an issue (CBC with an AEAD "integrity", mismatched GCM sizes). */
function ikeProposal(p: GsaPolicy): ParseResult<{ proposal: string; warning?: string }> {
  const dh = DH[p.dhGroup]!;
  const encGcm = gcmBits(p.ikeEncryption);
  const intGcm = gcmBits(p.ikeIntegrity);
  if (encGcm === undefined) {
    if (intGcm !== undefined) {
      return { ok: false, error: `ikeIntegrity ${p.ikeIntegrity} is an AEAD (GCM) name, but ikeEncryption ${p.ikeEncryption} is AES-CBC, which needs an HMAC: use sha256 or sha384 (gsa.md §2.4)` };
    }
    return { ok: true, value: { proposal: `${p.ikeEncryption}-${p.ikeIntegrity}-${dh}` } };
  }
  if (intGcm === undefined) return { ok: true, value: { proposal: `aes${encGcm}gcm16-prf${p.ikeIntegrity}-${dh}` } };
  if (intGcm !== encGcm) {
    return { ok: false, error: `ikeIntegrity ${p.ikeIntegrity} must name the same GCM key size as ikeEncryption ${p.ikeEncryption} (for GCM the "integrity" only says "AEAD", gsa.md §2.4); better, use sha256 or sha384 to name the PRF` };
  }
  return {
    ok: true,
    value: {
      proposal: `aes${encGcm}gcm16-prfsha384-prfsha256-${dh}`,
      warning: `ikeIntegrity ${p.ikeIntegrity} with a GCM cipher: GSA does not document which PRF it then uses (gsa.md §2.4, UNVERIFIED), so both prfsha384 and prfsha256 are offered; prefer sha384 or sha256 here and in the portal`,
    },
  };
}

/**
 * GSA's phase-2 rule (gsa.md §2.3): GCM with the same GCM name as "integrity", or NULL + SHA256.
 * Returns the ESP proposal or the reason the pair is refused.
 */
export function gsaPhase2Proposal(encryption: string, integrity: string): ParseResult<string> {
  const enc = gcmBits(encryption);
  if (enc !== undefined && gcmBits(integrity) === enc) return { ok: true, value: `aes${enc}gcm16` };
  if (encryption === 'none' && integrity === 'sha256') return { ok: true, value: 'null-sha256' };
  return {
    ok: false,
    error: `GSA's phase-2 rule: ipSecEncryption/ipSecIntegrity must be gcmAes128/gcmAes128, gcmAes192/gcmAes192, gcmAes256/gcmAes256 or none/sha256 (gsa.md §2.3); ${encryption}/${integrity} is not one of them`,
  };
}

/** Translate a custom policy (values already canonical, see gsaPolicyValue). */
export function resolveGsaPolicy(p: GsaPolicy): { ok: true; value: GsaPolicyResult } | { ok: false; issues: GsaPolicyIssue[] } {
  const issues: GsaPolicyIssue[] = [];
  const warnings: GsaPolicyIssue[] = [];
  const ike = ikeProposal(p);
  if (!ike.ok) issues.push({ field: 'ikeIntegrity', message: ike.error });
  else if (ike.value.warning) warnings.push({ field: 'ikeIntegrity', message: ike.value.warning });
  const esp = gsaPhase2Proposal(p.ipSecEncryption, p.ipSecIntegrity);
  if (!esp.ok) issues.push({ field: 'ipSecIntegrity', message: esp.error });
  let pfs: PfsSetting = { kind: 'none' };
  if (p.pfsGroup === 'pfsmm') pfs = { kind: 'same' };
  else if (p.pfsGroup === 'pfs1' || p.pfsGroup === 'pfs2') {
    issues.push({
      field: 'pfsGroup',
      message: `${p.pfsGroup} is MODP group ${p.pfsGroup.slice(3)} (768/1024-bit), which RFC 8247 §2.4 says MUST NOT be used and branchgate does not implement; choose pfs14, pfs24, ecp256, ecp384, pfsmm or none in the portal and here`,
    });
  } else if (p.pfsGroup !== 'none') pfs = { kind: 'group', group: dhGroupByName(PFS[p.pfsGroup]!)! };
  const life = p.saLifeTimeSeconds;
  if (life !== undefined && (life < GSA_MIN_LIFETIME || life > GSA_MAX_LIFETIME)) {
    issues.push({
      field: 'saLifeTimeSeconds',
      message: `GSA's SA lifetime must be ${GSA_MIN_LIFETIME}..${GSA_MAX_LIFETIME} seconds (gsa.md §2.3: "must be >300 seconds"; the portal accepts 300-86400); got ${life}`,
    });
  }
  if (issues.length > 0 || !ike.ok || !esp.ok) return { ok: false, issues };
  return { ok: true, value: { ike: ike.value.proposal, esp: esp.value, pfs, warnings } };
}

/** Proposal templates for a policy that resolveGsaPolicy accepted. */
export function gsaPolicyTemplates(r: GsaPolicyResult): { ike: ProposalTemplate[]; esp: ProposalTemplate[] } {
  const ike = parseIkeProposal(r.ike);
  const esp = parseEspProposal(r.esp);
  // The strings are built above from fixed tables: a failure is a bug in this file.
  if (!ike.ok || !esp.ok) throw new Error(`gsa-custom: ${!ike.ok ? ike.error : !esp.ok ? esp.error : ''}`);
  return { ike: [ike.value], esp: [esp.value] };
}
