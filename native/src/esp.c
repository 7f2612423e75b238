/*
 * ESP seal/open for every suite (see esp.h for the contract): the ESP framing (header, sequence
 * numbers, trailer and padding, replay, counters) is done here once; the cipher work goes through
 * the SA's esp_aead_ops_t, chosen from the cipher table when the SA is made. Every function
 * mirrors its TypeScript reference (named in each comment) so the differential test can demand
 * identical bytes and identical counters.
 */
#include "esp.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* ---------------------------------------------------------------------------------------- */
/* SA lifecycle (esp-sa.ts: the transforms resolved once; this may fail, the hot path not).   */

const char *esp_sa_init(esp_sa_t *sa, const esp_params_t *p)
{
  memset(sa, 0, sizeof *sa);
  sa->spi = p->spi;
  sa->outbound = p->outbound;
  sa->esn = p->esn;
  const esp_cipher_t *c = esp_cipher_find(p->encr_id, p->key_bits);
  if (!c) return "unsupported ESP encryption transform or key size";
  sa->cipher = c;
  sa->ops = c->ops;
  sa->iv_len = c->iv_len;
  sa->align = c->align;
  sa->live = true;
  const char *err = c->ops->init(sa, p);
  if (!err && !p->outbound) err = esp_replay_init(&sa->replay, p->replay_window, p->esn);
  if (err) esp_sa_free(sa);
  return err;
}

void esp_sa_free(esp_sa_t *sa)
{
  if (sa->ctx) EVP_CIPHER_CTX_free(sa->ctx); /* clears the key schedule */
  sa->ctx = NULL;
  if (sa->mac) EVP_MAC_CTX_free(sa->mac);
  sa->mac = NULL;
  free(sa->replay.ring);
  sa->replay.ring = NULL;
  free(sa->iv_pool);
  sa->iv_pool = NULL;
  OPENSSL_cleanse(sa->salt, sizeof sa->salt);
  sa->live = false;
}

void esp_sa_set_seq(esp_sa_t *sa, uint32_t hi, uint32_t lo)
{
  sa->seq_hi = sa->esn ? hi : 0;
  sa->seq_lo = lo;
  sa->rekey_needed = false;
}

void esp_sa_set_next_iv(esp_sa_t *sa, const uint8_t *iv)
{
  memcpy(sa->test_iv, iv, sa->iv_len);
  sa->has_test_iv = true;
}

/* OutboundEspSa.nextSeq: false (counter unchanged) when the number would cycle (RFC 4303
 * §3.3.3); past the soft limit (2^32 - 2^24, or 2^63 with ESN) the SA asks for a rekey. */
static bool next_seq(esp_sa_t *sa)
{
  if (sa->seq_lo == 0xffffffffu) {
    if (!sa->esn || sa->seq_hi == 0xffffffffu) {
      sa->rekey_needed = true;
      return false;
    }
    sa->seq_hi += 1;
    sa->seq_lo = 0;
  } else {
    sa->seq_lo += 1;
  }
  if (sa->esn ? sa->seq_hi >= 0x80000000u : sa->seq_lo >= 0xffffffffu - 0xffffffu) sa->rekey_needed = true;
  return true;
}

/* OutboundEspSa.writeIv: the test hook's IV once, else the cipher kind's. */
static bool write_iv(esp_sa_t *sa, uint8_t *iv)
{
  if (sa->has_test_iv) {
    memcpy(iv, sa->test_iv, sa->iv_len);
    sa->has_test_iv = false;
    return true;
  }
  return sa->ops->next_iv(sa, iv);
}

/* ---------------------------------------------------------------------------------------- */
/* Seal (src/esp/seal.ts).                                                                    */

int32_t esp_seal(esp_sa_t *sa, const uint8_t *inner, uint32_t inner_len, uint32_t nh, uint8_t *out,
                 uint32_t out_cap)
{
  if (nh > 255 || inner_len > 0x7fffffffu - 128) return ESP_SEAL_BAD_INPUT;
  uint32_t a = sa->align;
  uint32_t ct_len = (inner_len + 2 + a - 1) & ~(a - 1); /* RFC 4303 §2.4 */
  uint32_t pad_len = ct_len - inner_len - 2;
  uint32_t ct_off = ESP_HDR_LEN + sa->iv_len;
  uint32_t end = ct_off + ct_len + sa->icv_len;
  if (end > out_cap) return ESP_SEAL_BUFFER_TOO_SMALL;
  if (!next_seq(sa)) {
    sa->c.seq_refusals += 1;
    return ESP_SEAL_SEQ_EXHAUSTED;
  }
  uint8_t *ct = out + ct_off;
  /* Plaintext placement: overlapping (in-place) input is moved into position first; kinds that
   * want the whole plaintext contiguous always get it copied there. */
  bool overlap = inner < out + end && out < inner + inner_len;
  bool copy = overlap || sa->ops->contiguous;
  if (copy && inner != ct && inner_len > 0) memmove(ct, inner, inner_len);
  const uint8_t *pt = copy ? ct : inner;

  esp_wr32(out, sa->spi);
  esp_wr32(out + 4, sa->seq_lo);
  if (!write_iv(sa, out + ESP_HDR_LEN)) return ESP_SEAL_BAD_INPUT; /* CSPRNG failure: send nothing */

  /* RFC 4303 §2.4 trailer: padding 1, 2, 3, …, Pad Length, Next Header. */
  uint8_t *trailer = ct + inner_len;
  for (uint32_t i = 0; i < pad_len; i++) trailer[i] = (uint8_t)(i + 1);
  trailer[pad_len] = (uint8_t)pad_len;
  trailer[pad_len + 1] = (uint8_t)nh;

  if (!sa->ops->seal(sa, out, sa->seq_hi, pt, inner_len, ct_len)) return ESP_SEAL_BAD_INPUT; /* never send it */
  sa->c.packets += 1;
  sa->c.bytes += inner_len;
  return (int32_t)end;
}

/* ---------------------------------------------------------------------------------------- */
/* Open (src/esp/open.ts): length → SPI → replay pre-check → ICV → decrypt → padding → window  */
/* update (RFC 4303 §3.4.2–§3.4.4), each failure one counter.                                 */

int32_t esp_open(esp_sa_t *sa, uint8_t *pkt, uint32_t len, uint8_t *out, uint32_t out_cap, uint8_t *nh)
{
  esp_counters_t *c = &sa->c;
  const uint32_t ct_off = ESP_HDR_LEN + sa->iv_len;
  /* The trailer alone is 2 octets; block modes need whole blocks (RFC 3602 §2.4). */
  if (len < ct_off + sa->icv_len + 2 || ((len - ct_off - sa->icv_len) & (sa->cipher->block - 1u)) != 0) {
    c->malformed += 1;
    return ESP_OPEN_SHORT;
  }
  uint32_t ct_len = len - ct_off - sa->icv_len;
  if (esp_rd32(pkt) != sa->spi) {
    c->malformed += 1;
    return ESP_OPEN_SPI;
  }
  bool in_place = out == pkt + ct_off;
  if (!in_place && out_cap < ct_len) {
    c->malformed += 1;
    return ESP_OPEN_TOO_BIG;
  }
  uint32_t seq_lo = esp_rd32(pkt + 4);
  if (!sa->esn && seq_lo == 0) {
    c->malformed += 1;
    return ESP_OPEN_SEQ_ZERO;
  }
  int64_t seq_hi = esp_replay_check(&sa->replay, seq_lo);
  if (seq_hi < 0) {
    c->replay_drops += 1;
    return ESP_OPEN_REPLAY;
  }
  int32_t r = sa->ops->open(sa, pkt, (uint32_t)seq_hi, ct_len, out);
  if (r == ESP_OPEN_AUTH) {
    c->auth_failures += 1;
    return r;
  }
  if (r < 0) {
    c->malformed += 1;
    return r;
  }

  /* RFC 4303 §2.4: Pad Length and Next Header end the plaintext; padding is 1, 2, 3, … */
  uint32_t pad_len = out[ct_len - 2];
  uint8_t next = out[ct_len - 1];
  if (pad_len > ct_len - 2) {
    c->malformed += 1;
    return ESP_OPEN_PADDING;
  }
  uint32_t inner_len = ct_len - 2 - pad_len;
  for (uint32_t i = 0; i < pad_len; i++) {
    if (out[inner_len + i] != (uint8_t)(i + 1)) {
      c->malformed += 1;
      return ESP_OPEN_PADDING;
    }
  }
  if (!esp_replay_accept(&sa->replay, (uint32_t)seq_hi, seq_lo)) {
    c->replay_drops += 1;
    return ESP_OPEN_REPLAY;
  }
  *nh = next;
  if (next == ESP_NEXT_HEADER_DUMMY) {
    c->dummy += 1;
    return ESP_OPEN_DUMMY;
  }
  c->packets += 1;
  c->bytes += inner_len;
  return (int32_t)inner_len;
}
