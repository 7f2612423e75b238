import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  parseEspProposal, parseIkeProposal, proposalToString, validKeywords,
} from '../../../src/config/proposals.js';

// IANA values written out (RFC 7296 §3.3.2, RFC 4868, RFC 5114, RFC 8031), not imported, so a
// wrong constant cannot make the test agree with the code.
const ENCR = 1, PRF = 2, INTEG = 3, DH = 4, ESN = 5;

function ike(s: string) {
  const r = parseIkeProposal(s);
  if (!r.ok) throw new Error(r.error);
  return r.value.transforms;
}
function esp(s: string) {
  const r = parseEspProposal(s);
  if (!r.ok) throw new Error(r.error);
  return r.value.transforms;
}
function ikeError(s: string): string {
  const r = parseIkeProposal(s);
  if (r.ok) throw new Error(`expected ${s} to fail`);
  return r.error;
}
function espError(s: string): string {
  const r = parseEspProposal(s);
  if (r.ok) throw new Error(`expected ${s} to fail`);
  return r.error;
}

describe('IKE proposals', () => {
  it('AEAD with explicit prf', () => {
    expect(ike('aes256gcm16-prfsha384-ecp384')).toEqual([
      { type: ENCR, id: 20, keyLength: 256 }, { type: PRF, id: 6 }, { type: DH, id: 20 },
    ]);
  });

  it('GCM aliases mean the 16-octet ICV', () => {
    for (const s of ['aes128gcm16', 'aes128gcm128', 'aes128gcm']) {
      expect(ike(`${s}-prfsha256-x25519`)).toEqual([
        { type: ENCR, id: 20, keyLength: 128 }, { type: PRF, id: 5 }, { type: DH, id: 31 },
      ]);
    }
  });

  it('CBC without prf gets the PRF of each integrity algorithm (strongSwan)', () => {
    expect(ike('aes128-sha256-modp2048')).toEqual([
      { type: ENCR, id: 12, keyLength: 128 }, { type: PRF, id: 5 }, { type: INTEG, id: 12 }, { type: DH, id: 14 },
    ]);
    expect(ike('aes256-sha384-sha512-ecp521')).toEqual([
      { type: ENCR, id: 12, keyLength: 256 }, { type: PRF, id: 6 }, { type: PRF, id: 7 },
      { type: INTEG, id: 13 }, { type: INTEG, id: 14 }, { type: DH, id: 21 },
    ]);
  });

  it('an explicit prf is kept as written', () => {
    expect(ike('aes192-sha256-prfsha512-modp2048s256')).toEqual([
      { type: ENCR, id: 12, keyLength: 192 }, { type: PRF, id: 7 }, { type: INTEG, id: 12 }, { type: DH, id: 24 },
    ]);
  });

  it('several keywords of one type are several transforms, in order, sorted by type', () => {
    expect(ike('aes256-aes128-sha256-modp2048-ecp256')).toEqual([
      { type: ENCR, id: 12, keyLength: 256 }, { type: ENCR, id: 12, keyLength: 128 },
      { type: PRF, id: 5 }, { type: INTEG, id: 12 }, { type: DH, id: 14 }, { type: DH, id: 19 },
    ]);
    expect(ike('ecp256-prfsha256-aes256gcm16')).toEqual(ike('aes256gcm16-prfsha256-ecp256'));
  });

  it('rejects AEAD mixed with integrity, naming both', () => {
    const e = ikeError('aes256gcm16-sha256-prfsha256-ecp256');
    expect(e).toMatch(/AEAD cipher aes256gcm16 must not be combined with integrity algorithm sha256/);
    expect(e).toMatch(/remove sha256/);
  });

  it('rejects AEAD mixed with a CBC cipher', () => {
    expect(ikeError('aes256gcm16-aes256-sha256-prfsha256-ecp256')).toMatch(/cannot be combined with non-AEAD cipher aes256/);
  });

  it('requires a prf with AEAD, and DH, encryption and integrity', () => {
    expect(ikeError('aes256gcm16-ecp256')).toMatch(/PRF algorithm is mandatory.*add prfsha256/);
    expect(ikeError('aes256-sha256')).toMatch(/needs a DH group/);
    expect(ikeError('sha256-prfsha256-ecp256')).toMatch(/no encryption algorithm/);
    expect(ikeError('aes256-prfsha256-ecp256')).toMatch(/needs an integrity algorithm/);
  });

  it('rejects ESP-only keywords and unknown words, listing valid ones', () => {
    expect(ikeError('aes256gcm16-prfsha256-ecp256-noesn')).toMatch(/noesn is not valid in an ike proposal/);
    expect(ikeError('null-sha256-ecp256')).toMatch(/null is not valid in an ike proposal/);
    const e = ikeError('aes256-sha1-modp2048');
    expect(e).toMatch(/unknown algorithm "sha1"/);
    expect(e).toMatch(/valid in ike: .*aes256gcm16.*prfsha384.*modp2048s256/);
    expect(ikeError('aes256--sha256-modp2048')).toMatch(/two dashes/);
    expect(ikeError('')).toMatch(/expected a proposal string/);
  });
});

describe('ESP proposals', () => {
  it('AEAD gets noesn by default', () => {
    expect(esp('aes256gcm16')).toEqual([{ type: ENCR, id: 20, keyLength: 256 }, { type: ESN, id: 0 }]);
  });

  it('CBC + integrity, optional DH for rekey PFS, explicit ESN choices', () => {
    expect(esp('aes128-sha256-ecp256-esn-noesn')).toEqual([
      { type: ENCR, id: 12, keyLength: 128 }, { type: INTEG, id: 12 }, { type: DH, id: 19 },
      { type: ESN, id: 1 }, { type: ESN, id: 0 },
    ]);
  });

  it('null encryption needs integrity (GSA custom "None + SHA256")', () => {
    expect(esp('null-sha256')).toEqual([{ type: ENCR, id: 11 }, { type: INTEG, id: 12 }, { type: ESN, id: 0 }]);
    expect(espError('null')).toMatch(/null encryption needs an integrity algorithm/);
  });

  it('rejects missing integrity, AEAD + integrity and PRFs', () => {
    expect(espError('aes256')).toMatch(/needs an integrity algorithm/);
    expect(espError('aes256gcm16-sha256')).toMatch(/must not be combined with integrity/);
    expect(espError('aes256gcm16-prfsha256')).toMatch(/prfsha256 is not valid in an esp proposal/);
    expect(espError('sha256')).toMatch(/no encryption algorithm/);
  });
});

describe('proposalToString', () => {
  it('prints canonical keywords', () => {
    const r = parseIkeProposal('aes256gcm-prfsha384-x25519');
    expect(r.ok && proposalToString(r.value)).toBe('aes256gcm16-prfsha384-curve25519');
  });

  it('property: any valid proposal re-parses to the same transforms', () => {
    const pick = (xs: string[]) => fc.subarray(xs, { minLength: 0 });
    const words = fc.tuple(
      pick(validKeywords('esp')), pick(validKeywords('esp')), fc.boolean(),
    ).map(([a, b, kind]) => ({ words: [...a, ...b], kind: kind ? 'ike' as const : 'esp' as const }));
    fc.assert(fc.property(words, ({ words, kind }) => {
      const parse = kind === 'ike' ? parseIkeProposal : parseEspProposal;
      const r = parse(words.join('-'));
      if (!r.ok) return; // most random sets are invalid; the property is about the valid ones
      const again = parse(proposalToString(r.value));
      expect(again).toEqual(r);
    }));
  });
});
