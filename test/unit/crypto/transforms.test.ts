import { describe, expect, it } from 'vitest';
import { DhId, EncrId, IntegId, PrfId } from '../../../src/ike/constants.js';
import { dhInfo, encrInfo, integInfo, prfInfo } from '../../../src/ike/crypto/transforms.js';

describe('encrInfo', () => {
  it('AES-CBC (RFC 3602): 16-octet IV and block, no salt, no ICV of its own', () => {
    for (const bits of [128, 192, 256]) {
      expect(encrInfo(EncrId.AES_CBC, bits)).toEqual({
        id: 12, keyBits: bits, name: `AES_CBC_${bits}`, aead: false,
        keyBytes: bits / 8, saltBytes: 0, ivBytes: 16, icvBytes: 0, blockSize: 16,
      });
    }
  });

  it('AES-GCM (RFC 4106 §8.1, RFC 5282 §7.1): 4-octet salt, 8-octet IV, ICV 8/12/16', () => {
    const icv = [[EncrId.AES_GCM_8, 8], [EncrId.AES_GCM_12, 12], [EncrId.AES_GCM_16, 16]] as const;
    for (const [id, n] of icv) {
      for (const bits of [128, 192, 256]) {
        expect(encrInfo(id, bits)).toEqual({
          id, keyBits: bits, name: `AES_GCM_${n}_${bits}`, aead: true,
          keyBytes: bits / 8, saltBytes: 4, ivBytes: 8, icvBytes: n, blockSize: 4,
        });
      }
    }
    expect(encrInfo(EncrId.AES_GCM_16, 256)?.name).toBe('AES_GCM_16_256');
  });

  it('NULL has no key, and only key length 0', () => {
    expect(encrInfo(EncrId.NULL, 0)).toMatchObject({ name: 'NULL', keyBytes: 0, ivBytes: 0, icvBytes: 0, aead: false });
    expect(encrInfo(EncrId.NULL, 128)).toBeNull();
  });

  it('unknown IDs and key lengths are null', () => {
    expect(encrInfo(EncrId.AES_CBC, 0)).toBeNull();
    expect(encrInfo(EncrId.AES_CBC, 512)).toBeNull();
    expect(encrInfo(EncrId.AES_GCM_16, 64)).toBeNull();
    expect(encrInfo(3, 192)).toBeNull(); // 3DES
    expect(encrInfo(28, 256)).toBeNull(); // ChaCha20-Poly1305 takes no Key Length attribute (RFC 7634 §2)
  });
});

describe('integInfo / prfInfo (RFC 4868 §2)', () => {
  it('integrity: key = hash size, ICV = half of it', () => {
    expect(integInfo(IntegId.HMAC_SHA2_256_128)).toEqual({ id: 12, name: 'HMAC_SHA2_256_128', hash: 'sha256', keyBytes: 32, icvBytes: 16 });
    expect(integInfo(IntegId.HMAC_SHA2_384_192)).toEqual({ id: 13, name: 'HMAC_SHA2_384_192', hash: 'sha384', keyBytes: 48, icvBytes: 24 });
    expect(integInfo(IntegId.HMAC_SHA2_512_256)).toEqual({ id: 14, name: 'HMAC_SHA2_512_256', hash: 'sha512', keyBytes: 64, icvBytes: 32 });
    expect(integInfo(IntegId.NONE)).toBeNull();
    expect(integInfo(2)).toBeNull(); // HMAC-SHA1-96
  });

  it('PRF: preferred key length = output length = hash size', () => {
    expect(prfInfo(PrfId.HMAC_SHA2_256)).toEqual({ id: 5, name: 'PRF_HMAC_SHA2_256', hash: 'sha256', keyBytes: 32, outBytes: 32 });
    expect(prfInfo(PrfId.HMAC_SHA2_384)).toEqual({ id: 6, name: 'PRF_HMAC_SHA2_384', hash: 'sha384', keyBytes: 48, outBytes: 48 });
    expect(prfInfo(PrfId.HMAC_SHA2_512)).toEqual({ id: 7, name: 'PRF_HMAC_SHA2_512', hash: 'sha512', keyBytes: 64, outBytes: 64 });
    expect(prfInfo(2)).toBeNull();
  });

  it('returns copies, so callers cannot corrupt the registry', () => {
    const a = prfInfo(PrfId.HMAC_SHA2_256)!;
    a.keyBytes = 1;
    expect(prfInfo(PrfId.HMAC_SHA2_256)?.keyBytes).toBe(32);
  });
});

describe('dhInfo', () => {
  it('KE data sizes (RFC 7296 §3.4, RFC 5903 §7, RFC 8031 §2)', () => {
    const expected: Array<[number, string, number]> = [
      [DhId.MODP_2048, 'MODP_2048', 256], [DhId.MODP_2048_256, 'MODP_2048_256', 256],
      [DhId.ECP_256, 'ECP_256', 64], [DhId.ECP_384, 'ECP_384', 96], [DhId.ECP_521, 'ECP_521', 132],
      [DhId.CURVE_25519, 'CURVE_25519', 32],
    ];
    for (const [id, name, publicBytes] of expected) expect(dhInfo(id)).toEqual({ id, name, publicBytes });
    expect(dhInfo(DhId.NONE)).toBeNull();
    expect(dhInfo(2)).toBeNull();
  });
});
