/*
 * ESP with a separate integrity transform: AES-CBC + HMAC-SHA2 (RFC 3602, RFC 4868) and
 * NULL + HMAC-SHA2 (RFC 2410). Encrypt-then-MAC: the ICV is HMAC(SPI ‖ Seq ‖ IV ‖ ciphertext),
 * with the ESN high half appended for the computation only (RFC 4303 §2.2.1, §3.3.2), truncated
 * to half the hash (RFC 4868 §2.1.2); it is verified (constant time) before anything is
 * decrypted (RFC 4303 §3.4.4.1). Both kinds want the plaintext contiguous in the packet.
 *
 * RFC 4303 §3.2: CBC or NULL without integrity is refused, as src/esp/esp-sa.ts does.
 */
#include "esp.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/rand.h>

/* CBC IVs: a CSPRNG pool refilled 4096 octets at a time (RFC 3602 §3: unpredictable IVs). */
#define IV_POOL 4096

static const char *mac_init(esp_sa_t *sa, const esp_params_t *p)
{
  const esp_integ_t *i = esp_integ_find(p->integ_id);
  if (!i) return "CBC and NULL encryption need an HMAC-SHA2 integrity transform (RFC 4303 §3.2)";
  if (p->integ_key_len != i->key_len) return "HMAC key length does not match its transform (RFC 4868 §2.1.1)";
  sa->icv_len = i->icv_len;
  OSSL_PARAM params[2] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)i->digest, 0),
                          OSSL_PARAM_construct_end()};
  EVP_MAC *hmac = esp_hmac();
  sa->mac = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
  if (!sa->mac || EVP_MAC_init(sa->mac, p->integ_key, p->integ_key_len, params) != 1)
    return "OpenSSL refused the HMAC key";
  return NULL;
}

static const char *null_init(esp_sa_t *sa, const esp_params_t *p)
{
  if (p->key_bits != 0 || p->encr_key_len != 0) return "NULL encryption has no key";
  return mac_init(sa, p);
}

static const char *cbc_init(esp_sa_t *sa, const esp_params_t *p)
{
  if (p->encr_key_len != sa->cipher->key_len) return "AES-CBC key length does not match its key size";
  const char *err = mac_init(sa, p);
  if (err) return err;
  const EVP_CIPHER *cipher = esp_cipher_evp(sa->cipher);
  sa->ctx = cipher ? EVP_CIPHER_CTX_new() : NULL;
  /* The key schedule happens here, once; per packet EVP_CipherInit_ex2 only sets the IV. */
  if (!sa->ctx || EVP_CipherInit_ex2(sa->ctx, cipher, p->encr_key, NULL, p->outbound ? 1 : 0, NULL) != 1)
    return "OpenSSL refused the cipher key";
  EVP_CIPHER_CTX_set_padding(sa->ctx, 0); /* ESP pads itself */
  if (p->outbound) {
    sa->iv_pool = malloc(IV_POOL);
    if (!sa->iv_pool) return "out of memory";
    sa->iv_pos = IV_POOL;
  }
  return NULL;
}

static bool no_iv(esp_sa_t *sa, uint8_t *iv) { return true; }

static bool pool_iv(esp_sa_t *sa, uint8_t *iv)
{
  if (sa->iv_pos + 16 > IV_POOL) {
    if (RAND_bytes(sa->iv_pool, IV_POOL) != 1) return false;
    sa->iv_pos = 0;
  }
  memcpy(iv, sa->iv_pool + sa->iv_pos, 16);
  sa->iv_pos += 16;
  return true;
}

/* HMAC over buf[0, len) ‖ (ESN high half, RFC 4303 §2.2.1: appended for the ICV only). */
static bool hmac_icv(esp_sa_t *sa, const uint8_t *buf, uint32_t len, uint32_t seq_hi, uint8_t *md)
{
  size_t outl = 0;
  uint8_t hi[4];
  esp_wr32(hi, seq_hi);
  return EVP_MAC_init(sa->mac, NULL, 0, NULL) == 1 && EVP_MAC_update(sa->mac, buf, len) == 1 &&
         (!sa->esn || EVP_MAC_update(sa->mac, hi, 4) == 1) && EVP_MAC_final(sa->mac, md, &outl, 64) == 1 &&
         outl >= sa->icv_len;
}

static bool mac_seal(esp_sa_t *sa, uint8_t *pkt, uint32_t seq_hi, const uint8_t *pt, uint32_t pt_len, uint32_t ct_len)
{
  uint32_t icv_off = ESP_HDR_LEN + sa->iv_len + ct_len;
  uint8_t md[64];
  if (!hmac_icv(sa, pkt, icv_off, seq_hi, md)) return false;
  memcpy(pkt + icv_off, md, sa->icv_len);
  return true;
}

static bool cbc_seal(esp_sa_t *sa, uint8_t *pkt, uint32_t seq_hi, const uint8_t *pt, uint32_t pt_len, uint32_t ct_len)
{
  uint8_t *ct = pkt + ESP_HDR_LEN + sa->iv_len;
  int l1 = 0, l2 = 0;
  return EVP_CipherInit_ex2(sa->ctx, NULL, NULL, pkt + ESP_HDR_LEN, -1, NULL) == 1 &&
         EVP_CipherUpdate(sa->ctx, ct, &l1, ct, (int)ct_len) == 1 && EVP_CipherFinal_ex(sa->ctx, ct + l1, &l2) == 1 &&
         mac_seal(sa, pkt, seq_hi, pt, pt_len, ct_len);
}

static bool mac_ok(esp_sa_t *sa, const uint8_t *pkt, uint32_t seq_hi, uint32_t ct_len)
{
  uint32_t icv_off = ESP_HDR_LEN + sa->iv_len + ct_len;
  uint8_t md[64];
  return hmac_icv(sa, pkt, icv_off, seq_hi, md) && CRYPTO_memcmp(md, pkt + icv_off, sa->icv_len) == 0;
}

static int32_t null_open(esp_sa_t *sa, const uint8_t *pkt, uint32_t seq_hi, uint32_t ct_len, uint8_t *out)
{
  if (!mac_ok(sa, pkt, seq_hi, ct_len)) return ESP_OPEN_AUTH;
  const uint8_t *ct = pkt + ESP_HDR_LEN;
  if (out != ct) memcpy(out, ct, ct_len);
  return 0;
}

static int32_t cbc_open(esp_sa_t *sa, const uint8_t *pkt, uint32_t seq_hi, uint32_t ct_len, uint8_t *out)
{
  if (!mac_ok(sa, pkt, seq_hi, ct_len)) return ESP_OPEN_AUTH;
  int l1 = 0, l2 = 0;
  if (EVP_CipherInit_ex2(sa->ctx, NULL, NULL, pkt + ESP_HDR_LEN, -1, NULL) != 1 ||
      EVP_CipherUpdate(sa->ctx, out, &l1, pkt + ESP_HDR_LEN + sa->iv_len, (int)ct_len) != 1 ||
      EVP_CipherFinal_ex(sa->ctx, out + l1, &l2) != 1)
    return ESP_OPEN_PADDING; /* authentic but undecryptable: cannot happen with whole blocks */
  return 0;
}

const esp_aead_ops_t ESP_OPS_CBC_HMAC = {
  .init = cbc_init, .next_iv = pool_iv, .seal = cbc_seal, .open = cbc_open, .contiguous = true,
};
const esp_aead_ops_t ESP_OPS_NULL_HMAC = {
  .init = null_init, .next_iv = no_iv, .seal = mac_seal, .open = null_open, .contiguous = true,
};
