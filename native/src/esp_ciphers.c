/*
 * The ESP transform table: one row per encryption transform and key size, one per integrity
 * transform. A row says everything the datapath needs (sizes, the OpenSSL algorithm, and which
 * esp_aead_ops_t does the work); nothing else in native/src names a transform.
 *
 * The TypeScript table (src/ike/crypto/transforms.ts) is the source of truth: espTransforms()
 * (esp_napi.c) exports these rows and src/native/esp-native.ts refuses an addon whose rows differ
 * from it in any field (docs/architecture-crypto.md "How the two languages are kept in step").
 *
 * Sources: RFC 7296 §3.3.2 (IDs), RFC 4106 §3, §8.1 (AES-GCM: 8-octet IV, 4-octet salt, 4-octet
 * alignment), RFC 3602 §3 (AES-CBC: a 16-octet IV and block), RFC 2410 (NULL), RFC 4868 §2
 * (HMAC-SHA2: key = hash size, ICV = half of it).
 */
#include "esp.h"

#include <pthread.h>
#include <string.h>

#define GCM(id, icv, bits) \
  {id, bits, "AES_GCM_" #icv "_" #bits, "AES-" #bits "-GCM", (bits) / 8, 4, 8, icv, 4, 1, &ESP_OPS_EVP_AEAD}
#define CBC(bits) {12, bits, "AES_CBC_" #bits, "AES-" #bits "-CBC", (bits) / 8, 0, 16, 0, 16, 16, &ESP_OPS_CBC_HMAC}

const esp_cipher_t ESP_CIPHERS[] = {
  {11, 0, "NULL", NULL, 0, 0, 0, 0, 4, 1, &ESP_OPS_NULL_HMAC},
  CBC(128), CBC(192), CBC(256),
  GCM(18, 8, 128), GCM(18, 8, 192), GCM(18, 8, 256),
  GCM(19, 12, 128), GCM(19, 12, 192), GCM(19, 12, 256),
  GCM(20, 16, 128), GCM(20, 16, 192), GCM(20, 16, 256),
  /* RFC 7634 §2: ENCR_CHACHA20_POLY1305, no Key Length attribute, 32-octet key + 4-octet salt. */
  {28, 0, "CHACHA20_POLY1305", "ChaCha20-Poly1305", 32, 4, 8, 16, 4, 1, &ESP_OPS_EVP_AEAD},
};
const size_t ESP_CIPHER_COUNT = sizeof ESP_CIPHERS / sizeof ESP_CIPHERS[0];

const esp_integ_t ESP_INTEGS[] = {
  {12, "HMAC_SHA2_256_128", "SHA256", 32, 16},
  {13, "HMAC_SHA2_384_192", "SHA384", 48, 24},
  {14, "HMAC_SHA2_512_256", "SHA512", 64, 32},
};
const size_t ESP_INTEG_COUNT = sizeof ESP_INTEGS / sizeof ESP_INTEGS[0];

#define MAX_CIPHERS 32
static EVP_CIPHER *evp[MAX_CIPHERS];
static EVP_MAC *hmac;
static pthread_once_t fetch_once = PTHREAD_ONCE_INIT;

/* Every algorithm once per process (thread-safe through pthread_once). */
static void fetch_all(void)
{
  for (size_t i = 0; i < ESP_CIPHER_COUNT && i < MAX_CIPHERS; i++)
    if (ESP_CIPHERS[i].evp) evp[i] = EVP_CIPHER_fetch(NULL, ESP_CIPHERS[i].evp, NULL);
  hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

const esp_cipher_t *esp_cipher_find(uint32_t id, uint32_t key_bits)
{
  for (size_t i = 0; i < ESP_CIPHER_COUNT; i++)
    if (ESP_CIPHERS[i].id == id && ESP_CIPHERS[i].key_bits == key_bits) return &ESP_CIPHERS[i];
  return NULL;
}

const esp_integ_t *esp_integ_find(uint32_t id)
{
  for (size_t i = 0; i < ESP_INTEG_COUNT; i++)
    if (ESP_INTEGS[i].id == id) return &ESP_INTEGS[i];
  return NULL;
}

const EVP_CIPHER *esp_cipher_evp(const esp_cipher_t *c)
{
  pthread_once(&fetch_once, fetch_all);
  size_t i = (size_t)(c - ESP_CIPHERS);
  return i < MAX_CIPHERS ? evp[i] : NULL;
}

EVP_MAC *esp_hmac(void)
{
  pthread_once(&fetch_once, fetch_all);
  return hmac;
}
