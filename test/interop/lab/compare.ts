/**
 * Name mapping between strongSwan's vici output and branchgate's `list-sas --json`, and the
 * assertion that both ends describe the same SA.
 *
 * strongSwan 5.9.8 prints (seen in this lab): encr-alg AES_GCM_16 | AES_CBC with encr-keysize
 * 128/192/256; integ-alg HMAC_SHA2_256_128 | HMAC_SHA2_384_192 | HMAC_SHA2_512_256 (absent for
 * AEAD); prf-alg PRF_HMAC_SHA2_256 | PRF_HMAC_SHA2_384 | PRF_HMAC_SHA2_512; dh-group
 * MODP_2048 | MODP_2048_256 | ECP_256 | ECP_384 | ECP_521 | CURVE_25519. branchgate joins
 * algorithm and key size as "AES_GCM_16_256" / "AES_CBC_128" and uses the same other names.
 */
import type { BgChild, BgTunnel } from './branchgate.js';
import type { SwanIkeSa } from './strongswan.js';

/** strongSwan encr-alg + encr-keysize → our name ("AES_GCM_16" + 256 → "AES_GCM_16_256"). */
export function encrName(alg: string, keysize?: number): string {
  return keysize ? `${alg}_${keysize}` : alg;
}

export interface AlgSet {
  encr: string;
  integ: string | null;
  prf?: string;
  dh?: string;
}

const DH: Record<string, string> = {
  modp2048: 'MODP_2048', modp2048s256: 'MODP_2048_256', ecp256: 'ECP_256', ecp384: 'ECP_384',
  ecp521: 'ECP_521', curve25519: 'CURVE_25519', x25519: 'CURVE_25519',
};
const INTEG: Record<string, string> = { sha256: 'HMAC_SHA2_256_128', sha384: 'HMAC_SHA2_384_192', sha512: 'HMAC_SHA2_512_256' };
const PRF: Record<string, string> = { sha256: 'PRF_HMAC_SHA2_256', sha384: 'PRF_HMAC_SHA2_384', sha512: 'PRF_HMAC_SHA2_512' };

/**
 * What a single strongSwan proposal string must negotiate to, e.g.
 * 'aes256-sha384-modp2048' → AES_CBC_256 / HMAC_SHA2_384_192 / PRF_HMAC_SHA2_384 / MODP_2048.
 * For non-AEAD IKE proposals without an explicit prf, strongSwan derives the PRF from the integrity.
 */
export function expectedAlgs(proposal: string): AlgSet {
  let encr = '';
  let integ: string | null = null;
  let prf: string | undefined;
  let dh: string | undefined;
  for (const tok of proposal.toLowerCase().split('-')) {
    const gcm = /^aes(128|192|256)gcm(16|128)?$/.exec(tok);
    const cbc = /^aes(128|192|256)$/.exec(tok);
    if (gcm) encr = `AES_GCM_16_${gcm[1]}`;
    else if (cbc) encr = `AES_CBC_${cbc[1]}`;
    else if (INTEG[tok]) integ = INTEG[tok] as string;
    else if (tok.startsWith('prf') && PRF[tok.slice(3)]) prf = PRF[tok.slice(3)];
    else if (DH[tok]) dh = DH[tok];
    else if (tok === 'noesn' || tok === 'esn') continue;
    else throw new Error(`expectedAlgs: unknown keyword ${tok} in ${proposal}`);
  }
  if (!prf && integ) prf = PRF[integ === INTEG.sha256 ? 'sha256' : integ === INTEG.sha384 ? 'sha384' : 'sha512'];
  return { encr, integ, ...(prf ? { prf } : {}), ...(dh ? { dh } : {}) };
}

/** A strongSwan SA seen through branchgate's status shape (used to compare two strongSwans). */
export function swanAsTunnel(sa: SwanIkeSa): BgTunnel {
  return {
    name: sa.name,
    state: sa.state === 'ESTABLISHED' ? 'established' : sa.state.toLowerCase(),
    local: `${sa.localHost}:${sa.localPort}`,
    remote: `${sa.remoteHost}:${sa.remotePort}`,
    natDetected: sa.natLocal || sa.natRemote,
    ike: {
      spiI: sa.initiatorSpi, spiR: sa.responderSpi, encr: encrName(sa.encrAlg, sa.encrKeysize),
      integ: sa.integAlg ?? null, prf: sa.prfAlg, dh: sa.dhGroup,
    },
    children: sa.children.map((c): BgChild => ({
      spiIn: c.spiIn, spiOut: c.spiOut, encr: encrName(c.encrAlg, c.encrKeysize), integ: c.integAlg ?? null,
      esn: c.esn, encap: c.encap,
    })),
  };
}

export interface SameSaOptions {
  /** Also require ours.local == their remote and vice versa (true unless a NAT sits in between). */
  endpoints?: boolean;
  /** Expected negotiated IKE / ESP algorithms (e.g. from expectedAlgs()). */
  ike?: AlgSet;
  esp?: AlgSet;
}

/**
 * Throws one error listing every difference: both established, same IKE SPIs, same IKE
 * algorithms, and a child whose SPIs are mirrored (our spiIn == their spi-out and vice versa)
 * with the same ESP algorithms, ESN and encapsulation.
 */
export function assertSameSa(ours: BgTunnel, theirs: SwanIkeSa, opts: SameSaOptions = {}): void {
  const errs: string[] = [];
  const eq = (what: string, a: unknown, b: unknown): void => {
    if (a !== b) errs.push(`${what}: ours ${JSON.stringify(a)} vs strongSwan ${JSON.stringify(b)}`);
  };
  eq('state', ours.state, 'established');
  eq('strongSwan state', theirs.state, 'ESTABLISHED');
  const ike = ours.ike;
  if (!ike) errs.push('ours has no IKE SA');
  else {
    eq('IKE SPIi', ike.spiI?.toLowerCase(), theirs.initiatorSpi.toLowerCase());
    eq('IKE SPIr', ike.spiR?.toLowerCase(), theirs.responderSpi.toLowerCase());
    eq('IKE encr', ike.encr, encrName(theirs.encrAlg, theirs.encrKeysize));
    eq('IKE integ', ike.integ ?? null, theirs.integAlg ?? null);
    eq('IKE prf', ike.prf, theirs.prfAlg);
    eq('IKE dh', ike.dh, theirs.dhGroup);
    if (opts.ike) {
      eq('IKE encr (expected)', ike.encr, opts.ike.encr);
      eq('IKE integ (expected)', ike.integ ?? null, opts.ike.integ);
      if (opts.ike.prf) eq('IKE prf (expected)', ike.prf, opts.ike.prf);
      if (opts.ike.dh) eq('IKE dh (expected)', ike.dh, opts.ike.dh);
    }
  }
  if (opts.endpoints !== false) {
    eq('our local endpoint = their remote', ours.local, `${theirs.remoteHost}:${theirs.remotePort}`);
    eq('our remote endpoint = their local', ours.remote, `${theirs.localHost}:${theirs.localPort}`);
  }
  if (ours.children.length === 0) errs.push('ours has no Child SA');
  for (const c of ours.children) {
    const t = theirs.children.find((x) => x.spiOut.toLowerCase() === c.spiIn.toLowerCase());
    if (!t) {
      errs.push(`no strongSwan child with spi-out ${c.spiIn} (theirs: ${theirs.children.map((x) => `${x.spiIn}/${x.spiOut}`).join(', ') || 'none'})`);
      continue;
    }
    eq(`child ${c.spiIn} spiOut = their spi-in`, c.spiOut.toLowerCase(), t.spiIn.toLowerCase());
    eq(`child ${c.spiIn} strongSwan state`, t.state, 'INSTALLED');
    eq(`child ${c.spiIn} encr`, c.encr, encrName(t.encrAlg, t.encrKeysize));
    eq(`child ${c.spiIn} integ`, c.integ ?? null, t.integAlg ?? null);
    eq(`child ${c.spiIn} esn`, Boolean(c.esn), t.esn);
    eq(`child ${c.spiIn} encap`, Boolean(c.encap), t.encap);
    if (opts.esp) {
      eq(`child ${c.spiIn} encr (expected)`, c.encr, opts.esp.encr);
      eq(`child ${c.spiIn} integ (expected)`, c.integ ?? null, opts.esp.integ);
    }
  }
  if (errs.length) {
    throw new Error(
      `SA mismatch between branchgate and strongSwan:\n  - ${errs.join('\n  - ')}\n` +
        `ours: ${JSON.stringify(ours)}\ntheirs: ${JSON.stringify({ ...theirs, raw: undefined, children: theirs.children.map((c) => ({ ...c, raw: undefined })) })}`,
    );
  }
}
