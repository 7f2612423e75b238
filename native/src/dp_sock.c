/*
 * Sharing UDP port 4500 with IKE (RFC 3948 §2.2), without taking the socket from UdpTransport.
 *
 * UdpTransport (src/net/udp.ts) binds addr:4500 with a Node dgram socket and demultiplexes in JS:
 * a zero first word is the non-ESP marker (IKE), one 0xFF octet a NAT-keepalive, anything else
 * ESP. Receiving ESP that way costs a JS callback per datagram on the main thread. Instead:
 *
 *   1. SO_REUSEPORT is set on the existing socket (allowed after bind; the kernel forms the
 *      reuseport group when the second socket binds, net/core/sock_reuseport.c
 *      reuseport_add_sock) and on a new socket of ours, which then binds to the same addr:port;
 *   2. a classic BPF program is attached to the group (SO_ATTACH_REUSEPORT_CBPF). For UDP it runs
 *      on the payload and returns the index of the socket to deliver to: 0 (the existing socket)
 *      for a one-octet datagram or a zero first word, 1 (ours) for everything else;
 *   3. a probe datagram checks that ESP-shaped traffic really arrives at our socket (the order of
 *      the group's sockets is an implementation detail); if it does not, the inverse program is
 *      tried; if that fails too, we fall back to sending only (ESP keeps reaching JS, which hands
 *      it to dp_inject).
 *
 * The group only admits sockets of the same effective uid, so nothing foreign can join it.
 * Between our bind and the attach (two syscalls) an IKE datagram could land on our socket; it is
 * counted (nonEspOnEspSocket) and dropped, and IKE's retransmission recovers it.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dp_internal.h"

#ifndef SO_ATTACH_REUSEPORT_CBPF
#define SO_ATTACH_REUSEPORT_CBPF 51
#endif
#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* 4 MiB socket buffers: wireguard-go's larger buffers removed its losses (perf.md §6 item 4). */
#define SOCK_BUF (4 << 20)

int dp_find_udp_socket(uint32_t addr, uint16_t port)
{
  DIR *d = opendir("/proc/self/fd");
  if (!d) return -1;
  int found = -1;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && found < 0) {
    char *end;
    long fd = strtol(e->d_name, &end, 10);
    if (*end != '\0' || fd < 0 || fd == dirfd(d)) continue;
    int type = 0, domain = 0;
    socklen_t l = sizeof type;
    if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &l) < 0 || type != SOCK_DGRAM) continue;
    l = sizeof domain;
    if (getsockopt((int)fd, SOL_SOCKET, SO_DOMAIN, &domain, &l) < 0 || domain != AF_INET) continue;
    struct sockaddr_in sa;
    l = sizeof sa;
    if (getsockname((int)fd, (struct sockaddr *)&sa, &l) < 0 || sa.sin_family != AF_INET) continue;
    if (ntohs(sa.sin_port) == port && ntohl(sa.sin_addr.s_addr) == addr) found = (int)fd;
  }
  closedir(d);
  return found;
}

/* The steering program: RFC 3948 §2.2's demultiplexing, in the kernel. */
static int attach_steering(int fd, uint32_t ike, uint32_t esp)
{
  struct sock_filter code[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),             /* A = payload length */
    BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 4, 0, 3),      /* < 4 octets (keepalive): IKE socket */
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),             /* A = first 32-bit word */
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0),      /* zero: the non-ESP marker, IKE */
    BPF_STMT(BPF_RET | BPF_K, esp),                    /* a non-zero SPI: ESP */
    BPF_STMT(BPF_RET | BPF_K, ike),
  };
  struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
  return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog);
}

/* Send an ESP-shaped probe (reserved SPI 0xffffffff, random body) to addr:port and see whether
 * `ours` receives it within 200 ms. Anything else `ours` receives meanwhile is dropped. */
static bool probe(int ours, uint32_t addr, uint16_t port)
{
  uint8_t msg[24];
  memset(msg, 0xff, 4); /* SPI 0xffffffff: never allocated by us (RFC 4303 §2.1 leaves it free) */
  if (RAND_bytes(msg + 4, sizeof msg - 4) != 1) return false;
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return false;
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
  to.sin_addr.s_addr = htonl(addr ? addr : INADDR_LOOPBACK);
  bool ok = false;
  if (sendto(s, msg, sizeof msg, 0, (struct sockaddr *)&to, sizeof to) == (ssize_t)sizeof msg) {
    for (int i = 0; i < 20 && !ok; i++) {
      struct pollfd p = {.fd = ours, .events = POLLIN};
      if (poll(&p, 1, 10) <= 0) continue;
      uint8_t buf[64];
      ssize_t r;
      while ((r = recv(ours, buf, sizeof buf, MSG_DONTWAIT)) >= 0)
        if (r == (ssize_t)sizeof msg && memcmp(buf, msg, sizeof msg) == 0) ok = true;
    }
  }
  close(s);
  return ok;
}

static void tune(int fd)
{
  int v = SOCK_BUF;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) < 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
  if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof v) < 0) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
}

/* A socket of ours on addr:port steered by content, or -1 (errno set, err filled). */
static int steered_socket(uint32_t addr, uint16_t port, int existing, char *err, size_t errlen)
{
  int one = 1;
  if (setsockopt(existing, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
    snprintf(err, errlen, "SO_REUSEPORT on the existing socket: %s", strerror(errno));
    return -1;
  }
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (s < 0) {
    snprintf(err, errlen, "socket: %s", strerror(errno));
    return -1;
  }
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  sa.sin_addr.s_addr = htonl(addr);
  if (setsockopt(s, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0 ||
      bind(s, (struct sockaddr *)&sa, sizeof sa) < 0) {
    snprintf(err, errlen, "joining %u.%u.%u.%u:%u with SO_REUSEPORT: %s", addr >> 24, (addr >> 16) & 255,
             (addr >> 8) & 255, addr & 255, port, strerror(errno));
    close(s);
    return -1;
  }
  /* Try both socket orders; the probe tells which one the kernel uses. */
  if ((attach_steering(s, 0, 1) == 0 && probe(s, addr, port)) ||
      (attach_steering(s, 1, 0) == 0 && probe(s, addr, port))) {
    setsockopt(s, SOL_UDP, UDP_GRO, &one, sizeof one); /* best effort (Linux ≥ 5.0) */
    tune(s);
    return s;
  }
  snprintf(err, errlen, "the reuseport steering program did not deliver ESP to the engine's socket");
  /* Leaving the group hands every datagram back to the existing socket. */
  close(s);
  return -1;
}

int dp_add_socket(dp_t *dp, uint32_t addr, uint16_t port, int existing, char *err, size_t errlen)
{
  if (existing < 0) {
    snprintf(err, errlen, "no UDP socket bound to port %u to share", port);
    return -EINVAL;
  }
  pthread_rwlock_wrlock(&dp->lock);
  int n = atomic_load(&dp->nsocks);
  if (n >= DP_MAX_SOCKS || dp->closed) {
    pthread_rwlock_unlock(&dp->lock);
    snprintf(err, errlen, dp->closed ? "the dataplane is closed" : "too many port-4500 sockets");
    return -ENOSPC;
  }
  char why[256] = "";
  int mode = DP_SOCK_STEERED;
  int fd = steered_socket(addr, port, existing, why, sizeof why);
  if (fd < 0) {
    /* Send-only on the existing socket: sendmmsg from another thread is safe on a UDP socket,
     * and the datagrams leave from the very port IKE uses, as RFC 3948 requires. */
    mode = DP_SOCK_SEND_ONLY;
    fd = fcntl(existing, F_DUPFD_CLOEXEC, 0);
    if (fd < 0) {
      int e = errno;
      pthread_rwlock_unlock(&dp->lock);
      snprintf(err, errlen, "%s; and dup of the existing socket failed: %s", why, strerror(e));
      return -e;
    }
  }
  dp_sock_t *sk = &dp->socks[n];
  sk->fd = fd;
  sk->addr = addr;
  sk->port = port;
  sk->mode = mode;
  int zero = 0;
  /* UDP_SEGMENT is known to this kernel if the option can be set (it is also a per-send cmsg). */
  atomic_store(&sk->gso, setsockopt(fd, SOL_UDP, UDP_SEGMENT, &zero, sizeof zero) == 0);
  atomic_store(&dp->nsocks, n + 1);
  if (mode == DP_SOCK_STEERED) {
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)n};
    epoll_ctl(dp->rx_ep, EPOLL_CTL_ADD, fd, &ev);
  }
  pthread_rwlock_unlock(&dp->lock);
  if (mode == DP_SOCK_SEND_ONLY) snprintf(err, errlen, "%s", why);
  return mode;
}
