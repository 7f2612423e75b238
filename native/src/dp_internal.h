/*
 * The engine's internals, shared by dp.c (control, tables), dp_io.c (the two I/O threads) and
 * dp_sock.c (adopting the port-4500 socket). Not part of any API.
 */
#ifndef BRANCHGATE_DP_INTERNAL_H
#define BRANCHGATE_DP_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>

#include "dp.h"

/* Packets per TUN read batch and per recvmmsg. 64 makes per-batch costs negligible (perf.md §4.4). */
#define DP_BATCH 64
#define DP_RX_MSGS 32
/* A receive buffer holds one GRO run (≤ 64 KiB of coalesced datagrams, UDP_GRO). */
#define DP_RX_BUF 65536
/* Room before an inner packet read from the TUN for the ESP header and IV, so sealing is in place. */
#define DP_HEADROOM (ESP_HDR_LEN + ESP_MAX_IV_LEN)
/* Batches drained per wake-up before looking at the other fds (fairness between tunnels). */
#define DP_MAX_ROUNDS 8
#define DP_HASH 1024

typedef struct dp_child {
  struct dp_child *next; /* hash chain */
  uint32_t spi_in;
  uint32_t tunnel;
  uint64_t order; /* insertion order: deleteChildSa falls back to the newest remaining child */
  esp_sa_t in, out;
  ts_t *local_ts, *remote_ts;
  uint32_t n_local, n_remote;
  uint32_t local_addr;
  /* The peer's ESP-in-UDP endpoint as addr << 16 | port: written by control and by RX (NAT
   * mapping moved, RFC 7296 §2.23), read by TX, so one atomic word and no lock. */
  _Atomic uint64_t remote;
  bool rekey_asked;
} dp_child_t;

/* Per-tunnel statistics; each counter has one writer thread. */
typedef struct {
  uint64_t v[DPS_COUNT];
} dp_stats_t;

/* IFF_VNET_HDR tunnels: the virtio_net_hdr before every packet, and the largest TUN packet. */
#define DP_VNET_HDR 10
#define DP_GSO_MAX 65535
/* Segments coalesced into one TUN write at most (the kernel's GRO limit is 64 too), and the
 * flows coalesced at once per tunnel (several TCP streams interleave in one receive batch). */
#define DP_GRO_SEGS 64
#define DP_GRO_FLOWS 8

/* Inbound TCP segments of one flow being coalesced into one GSO write (RX thread only). */
typedef struct {
  uint8_t *buf;      /* DP_VNET_HDR + DP_GSO_MAX: the header room, then the IPv4 packet */
  uint32_t len;      /* IPv4 octets held; 0 = nothing pending */
  uint32_t hlen;     /* IPv4 + TCP header octets */
  uint32_t seg;      /* payload octets of the first segment (the GSO size) */
  uint32_t nseg;
  uint32_t next_seq; /* the TCP sequence number the next segment must carry */
  bool closed;       /* a shorter or PSH segment ended the run */
} dp_gro_t;

typedef struct {
  bool used;
  bool broken;
  bool vnet;    /* the fd carries virtio_net_hdr (TUN offloads: TSO on read, GSO on write) */ /* a fatal read error: no longer polled */
  uint32_t gen; /* bumped on attach/detach: stale epoll events are recognised and ignored */
  int fd;
  uint32_t mtu, mss, slot;
  uint8_t *slab;      /* TX: DP_BATCH slots of `slot` octets */
  uint8_t *rbuf;      /* TX, vnet: one read of up to DP_VNET_HDR + DP_GSO_MAX octets */
  uint8_t *gro_mem;   /* RX, vnet: DP_GRO_FLOWS buffers of DP_VNET_HDR + DP_GSO_MAX */
  dp_gro_t gro[DP_GRO_FLOWS];
  uint32_t gro_victim; /* the slot to flush next when all are busy (round robin) */
  dp_child_t *cur;    /* the current outbound SA (make-before-break: the newest child) */
  dp_stats_t st;
} dp_tunnel_t;

typedef struct {
  int fd;
  uint32_t addr;
  uint16_t port;
  int mode;
  _Atomic bool gso; /* UDP_SEGMENT works (cleared on the first EIO/EINVAL) */
} dp_sock_t;

struct dp {
  pthread_rwlock_t lock; /* writer: control; readers: the I/O threads, per batch */
  pthread_mutex_t rx_mutex; /* inbound SA state: the RX thread per batch, dp_inject per call */
  dp_tunnel_t tunnels[DP_MAX_TUNNELS];
  dp_child_t *hash[DP_HASH];
  uint64_t next_order;
  dp_sock_t socks[DP_MAX_SOCKS];
  _Atomic int nsocks;
  dp_stats_t global; /* unknown SPI, non-ESP on the ESP socket (RX) */
  uint64_t drops[DPD_COUNT]; /* by reason (dp.h DPD_*), one writer per index */
  dp_emit_fn emit;
  void *emit_ctx;
  int tx_ep, rx_ep, stop_fd;
  pthread_t tx, rx;
  bool tx_started, rx_started;
  _Atomic bool stopping;
  bool closed;
  uint8_t *rx_bufs;   /* DP_RX_MSGS × DP_RX_BUF */
  uint8_t *inject_buf; /* DP_RX_BUF, for dp_inject */
};

static inline uint32_t dp_hash(uint32_t spi) { return (spi ^ (spi >> 10) ^ (spi >> 20)) & (DP_HASH - 1); }

dp_child_t *dp_lookup(dp_t *dp, uint32_t spi_in);
void *dp_tx_main(void *arg);
void *dp_rx_main(void *arg);
/* One ESP datagram through the RX path; the caller holds the reader lock and rx_mutex. With
 * coalesce, TCP segments of vnet tunnels may be held for one GSO write: dp_rx_flush writes them. */
int32_t dp_rx_one(dp_t *dp, uint8_t *pkt, uint32_t len, uint32_t from_addr, uint16_t from_port, bool coalesce);
void dp_rx_flush(dp_t *dp);

static inline uint64_t dp_pack(uint32_t addr, uint16_t port) { return (uint64_t)addr << 16 | port; }

#endif
