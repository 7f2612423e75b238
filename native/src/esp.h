/*
 * ESP (RFC 4303) with AES-GCM-16 (RFC 4106) in C, over the OpenSSL that Node itself exports.
 * No Node-API here: esp_napi.c exposes it to JS (batched) and dp.c uses it from its I/O threads.
 *
 * Semantics are those of the TypeScript reference (src/esp/seal.ts, open.ts, replay.ts,
 * esp-sa.ts) to the byte and to the counter: the differential test in
 * test/unit/native/esp-differential.test.ts holds both to that.
 *
 * Suites (the same set as src/esp/esp-sa.ts): AES-GCM with an 8, 12 or 16-octet ICV and
 * 128/192/256-bit keys (RFC 4106), AES-CBC with HMAC-SHA2-256/384/512 (RFC 3602, RFC 4868), and
 * NULL with HMAC-SHA2 (RFC 2410). GCM is the fast path; for HMAC, OpenSSL 3 re-initialises the
 * keyed context per packet by duplicating its inner digest state (an allocation inside OpenSSL,
 * none in our code).
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
/* RFC 4106 §3.1: the explicit IV of GCM is 8 octets; RFC 3602 §3: CBC's is one AES block. */
#define ESP_GCM_IV_LEN 8
#define ESP_MAX_IV_LEN 16
/* Largest overhead any suite adds: header 8, IV ≤ 16, padding ≤ 15, Pad Length, Next Header,
 * ICV ≤ 32 (HMAC-SHA2-512-256). */
#define ESP_MAX_OVERHEAD (ESP_HDR_LEN + 16 + 15 + 2 + 32)

/* IANA Transform Type 1 and 3 IDs (RFC 7296 §3.3.2, RFC 4106, RFC 4868). */
#define ESP_ENCR_NULL 11
#define ESP_ENCR_AES_CBC 12
#define ESP_ENCR_AES_GCM_8 18
#define ESP_ENCR_AES_GCM_12 19
#define ESP_ENCR_AES_GCM_16 20
#define ESP_INTEG_NONE 0
#define ESP_INTEG_HMAC_SHA2_256_128 12
#define ESP_INTEG_HMAC_SHA2_384_192 13
#define ESP_INTEG_HMAC_SHA2_512_256 14

typedef enum { ESP_KIND_GCM = 0, ESP_KIND_CBC = 1, ESP_KIND_NULL = 2 } esp_kind_t;

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

typedef struct {
  uint32_t spi;
  bool esn;
  bool outbound;
  uint8_t kind;    /* esp_kind_t */
  uint8_t icv_len; /* GCM tag or truncated HMAC (RFC 4868 §2.1.2) */
  uint8_t iv_len;  /* 8 (GCM), 16 (CBC), 0 (NULL) */
  uint8_t align;   /* 4, or 16 for CBC (RFC 4303 §2.4) */
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
} esp_sa_t;

/* What EspSaParams (src/dataplane/types.ts) carries, plus direction and window. */
typedef struct {
  uint32_t spi;
  bool outbound, esn;
  uint32_t encr_id, key_bits, integ_id;
  const uint8_t *encr_key; /* GCM: cipher key ‖ 4-octet salt (RFC 4106 §8.1) */
  size_t encr_key_len;
  const uint8_t *integ_key;
  size_t integ_key_len;
  uint32_t replay_window; /* inbound only */
} esp_params_t;

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

/* RFC 4303 §3.4.3 split as in replay.ts: check before the ICV, accept after it verified. */
int64_t esp_replay_check(const esp_replay_t *r, uint32_t seq_lo);
bool esp_replay_accept(esp_replay_t *r, uint32_t seq_hi, uint32_t seq_lo);

/* The EVP_CIPHERs are fetched once per process (OpenSSL 3's implicit fetch on every init is what
 * makes per-packet contexts slow: openssl/openssl#20625). Returns NULL when OpenSSL lacks GCM. */
const EVP_CIPHER *esp_gcm_cipher(uint32_t key_bits);

#endif
