/*
 * ESP-GCM seal/open and the anti-replay window in C. See esp.h for the contract; every function
 * mirrors its TypeScript reference line for line (named in each comment) so the differential test
 * can demand identical bytes and identical counters.
 */
#include "esp.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#define TWO32 4294967296LL

/* ---------------------------------------------------------------------------------------- */
/* Cipher fetch, once per process (thread-safe: pthread_once).                                */

#include <pthread.h>
static EVP_CIPHER *gcm[3], *cbc[3];
static EVP_MAC *hmac;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

static void fetch_all(void)
{
  gcm[0] = EVP_CIPHER_fetch(NULL, "AES-128-GCM", NULL);
  gcm[1] = EVP_CIPHER_fetch(NULL, "AES-192-GCM", NULL);
  gcm[2] = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
  cbc[0] = EVP_CIPHER_fetch(NULL, "AES-128-CBC", NULL);
  cbc[1] = EVP_CIPHER_fetch(NULL, "AES-192-CBC", NULL);
  cbc[2] = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL);
  hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

static const EVP_CIPHER *pick(EVP_CIPHER **set, uint32_t key_bits)
{
  pthread_once(&fetch_once, fetch_all);
  switch (key_bits) {
  case 128: return set[0];
  case 192: return set[1];
  case 256: return set[2];
  default: return NULL;
  }
}

const EVP_CIPHER *esp_gcm_cipher(uint32_t key_bits) { return pick(gcm, key_bits); }

/* ---------------------------------------------------------------------------------------- */
/* Big-endian helpers.                                                                        */

static inline uint32_t rd32(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void wr32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* ---------------------------------------------------------------------------------------- */
/* Anti-replay window (src/esp/replay.ts). Sequence numbers are (high, low) u32 halves; the    */
/* arithmetic uses int64 where replay.ts relies on doubles being exact below 2^53.             */

static const char *replay_init(esp_replay_t *r, uint32_t size, bool esn)
{
  if (size < 128 || size % 32 != 0 || size > (1u << 20)) {
    return "replay window must be a multiple of 32 in [128, 2^20]";
  }
  uint32_t words = 1;
  while (words < size / 32 + 1) words <<= 1; /* power of two: the word index is a mask */
  r->ring = calloc(words, sizeof(uint32_t));
  if (!r->ring) return "out of memory";
  r->size = size;
  r->mask = words - 1;
  r->th = r->tl = 0;
  r->esn = esn;
  /* Sequence number 0 is never sent (RFC 4303 §3.3.3): marked received, so it is rejected. */
  r->ring[0] = 1;
  return NULL;
}

/* RFC 4303 Appendix A2.2: the sender's high half, so the number lands in or above the window. */
static int64_t infer_high(const esp_replay_t *r, uint32_t sl)
{
  int64_t w = r->size, th = r->th, tl = r->tl;
  if (tl >= w - 1) return (int64_t)sl >= tl - w + 1 ? th : th + 1; /* Case A */
  /* Case B: the window straddles a high boundary. */
  if ((int64_t)sl >= tl - w + 1 + TWO32) return th == 0 ? -1 : th - 1;
  return th;
}

static bool is_fresh(const esp_replay_t *r, int64_t hi, uint32_t sl)
{
  if (hi > 0xffffffffLL) return false; /* 2^64 would wrap: the sender must have rekeyed */
  int64_t delta = (hi - (int64_t)r->th) * TWO32 + ((int64_t)sl - (int64_t)r->tl);
  if (delta > 0) return true;
  if (-delta >= (int64_t)r->size) return false; /* at or below T - W: too old */
  return ((r->ring[(sl >> 5) & r->mask] >> (sl & 31)) & 1) == 0;
}

int64_t esp_replay_check(const esp_replay_t *r, uint32_t seq_lo)
{
  int64_t hi = r->esn ? infer_high(r, seq_lo) : 0;
  if (hi < 0) return -1;
  return is_fresh(r, hi, seq_lo) ? hi : -1;
}

bool esp_replay_accept(esp_replay_t *r, uint32_t seq_hi, uint32_t seq_lo)
{
  if (!is_fresh(r, seq_hi, seq_lo)) return false;
  int64_t delta = ((int64_t)seq_hi - (int64_t)r->th) * TWO32 + ((int64_t)seq_lo - (int64_t)r->tl);
  if (delta > 0) {
    /* RFC 6479 §2: clear the words between the old top word and the new one (at most all). */
    int64_t words = (int64_t)r->mask + 1;
    uint32_t old_word = r->tl >> 5;
    int64_t diff = ((int64_t)seq_hi - (int64_t)r->th) * (TWO32 / 32) +
                   ((int64_t)(seq_lo >> 5) - (int64_t)old_word);
    if (diff > words) diff = words;
    for (int64_t i = 1; i <= diff; i++) r->ring[(old_word + (uint32_t)i) & r->mask] = 0;
    r->th = seq_hi;
    r->tl = seq_lo;
  }
  r->ring[(seq_lo >> 5) & r->mask] |= 1u << (seq_lo & 31);
  return true;
}

void esp_replay_set_top(esp_replay_t *r, uint32_t hi, uint32_t lo)
{
  if (!r->ring) return;
  memset(r->ring, 0, ((size_t)r->mask + 1) * sizeof(uint32_t));
  r->th = r->esn ? hi : 0;
  r->tl = lo;
  r->ring[(lo >> 5) & r->mask] = 1u << (lo & 31);
  if (r->th == 0) r->ring[0] |= 1; /* the 64-bit value 0 stays "received" */
}

/* ---------------------------------------------------------------------------------------- */
/* SA lifecycle (esp-sa.ts: the transforms resolved once; this may fail, the hot path not).   */

#define IV_POOL 4096

const char *esp_sa_init(esp_sa_t *sa, const esp_params_t *p)
{
  memset(sa, 0, sizeof *sa);
  sa->spi = p->spi;
  sa->outbound = p->outbound;
  sa->esn = p->esn;
  const EVP_CIPHER *cipher = NULL;
  const char *digest = NULL;
  uint32_t mac_key = 0;
  switch (p->encr_id) {
  case ESP_ENCR_AES_GCM_8:
  case ESP_ENCR_AES_GCM_12:
  case ESP_ENCR_AES_GCM_16:
    sa->kind = ESP_KIND_GCM;
    sa->icv_len = p->encr_id == ESP_ENCR_AES_GCM_8 ? 8 : p->encr_id == ESP_ENCR_AES_GCM_12 ? 12 : 16;
    sa->iv_len = ESP_GCM_IV_LEN;
    sa->align = 4; /* RFC 4106 §3.2 */
    if (p->integ_id != ESP_INTEG_NONE) return "AES-GCM takes no integrity transform (RFC 4106 §8)";
    cipher = pick(gcm, p->key_bits);
    if (!cipher) return "AES-GCM key size must be 128, 192 or 256 bits (and OpenSSL must have GCM)";
    if (p->encr_key_len != p->key_bits / 8 + 4)
      return "GCM key must be the cipher key followed by a 4-octet salt (RFC 4106 §8.1)";
    memcpy(sa->salt, p->encr_key + p->key_bits / 8, 4);
    break;
  case ESP_ENCR_AES_CBC:
    sa->kind = ESP_KIND_CBC;
    sa->iv_len = 16;
    sa->align = 16;
    cipher = pick(cbc, p->key_bits);
    if (!cipher) return "AES-CBC key size must be 128, 192 or 256 bits";
    if (p->encr_key_len != p->key_bits / 8) return "AES-CBC key length does not match its key size";
    break;
  case ESP_ENCR_NULL:
    sa->kind = ESP_KIND_NULL;
    sa->align = 4;
    if (p->key_bits != 0 || p->encr_key_len != 0) return "NULL encryption has no key";
    break;
  default:
    return "unsupported ESP encryption transform";
  }
  if (sa->kind != ESP_KIND_GCM) {
    /* RFC 4303 §3.2: CBC or NULL without integrity is refused, as esp-sa.ts does. */
    switch (p->integ_id) {
    case ESP_INTEG_HMAC_SHA2_256_128: digest = "SHA256"; mac_key = 32; sa->icv_len = 16; break;
    case ESP_INTEG_HMAC_SHA2_384_192: digest = "SHA384"; mac_key = 48; sa->icv_len = 24; break;
    case ESP_INTEG_HMAC_SHA2_512_256: digest = "SHA512"; mac_key = 64; sa->icv_len = 32; break;
    default: return "CBC and NULL encryption need an HMAC-SHA2 integrity transform (RFC 4303 §3.2)";
    }
    if (p->integ_key_len != mac_key) return "HMAC key length does not match its transform (RFC 4868 §2.1.1)";
  }
  if (!p->outbound) {
    const char *err = replay_init(&sa->replay, p->replay_window, p->esn);
    if (err) return err;
  }
  if (cipher) {
    sa->ctx = EVP_CIPHER_CTX_new();
    /* The key schedule happens here, once; per packet EVP_CipherInit_ex2 only sets the IV. */
    if (!sa->ctx || EVP_CipherInit_ex2(sa->ctx, cipher, p->encr_key, NULL, p->outbound ? 1 : 0, NULL) != 1) {
      esp_sa_free(sa);
      return "OpenSSL refused the cipher key";
    }
    if (sa->kind == ESP_KIND_CBC) EVP_CIPHER_CTX_set_padding(sa->ctx, 0); /* ESP pads itself */
  }
  if (digest) {
    OSSL_PARAM params[2] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)digest, 0),
                            OSSL_PARAM_construct_end()};
    sa->mac = hmac ? EVP_MAC_CTX_new(hmac) : NULL;
    if (!sa->mac || EVP_MAC_init(sa->mac, p->integ_key, p->integ_key_len, params) != 1) {
      esp_sa_free(sa);
      return "OpenSSL refused the HMAC key";
    }
  }
  if (sa->kind == ESP_KIND_CBC && p->outbound) {
    sa->iv_pool = malloc(IV_POOL);
    if (!sa->iv_pool) {
      esp_sa_free(sa);
      return "out of memory";
    }
    sa->iv_pos = IV_POOL;
  }
  return NULL;
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

/* OutboundEspSa.writeIv: GCM uses the 64-bit sequence number (RFC 4106 §3.1: never repeats under
 * one key); CBC takes 16 octets from the CSPRNG pool (RFC 3602 §3). False if the CSPRNG failed. */
static bool write_iv(esp_sa_t *sa, uint8_t *iv)
{
  if (sa->has_test_iv) {
    memcpy(iv, sa->test_iv, sa->iv_len);
    sa->has_test_iv = false;
    return true;
  }
  if (sa->kind == ESP_KIND_GCM) {
    wr32(iv, sa->seq_hi);
    wr32(iv + 4, sa->seq_lo);
    return true;
  }
  if (sa->kind != ESP_KIND_CBC) return true;
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
  wr32(hi, seq_hi);
  return EVP_MAC_init(sa->mac, NULL, 0, NULL) == 1 && EVP_MAC_update(sa->mac, buf, len) == 1 &&
         (!sa->esn || EVP_MAC_update(sa->mac, hi, 4) == 1) && EVP_MAC_final(sa->mac, md, &outl, 64) == 1 &&
         outl >= sa->icv_len;
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
  uint32_t icv_off = ct_off + ct_len;
  uint32_t end = icv_off + sa->icv_len;
  if (end > out_cap) return ESP_SEAL_BUFFER_TOO_SMALL;
  if (!next_seq(sa)) {
    sa->c.seq_refusals += 1;
    return ESP_SEAL_SEQ_EXHAUSTED;
  }
  uint8_t *ct = out + ct_off;
  /* Plaintext placement: overlapping (in-place) input is moved into position first; CBC and
   * NULL want the whole plaintext contiguous, so they always copy. */
  bool overlap = inner < out + end && out < inner + inner_len;
  bool copy = overlap || sa->kind != ESP_KIND_GCM;
  if (copy && inner != ct && inner_len > 0) memmove(ct, inner, inner_len);
  const uint8_t *pt = copy ? ct : inner;

  wr32(out, sa->spi);
  wr32(out + 4, sa->seq_lo);
  if (!write_iv(sa, out + ESP_HDR_LEN)) return ESP_SEAL_BAD_INPUT; /* CSPRNG failure: send nothing */

  /* RFC 4303 §2.4 trailer: padding 1, 2, 3, …, Pad Length, Next Header. */
  uint8_t trailer[17];
  for (uint32_t i = 0; i < pad_len; i++) trailer[i] = (uint8_t)(i + 1);
  trailer[pad_len] = (uint8_t)pad_len;
  trailer[pad_len + 1] = (uint8_t)nh;

  if (sa->kind == ESP_KIND_GCM) {
    /* RFC 4106 §4 nonce = salt ‖ IV; §5 AAD = SPI ‖ Seq, or SPI ‖ Seq high ‖ Seq low with ESN. */
    uint8_t nonce[12], aad[12];
    memcpy(nonce, sa->salt, 4);
    memcpy(nonce + 4, out + ESP_HDR_LEN, 8);
    wr32(aad, sa->spi);
    uint32_t aad_len;
    if (sa->esn) {
      wr32(aad + 4, sa->seq_hi);
      wr32(aad + 8, sa->seq_lo);
      aad_len = 12;
    } else {
      wr32(aad + 4, sa->seq_lo);
      aad_len = 8;
    }
    int l1 = 0, l2 = 0, l3 = 0, l4 = 0;
    if (EVP_CipherInit_ex2(sa->ctx, NULL, NULL, nonce, -1, NULL) != 1 ||
        EVP_CipherUpdate(sa->ctx, NULL, &l1, aad, (int)aad_len) != 1 ||
        (inner_len > 0 && EVP_CipherUpdate(sa->ctx, ct, &l2, pt, (int)inner_len) != 1) ||
        EVP_CipherUpdate(sa->ctx, ct + inner_len, &l3, trailer, (int)(pad_len + 2)) != 1 ||
        EVP_CipherFinal_ex(sa->ctx, ct + ct_len, &l4) != 1 ||
        EVP_CIPHER_CTX_ctrl(sa->ctx, EVP_CTRL_AEAD_GET_TAG, sa->icv_len, out + icv_off) != 1) {
      return ESP_SEAL_BAD_INPUT; /* cannot happen with a valid context; never send it */
    }
  } else {
    memcpy(ct + inner_len, trailer, pad_len + 2);
    if (sa->kind == ESP_KIND_CBC) {
      int l1 = 0, l2 = 0;
      if (EVP_CipherInit_ex2(sa->ctx, NULL, NULL, out + ESP_HDR_LEN, -1, NULL) != 1 ||
          EVP_CipherUpdate(sa->ctx, ct, &l1, ct, (int)ct_len) != 1 ||
          EVP_CipherFinal_ex(sa->ctx, ct + l1, &l2) != 1)
        return ESP_SEAL_BAD_INPUT;
    }
    /* RFC 4303 §3.3.2 / RFC 4868 §2.1.2: ICV = HMAC(SPI ‖ Seq ‖ IV ‖ ciphertext), truncated. */
    uint8_t md[64];
    if (!hmac_icv(sa, out, icv_off, sa->seq_hi, md)) return ESP_SEAL_BAD_INPUT;
    memcpy(out + icv_off, md, sa->icv_len);
  }
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
  /* The trailer alone is 2 octets; CBC needs whole AES blocks (RFC 3602 §2.4). */
  if (len < ct_off + sa->icv_len + 2 ||
      (sa->kind == ESP_KIND_CBC && ((len - ct_off - sa->icv_len) & 15) != 0)) {
    c->malformed += 1;
    return ESP_OPEN_SHORT;
  }
  uint32_t ct_len = len - ct_off - sa->icv_len;
  uint32_t icv_off = ct_off + ct_len;
  if (rd32(pkt) != sa->spi) {
    c->malformed += 1;
    return ESP_OPEN_SPI;
  }
  bool in_place = out == pkt + ct_off;
  if (!in_place && out_cap < ct_len) {
    c->malformed += 1;
    return ESP_OPEN_TOO_BIG;
  }
  uint32_t seq_lo = rd32(pkt + 4);
  if (!sa->esn && seq_lo == 0) {
    c->malformed += 1;
    return ESP_OPEN_SEQ_ZERO;
  }
  int64_t seq_hi = esp_replay_check(&sa->replay, seq_lo);
  if (seq_hi < 0) {
    c->replay_drops += 1;
    return ESP_OPEN_REPLAY;
  }

  if (sa->kind == ESP_KIND_GCM) {
    uint8_t nonce[12], aad[12];
    memcpy(nonce, sa->salt, 4);
    memcpy(nonce + 4, pkt + ESP_HDR_LEN, 8);
    wr32(aad, sa->spi);
    uint32_t aad_len;
    if (sa->esn) {
      wr32(aad + 4, (uint32_t)seq_hi); /* inferred, never sent (RFC 4106 §5) */
      wr32(aad + 8, seq_lo);
      aad_len = 12;
    } else {
      wr32(aad + 4, seq_lo);
      aad_len = 8;
    }
    uint8_t tag[16];
    memcpy(tag, pkt + icv_off, sa->icv_len);
    int l1 = 0, l2 = 0, l3 = 0;
    if (EVP_CipherInit_ex2(sa->ctx, NULL, NULL, nonce, -1, NULL) != 1 ||
        EVP_CipherUpdate(sa->ctx, NULL, &l1, aad, (int)aad_len) != 1 ||
        EVP_CipherUpdate(sa->ctx, out, &l2, pkt + ct_off, (int)ct_len) != 1 ||
        EVP_CIPHER_CTX_ctrl(sa->ctx, EVP_CTRL_AEAD_SET_TAG, sa->icv_len, tag) != 1 ||
        EVP_CipherFinal_ex(sa->ctx, out + l2, &l3) != 1) {
      /* Never leave unauthenticated plaintext behind (open.ts copies nothing before the check). */
      OPENSSL_cleanse(out, ct_len);
      c->auth_failures += 1;
      return ESP_OPEN_AUTH;
    }
  } else {
    /* RFC 4303 §3.4.4.1: verify the ICV before decrypting (constant-time compare). */
    uint8_t md[64];
    if (!hmac_icv(sa, pkt, icv_off, (uint32_t)seq_hi, md) ||
        CRYPTO_memcmp(md, pkt + icv_off, sa->icv_len) != 0) {
      c->auth_failures += 1;
      return ESP_OPEN_AUTH;
    }
    if (sa->kind == ESP_KIND_CBC) {
      int l1 = 0, l2 = 0;
      if (EVP_CipherInit_ex2(sa->ctx, NULL, NULL, pkt + ESP_HDR_LEN, -1, NULL) != 1 ||
          EVP_CipherUpdate(sa->ctx, out, &l1, pkt + ct_off, (int)ct_len) != 1 ||
          EVP_CipherFinal_ex(sa->ctx, out + l1, &l2) != 1) {
        c->malformed += 1; /* authentic but undecryptable: cannot happen with whole blocks */
        return ESP_OPEN_PADDING;
      }
    } else if (!in_place) {
      memcpy(out, pkt + ct_off, ct_len);
    }
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
