/**
 * IANA names of IKEv2 transform IDs ("Internet Key Exchange Version 2 (IKEv2) Parameters",
 * Transform Types 1-5, RFC 7296 §3.3.2 and its updates), for logging what a peer offered even
 * when we implement none of it: "ENCR_3DES", not "ENCR_3_0". Key-exchange groups use the short
 * names strongSwan and our status document use (MODP_1024 for "1024-bit MODP Group").
 */
const ENCR: Record<number, string> = {
  1: 'ENCR_DES_IV64', 2: 'ENCR_DES', 3: 'ENCR_3DES', 4: 'ENCR_RC5', 5: 'ENCR_IDEA', 6: 'ENCR_CAST', 7: 'ENCR_BLOWFISH',
  8: 'ENCR_3IDEA', 9: 'ENCR_DES_IV32', 11: 'ENCR_NULL', 12: 'ENCR_AES_CBC', 13: 'ENCR_AES_CTR', 14: 'ENCR_AES_CCM_8',
  15: 'ENCR_AES_CCM_12', 16: 'ENCR_AES_CCM_16', 18: 'ENCR_AES_GCM_8', 19: 'ENCR_AES_GCM_12', 20: 'ENCR_AES_GCM_16',
  21: 'ENCR_NULL_AUTH_AES_GMAC', 23: 'ENCR_CAMELLIA_CBC', 24: 'ENCR_CAMELLIA_CTR', 25: 'ENCR_CAMELLIA_CCM_8',
  26: 'ENCR_CAMELLIA_CCM_12', 27: 'ENCR_CAMELLIA_CCM_16', 28: 'ENCR_CHACHA20_POLY1305', 29: 'ENCR_AES_CCM_8_IIV',
  30: 'ENCR_AES_GCM_16_IIV', 31: 'ENCR_CHACHA20_POLY1305_IIV', 32: 'ENCR_KUZNYECHIK_MGM_KTREE', 33: 'ENCR_MAGMA_MGM_KTREE',
  34: 'ENCR_KUZNYECHIK_MGM_MAC_KTREE', 35: 'ENCR_MAGMA_MGM_MAC_KTREE',
};
const PRF: Record<number, string> = {
  1: 'PRF_HMAC_MD5', 2: 'PRF_HMAC_SHA1', 3: 'PRF_HMAC_TIGER', 4: 'PRF_AES128_XCBC', 5: 'PRF_HMAC_SHA2_256',
  6: 'PRF_HMAC_SHA2_384', 7: 'PRF_HMAC_SHA2_512', 8: 'PRF_AES128_CMAC', 9: 'PRF_HMAC_STREEBOG_512',
};
const INTEG: Record<number, string> = {
  0: 'NONE', 1: 'AUTH_HMAC_MD5_96', 2: 'AUTH_HMAC_SHA1_96', 3: 'AUTH_DES_MAC', 4: 'AUTH_KPDK_MD5', 5: 'AUTH_AES_XCBC_96',
  6: 'AUTH_HMAC_MD5_128', 7: 'AUTH_HMAC_SHA1_160', 8: 'AUTH_AES_CMAC_96', 9: 'AUTH_AES_128_GMAC', 10: 'AUTH_AES_192_GMAC',
  11: 'AUTH_AES_256_GMAC', 12: 'AUTH_HMAC_SHA2_256_128', 13: 'AUTH_HMAC_SHA2_384_192', 14: 'AUTH_HMAC_SHA2_512_256',
};
const KE: Record<number, string> = {
  0: 'NONE', 1: 'MODP_768', 2: 'MODP_1024', 5: 'MODP_1536', 14: 'MODP_2048', 15: 'MODP_3072', 16: 'MODP_4096',
  17: 'MODP_6144', 18: 'MODP_8192', 19: 'ECP_256', 20: 'ECP_384', 21: 'ECP_521', 22: 'MODP_1024_160', 23: 'MODP_2048_224',
  24: 'MODP_2048_256', 25: 'ECP_192', 26: 'ECP_224', 27: 'ECP_224_BP', 28: 'ECP_256_BP', 29: 'ECP_384_BP', 30: 'ECP_512_BP',
  31: 'CURVE_25519', 32: 'CURVE_448', 33: 'GOST3410_2012_256', 34: 'GOST3410_2012_512', 35: 'ML_KEM_512', 36: 'ML_KEM_768',
  37: 'ML_KEM_1024',
};

/** "ENCR_3DES", "ENCR_CAMELLIA_CBC_256" (with a key length), or "ENCR_99" when IANA has no name either. */
export function encrName(id: number, keyBits = 0): string {
  const n = ENCR[id];
  if (n === undefined) return `ENCR_${id}${keyBits > 0 ? `_${keyBits}` : ''}`;
  return keyBits > 0 ? `${n}_${keyBits}` : n;
}
export const prfName = (id: number): string => PRF[id] ?? `PRF_${id}`;
export const integName = (id: number): string => INTEG[id] ?? `AUTH_${id}`;
export const keName = (id: number): string => KE[id] ?? `KE_${id}`;
