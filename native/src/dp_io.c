/*
 * The engine's two I/O threads (see dp.h for the shape). Each holds the engine's reader lock for
 * one batch at a time, so control changes (writer) land between batches, never inside one.
 *
 * Nothing here allocates: the TX slabs belong to the tunnels, the RX buffers to the engine, and
 * the message headers live on each thread's stack.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/virtio_net.h>

#include "dp_internal.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* RFC 4303 §2: Next Header 4 = IPv4 (tunnel mode carries whole IP packets). */
#define NH_IPV4 4
/* Kernel limits for one UDP GSO send: 64 segments (UDP_MAX_SEGMENTS on older kernels) and the
 * 64 KiB IP datagram the super-packet must fit. */
#define GSO_MAX_SEGS 64
#define GSO_MAX_BYTES 65000

static inline uint32_t rd32(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline void wr16(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static inline void wr32(uint8_t *p, uint32_t v)
{
  wr16(p, v >> 16);
  wr16(p + 2, v);
}

/* ---------------------------------------------------------------------------------------- */
/* RFC 1071 Internet checksum over native-order words (the sum is byte-order independent, so */
/* the folded value is stored with memcpy, never swapped).                                    */

static uint64_t csum_add(const uint8_t *p, size_t len, uint64_t sum)
{
  while (len >= 8) {
    uint64_t v;
    memcpy(&v, p, 8);
    sum += (v & 0xffffffffu) + (v >> 32);
    p += 8;
    len -= 8;
  }
  if (len >= 4) {
    uint32_t v;
    memcpy(&v, p, 4);
    sum += v;
    p += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t v;
    memcpy(&v, p, 2);
    sum += v;
    p += 2;
    len -= 2;
  }
  if (len) {
    uint16_t v = 0;
    memcpy(&v, p, 1); /* the odd octet, padded with a zero octet after it */
    sum += v;
  }
  return sum;
}

static uint16_t csum_fold(uint64_t sum)
{
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

/* IPv4/TCP pseudo-header (RFC 793 §3.1) for a TCP length, from the IPv4 header at ip. */
static uint64_t pseudo_tcp(const uint8_t *ip, uint32_t tcp_len)
{
  uint8_t ph[12];
  memcpy(ph, ip + 12, 8);
  ph[8] = 0;
  ph[9] = 6;
  wr16(ph + 10, tcp_len);
  return csum_add(ph, sizeof ph, 0);
}

static void ipv4_fix_csum(uint8_t *ip, uint32_t ihl)
{
  ip[10] = ip[11] = 0;
  uint16_t c = (uint16_t)~csum_fold(csum_add(ip, ihl, 0));
  memcpy(ip + 10, &c, 2);
}

#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_URG 0x20
#define TCP_ECE 0x40
#define TCP_CWR 0x80

/* ---------------------------------------------------------------------------------------- */
/* TX: TUN → ESP.                                                                             */

typedef struct {
  uint32_t len[DP_BATCH];
  uint8_t *pkt[DP_BATCH];
  uint32_t plen[DP_BATCH];
  struct iovec iov[DP_BATCH];
  struct mmsghdr msgs[DP_BATCH];
  uint32_t segs[DP_BATCH];
  union {
    char buf[CMSG_SPACE(sizeof(uint16_t))];
    struct cmsghdr align;
  } cmsg[DP_BATCH];
} tx_scratch_t;

/* The socket a child sends from: the one bound to its local address, else a wildcard one. */
static dp_sock_t *sock_for(dp_t *dp, uint32_t local)
{
  int n = atomic_load(&dp->nsocks);
  dp_sock_t *any = NULL;
  for (int i = 0; i < n; i++) {
    if (dp->socks[i].addr == local) return &dp->socks[i];
    if (dp->socks[i].addr == 0 && !any) any = &dp->socks[i];
  }
  return any ? any : n > 0 ? &dp->socks[0] : NULL;
}

/*
 * Send m sealed packets to one destination. Runs of equal-sized packets (the last of a run may
 * be shorter) go out as one UDP GSO send (UDP_SEGMENT cmsg): the stack is traversed once per run
 * instead of once per packet, the lever perf.md §3.2 measured at 2.4× bytes per cycle. The rest
 * is batched with sendmmsg. A full socket buffer is waited out briefly (poll, 5 ms at a time),
 * then the remainder is dropped and counted: a bounded queue, never unbounded buffering.
 */
static void send_run(dp_t *dp, dp_sock_t *sk, uint64_t remote, tx_scratch_t *s, uint32_t m, dp_stats_t *st)
{
  if (!sk || sk->fd < 0) {
    dp->drops[DPD_TX_SEND_ERROR] += m;
    return;
  }
  struct sockaddr_in dst;
  memset(&dst, 0, sizeof dst);
  dst.sin_family = AF_INET;
  dst.sin_addr.s_addr = htonl((uint32_t)(remote >> 16));
  dst.sin_port = htons((uint16_t)remote);
  bool gso = atomic_load(&sk->gso);
  uint32_t k = 0;
  for (uint32_t i = 0; i < m;) {
    uint32_t L = s->plen[i], j = i + 1, total = L;
    if (gso) {
      while (j < m && j - i < GSO_MAX_SEGS && s->plen[j] == L && total + L <= GSO_MAX_BYTES) total += s->plen[j++];
      if (j < m && j - i < GSO_MAX_SEGS && s->plen[j] < L && total + s->plen[j] <= GSO_MAX_BYTES) total += s->plen[j++];
    }
    for (uint32_t q = i; q < j; q++) {
      s->iov[q].iov_base = s->pkt[q];
      s->iov[q].iov_len = s->plen[q];
    }
    struct msghdr *h = &s->msgs[k].msg_hdr;
    memset(h, 0, sizeof *h);
    h->msg_name = &dst;
    h->msg_namelen = sizeof dst;
    h->msg_iov = &s->iov[i];
    h->msg_iovlen = j - i;
    if (j - i > 1) {
      h->msg_control = s->cmsg[k].buf;
      h->msg_controllen = sizeof s->cmsg[k].buf;
      struct cmsghdr *cm = CMSG_FIRSTHDR(h);
      cm->cmsg_level = SOL_UDP;
      cm->cmsg_type = UDP_SEGMENT;
      cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
      uint16_t g = (uint16_t)L;
      memcpy(CMSG_DATA(cm), &g, sizeof g);
    }
    s->segs[k++] = j - i;
    i = j;
  }
  uint32_t done = 0, first = 0;
  int waits = 0;
  while (done < k) {
    int r = sendmmsg(sk->fd, s->msgs + done, k - done, 0);
    if (r > 0) {
      for (int q = 0; q < r; q++) {
        if (s->segs[done + q] > 1) st->v[DPS_GSO_SENDS]++;
        first += s->segs[done + q];
      }
      done += (uint32_t)r;
      continue;
    }
    int e = errno;
    if (e == EINTR) continue;
    if ((e == EAGAIN || e == ENOBUFS) && waits++ < 4) {
      struct pollfd p = {.fd = sk->fd, .events = POLLOUT};
      poll(&p, 1, 5);
      continue;
    }
    if ((e == EIO || e == EINVAL || e == EOPNOTSUPP) && s->segs[done] > 1) {
      /* No UDP GSO here (no checksum offload on the egress device, old kernel): stop using it
       * on this socket and send the rest one datagram per message. */
      atomic_store(&sk->gso, false);
      uint32_t rest = m - first;
      memmove(s->pkt, s->pkt + first, rest * sizeof s->pkt[0]);
      memmove(s->plen, s->plen + first, rest * sizeof s->plen[0]);
      send_run(dp, sk, remote, s, rest, st);
      return;
    }
    if (e == EAGAIN || e == ENOBUFS) { /* the socket's send queue stayed full: the bound, counted */
      for (uint32_t q = done; q < k; q++) {
        dp->drops[DPD_TX_QUEUE_FULL] += s->segs[q];
      }
      return;
    }
    dp->drops[DPD_TX_SEND_ERROR] += s->segs[done];
    first += s->segs[done];
    done++;
  }
}

/* Seal and send the n packets waiting in the tunnel's slab (lengths in s->len). */
static void tx_flush(dp_t *dp, dp_tunnel_t *t, uint32_t id, tx_scratch_t *s, uint32_t n)
{
  if (n == 0) return;
  ipv4_info_t info;
  t->st.v[DPS_TUN_PKTS_IN] += n;
  t->st.v[DPS_TUN_BATCHES_IN]++;
  dp_child_t *c = t->cur;
  if (!c) {
    dp->drops[DPD_TX_NO_SA] += n;
    return;
  }
  uint32_t m = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint8_t *base = t->slab + (size_t)i * t->slot;
    uint8_t *inner = base + DP_HEADROOM;
    uint32_t len = s->len[i];
    if (!parse_ipv4(inner, len, &info)) {
      dp->drops[DPD_TX_NOT_IPV4]++;
      continue;
    }
    /* RFC 4301 §5.1: outbound, src must be in our selectors and dst in the peer's. */
    if (!sel_match(&info, c->local_ts, c->n_local, c->remote_ts, c->n_remote)) {
      c->out.c.policy_drops++;
      dp->drops[DPD_TX_POLICY]++;
      continue;
    }
    if (t->mss) clamp_mss(inner, len, t->mss);
    uint8_t *out = inner - ESP_HDR_LEN - c->out.iv_len;
    int32_t e = esp_seal(&c->out, inner, len, NH_IPV4, out, t->slot - (uint32_t)(out - base));
    if (e < 0) { /* exhaustion is also counted on the SA (seqRefusals); the rest cannot happen */
      dp->drops[e == ESP_SEAL_SEQ_EXHAUSTED ? DPD_TX_SEQ_EXHAUSTED : DPD_TX_SEND_ERROR]++;
      continue;
    }
    s->pkt[m] = out;
    s->plen[m++] = (uint32_t)e;
  }
  if (m) send_run(dp, sock_for(dp, c->local_addr), atomic_load(&c->remote), s, m, &t->st);
  if (c->out.rekey_needed && !c->rekey_asked) {
    c->rekey_asked = true;
    dp->emit(dp->emit_ctx, DP_EVENT_REKEY_NEEDED, id, c->spi_in);
  }
}

/* A fatal read error: the device is gone (EBADFD after `ip link del`): stop polling it, tell JS. */
static void tx_broken(dp_t *dp, dp_tunnel_t *t, uint32_t id, int e)
{
  t->st.v[DPS_TUN_READ_ERRORS]++;
  t->broken = true;
  epoll_ctl(dp->tx_ep, EPOLL_CTL_DEL, t->fd, NULL);
  dp->emit(dp->emit_ctx, DP_EVENT_TUN_ERROR, id, (uint32_t)e);
}

/*
 * One read from a vnet TUN (rbuf: virtio_net_hdr, then the packet), into slab slots from *n on;
 * a full slab is flushed on the way. A TCP super-packet (VIRTIO_NET_HDR_GSO_TCPV4, the kernel's
 * TSO) is cut into gso_size segments as the kernel's tcp_gso_segment would: the headers copied,
 * total length, IP ID (+1 per segment) and IP checksum per segment, the sequence number advanced,
 * FIN/PSH only on the last and CWR only on the first, the TCP checksum computed in full. A packet
 * whose checksum the kernel left to us (VIRTIO_NET_HDR_F_NEEDS_CSUM) gets it completed.
 */
static void tx_vnet_packet(dp_t *dp, dp_tunnel_t *t, uint32_t id, tx_scratch_t *s, uint32_t r, uint32_t *n)
{
  if (r < DP_VNET_HDR) { /* cannot happen: the kernel always writes the header */
    dp->drops[DPD_TX_NOT_IPV4]++;
    return;
  }
  struct virtio_net_hdr h;
  memcpy(&h, t->rbuf, sizeof h);
  uint8_t *pkt = t->rbuf + DP_VNET_HDR;
  uint32_t plen = r - DP_VNET_HDR;
  uint8_t gso = h.gso_type & (uint8_t)~VIRTIO_NET_HDR_GSO_ECN;
  uint32_t cstart = le16toh(h.csum_start), coff = le16toh(h.csum_offset);
  if (gso == VIRTIO_NET_HDR_GSO_NONE) {
    if (plen > t->mtu) {
      dp->drops[DPD_TX_OVERSIZE]++;
      return;
    }
    if ((h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && cstart + coff + 2 <= plen) {
      uint16_t init;
      memcpy(&init, pkt + cstart + coff, 2);
      pkt[cstart + coff] = pkt[cstart + coff + 1] = 0;
      uint16_t c = (uint16_t)~csum_fold(csum_add(pkt + cstart, plen - cstart, init));
      memcpy(pkt + cstart + coff, &c, 2);
    }
    if (*n == DP_BATCH) {
      tx_flush(dp, t, id, s, *n);
      *n = 0;
    }
    memcpy(t->slab + (size_t)*n * t->slot + DP_HEADROOM, pkt, plen);
    s->len[(*n)++] = plen;
    return;
  }
  /* Only IPv4 TCP is offered (TUN_F_TSO4); anything else is not ours to carry. */
  uint32_t ihl = plen >= 20 ? (uint32_t)(pkt[0] & 15) * 4 : 0;
  uint32_t mss = le16toh(h.gso_size);
  if (gso != VIRTIO_NET_HDR_GSO_TCPV4 || ihl < 20 || (pkt[0] >> 4) != 4 || pkt[9] != 6 || plen < ihl + 20 || mss == 0) {
    dp->drops[DPD_TX_NOT_IPV4]++;
    return;
  }
  uint32_t thl = (uint32_t)(pkt[ihl + 12] >> 4) * 4;
  uint32_t hlen = ihl + thl;
  if (thl < 20 || hlen > plen || hlen + mss > t->mtu) {
    dp->drops[DPD_TX_OVERSIZE]++;
    return;
  }
  t->st.v[DPS_TSO_READS]++;
  uint32_t payload = plen - hlen, seq = rd32(pkt + ihl + 4), ipid = rd16(pkt + 4);
  uint8_t flags = pkt[ihl + 13];
  for (uint32_t off = 0, i = 0; off < payload || (payload == 0 && i == 0); off += mss, i++) {
    uint32_t seg = payload - off < mss ? payload - off : mss;
    if (*n == DP_BATCH) {
      tx_flush(dp, t, id, s, *n);
      *n = 0;
    }
    uint8_t *d = t->slab + (size_t)*n * t->slot + DP_HEADROOM;
    memcpy(d, pkt, hlen);
    memcpy(d + hlen, pkt + hlen + off, seg);
    wr16(d + 2, hlen + seg);
    wr16(d + 4, ipid + i);
    ipv4_fix_csum(d, ihl);
    uint8_t *th = d + ihl;
    wr32(th + 4, seq + off);
    uint8_t f = flags;
    if (off + seg < payload) f &= (uint8_t)~(TCP_FIN | TCP_PSH);
    if (i > 0) f &= (uint8_t)~TCP_CWR;
    th[13] = f;
    th[16] = th[17] = 0;
    uint16_t c = (uint16_t)~csum_fold(csum_add(th, thl + seg, pseudo_tcp(d, thl + seg)));
    memcpy(th + 16, &c, 2);
    s->len[(*n)++] = hlen + seg;
    if (payload == 0) break;
  }
}

static void tx_tunnel(dp_t *dp, dp_tunnel_t *t, uint32_t id, tx_scratch_t *s)
{
  for (int round = 0; round < DP_MAX_ROUNDS; round++) {
    uint32_t n = 0, reads = 0;
    while (n < DP_BATCH && reads < DP_BATCH) {
      uint8_t *p = t->vnet ? t->rbuf : t->slab + (size_t)n * t->slot + DP_HEADROOM;
      ssize_t r = t->vnet ? read(t->fd, p, DP_VNET_HDR + DP_GSO_MAX) : read(t->fd, p, t->mtu + 1);
      if (r < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        tx_broken(dp, t, id, errno);
        break;
      }
      if (r == 0) break;
      reads++;
      if (t->vnet) {
        tx_vnet_packet(dp, t, id, s, (uint32_t)r, &n);
        continue;
      }
      if ((uint32_t)r > t->mtu) { /* larger than the MTU we set: dropped, never truncated */
        dp->drops[DPD_TX_OVERSIZE]++;
        continue;
      }
      s->len[n++] = (uint32_t)r;
    }
    tx_flush(dp, t, id, s, n);
    if (reads < DP_BATCH || t->broken) return;
  }
}

void *dp_tx_main(void *arg)
{
  dp_t *dp = arg;
  static __thread tx_scratch_t s; /* per thread, off the stack (it is ~10 KiB) */
  struct epoll_event evs[16];
  for (;;) {
    int n = epoll_wait(dp->tx_ep, evs, 16, -1);
    if (atomic_load(&dp->stopping)) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    pthread_rwlock_rdlock(&dp->lock);
    for (int i = 0; i < n; i++) {
      uint64_t d = evs[i].data.u64;
      if (d == UINT64_MAX) continue;
      uint32_t id = (uint32_t)d, gen = (uint32_t)(d >> 32);
      if (id >= DP_MAX_TUNNELS) continue;
      dp_tunnel_t *t = &dp->tunnels[id];
      if (!t->used || t->gen != gen || t->broken) continue; /* detached since epoll_wait returned */
      tx_tunnel(dp, t, id, &s);
    }
    pthread_rwlock_unlock(&dp->lock);
  }
  return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* RX: ESP → TUN.                                                                             */

/* Write one packet (or a GSO super-packet of nseg segments, header in place) to the TUN. */
static bool tun_write(dp_t *dp, dp_tunnel_t *t, const uint8_t *pkt, uint32_t len, uint32_t nseg)
{
  static const uint8_t zero_hdr[DP_VNET_HDR];
  struct iovec iov[2] = {{.iov_base = (void *)zero_hdr, .iov_len = DP_VNET_HDR}, {.iov_base = (void *)pkt, .iov_len = len}};
  for (;;) {
    ssize_t w = t->vnet ? writev(t->fd, iov, 2) : write(t->fd, pkt, len);
    if (w >= 0) return true;
    if (errno == EINTR) continue;
    dp->drops[DPD_TUN_WRITE] += nseg;
    return false;
  }
}

/*
 * Write the pending coalesced run: one segment as it came; several as one TCP super-packet with
 * a virtio_net_hdr (GSO_TCPV4, gso_size = the first segment's payload, NEEDS_CSUM with the
 * pseudo-header sum in the TCP checksum field, as the kernel's own TSO packets carry it). The
 * kernel forwards it whole and segments (or hands it to TCP) at the far end, as GRO would.
 */
static void gro_flush(dp_t *dp, dp_tunnel_t *t, dp_gro_t *g)
{
  if (g->len == 0) return;
  uint8_t *ip = g->buf + DP_VNET_HDR;
  if (g->nseg == 1) {
    tun_write(dp, t, ip, g->len, 1);
  } else {
    uint32_t ihl = (uint32_t)(ip[0] & 15) * 4;
    wr16(ip + 2, g->len);
    ipv4_fix_csum(ip, ihl);
    uint16_t ps = csum_fold(pseudo_tcp(ip, g->len - ihl));
    memcpy(ip + ihl + 16, &ps, 2);
    struct virtio_net_hdr h = {
      .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .gso_type = VIRTIO_NET_HDR_GSO_TCPV4,
      .hdr_len = htole16((uint16_t)g->hlen), .gso_size = htole16((uint16_t)g->seg),
      .csum_start = htole16((uint16_t)ihl), .csum_offset = htole16(16),
    };
    memcpy(g->buf, &h, sizeof h);
    for (;;) {
      ssize_t w = write(t->fd, g->buf, DP_VNET_HDR + g->len);
      if (w >= 0) break;
      if (errno == EINTR) continue;
      dp->drops[DPD_TUN_WRITE] += g->nseg;
      break;
    }
    t->st.v[DPS_GRO_WRITES]++;
  }
  g->len = 0;
  g->nseg = 0;
}

/* The pending run of the TCP flow of packet p (same addresses and ports), or NULL. */
static dp_gro_t *gro_find(dp_tunnel_t *t, const uint8_t *p)
{
  for (int i = 0; i < DP_GRO_FLOWS; i++) {
    dp_gro_t *g = &t->gro[i];
    const uint8_t *q = g->buf + DP_VNET_HDR;
    if (g->len && memcmp(q + 12, p + 12, 8) == 0 && memcmp(q + 20, p + 20, 4) == 0) return g;
  }
  return NULL;
}

/*
 * Try to hold this decrypted packet for a coalesced write (the checks of the kernel's
 * tcp_gro_receive): IPv4 without options, not a fragment, TCP with only ACK (PSH ends a run),
 * data, and — to join its flow's run — the same ACK number, TOS/TTL/DF, TCP options, the next
 * sequence number, and no more payload than the first. Up to DP_GRO_FLOWS flows at once. False:
 * write it now; any pending run of its flow has been written first, so a flow keeps its order.
 */
static bool gro_add(dp_t *dp, dp_tunnel_t *t, const uint8_t *p, uint32_t len, const ipv4_info_t *info)
{
  len = info->total_len; /* octets after the IP datagram (TFC padding, RFC 4303 §2.7) are not data */
  if (info->protocol != 6 || (p[0] & 15) != 5 || (rd16(p + 6) & 0x3fff) != 0 || len < 40) {
    if (info->protocol == 6 && len >= 24 && (p[0] & 15) == 5) { /* TCP we do not coalesce: after its run */
      dp_gro_t *g = gro_find(t, p);
      if (g) gro_flush(dp, t, g);
    }
    return false;
  }
  dp_gro_t *g = gro_find(t, p);
  uint32_t thl = (uint32_t)(p[20 + 12] >> 4) * 4;
  uint8_t f = p[20 + 13];
  if (thl < 20 || 20 + thl >= len || (f & (uint8_t)~TCP_PSH) != TCP_ACK) {
    if (g) gro_flush(dp, t, g);
    return false;
  }
  uint32_t hlen = 20 + thl, pay = len - hlen, seq = rd32(p + 24);
  if (g) {
    const uint8_t *q = g->buf + DP_VNET_HDR;
    bool join = !g->closed && g->nseg < DP_GRO_SEGS && g->hlen == hlen && pay <= g->seg && seq == g->next_seq &&
                g->len + pay <= DP_GSO_MAX && q[1] == p[1] && q[8] == p[8] && (q[6] & 0x40) == (p[6] & 0x40) &&
                memcmp(q + 28, p + 28, 4) == 0 &&            /* ACK number */
                memcmp(q + 40, p + 40, thl - 20) == 0;       /* options */
    if (join) {
      memcpy(g->buf + DP_VNET_HDR + g->len, p + hlen, pay);
      g->len += pay;
      g->nseg++;
      g->next_seq = seq + pay;
      if (f & TCP_PSH) g->buf[DP_VNET_HDR + 33] |= TCP_PSH;
      if (pay < g->seg || (f & TCP_PSH)) g->closed = true;
      return true;
    }
    gro_flush(dp, t, g);
  } else {
    for (int i = 0; i < DP_GRO_FLOWS && !g; i++)
      if (t->gro[i].len == 0) g = &t->gro[i];
    if (!g) {
      g = &t->gro[t->gro_victim++ % DP_GRO_FLOWS];
      gro_flush(dp, t, g);
    }
  }
  if (f & TCP_PSH) return false; /* nothing to coalesce it with: write it as it is */
  memcpy(g->buf + DP_VNET_HDR, p, len);
  g->len = len;
  g->hlen = hlen;
  g->seg = pay;
  g->nseg = 1;
  g->next_seq = seq + pay;
  g->closed = false;
  return true;
}

/* End of an RX batch: write every tunnel's pending runs. */
void dp_rx_flush(dp_t *dp)
{
  for (int i = 0; i < DP_MAX_TUNNELS; i++) {
    dp_tunnel_t *t = &dp->tunnels[i];
    if (!t->used || !t->vnet) continue;
    for (int k = 0; k < DP_GRO_FLOWS; k++)
      if (t->gro[k].len) gro_flush(dp, t, &t->gro[k]);
  }
}

/* The drop reason of an esp_open failure (the same table as src/dataplane/drops.ts OPEN_DROP). */
static int open_reason(int32_t r)
{
  switch (r) {
  case ESP_OPEN_SHORT: return DPD_SHORT;
  case ESP_OPEN_SEQ_ZERO: return DPD_SEQ_ZERO;
  case ESP_OPEN_REPLAY: return DPD_REPLAY;
  case ESP_OPEN_AUTH: return DPD_AUTH;
  case ESP_OPEN_PADDING: return DPD_PADDING;
  case ESP_OPEN_DUMMY: return DPD_DUMMY;
  case ESP_OPEN_TOO_BIG: return DPD_OVERSIZE;
  default: return DPD_UNKNOWN_SPI; /* ESP_OPEN_SPI: the lookup was by this SPI, cannot happen */
  }
}

int32_t dp_rx_one(dp_t *dp, uint8_t *pkt, uint32_t len, uint32_t from_addr, uint16_t from_port, bool coalesce)
{
  /* The BPF steering sends only datagrams with a non-zero first word here; anything else is a
   * stray from before the program was attached (or the JS path): count, drop. */
  if (len < 4 || rd32(pkt) == 0) {
    dp->drops[DPD_NON_ESP]++;
    return DP_RX_NON_ESP;
  }
  dp_child_t *c = dp_lookup(dp, rd32(pkt));
  if (!c) { /* never ours, or an SA deleted since (rekeyed away, expired): RFC 4303 §3.4.2 */
    dp->drops[DPD_UNKNOWN_SPI]++;
    return DP_RX_UNKNOWN_SPI;
  }
  dp_tunnel_t *t = &dp->tunnels[c->tunnel];
  t->st.v[DPS_ESP_PKTS_IN]++;
  if (len > t->mtu + DP_IN_SLACK) { /* dp.h DP_IN_SLACK: before any crypto */
    c->in.c.malformed++;
    dp->drops[DPD_OVERSIZE]++;
    return ESP_OPEN_TOO_BIG;
  }
  uint8_t *inner = pkt + ESP_HDR_LEN + c->in.iv_len;
  uint8_t nh = 0;
  int32_t r = esp_open(&c->in, pkt, len, inner, len, &nh); /* in place */
  if (r < 0) { /* also counted on the SA */
    dp->drops[open_reason(r)]++;
    return r;
  }
  ipv4_info_t info;
  if (nh != NH_IPV4 || !parse_ipv4(inner, (uint32_t)r, &info)) {
    c->in.c.malformed++;
    /* Claims IPv4 but its header lengths do not fit what was decrypted: bad-length. */
    dp->drops[nh == NH_IPV4 && r > 0 && (inner[0] >> 4) == 4 ? DPD_BAD_LENGTH : DPD_NOT_IPV4]++;
    return DP_RX_NOT_IPV4;
  }
  /* RFC 4301 §5.2: the inner source must be in the peer's selectors, the destination in ours. */
  if (!sel_match(&info, c->remote_ts, c->n_remote, c->local_ts, c->n_local)) {
    c->in.c.policy_drops++;
    dp->drops[DPD_POLICY]++;
    return DP_RX_POLICY;
  }
  /* Authenticated ESP from a new address or port: the peer's NAT mapping moved (RFC 7296
   * §2.23); every outbound SA of the tunnel follows, as TsDataplane.updateRemote does. */
  uint64_t from = dp_pack(from_addr, from_port);
  if (atomic_load(&c->remote) != from) {
    for (int b = 0; b < DP_HASH; b++)
      for (dp_child_t *o = dp->hash[b]; o; o = o->next)
        if (o->tunnel == c->tunnel) atomic_store(&o->remote, from);
  }
  if (t->mss) clamp_mss(inner, (uint32_t)r, t->mss);
  /* (Nothing is pending when coalesce is false: dp_inject runs between RX batches.) */
  if (t->vnet && coalesce && gro_add(dp, t, inner, (uint32_t)r, &info)) return r;
  return tun_write(dp, t, inner, (uint32_t)r, 1) ? r : DP_RX_TUN_DROP;
}

void *dp_rx_main(void *arg)
{
  dp_t *dp = arg;
  struct mmsghdr msgs[DP_RX_MSGS];
  struct iovec iov[DP_RX_MSGS];
  struct sockaddr_in names[DP_RX_MSGS];
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } cm[DP_RX_MSGS];
  struct epoll_event evs[DP_MAX_SOCKS + 1];
  for (;;) {
    int n = epoll_wait(dp->rx_ep, evs, DP_MAX_SOCKS + 1, -1);
    if (atomic_load(&dp->stopping)) break;
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int e = 0; e < n; e++) {
      uint64_t d = evs[e].data.u64;
      if (d >= DP_MAX_SOCKS) continue;
      int fd = dp->socks[d].fd;
      for (int round = 0; round < DP_MAX_ROUNDS; round++) {
        for (int k = 0; k < DP_RX_MSGS; k++) {
          iov[k].iov_base = dp->rx_bufs + (size_t)k * DP_RX_BUF;
          iov[k].iov_len = DP_RX_BUF;
          memset(&msgs[k].msg_hdr, 0, sizeof msgs[k].msg_hdr);
          msgs[k].msg_hdr.msg_name = &names[k];
          msgs[k].msg_hdr.msg_namelen = sizeof names[k];
          msgs[k].msg_hdr.msg_iov = &iov[k];
          msgs[k].msg_hdr.msg_iovlen = 1;
          msgs[k].msg_hdr.msg_control = cm[k].buf;
          msgs[k].msg_hdr.msg_controllen = sizeof cm[k].buf;
        }
        int r = recvmmsg(fd, msgs, DP_RX_MSGS, MSG_DONTWAIT, NULL);
        if (r <= 0) break; /* EAGAIN: drained (EINTR: the next epoll_wait comes back) */
        pthread_rwlock_rdlock(&dp->lock);
        pthread_mutex_lock(&dp->rx_mutex);
        dp->global.v[DPS_ESP_BATCHES_IN]++;
        for (int k = 0; k < r; k++) {
          uint32_t len = msgs[k].msg_len;
          uint8_t *b = dp->rx_bufs + (size_t)k * DP_RX_BUF;
          uint32_t from = ntohl(names[k].sin_addr.s_addr);
          uint16_t port = ntohs(names[k].sin_port);
          /* UDP_GRO: one buffer may hold a run of datagrams from one sender, each gso_size long
           * except the last (the receive-side twin of UDP_SEGMENT). */
          uint32_t seg = len;
          for (struct cmsghdr *c = CMSG_FIRSTHDR(&msgs[k].msg_hdr); c; c = CMSG_NXTHDR(&msgs[k].msg_hdr, c)) {
            if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
              int g;
              memcpy(&g, CMSG_DATA(c), sizeof g);
              if (g > 0) seg = (uint32_t)g;
            }
          }
          if (msgs[k].msg_hdr.msg_flags & MSG_TRUNC) { /* cannot happen with 64 KiB buffers */
            dp->drops[DPD_OVERSIZE]++;
            continue;
          }
          for (uint32_t off = 0; off < len; off += seg)
            dp_rx_one(dp, b + off, len - off < seg ? len - off : seg, from, port, true);
        }
        dp_rx_flush(dp);
        pthread_mutex_unlock(&dp->rx_mutex);
        pthread_rwlock_unlock(&dp->lock);
        if (r < DP_RX_MSGS) break;
      }
    }
  }
  return NULL;
}
