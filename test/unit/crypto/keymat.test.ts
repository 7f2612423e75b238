import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { hmac } from '@noble/hashes/hmac.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { EncrId, IntegId, PrfId } from '../../../src/ike/constants.js';
import { deriveChildKeys, deriveIkeKeys, deriveIkeKeysRekey } from '../../../src/ike/crypto/keymat.js';
import { ascii, concat, hex, toHex } from './hex.js';
import { noblePrfPlus, prfHash } from './noble.js';

const K0B20 = hex('0b'.repeat(20));
const SPI_I = hex('0158b8fb90b7623d');
const SPI_R = hex('13514610cea16160');

// RFC 4868 §2.7.1 PRF test case with key 0x0b x20 and data "Hi There" (strongSwan sha2_hmac.c,
// sha{256,384,512}_hmac_p1).
const HI_THERE = {
  [PrfId.HMAC_SHA2_256]: 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
  [PrfId.HMAC_SHA2_384]: 'afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6',
  [PrfId.HMAC_SHA2_512]: '87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854',
} as Record<number, string>;

// strongSwan src/libstrongswan/tests/suites/test_prf_plus.c counter_data[0]: the first 122 octets of
// prf+(key 0x0b x20, "Hi There") with PRF_HMAC_SHA2_256.
const PRF_PLUS_HI_THERE =
  'b9bdc0' + '8988b4c2b75a' + 'a93e596ac84205' + 'fa2ddde1bf7a2572067b00e14b237732' + '830509981ad2f94a' +
  '8c32a47daa2255b6' + '60c436347ae756a6edc023477d80' + '9590e682f61d9c04b06b4ad971a34c8147fa6679' +
  '2ff1434b93c722b32e12f48832ebc15ce2369ce71fe9b7b81e5704c14d0f5280a6ec626e992d7a9f';
const slice = (from: number, to: number): string => PRF_PLUS_HI_THERE.slice(2 * from, 2 * to);

const base = {
  encrId: EncrId.AES_CBC, encrKeyBits: 128, integId: IntegId.HMAC_SHA2_256_128,
  spiI: SPI_I, spiR: SPI_R,
};

describe('SKEYSEED argument order, checked with the RFC 4868 "Hi There" vector', () => {
  for (const prfId of [PrfId.HMAC_SHA2_256, PrfId.HMAC_SHA2_384, PrfId.HMAC_SHA2_512]) {
    it(`SKEYSEED = prf(Ni | Nr, g^ir), PRF ${prfId}`, () => {
      // Ni | Nr = 0x0b x20 is the HMAC key and g^ir = "Hi There" the data.
      const k = deriveIkeKeys({ ...base, prfId, ni: K0B20.subarray(0, 8), nr: K0B20.subarray(8), sharedSecret: ascii('Hi There') });
      expect(toHex(k.skeyseed)).toBe(HI_THERE[prfId]);
    });
  }

  it("rekey: SKEYSEED' = prf_old(SK_d old, g^ir new | Ni | Nr), with the OLD SA's PRF (RFC 7296 §2.18)", () => {
    const k = deriveIkeKeysRekey({
      ...base, prfId: PrfId.HMAC_SHA2_512, prfIdOld: PrfId.HMAC_SHA2_256, skDOld: K0B20,
      sharedSecret: ascii('Hi'), ni: ascii(' Th'), nr: ascii('ere'),
    });
    expect(toHex(k.skeyseed)).toBe(HI_THERE[PrfId.HMAC_SHA2_256]);
    // ...while SK_d of the new SA has the NEW PRF's preferred key length.
    expect(k.skD.length).toBe(64);
  });
});

describe('Child SA KEYMAT (RFC 7296 §2.17), checked with the strongSwan prf+ vector', () => {
  it('no PFS: KEYMAT = prf+(SK_d, Ni | Nr) cut as encr_i | integ_i | encr_r | integ_r', () => {
    const k = deriveChildKeys({
      prfId: PrfId.HMAC_SHA2_256, skD: K0B20, ni: ascii('Hi T'), nr: ascii('here'),
      encrId: EncrId.AES_CBC, encrKeyBits: 128, integId: IntegId.HMAC_SHA2_256_128,
    });
    expect(toHex(k.encrI)).toBe(slice(0, 16));
    expect(toHex(k.integI)).toBe(slice(16, 48));
    expect(toHex(k.encrR)).toBe(slice(48, 64));
    expect(toHex(k.integR)).toBe(slice(64, 96));
  });

  it('PFS: KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr)', () => {
    const k = deriveChildKeys({
      prfId: PrfId.HMAC_SHA2_256, skD: K0B20, sharedSecret: ascii('Hi'), ni: ascii(' Th'), nr: ascii('ere'),
      encrId: EncrId.AES_CBC, encrKeyBits: 256, integId: IntegId.HMAC_SHA2_256_128,
    });
    expect(toHex(k.encrI)).toBe(slice(0, 32));
    expect(toHex(k.integI)).toBe(slice(32, 64));
    expect(toHex(k.encrR)).toBe(slice(64, 96));
    // The vector has 122 octets, so only the first 26 octets of integ_r can be checked.
    expect(toHex(k.integR).slice(0, 2 * 26)).toBe(slice(96, 122));
    expect(k.integR.length).toBe(32);
  });

  it('AES-GCM-16-256: 36-octet keys (key ‖ 4-octet salt, RFC 4106 §8.1) and no integrity keys', () => {
    const k = deriveChildKeys({
      prfId: PrfId.HMAC_SHA2_256, skD: K0B20, ni: ascii('Hi T'), nr: ascii('here'),
      encrId: EncrId.AES_GCM_16, encrKeyBits: 256, integId: IntegId.NONE,
    });
    expect(toHex(k.encrI)).toBe(slice(0, 36));
    expect(toHex(k.encrR)).toBe(slice(36, 72));
    expect(k.integI.length).toBe(0);
    expect(k.integR.length).toBe(0);
  });

  it('ENCR_NULL: empty encryption keys, integrity keys only', () => {
    const k = deriveChildKeys({
      prfId: PrfId.HMAC_SHA2_256, skD: K0B20, ni: ascii('Hi T'), nr: ascii('here'),
      encrId: EncrId.NULL, encrKeyBits: 0, integId: IntegId.HMAC_SHA2_256_128,
    });
    expect([k.encrI.length, k.encrR.length]).toEqual([0, 0]);
    expect(toHex(k.integI)).toBe(slice(0, 32));
    expect(toHex(k.integR)).toBe(slice(32, 64));
  });
});

describe('IKE SA keys: lengths per algorithm (RFC 7296 §2.14, RFC 4868, RFC 5282)', () => {
  // [name, prf, encr, keyBits, integ, SK_d/SK_p, SK_a, SK_e]
  const table = [
    ['AES_CBC_128 / HMAC_SHA2_256_128 / PRF_HMAC_SHA2_256', PrfId.HMAC_SHA2_256, EncrId.AES_CBC, 128, IntegId.HMAC_SHA2_256_128, 32, 32, 16],
    ['AES_CBC_256 / HMAC_SHA2_512_256 / PRF_HMAC_SHA2_512', PrfId.HMAC_SHA2_512, EncrId.AES_CBC, 256, IntegId.HMAC_SHA2_512_256, 64, 64, 32],
    ['AES_CBC_192 / HMAC_SHA2_384_192 / PRF_HMAC_SHA2_384', PrfId.HMAC_SHA2_384, EncrId.AES_CBC, 192, IntegId.HMAC_SHA2_384_192, 48, 48, 24],
    // 36-octet SK_ei/SK_er for AES-GCM-256/16 is what Wireshark's ikev2_decryption_table uses.
    ['AES_GCM_16_256 / PRF_HMAC_SHA2_256', PrfId.HMAC_SHA2_256, EncrId.AES_GCM_16, 256, IntegId.NONE, 32, 0, 36],
    ['AES_GCM_8_128 / PRF_HMAC_SHA2_384', PrfId.HMAC_SHA2_384, EncrId.AES_GCM_8, 128, IntegId.NONE, 48, 0, 20],
    ['AES_GCM_12_192 / PRF_HMAC_SHA2_512', PrfId.HMAC_SHA2_512, EncrId.AES_GCM_12, 192, IntegId.NONE, 64, 0, 28],
  ] as const;

  for (const [name, prfId, encrId, encrKeyBits, integId, pLen, aLen, eLen] of table) {
    it(name, () => {
      fc.assert(fc.property(
        fc.uint8Array({ minLength: 16, maxLength: 64 }),
        fc.uint8Array({ minLength: 16, maxLength: 64 }),
        fc.uint8Array({ minLength: 32, maxLength: 256 }),
        (ni, nr, sharedSecret) => {
          const k = deriveIkeKeys({ prfId, encrId, encrKeyBits, integId, ni, nr, spiI: SPI_I, spiR: SPI_R, sharedSecret });
          const lengths = [k.skD, k.skAi, k.skAr, k.skEi, k.skEr, k.skPi, k.skPr].map((x) => x.length);
          expect(lengths).toEqual([pLen, aLen, aLen, eLen, eLen, pLen, pLen]);
          // Independent recomputation with @noble/hashes: SKEYSEED and the SK_* stream.
          const skeyseed = hmac(prfHash(prfId), concat(ni, nr), sharedSecret);
          expect(toHex(k.skeyseed)).toBe(toHex(skeyseed));
          const total = 3 * pLen + 2 * aLen + 2 * eLen;
          const stream = noblePrfPlus(prfId, skeyseed, concat(ni, nr, SPI_I, SPI_R), total);
          expect(toHex(concat(k.skD, k.skAi, k.skAr, k.skEi, k.skEr, k.skPi, k.skPr))).toBe(toHex(stream));
        },
      ), { numRuns: 20 });
    });
  }

  it('rekey expansion uses the new PRF, the new SPIs and the new nonces', () => {
    const skDOld = hex('11'.repeat(32));
    const p = {
      prfId: PrfId.HMAC_SHA2_384, prfIdOld: PrfId.HMAC_SHA2_256, skDOld,
      encrId: EncrId.AES_GCM_16, encrKeyBits: 128, integId: IntegId.NONE,
      ni: hex('22'.repeat(32)), nr: hex('33'.repeat(32)), spiI: SPI_I, spiR: SPI_R, sharedSecret: hex('44'.repeat(256)),
    };
    const k = deriveIkeKeysRekey(p);
    const skeyseed = hmac(sha256, skDOld, concat(p.sharedSecret, p.ni, p.nr));
    expect(toHex(k.skeyseed)).toBe(toHex(skeyseed));
    const stream = noblePrfPlus(PrfId.HMAC_SHA2_384, skeyseed, concat(p.ni, p.nr, SPI_I, SPI_R), 3 * 48 + 2 * 20);
    expect(toHex(concat(k.skD, k.skAi, k.skAr, k.skEi, k.skEr, k.skPi, k.skPr))).toBe(toHex(stream));
  });

  it('refuses inconsistent transform sets and malformed SPIs', () => {
    const ok = { ...base, prfId: PrfId.HMAC_SHA2_256, ni: K0B20, nr: K0B20, sharedSecret: K0B20 };
    expect(() => deriveIkeKeys({ ...ok, encrId: EncrId.AES_GCM_16, integId: IntegId.HMAC_SHA2_256_128 })).toThrow(RangeError);
    expect(() => deriveIkeKeys({ ...ok, integId: IntegId.NONE })).toThrow(RangeError);
    expect(() => deriveIkeKeys({ ...ok, encrKeyBits: 100 })).toThrow(RangeError);
    expect(() => deriveIkeKeys({ ...ok, prfId: 2 })).toThrow(RangeError);
    expect(() => deriveIkeKeys({ ...ok, spiI: SPI_I.subarray(0, 4) })).toThrow(RangeError);
    expect(() => deriveChildKeys({
      prfId: PrfId.HMAC_SHA2_256, skD: K0B20, ni: K0B20, nr: K0B20,
      encrId: EncrId.AES_CBC, encrKeyBits: 128, integId: IntegId.NONE,
    })).toThrow(RangeError);
  });
});
