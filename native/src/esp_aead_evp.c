/*
 * ESP with an AEAD cipher through OpenSSL's EVP interface: every row of the cipher table whose
 * ops is ESP_OPS_EVP_AEAD (AES-GCM, RFC 4106; ChaCha20-Poly1305, RFC 7634 §2, which takes over
 * RFC 4106's construction). What they share:
 *   - KEYMAT is the cipher key followed by a 4-octet salt (RFC 4106 §8.1);
 *   - nonce = salt ‖ the 8-octet explicit IV (RFC 4106 §4);
 *   - the IV is the 64-bit sequence number (RFC 4106 §3.1: it must never repeat under one key,
 *     and the counter never cycles);
 *   - AAD = SPI ‖ Seq, or SPI ‖ Seq high ‖ Seq low with ESN (RFC 4106 §5);
 *   - the ICV is the AEAD tag, checked by OpenSSL (constant time) before anything is released.
 * The key schedule is done once, in init; per packet only the nonce changes.
 */
#include "esp.h"

#include <string.h>

#include <openssl/crypto.h>

static const char *aead_init(esp_sa_t *sa, const esp_params_t *p)
{
  const esp_cipher_t *c = sa->cipher;
  if (p->integ_id != ESP_INTEG_NONE) return "an AEAD cipher takes no integrity transform (RFC 4106 §8)";
  const EVP_CIPHER *cipher = esp_cipher_evp(c);
  if (!cipher) return "OpenSSL lacks this AEAD cipher";
  if (p->encr_key_len != (size_t)c->key_len + c->salt_len || c->salt_len != sizeof sa->salt)
    return "the AEAD key must be the cipher key followed by a 4-octet salt (RFC 4106 §8.1)";
  memcpy(sa->salt, p->encr_key + c->key_len, sizeof sa->salt);
  sa->icv_len = c->icv_len;
  sa->ctx = EVP_CIPHER_CTX_new();
  if (!sa->ctx || EVP_CipherInit_ex2(sa->ctx, cipher, p->encr_key, NULL, p->outbound ? 1 : 0, NULL) != 1)
    return "OpenSSL refused the cipher key";
  return NULL;
}

static bool aead_next_iv(esp_sa_t *sa, uint8_t *iv)
{
  esp_wr32(iv, sa->seq_hi);
  esp_wr32(iv + 4, sa->seq_lo);
  return true;
}

/* Nonce and AAD of the packet, with the given (sent or inferred) high half of the sequence. */
static bool aead_start(esp_sa_t *sa, const uint8_t *pkt, uint32_t seq_hi)
{
  uint8_t nonce[12], aad[12];
  memcpy(nonce, sa->salt, 4);
  memcpy(nonce + 4, pkt + ESP_HDR_LEN, 8);
  memcpy(aad, pkt, 4); /* SPI */
  uint32_t aad_len = 8;
  if (sa->esn) {
    esp_wr32(aad + 4, seq_hi); /* never sent (RFC 4106 §5) */
    memcpy(aad + 8, pkt + 4, 4);
    aad_len = 12;
  } else {
    memcpy(aad + 4, pkt + 4, 4);
  }
  int l = 0;
  return EVP_CipherInit_ex2(sa->ctx, NULL, NULL, nonce, -1, NULL) == 1 &&
         EVP_CipherUpdate(sa->ctx, NULL, &l, aad, (int)aad_len) == 1;
}

static bool aead_seal(esp_sa_t *sa, uint8_t *pkt, uint32_t seq_hi, const uint8_t *pt, uint32_t pt_len, uint32_t ct_len)
{
  uint8_t *ct = pkt + ESP_HDR_LEN + sa->iv_len;
  int l1 = 0, l2 = 0, l3 = 0;
  return aead_start(sa, pkt, seq_hi) &&
         (pt_len == 0 || EVP_CipherUpdate(sa->ctx, ct, &l1, pt, (int)pt_len) == 1) &&
         EVP_CipherUpdate(sa->ctx, ct + pt_len, &l2, ct + pt_len, (int)(ct_len - pt_len)) == 1 &&
         EVP_CipherFinal_ex(sa->ctx, ct + ct_len, &l3) == 1 &&
         EVP_CIPHER_CTX_ctrl(sa->ctx, EVP_CTRL_AEAD_GET_TAG, sa->icv_len, ct + ct_len) == 1;
}

static int32_t aead_open(esp_sa_t *sa, const uint8_t *pkt, uint32_t seq_hi, uint32_t ct_len, uint8_t *out)
{
  const uint8_t *ct = pkt + ESP_HDR_LEN + sa->iv_len;
  uint8_t tag[16];
  memcpy(tag, ct + ct_len, sa->icv_len); /* before an in-place decrypt could reach it */
  int l1 = 0, l2 = 0;
  if (!aead_start(sa, pkt, seq_hi) || EVP_CipherUpdate(sa->ctx, out, &l1, ct, (int)ct_len) != 1 ||
      EVP_CIPHER_CTX_ctrl(sa->ctx, EVP_CTRL_AEAD_SET_TAG, sa->icv_len, tag) != 1 ||
      EVP_CipherFinal_ex(sa->ctx, out + l1, &l2) != 1) {
    /* Never leave unauthenticated plaintext behind (open.ts copies nothing before the check). */
    OPENSSL_cleanse(out, ct_len);
    return ESP_OPEN_AUTH;
  }
  return 0;
}

const esp_aead_ops_t ESP_OPS_EVP_AEAD = {
  .init = aead_init, .next_iv = aead_next_iv, .seal = aead_seal, .open = aead_open, .contiguous = false,
};
