/*
 * blast: send a file of UDP datagrams through a raw IPv4 socket (IP_HDRINCL, so any source
 * address can be written), batched with sendmmsg(2) and paced to a rate. The hostile-traffic
 * harness (test/interop/hostile-traffic.test.ts) compiles it with `cc -O2` and runs it inside an
 * attacker network namespace; it never runs anywhere else. Node's dgram can neither spoof
 * sources nor send a million datagrams in well under a minute.
 *
 * Usage: blast FILE COUNT RATE [--batch N] [--spoof A.B.C.D/LEN] [--tos T] [--seed S] [--mtu M]
 *   FILE    records written by test/interop/lab/hostile-gen.ts, each (all integers big-endian):
 *             src[4] sport[2] dst[4] dport[2] flags[1] spioff[1] len[2] payload[len]
 *           flags: 1 = a random source address inside --spoof (per datagram)
 *                  2 = 8 random octets at payload[spioff] (a fresh IKE SPI per datagram)
 *                  4 = a random source port 1024-65535
 *   COUNT   datagrams to send; the records are sent in file order, round and round
 *   RATE    datagrams per second (0: as fast as possible)
 *   --spoof the pool for flag 1 (never its first or last address)
 *   --tos   IPv4 TOS octet of every packet (the harness counts its own traffic by DSCP)
 *   --mtu   datagrams whose IPv4 packet exceeds it are sent as RFC 791 fragments
 *
 * Prints one JSON line: {"sent":N,"packets":P,"errors":E,"errnos":{"errno":n},"seconds":T}. "sent"
 * counts datagrams whose every fragment the kernel accepted; "errors" those it refused.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REC_HDR 16
#define MAX_BATCH 256
#define MAX_PKT 65535
#define MAX_ERRNO 160

struct rec {
  const uint8_t *src, *dst, *payload;
  uint16_t sport, dport, len;
  uint8_t flags, spioff;
};

static uint64_t rng_state;
static uint32_t rnd(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 2685821657736338717ULL) >> 32);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint16_t csum_fold(uint32_t s) {
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

static uint32_t csum_add(uint32_t s, const uint8_t *p, size_t n) {
  for (size_t i = 0; i + 1 < n; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) s += (uint32_t)(p[n - 1] << 8);
  return s;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = v >> 8; p[1] = v & 0xff; }

static void die(const char *msg) {
  fprintf(stderr, "blast: %s: %s\n", msg, strerror(errno));
  exit(2);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: blast FILE COUNT RATE [--batch N] [--spoof A.B.C.D/LEN] [--tos T] [--seed S] [--mtu M]\n");
    return 2;
  }
  const char *path = argv[1];
  uint64_t count = strtoull(argv[2], NULL, 10);
  double rate = strtod(argv[3], NULL);
  unsigned batch = 64, tos = 0, mtu = 1500;
  uint32_t spoof_base = 0, spoof_mask = 0;
  rng_state = 0x9e3779b97f4a7c15ULL;
  for (int i = 4; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--batch")) batch = (unsigned)atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--tos")) tos = (unsigned)atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--seed")) rng_state ^= strtoull(argv[i + 1], NULL, 10) * 0x100000001b3ULL;
    else if (!strcmp(argv[i], "--mtu")) mtu = (unsigned)atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--spoof")) {
      char buf[64];
      snprintf(buf, sizeof buf, "%s", argv[i + 1]);
      char *slash = strchr(buf, '/');
      if (!slash) { fprintf(stderr, "blast: --spoof needs A.B.C.D/LEN\n"); return 2; }
      *slash = 0;
      int len = atoi(slash + 1);
      struct in_addr a;
      if (inet_pton(AF_INET, buf, &a) != 1 || len < 8 || len > 32) { fprintf(stderr, "blast: bad --spoof\n"); return 2; }
      spoof_mask = len == 32 ? 0 : (0xffffffffu >> len);
      spoof_base = ntohl(a.s_addr) & ~spoof_mask;
    } else { fprintf(stderr, "blast: unknown option %s\n", argv[i]); return 2; }
  }
  if (batch < 1 || batch > MAX_BATCH) batch = 64;
  if (mtu < 68 || mtu > MAX_PKT) mtu = 1500;

  /* the record file, bounds-checked once */
  int fd = open(path, O_RDONLY);
  if (fd < 0) die("open");
  struct stat st;
  if (fstat(fd, &st) < 0) die("fstat");
  size_t size = (size_t)st.st_size;
  const uint8_t *map = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
  if (size && map == MAP_FAILED) die("mmap");
  size_t nrec = 0;
  for (size_t o = 0; o + REC_HDR <= size; nrec++) o += REC_HDR + (size_t)(map[o + 14] << 8 | map[o + 15]);
  struct rec *recs = calloc(nrec ? nrec : 1, sizeof *recs);
  if (!recs) die("calloc");
  size_t o = 0;
  for (size_t i = 0; i < nrec; i++) {
    const uint8_t *h = map + o;
    struct rec *r = &recs[i];
    r->src = h; r->sport = (uint16_t)(h[4] << 8 | h[5]); r->dst = h + 6; r->dport = (uint16_t)(h[10] << 8 | h[11]);
    r->flags = h[12]; r->spioff = h[13]; r->len = (uint16_t)(h[14] << 8 | h[15]);
    r->payload = h + REC_HDR;
    if (o + REC_HDR + r->len > size) { fprintf(stderr, "blast: record %zu runs past the file end\n", i); return 2; }
    if (r->len > MAX_PKT - 28) { fprintf(stderr, "blast: record %zu too large\n", i); return 2; }
    if ((r->flags & 2) && (size_t)r->spioff + 8 > r->len) { fprintf(stderr, "blast: record %zu: SPI offset out of range\n", i); return 2; }
    o += REC_HDR + r->len;
  }
  if (nrec == 0) { fprintf(stderr, "blast: no records in %s\n", path); return 2; }

  int s = socket(AF_INET, SOCK_RAW, IPPROTO_RAW); /* IPPROTO_RAW implies IP_HDRINCL */
  if (s < 0) die("socket(AF_INET, SOCK_RAW, IPPROTO_RAW)");
  int one = 1;
  if (setsockopt(s, IPPROTO_IP, IP_HDRINCL, &one, sizeof one) < 0) die("IP_HDRINCL");

  /* per-message buffers: a datagram may need several fragments, each its own message */
  static uint8_t bufs[MAX_BATCH][1600];
  static uint8_t dgram[MAX_PKT];
  struct mmsghdr msgs[MAX_BATCH];
  struct iovec iov[MAX_BATCH];
  struct sockaddr_in to[MAX_BATCH];
  int owner_last[MAX_BATCH]; /* 1 when the message is the last fragment of its datagram */
  uint64_t sent = 0, packets = 0, errors = 0, next = 0;
  uint64_t errnos[MAX_ERRNO] = {0};
  uint16_t ipid = (uint16_t)rnd();
  double t0 = now_s();

  while (sent + errors < count) {
    unsigned n = 0;
    uint64_t queued = 0;
    /* fill the batch with whole datagrams */
    while (sent + errors + queued < count) {
      const struct rec *r = &recs[next % nrec];
      size_t udplen = 8 + (size_t)r->len;
      size_t per = ((mtu - 20) / 8) * 8;
      unsigned frags = (unsigned)((udplen + per - 1) / per);
      if (20 + udplen <= mtu) frags = 1;
      if (n + frags > batch) { if (n == 0) { fprintf(stderr, "blast: a datagram needs more fragments than --batch\n"); return 2; } break; }
      next++;
      uint32_t src = (uint32_t)(r->src[0] << 24 | r->src[1] << 16 | r->src[2] << 8 | r->src[3]);
      if ((r->flags & 1) && spoof_mask) src = spoof_base | (1 + rnd() % (spoof_mask - 1 ? spoof_mask - 1 : 1));
      uint16_t sport = (r->flags & 4) ? (uint16_t)(1024 + rnd() % 64512) : r->sport;
      uint8_t *u = dgram;
      put16(u, sport); put16(u + 2, r->dport); put16(u + 4, (uint16_t)udplen); put16(u + 6, 0);
      memcpy(u + 8, r->payload, r->len);
      if (r->flags & 2) for (int k = 0; k < 8; k++) u[8 + r->spioff + k] = (uint8_t)rnd();
      /* RFC 768 checksum over the pseudo-header */
      uint8_t ph[12];
      ph[0] = src >> 24; ph[1] = src >> 16; ph[2] = src >> 8; ph[3] = src;
      memcpy(ph + 4, r->dst, 4); ph[8] = 0; ph[9] = 17; put16(ph + 10, (uint16_t)udplen);
      uint16_t ck = csum_fold(csum_add(csum_add(0, ph, 12), u, udplen));
      put16(u + 6, ck ? ck : 0xffff);
      uint16_t id = ipid++;
      for (unsigned f = 0; f < frags; f++) {
        size_t off = (size_t)f * per;
        size_t chunk = frags == 1 ? udplen : (f + 1 == frags ? udplen - off : per);
        uint8_t *ip = bufs[n];
        if (20 + chunk > sizeof bufs[n]) { fprintf(stderr, "blast: --mtu larger than the buffers\n"); return 2; }
        ip[0] = 0x45; ip[1] = (uint8_t)tos; put16(ip + 2, (uint16_t)(20 + chunk)); put16(ip + 4, id);
        put16(ip + 6, (uint16_t)(((f + 1 < frags) ? 0x2000 : 0) | (off / 8)));
        ip[8] = 64; ip[9] = 17; put16(ip + 10, 0);
        ip[12] = src >> 24; ip[13] = src >> 16; ip[14] = src >> 8; ip[15] = src;
        memcpy(ip + 16, r->dst, 4);
        put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
        memcpy(ip + 20, u + off, chunk);
        iov[n].iov_base = ip; iov[n].iov_len = 20 + chunk;
        memset(&to[n], 0, sizeof to[n]);
        to[n].sin_family = AF_INET; memcpy(&to[n].sin_addr, r->dst, 4);
        memset(&msgs[n], 0, sizeof msgs[n]);
        msgs[n].msg_hdr.msg_name = &to[n]; msgs[n].msg_hdr.msg_namelen = sizeof to[n];
        msgs[n].msg_hdr.msg_iov = &iov[n]; msgs[n].msg_hdr.msg_iovlen = 1;
        owner_last[n] = f + 1 == frags;
        n++;
      }
      queued++;
    }
    /* send it all; a refused message costs its whole datagram */
    unsigned at = 0;
    int failed_dgram = 0;
    while (at < n) {
      int k = sendmmsg(s, msgs + at, n - at, 0);
      if (k < 0) {
        if (errno == EINTR) continue;
        if (errno == ENOBUFS || errno == EAGAIN) { struct timespec w = {0, 200000}; nanosleep(&w, NULL); continue; }
        errnos[errno < MAX_ERRNO ? errno : 0]++;
        failed_dgram = 1;
        k = 1; /* skip the refused message */
      } else {
        packets += (uint64_t)k;
      }
      for (int j = 0; j < k; j++) {
        if (owner_last[at + j]) {
          if (failed_dgram) errors++; else sent++;
          failed_dgram = 0;
        }
      }
      at += (unsigned)k;
    }
    if (rate > 0) {
      double ahead = (double)(sent + errors) / rate - (now_s() - t0);
      if (ahead > 0) {
        struct timespec w = {(time_t)ahead, (long)((ahead - (double)(time_t)ahead) * 1e9)};
        nanosleep(&w, NULL);
      }
    }
  }
  double secs = now_s() - t0;
  printf("{\"sent\":%llu,\"packets\":%llu,\"errors\":%llu,\"errnos\":{", (unsigned long long)sent, (unsigned long long)packets, (unsigned long long)errors);
  int first = 1;
  for (int e = 0; e < MAX_ERRNO; e++) {
    if (!errnos[e]) continue;
    printf("%s\"%d\":%llu", first ? "" : ",", e, (unsigned long long)errnos[e]);
    first = 0;
  }
  printf("},\"seconds\":%.3f}\n", secs);
  return 0;
}
