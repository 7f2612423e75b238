import { describe, expect, it } from 'vitest';
import {
  GSA_DEFAULT_PHASE1, GSA_DEFAULT_PHASE2, PROFILE_NAMES, expandProfile, proposalSourceError,
} from '../../../src/config/profiles.js';

const ENCR = 1, PRF = 2, INTEG = 3, DH = 4, ESN = 5;
const GCM16 = 20, CBC = 12;

/**
 * docs/gsa-reference.md §2.2 (2026-03-13 Default table), transcribed by hand with the §2.4
 * mapping: GCMAES → ENCR_AES_GCM_16 (20) without INTEG; AES → ENCR_AES_CBC (12) + INTEG
 * (SHA256 → 12, SHA384 → 13); PRF SHA256 → 5, SHA384 → 6; DHGroup24 → 24, DHGroup14 → 14.
 */
const PHASE1: [string, number, number, number, number | undefined, number][] = [
  // name, ENCR id, key length, PRF, INTEG, DH
  ['C1', GCM16, 256, 6, undefined, 24],
  ['C2', GCM16, 128, 5, undefined, 24],
  ['C3', CBC, 256, 6, 13, 24],
  ['C4', CBC, 128, 5, 12, 24],
  ['C5', GCM16, 256, 6, undefined, 14],
  ['C6', GCM16, 128, 5, undefined, 14],
  ['C7', CBC, 256, 6, 13, 14],
  ['C8', CBC, 128, 5, 12, 14],
];
const PHASE2_KEYLENGTHS = [256, 192, 128];

describe('gsa-default profile', () => {
  const r = expandProfile('gsa-default');
  if (!r.ok) throw new Error(r.error);
  const { ike, esp, pfs } = r.value;

  it('has exactly 8 IKE and 3 ESP proposals and no PFS', () => {
    expect(ike).toHaveLength(8);
    expect(esp).toHaveLength(3);
    expect(pfs).toEqual({ kind: 'none' });
  });

  it.each(PHASE1.map((row, i) => [row[0], i, row] as const))('IKE %s', (_name, i, [, encr, kl, prf, integ, dh]) => {
    const want = [
      { type: ENCR, id: encr, keyLength: kl },
      { type: PRF, id: prf },
      ...(integ === undefined ? [] : [{ type: INTEG, id: integ }]),
      { type: DH, id: dh },
    ];
    expect(ike[i]!.transforms).toEqual(want);
  });

  it('ESP: AES-GCM-16 256/192/128, no integrity, ESN 0, no DH', () => {
    esp.forEach((p, i) => {
      expect(p.transforms).toEqual([{ type: ENCR, id: GCM16, keyLength: PHASE2_KEYLENGTHS[i] }, { type: ESN, id: 0 }]);
    });
  });

  it('exports the table with GSA names next to our strings', () => {
    expect(GSA_DEFAULT_PHASE1.map((r) => r.name)).toEqual(['C1', 'C2', 'C3', 'C4', 'C5', 'C6', 'C7', 'C8']);
    expect(GSA_DEFAULT_PHASE1[0]).toMatchObject({ encryption: 'GCMAES256', integrity: 'SHA384', dhGroup: 'DHGroup24' });
    expect(GSA_DEFAULT_PHASE1[7]).toMatchObject({ encryption: 'AES128', integrity: 'SHA256', dhGroup: 'DHGroup14' });
    expect(GSA_DEFAULT_PHASE1.map((r) => r.proposal)).toEqual([
      'aes256gcm16-prfsha384-modp2048s256', 'aes128gcm16-prfsha256-modp2048s256',
      'aes256-sha384-modp2048s256', 'aes128-sha256-modp2048s256',
      'aes256gcm16-prfsha384-modp2048', 'aes128gcm16-prfsha256-modp2048',
      'aes256-sha384-modp2048', 'aes128-sha256-modp2048',
    ]);
    expect(GSA_DEFAULT_PHASE2.map((r) => [r.encryption, r.integrity, r.pfsGroup, r.proposal])).toEqual([
      ['GCMAES256', 'GCMAES256', 'None', 'aes256gcm16-noesn'],
      ['GCMAES192', 'GCMAES192', 'None', 'aes192gcm16-noesn'],
      ['GCMAES128', 'GCMAES128', 'None', 'aes128gcm16-noesn'],
    ]);
  });

  it('returns fresh objects each time', () => {
    const again = expandProfile('gsa-default');
    expect(again.ok && again.value.ike[0]).not.toBe(ike[0]);
  });
});

describe('profile selection', () => {
  it('knows gsa-default, rejects unknown names', () => {
    expect(PROFILE_NAMES).toContain('gsa-default');
    expect(expandProfile('gsa-custom')).toEqual({ ok: false, error: expect.stringContaining('known profiles: gsa-default') });
    expect(expandProfile('toString').ok).toBe(false);
  });

  it('profile and explicit proposals are exclusive; ike and esp go together', () => {
    expect(proposalSourceError({ profile: true, ike: false, esp: false })).toBeUndefined();
    expect(proposalSourceError({ profile: false, ike: true, esp: true })).toBeUndefined();
    expect(proposalSourceError({ profile: false, ike: false, esp: false })).toBeUndefined();
    expect(proposalSourceError({ profile: true, ike: true, esp: false })?.key).toBe('ike');
    expect(proposalSourceError({ profile: true, ike: false, esp: true })?.message).toMatch(/not both/);
    expect(proposalSourceError({ profile: false, ike: true, esp: false })).toMatchObject({ key: 'esp' });
  });
});
