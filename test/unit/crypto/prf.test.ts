import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { hmac } from '@noble/hashes/hmac.js';
import { IntegId, PrfId } from '../../../src/ike/constants.js';
import { prf, prfPlus } from '../../../src/ike/crypto/prf.js';
import { integIcv } from '../../../src/ike/crypto/sk-cipher.js';
import { ascii, hex, toHex } from './hex.js';
import { noblePrfPlus, prfHash } from './noble.js';

const K0B20 = hex('0b'.repeat(20));
const AA20 = hex('aa'.repeat(20));
const DD50 = hex('dd'.repeat(50));
const K01_25 = hex('0102030405060708090a0b0c0d0e0f10111213141516171819');
const CD50 = hex('cd'.repeat(50));
const AA131 = hex('aa'.repeat(131));

describe('prf: RFC 4868 §2.7.1 PRF test vectors', () => {
  // Source: RFC 4868 §2.7.1 (PRF-HMAC-SHA-256/384/512 test cases), as carried in strongSwan
  // src/libstrongswan/plugins/test_vectors/test_vectors/sha2_hmac.c (sha{256,384,512}_hmac_p1..p5;
  // strongSwan leaves out the cases with a 4-octet key, and so do we).
  const cases: Array<[string, Uint8Array, Uint8Array, Record<number, string>]> = [
    ['key 0x0b x20, "Hi There"', K0B20, ascii('Hi There'), {
      [PrfId.HMAC_SHA2_256]: 'b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7',
      [PrfId.HMAC_SHA2_384]: 'afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6',
      [PrfId.HMAC_SHA2_512]: '87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854',
    }],
    ['key 0xaa x20, data 0xdd x50', AA20, DD50, {
      [PrfId.HMAC_SHA2_256]: '773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe',
      [PrfId.HMAC_SHA2_384]: '88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b2a5ab39dc13814b94e3ab6e101a34f27',
      [PrfId.HMAC_SHA2_512]: 'fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb',
    }],
    ['key 0x01..0x19, data 0xcd x50', K01_25, CD50, {
      [PrfId.HMAC_SHA2_256]: '82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b',
      [PrfId.HMAC_SHA2_384]: '3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e6801dd23c4a7d679ccf8a386c674cffb',
      [PrfId.HMAC_SHA2_512]: 'b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3dba91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd',
    }],
    ['131-octet key, "Hash Key First"', AA131, ascii('Test Using Larger Than Block-Size Key - Hash Key First'), {
      [PrfId.HMAC_SHA2_256]: '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
      [PrfId.HMAC_SHA2_384]: '4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952',
      [PrfId.HMAC_SHA2_512]: '80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598',
    }],
    ['131-octet key and 152-octet data', AA131, ascii(
      'This is a test using a larger than block-size key and a larger than block-size data. ' +
      'The key needs to be hashed before being used by the HMAC algorithm.'), {
      [PrfId.HMAC_SHA2_256]: '9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2',
      [PrfId.HMAC_SHA2_384]: '6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5a678cc31e799176d3860e6110c46523e',
    }],
  ];
  for (const [name, key, data, outs] of cases) {
    for (const [id, out] of Object.entries(outs)) {
      it(`${name}, PRF ${id}`, () => {
        expect(toHex(prf(Number(id), key, data))).toBe(out);
      });
    }
  }
});

describe('integIcv: RFC 4868 §2.7.2 authenticator test vectors (truncated HMAC)', () => {
  // Source: RFC 4868 §2.7.2.1-2.7.2.3 (AUTH_HMAC_SHA2_256_128/384_192/512_256 test cases 1-3),
  // as carried in strongSwan test_vectors/sha2_hmac.c (sha256_hmac_s1..s3, sha384_hmac_s1..s3,
  // sha512_hmac_s1..s3). The keys are the full integrity key length (32/48/64 octets).
  const cases: Array<[number, Uint8Array, Uint8Array, string]> = [
    [IntegId.HMAC_SHA2_256_128, hex('0b'.repeat(32)), ascii('Hi There'), '198a607eb44bfbc69903a0f1cf2bbdc5'],
    [IntegId.HMAC_SHA2_384_192, hex('0b'.repeat(48)), ascii('Hi There'), 'b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee973'],
    [IntegId.HMAC_SHA2_512_256, hex('0b'.repeat(64)), ascii('Hi There'), '637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8'],
    [IntegId.HMAC_SHA2_256_128, ascii('Jefe'.repeat(8)), ascii('what do ya want for nothing?'), '167f928588c5cc2eef8e3093caa0e87c'],
    [IntegId.HMAC_SHA2_384_192, ascii('Jefe'.repeat(12)), ascii('what do ya want for nothing?'), '2c7353974f1842fd66d53c452ca42122b28c0b594cfb184d'],
    [IntegId.HMAC_SHA2_512_256, ascii('Jefe'.repeat(16)), ascii('what do ya want for nothing?'), 'cb370917ae8a7ce28cfd1d8f4705d6141c173b2a9362c15df235dfb251b15454'],
    [IntegId.HMAC_SHA2_256_128, hex('aa'.repeat(32)), DD50, 'cdcb1220d1ecccea91e53aba3092f962'],
    [IntegId.HMAC_SHA2_384_192, hex('aa'.repeat(48)), DD50, '809f439be00274321d4a538652164b53554a508184a0c316'],
    [IntegId.HMAC_SHA2_512_256, hex('aa'.repeat(64)), DD50, '2ee7acd783624ca9398710f3ee05ae41b9f9b0510c87e49e586cc9bf961733d8'],
  ];
  for (const [id, key, data, mac] of cases) {
    it(`INTEG ${id}, ${key.length}-octet key, ${data.length}-octet data`, () => {
      expect(toHex(integIcv(id, key, data))).toBe(mac);
      // Data split across update() calls must give the same ICV (the SK code MACs aad, then IV ‖ C).
      expect(toHex(integIcv(id, key, data.subarray(0, 3), data.subarray(3)))).toBe(mac);
    });
  }
});

describe('prfPlus (RFC 7296 §2.13)', () => {
  // Source: strongSwan src/libstrongswan/tests/suites/test_prf_plus.c, counter_data[0]:
  // PRF_HMAC_SHA2_256, key 0x0b x20, seed "Hi There", read in chunks of 3, 6, 7, 16, 8, 8, 14, 20, 40
  // octets. The concatenation of the chunks is the first 122 octets of prf+.
  const chunks = [
    'b9bdc0', '8988b4c2b75a', 'a93e596ac84205', 'fa2ddde1bf7a2572067b00e14b237732',
    '830509981ad2f94a', '8c32a47daa2255b6', '60c436347ae756a6edc023477d80',
    '9590e682f61d9c04b06b4ad971a34c8147fa6679',
    '2ff1434b93c722b32e12f48832ebc15ce2369ce71fe9b7b81e5704c14d0f5280a6ec626e992d7a9f',
  ];
  const stream = chunks.join('');

  it('matches the strongSwan counter-mode vector', () => {
    expect(stream.length / 2).toBe(122);
    expect(toHex(prfPlus(PrfId.HMAC_SHA2_256, K0B20, ascii('Hi There'), 122))).toBe(stream);
  });

  it('every prefix is a prefix of the longer output', () => {
    for (const n of [0, 1, 31, 32, 33, 64, 100]) {
      expect(toHex(prfPlus(PrfId.HMAC_SHA2_256, K0B20, ascii('Hi There'), n))).toBe(stream.slice(0, 2 * n));
    }
  });

  it('T1 = prf(K, S | 0x01): block 1 is the HMAC of "Hi There\\x01"', () => {
    // Ties the counter placement to the independently verified prf().
    const t1 = prf(PrfId.HMAC_SHA2_256, K0B20, ascii('Hi There\x01'));
    expect(toHex(t1)).toBe(stream.slice(0, 64));
  });

  it('allows 255 blocks and refuses the 256th (the counter is one octet)', () => {
    // Same limit as test_prf_plus.c test_wrap: 255 x 32 octets succeed, one more block fails.
    expect(prfPlus(PrfId.HMAC_SHA2_256, K0B20, ascii('Hi There'), 255 * 32)).toHaveLength(255 * 32);
    expect(() => prfPlus(PrfId.HMAC_SHA2_256, K0B20, ascii('Hi There'), 255 * 32 + 1)).toThrow(RangeError);
    expect(prfPlus(PrfId.HMAC_SHA2_512, K0B20, ascii('x'), 255 * 64)).toHaveLength(255 * 64);
    expect(() => prfPlus(PrfId.HMAC_SHA2_512, K0B20, ascii('x'), 255 * 64 + 1)).toThrow(RangeError);
  });

  it('rejects unknown PRFs and bad lengths', () => {
    expect(() => prf(2, K0B20, K0B20)).toThrow(RangeError); // PRF_HMAC_SHA1: not implemented
    expect(() => prfPlus(PrfId.HMAC_SHA2_256, K0B20, K0B20, -1)).toThrow(RangeError);
    expect(() => prfPlus(PrfId.HMAC_SHA2_256, K0B20, K0B20, 1.5)).toThrow(RangeError);
  });
});

describe('prf and prf+ differential against @noble/hashes', () => {
  const ids = [PrfId.HMAC_SHA2_256, PrfId.HMAC_SHA2_384, PrfId.HMAC_SHA2_512] as const;

  it('agrees on random keys, data and lengths', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...ids),
        fc.uint8Array({ maxLength: 200 }),
        fc.uint8Array({ maxLength: 300 }),
        fc.integer({ min: 0, max: 600 }),
        (id, key, data, len) => {
          expect(toHex(prf(id, key, data))).toBe(toHex(hmac(prfHash(id), key, data)));
          expect(toHex(prfPlus(id, key, data, len))).toBe(toHex(noblePrfPlus(id, key, data, len)));
        },
      ),
      { numRuns: 200 },
    );
  });
});
