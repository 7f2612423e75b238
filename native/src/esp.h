/*
 * ESP (RFC 4303) in C, over the OpenSSL that Node itself exports. No Node-API here: esp_napi.c
 * exposes it to JS (batched) and dp.c uses it from its I/O threads.
 *
 * Semantics are those of the TypeScript reference (src/esp/seal.ts, open.ts, replay.ts,
 * esp-sa.ts) to the byte and to the counter: the differential test in
 * test/unit/native/esp-differential.test.ts holds both to that.
 *
 * Suites: the rows of ESP_CIPHERS (esp_ciphers.c), the same set as the TypeScript table, each
 * pointing at the esp_aead_ops_t of its kind: AEAD through EVP (esp_aead_evp.c: AES-GCM, RFC 4106),
 * AES-CBC + HMAC-SHA2 and NULL + HMAC-SHA2 (esp_hmac.c: RFC 3602, RFC 4868, RFC 2410). esp.c does
 * the rest (header, sequence numbers, trailer, padding, replay, counters) once for all of them.
 * The AEADs are the fast path; for HMAC, OpenSSL 3 re-initialises the keyed context per packet by
 * duplicating its inner digest state (an allocation inside OpenSSL, none in our code).
 *
 * Threading: an esp_sa_t is used by one thread at a time (outbound by the sender, inbound by the
 * receiver); nothing here locks.
 */
#ifndef BRANCHGATE_ESP_H
#define BRANCHGATE_ESP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

/* RFC 4303 §2: SPI (4) and Sequence Number (4). */
#define ESP_HDR_LEN 8
/* The largest explicit IV: one AES block (RFC 3602 §3). */
#define ESP_MAX_IV_LEN 16
/* Largest overhead any suite adds: header 8, IV ≤ 16, padding ≤ 15, Pad Length, Next Header,
 * ICV ≤ 32 (HMAC-SHA2-512-256). */
#define ESP_MAX_OVERHEAD (ESP_HDR_LEN + 16 + 15 + 2 + 32)

/* The transforms themselves (IANA IDs, key, salt, IV and ICV sizes, which OpenSSL algorithm, which
 * esp_aead_ops_t) are rows of one table, esp_ciphers.c; src/native/esp-native.ts checks it against
 * the TypeScript table (src/ike/crypto/transforms.ts) when the addon loads. */
#define ESP_INTEG_NONE 0

typedef struct esp_sa esp_sa_t;
typedef struct esp_aead_ops esp_aead_ops_t;

/* One encryption transform (Transform Type 1) at one key size: a row of ESP_CIPHERS. */
typedef struct {
  uint32_t id;       /* IANA Transform Type 1 ID (RFC 7296 §3.3.2) */
  uint32_t key_bits; /* the Key Length attribute (RFC 7296 §3.3.5); 0 for transforms without one */
  const char *name;  /* as src/ike/crypto/transforms.ts names it, e.g. "AES_GCM_16_256" */
  const char *evp;   /* OpenSSL cipher name; NULL when there is no cipher (ENCR_NULL) */
  uint8_t key_len;   /* cipher key octets, without the salt */
  uint8_t salt_len;  /* KEYMAT octets after the key that form the nonce's salt (RFC 4106 §8.1) */
  uint8_t iv_len;    /* explicit IV on the wire */
  uint8_t icv_len;   /* AEAD tag octets; 0 when an integrity transform supplies the ICV */
  uint8_t align;     /* ciphertext alignment (RFC 4303 §2.4): 4, or the cipher block */
  uint8_t block;     /* the ciphertext must be a multiple of this (1 for stream and AEAD modes) */
  const esp_aead_ops_t *ops;
} esp_cipher_t;

/* One integrity transform (Transform Type 3): HMAC-SHA2 truncated to half (RFC 4868 §2.1.2). */
typedef struct {
  uint32_t id;
  const char *name;
  const char *digest; /* OpenSSL digest name */
  uint8_t key_len;
  uint8_t icv_len;
} esp_integ_t;

extern const esp_cipher_t ESP_CIPHERS[];
extern const size_t ESP_CIPHER_COUNT;
extern const esp_integ_t ESP_INTEGS[];
extern const size_t ESP_INTEG_COUNT;

/* The row for (id, key_bits), or NULL. */
const esp_cipher_t *esp_cipher_find(uint32_t id, uint32_t key_bits);
const esp_integ_t *esp_integ_find(uint32_t id);
/* The row's EVP_CIPHER, fetched once per process (OpenSSL 3's implicit fetch on every init is
 * what makes per-packet contexts slow: openssl/openssl#20625); NULL when OpenSSL lacks it. */
const EVP_CIPHER *esp_cipher_evp(const esp_cipher_t *c);
/* The HMAC EVP_MAC, fetched once; NULL when OpenSSL lacks it. */
EVP_MAC *esp_hmac(void);

/* Seal results (negative), same values as SealError in src/esp/seal.ts. */
enum {
  ESP_SEAL_SEQ_EXHAUSTED = -1,
  ESP_SEAL_BUFFER_TOO_SMALL = -2,
  ESP_SEAL_BAD_INPUT = -3,
};

/* Open results (negative), one per OpenFailReason of src/esp/open.ts. */
enum {
  ESP_OPEN_SHORT = -1,
  ESP_OPEN_SPI = -2,
  ESP_OPEN_SEQ_ZERO = -3,
  ESP_OPEN_REPLAY = -4,
  ESP_OPEN_AUTH = -5,
  ESP_OPEN_PADDING = -6,
  ESP_OPEN_DUMMY = -7,
  ESP_OPEN_TOO_BIG = -8,
};

/* RFC 4303 §2.6: Next Header 59 marks a dummy packet. */
#define ESP_NEXT_HEADER_DUMMY 59

/* Same fields as EspCounters in src/esp/esp-sa.ts (bytes are inner-packet octets). */
typedef struct {
  uint64_t bytes;
  uint64_t packets;
  uint64_t replay_drops;
  uint64_t auth_failures;
  uint64_t malformed;
  uint64_t policy_drops;
  uint64_t dummy;
  uint64_t seq_refusals;
} esp_counters_t;

/* The anti-replay window of src/esp/replay.ts: RFC 4303 §3.4.3 / Appendix A as an RFC 6479 ring. */
typedef struct {
  uint32_t size;  /* W, a multiple of 32 in [128, 2^20] */
  uint32_t mask;  /* words - 1 */
  uint32_t *ring; /* power-of-two count of 32-bit words, > W/32 */
  uint32_t th, tl;
  bool esn;
} esp_replay_t;

/* What EspSaParams (src/esp/params.ts) carries, plus direction and window. */
typedef struct {
  uint32_t spi;
  bool outbound, esn;
  uint32_t encr_id, key_bits, integ_id;
  const uint8_t *encr_key; /* AEAD: cipher key ‖ 4-octet salt (RFC 4106 §8.1, RFC 7634 §2) */
  size_t encr_key_len;
  const uint8_t *integ_key;
  size_t integ_key_len;
  uint32_t replay_window; /* inbound only */
} esp_params_t;

struct esp_sa {
  uint32_t spi;
  bool esn;
  bool outbound;
  bool live;       /* false once esp_sa_free ran */
  const esp_cipher_t *cipher;
  const esp_aead_ops_t *ops; /* cipher->ops, selected once in esp_sa_init */
  uint8_t icv_len; /* the AEAD tag, or the truncated HMAC (RFC 4868 §2.1.2) */
  uint8_t iv_len;  /* cipher->iv_len */
  uint8_t align;   /* cipher->align */
  uint8_t salt[4];
  EVP_CIPHER_CTX *ctx; /* key schedule done once at creation; per packet only the IV changes */
  EVP_MAC_CTX *mac;    /* HMAC keyed once (CBC, NULL) */
  /* CBC outbound: IVs from a CSPRNG pool (RFC 3602 §3: unpredictable), as esp-sa.ts does */
  uint8_t *iv_pool;
  uint32_t iv_pos;
  bool has_test_iv;
  uint8_t test_iv[16];
  /* outbound: the last sequence number sent (RFC 4303 §3.3.3: the first packet carries 1) */
  uint32_t seq_hi, seq_lo;
  bool rekey_needed;
  /* inbound */
  esp_replay_t replay;
  esp_counters_t c;
};

/*
 * What one kind of cipher does to a packet (cf. strongSwan libipsec's aead_t): selected once per SA
 * from the cipher table, so the per-packet code in esp.c never branches on the algorithm. Offsets
 * inside the ESP packet `pkt`: header at 0 (SPI ‖ Seq, ESP_HDR_LEN), the IV after it (iv_len), the
 * ciphertext at ESP_HDR_LEN + iv_len (ct_len octets), the ICV right after (icv_len).
 */
struct esp_aead_ops {
  /* Key the SA's contexts (sa->cipher, icv_len set). NULL or a static message naming the problem. */
  const char *(*init)(esp_sa_t *sa, const esp_params_t *p);
  /* Write the next explicit IV (iv_len octets) of an outbound packet; false if the CSPRNG failed. */
  bool (*next_iv)(esp_sa_t *sa, uint8_t *iv);
  /* Encrypt pt[0, pt_len) to the ciphertext area, then the rest of it (trailer, already written
   * there as plaintext) in place, and write the ICV. pt is either the ciphertext area itself or
   * does not overlap the packet. false: the cipher failed (nothing must be sent). */
  bool (*seal)(esp_sa_t *sa, uint8_t *pkt, uint32_t seq_hi, const uint8_t *pt, uint32_t pt_len, uint32_t ct_len);
  /* Verify the ICV and decrypt the ciphertext into out (which may be the ciphertext area itself).
   * 0, ESP_OPEN_AUTH (nothing decrypted is left in out) or ESP_OPEN_PADDING (undecryptable). */
  int32_t (*open)(esp_sa_t *sa, const uint8_t *pkt, uint32_t seq_hi, uint32_t ct_len, uint8_t *out);
  /* true: seal wants the plaintext already in the ciphertext area (block modes, MAC-only). */
  bool contiguous;
};

/* The ops of each kind (esp_aead_evp.c, esp_hmac.c); the cipher table points at them. */
extern const esp_aead_ops_t ESP_OPS_EVP_AEAD, ESP_OPS_CBC_HMAC, ESP_OPS_NULL_HMAC;

/* Returns NULL on success or a static message naming what is wrong (nothing to free then). */
const char *esp_sa_init(esp_sa_t *sa, const esp_params_t *p);
void esp_sa_free(esp_sa_t *sa);

/* Octets ESP adds around an inner packet of inner_len octets. */
static inline uint32_t esp_overhead(const esp_sa_t *sa, uint32_t inner_len)
{
  uint32_t a = sa->align;
  uint32_t ct = (inner_len + 2 + a - 1) & ~(a - 1);
  return ESP_HDR_LEN + sa->iv_len + (ct - inner_len) + sa->icv_len;
}

/*
 * Seal inner[0, inner_len) with Next Header nh into out[0, out_cap). `inner` may alias `out` in
 * any way (the plaintext is moved with memmove first when they overlap); for GCM, when inner ==
 * out + ESP_HDR_LEN + 8 no copy happens. Returns the ESP length or an ESP_SEAL_* code.
 */
int32_t esp_seal(esp_sa_t *sa, const uint8_t *inner, uint32_t inner_len, uint32_t nh, uint8_t *out,
                 uint32_t out_cap);

/*
 * Open the ESP packet pkt[0, len). The plaintext goes to out[0, out_cap), or in place when
 * out == pkt + ESP_HDR_LEN + sa->iv_len; any other overlap is the caller's bug. Returns the
 * inner length (the inner packet starts at out[0]) or an ESP_OPEN_* code; *nh gets Next Header.
 */
int32_t esp_open(esp_sa_t *sa, uint8_t *pkt, uint32_t len, uint8_t *out, uint32_t out_cap, uint8_t *nh);

/* Test hooks mirroring OutboundEspSa.setSeqForTest and ReplayWindow.setTopForTest. */
void esp_sa_set_seq(esp_sa_t *sa, uint32_t hi, uint32_t lo);
/* OutboundEspSa.setNextIvForTest: the next sealed packet uses this IV (iv_len octets). */
void esp_sa_set_next_iv(esp_sa_t *sa, const uint8_t *iv);
void esp_replay_set_top(esp_replay_t *r, uint32_t hi, uint32_t lo);

/* esp_replay.c: NULL or a static message (the window size is out of range, out of memory). */
const char *esp_replay_init(esp_replay_t *r, uint32_t size, bool esn);
/* RFC 4303 §3.4.3 split as in replay.ts: check before the ICV, accept after it verified. */
int64_t esp_replay_check(const esp_replay_t *r, uint32_t seq_lo);
bool esp_replay_accept(esp_replay_t *r, uint32_t seq_hi, uint32_t seq_lo);

/* Big-endian helpers for the ops files. */
static inline uint32_t esp_rd32(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void esp_wr32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

#endif
