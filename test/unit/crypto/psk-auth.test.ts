import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { hmac } from '@noble/hashes/hmac.js';
import { PrfId } from '../../../src/ike/constants.js';
import { KEY_PAD, constantTimeEqual, pskAuthData } from '../../../src/ike/crypto/psk-auth.js';
import { concat, toHex } from './hex.js';
import { prfHash } from './noble.js';

describe('pskAuthData (RFC 7296 §2.15)', () => {
  it('the key pad is the 17 ASCII octets "Key Pad for IKEv2" without a NUL', () => {
    expect(KEY_PAD.length).toBe(17);
    expect(toHex(KEY_PAD)).toBe('4b65792050616420666f7220494b457632');
  });

  it('differential: AUTH = prf(prf(PSK, key pad), RealMessage | Nonce | prf(SK_p, IDbody)) with @noble/hashes', () => {
    fc.assert(fc.property(
      fc.constantFrom(PrfId.HMAC_SHA2_256, PrfId.HMAC_SHA2_384, PrfId.HMAC_SHA2_512),
      fc.uint8Array({ minLength: 1, maxLength: 100 }),
      fc.uint8Array({ minLength: 28, maxLength: 600 }),
      fc.uint8Array({ minLength: 16, maxLength: 256 }),
      fc.uint8Array({ minLength: 32, maxLength: 64 }),
      fc.uint8Array({ minLength: 4, maxLength: 80 }),
      (prfId, psk, realMessage, peerNonce, skP, idBody) => {
        const h = prfHash(prfId);
        const expected = hmac(h, hmac(h, psk, new TextEncoder().encode('Key Pad for IKEv2')),
          concat(realMessage, peerNonce, hmac(h, skP, idBody)));
        expect(toHex(pskAuthData({ prfId, psk, realMessage, peerNonce, skP, idBody }))).toBe(toHex(expected));
      },
    ), { numRuns: 100 });
  });
});

describe('constantTimeEqual', () => {
  it('compares contents, and treats different lengths as unequal without throwing', () => {
    expect(constantTimeEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 3))).toBe(true);
    expect(constantTimeEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2, 4))).toBe(false);
    expect(constantTimeEqual(Uint8Array.of(1, 2, 3), Uint8Array.of(1, 2))).toBe(false);
    expect(constantTimeEqual(new Uint8Array(0), new Uint8Array(0))).toBe(true);
  });
});
