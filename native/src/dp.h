/*
 * The native dataplane engine: the Dataplane seam (src/dataplane/types.ts) implemented in C with
 * its packet I/O on two threads of its own, so the Node event loop only does control work.
 *
 *   TX thread: epoll over the tunnels' TUN fds → read a batch → IPv4 + selector check, MSS clamp
 *              → seal in place → sendmmsg, equal-sized runs as one UDP GSO send (UDP_SEGMENT).
 *   RX thread: epoll over the port-4500 sockets → recvmmsg (UDP_GRO: one read may carry a run
 *              of datagrams) → SPI lookup → open in place → selector check → write to the TUN.
 *
 * Control (add/delete SA, attach/detach a tunnel, update the remote) takes a writer lock; the I/O
 * threads hold the reader side per batch, never per packet. The per-SA state that changes per
 * packet belongs to one thread: the outbound sequence number to TX, the replay window to RX.
 *
 * Port 4500 is shared with IKE (RFC 3948 §2.2). The engine does not take the socket away from
 * UdpTransport: it joins it in an SO_REUSEPORT group and attaches a classic BPF program that steers
 * each datagram by its first octets: ESP to the engine's socket, IKE (non-ESP marker) and the
 * one-octet NAT-keepalive to the original socket. See dp_add_socket.
 *
 * No Node-API here (dp_napi.c binds it); events leave through the emit callback.
 */
#ifndef BRANCHGATE_DP_H
#define BRANCHGATE_DP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "esp.h"
#include "inner.h"

#define DP_MAX_TUNNELS 64
#define DP_MAX_SOCKS 8
#define DP_GLOBAL_STATS 0xffffffffu

enum { DP_EVENT_REKEY_NEEDED = 1, DP_EVENT_TUN_ERROR = 2 };
enum { DP_SOCK_STEERED = 1, DP_SOCK_SEND_ONLY = 2 };

/*
 * The engine's tables of counters. Each is one X-macro list (C name, exported name), so the enum
 * and the names the addon exports (dpNames(), dp_napi.c) cannot drift apart; the loader
 * (src/native/esp-native.ts) checks the names against the TypeScript lists by name, and the
 * TypeScript side reads every array through those names, never by position.
 */

/* dp_counters' output, per Child SA (src/native/dp-api.ts DP_COUNTERS). */
#define DP_COUNTER_LIST(X)                                                                   \
  X(BYTES_IN, "bytesIn") X(PACKETS_IN, "packetsIn") X(BYTES_OUT, "bytesOut") X(PACKETS_OUT, "packetsOut") \
  X(REPLAY, "replayDrops") X(AUTH, "authFailures") X(POLICY_IN, "policyDropsIn") X(POLICY_OUT, "policyDropsOut") \
  X(MALFORMED_IN, "malformedIn") X(DUMMY_IN, "dummyIn") X(SEQ_REFUSALS, "seqRefusals")

/* dp_tunnel_stats' output: what a tunnel's I/O did (batching, offloads). Drops are not here:
 * they are the one drop table below. */
#define DP_STAT_LIST(X)                                                                      \
  X(TUN_PKTS_IN, "tunPacketsIn") X(TUN_BATCHES_IN, "tunBatchesIn") X(ESP_PKTS_IN, "espPacketsIn") \
  X(ESP_BATCHES_IN, "espBatchesIn") X(GSO_SENDS, "gsoSends") X(TUN_READ_ERRORS, "tunReadErrors") \
  X(TSO_READS, "tsoReads") X(GRO_WRITES, "groWrites")

/*
 * dp_drops' output: src/dataplane/drops.ts ESP_DROP_HELP names each reason and says what it
 * means; TsDataplane counts them by the same rules. Every ESP datagram the RX path rejects and
 * every inner packet the TX path does not send lands in exactly one of these. Engine-wide and
 * cumulative: they survive SA deletion and tunnel detach (unlike the per-SA counters), so a packet
 * for a deleted SA is still visible (as DPD_UNKNOWN_SPI). Writers: the DPD_TX_* ones only the TX
 * thread; the others only code holding rx_mutex (the RX thread, dp_inject).
 */
#define DP_DROP_LIST(X)                                                                      \
  X(NON_ESP, "non-esp") X(UNKNOWN_SPI, "unknown-spi") X(OVERSIZE, "oversize") X(SHORT, "short")     \
  X(SEQ_ZERO, "seq-zero") X(REPLAY, "replay") X(AUTH, "auth") X(PADDING, "padding") X(DUMMY, "dummy") \
  X(NOT_IPV4, "not-ipv4") X(BAD_LENGTH, "bad-length") X(POLICY, "policy") X(TUN_WRITE, "tun-write")   \
  X(TX_NO_SA, "tx-no-sa") X(TX_NOT_IPV4, "tx-not-ipv4") X(TX_OVERSIZE, "tx-oversize")                \
  X(TX_POLICY, "tx-policy") X(TX_SEQ_EXHAUSTED, "tx-seq-exhausted") X(TX_SEND_ERROR, "tx-send-error") \
  X(TX_QUEUE_FULL, "tx-queue-full")

#define DP_ENUM_C(id, name) DPC_##id,
#define DP_ENUM_S(id, name) DPS_##id,
#define DP_ENUM_D(id, name) DPD_##id,
enum { DP_COUNTER_LIST(DP_ENUM_C) DPC_COUNT };
enum { DP_STAT_LIST(DP_ENUM_S) DPS_COUNT };
enum { DP_DROP_LIST(DP_ENUM_D) DPD_COUNT };

extern const char *const DP_COUNTER_NAMES[DPC_COUNT];
extern const char *const DP_STAT_NAMES[DPS_COUNT];
extern const char *const DP_DROP_NAMES[DPD_COUNT];

/*
 * An inbound ESP datagram longer than the tunnel's MTU + DP_IN_SLACK is dropped as DPD_OVERSIZE
 * before any crypto. 128 is a round bound above the largest overhead of any suite (73 octets:
 * SPI 4, sequence 4, IV 16, padding 15, trailer 2, ICV 32), so an inner packet a little over our
 * MTU (a peer with a slightly larger one) still passes; anything longer is not a packet this
 * tunnel carries. TsDataplane applies the same rule (its receive slots are sized by it).
 */
#define DP_IN_SLACK 128

/* dp_inject / RX results beyond esp.h's ESP_OPEN_* codes. */
enum {
  DP_RX_NOT_IPV4 = -9,    /* authentic, but not an IPv4 packet in tunnel mode: malformed */
  DP_RX_POLICY = -10,     /* inner packet outside the SA's traffic selectors (RFC 4301 §5.2) */
  DP_RX_UNKNOWN_SPI = -11,
  DP_RX_NON_ESP = -12,    /* a keepalive or an IKE message (zero SPI) on the ESP path */
  DP_RX_TUN_DROP = -13,   /* the TUN refused it (queue full, link down) */
};

typedef void (*dp_emit_fn)(void *ctx, int kind, uint32_t a, uint32_t b);

typedef struct dp dp_t;

typedef struct {
  uint32_t tunnel;
  uint32_t spi_in, spi_out;
  bool esn;
  uint32_t encr_id, key_bits, integ_id;
  const uint8_t *encr_in, *integ_in, *encr_out, *integ_out;
  size_t encr_in_len, integ_in_len, encr_out_len, integ_out_len;
  uint32_t replay_window;
  const ts_t *local_ts, *remote_ts;
  uint32_t n_local, n_remote;
  uint32_t local_addr, remote_addr;
  uint16_t remote_port;
  /* false: the rekey responder's make-before-break (src/dataplane/types.ts addChildSa): install
   * both SAs but keep the tunnel's current sender until dp_activate_child (or until the sender is
   * deleted). A tunnel without a sender takes the new child regardless, as TsDataplane does. */
  bool activate;
} dp_child_params_t;

/* NULL and a message in err on failure. The threads start here. */
dp_t *dp_create(dp_emit_fn emit, void *ctx, char *err, size_t errlen);

/* Adopt the port-4500 socket bound to addr:port (existing_fd: the fd that holds it). Returns
 * DP_SOCK_STEERED or DP_SOCK_SEND_ONLY, or -errno with a message in err. */
int dp_add_socket(dp_t *dp, uint32_t addr, uint16_t port, int existing_fd, char *err, size_t errlen);

/* 0 or -errno. The fd stays the caller's: detach before closing it. vnet: the fd was opened with
 * IFF_VNET_HDR (every read and write starts with a struct virtio_net_hdr; see tun.c open). */
int dp_attach_tunnel(dp_t *dp, uint32_t id, int fd, uint32_t mtu, uint32_t mss, bool vnet);
/* Also removes the tunnel's children (as TsDataplane.detachTunnel does). */
void dp_detach_tunnel(dp_t *dp, uint32_t id);

/* NULL or a message (nothing installed then). */
const char *dp_add_child(dp_t *dp, const dp_child_params_t *p);
/* Make this installed child its tunnel's outbound sender; false (nothing changes) when unknown. */
bool dp_activate_child(dp_t *dp, uint32_t spi_in);
bool dp_delete_child(dp_t *dp, uint32_t spi_in);
void dp_update_remote(dp_t *dp, uint32_t tunnel, uint32_t addr, uint16_t port);
bool dp_counters(dp_t *dp, uint32_t spi_in, double *out);
bool dp_tunnel_stats(dp_t *dp, uint32_t tunnel, double *out);
/* The DPD_COUNT drop counters, in DPD_* order. */
void dp_drops(dp_t *dp, double *out);
/* One ESP datagram that reached JS instead (send-only mode, strays): the RX path, synchronously. */
int32_t dp_inject(dp_t *dp, const uint8_t *pkt, uint32_t len, uint32_t from_addr, uint16_t from_port);
bool dp_set_seq(dp_t *dp, uint32_t spi_in, uint32_t hi, uint32_t lo);

/* Stop and join the threads, close the engine's sockets, free the SAs. Idempotent. */
void dp_close(dp_t *dp);
void dp_free(dp_t *dp);

/* The fd of this process's AF_INET datagram socket bound to addr:port, or -1. */
int dp_find_udp_socket(uint32_t addr, uint16_t port);

#endif
