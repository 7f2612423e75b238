/*
 * The anti-replay window of src/esp/replay.ts in C: RFC 4303 §3.4.3 / Appendix A as an RFC 6479
 * ring. Every function mirrors its TypeScript reference so the differential test can demand
 * identical verdicts.
 */
#include "esp.h"

#include <stdlib.h>
#include <string.h>

#define TWO32 4294967296LL

/* ---------------------------------------------------------------------------------------- */
/* Anti-replay window (src/esp/replay.ts). Sequence numbers are (high, low) u32 halves; the    */
/* arithmetic uses int64 where replay.ts relies on doubles being exact below 2^53.             */

const char *esp_replay_init(esp_replay_t *r, uint32_t size, bool esn)
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
