/*
 * The engine's control side: create/close, tunnels, Child SAs, counters. Every function that
 * changes a table takes the writer lock, so the I/O threads (readers, per batch) never see a half
 * change. Semantics follow TsDataplane (src/dataplane/ts-dataplane.ts) exactly:
 *   - addChild installs the inbound SA, then the new outbound SA becomes the tunnel's sender
 *     (make-before-break, RFC 7296 §2.8) — unless activate is false and the tunnel already has a
 *     sender: then it waits for activateChild (the rekey responder keeps sending on the old SA
 *     until the initiator deletes it, so no packet goes out on an SPI the peer lacks);
 *   - deleteChild removes the inbound SA and, only if its outbound was the current sender, falls
 *     back to the newest remaining child of the tunnel (or none: packets count as noSa);
 *   - updateRemote moves every outbound SA of the tunnel.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "dp_internal.h"

dp_child_t *dp_lookup(dp_t *dp, uint32_t spi_in)
{
  for (dp_child_t *c = dp->hash[dp_hash(spi_in)]; c; c = c->next)
    if (c->spi_in == spi_in) return c;
  return NULL;
}

dp_t *dp_create(dp_emit_fn emit, void *ctx, char *err, size_t errlen)
{
  dp_t *dp = calloc(1, sizeof *dp);
  if (!dp) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  dp->emit = emit;
  dp->emit_ctx = ctx;
  dp->tx_ep = dp->rx_ep = dp->stop_fd = -1;
  /* Writer preference: a control change must not wait behind a stream of reader batches. */
  pthread_rwlockattr_t ra;
  pthread_rwlockattr_init(&ra);
  pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
  pthread_rwlock_init(&dp->lock, &ra);
  pthread_rwlockattr_destroy(&ra);
  pthread_mutex_init(&dp->rx_mutex, NULL);
  dp->rx_bufs = malloc((size_t)DP_RX_MSGS * DP_RX_BUF);
  dp->inject_buf = malloc(DP_RX_BUF);
  dp->tx_ep = epoll_create1(EPOLL_CLOEXEC);
  dp->rx_ep = epoll_create1(EPOLL_CLOEXEC);
  dp->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (!dp->rx_bufs || !dp->inject_buf || dp->tx_ep < 0 || dp->rx_ep < 0 || dp->stop_fd < 0) {
    snprintf(err, errlen, "cannot set up the I/O threads' resources: %s", strerror(errno ? errno : ENOMEM));
    dp_close(dp);
    dp_free(dp);
    return NULL;
  }
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = UINT64_MAX};
  epoll_ctl(dp->tx_ep, EPOLL_CTL_ADD, dp->stop_fd, &ev);
  epoll_ctl(dp->rx_ep, EPOLL_CTL_ADD, dp->stop_fd, &ev);
  int e1 = pthread_create(&dp->tx, NULL, dp_tx_main, dp);
  dp->tx_started = e1 == 0;
  int e2 = e1 == 0 ? pthread_create(&dp->rx, NULL, dp_rx_main, dp) : 0;
  dp->rx_started = e1 == 0 && e2 == 0;
  if (e1 || e2) {
    snprintf(err, errlen, "cannot start the I/O threads: %s", strerror(e1 ? e1 : e2));
    dp_close(dp);
    dp_free(dp);
    return NULL;
  }
  pthread_setname_np(dp->tx, "bg-dp-tx");
  pthread_setname_np(dp->rx, "bg-dp-rx");
  return dp;
}

static void free_child(dp_child_t *c)
{
  esp_sa_free(&c->in);
  esp_sa_free(&c->out);
  free(c->local_ts);
  free(c->remote_ts);
  free(c);
}

/* Unlink a child under the writer lock; returns it (caller frees) or NULL. */
static dp_child_t *unlink_child(dp_t *dp, uint32_t spi_in)
{
  dp_child_t **pp = &dp->hash[dp_hash(spi_in)];
  for (; *pp; pp = &(*pp)->next) {
    if ((*pp)->spi_in == spi_in) {
      dp_child_t *c = *pp;
      *pp = c->next;
      return c;
    }
  }
  return NULL;
}

/* The newest remaining child of tunnel t (deleteChildSa's fallback), or NULL. */
static dp_child_t *newest_child(dp_t *dp, uint32_t t)
{
  dp_child_t *best = NULL;
  for (int b = 0; b < DP_HASH; b++)
    for (dp_child_t *c = dp->hash[b]; c; c = c->next)
      if (c->tunnel == t && (!best || c->order > best->order)) best = c;
  return best;
}

void dp_close(dp_t *dp)
{
  if (dp->closed) return;
  dp->closed = true;
  atomic_store(&dp->stopping, true);
  if (dp->stop_fd >= 0) {
    uint64_t one = 1;
    ssize_t w = write(dp->stop_fd, &one, sizeof one);
    (void)w;
  }
  if (dp->tx_started) pthread_join(dp->tx, NULL);
  if (dp->rx_started) pthread_join(dp->rx, NULL);
  dp->tx_started = dp->rx_started = false;
  pthread_rwlock_wrlock(&dp->lock);
  for (int i = 0; i < atomic_load(&dp->nsocks); i++) {
    if (dp->socks[i].fd >= 0) close(dp->socks[i].fd);
    dp->socks[i].fd = -1;
  }
  for (int b = 0; b < DP_HASH; b++) {
    dp_child_t *c = dp->hash[b];
    while (c) {
      dp_child_t *n = c->next;
      free_child(c);
      c = n;
    }
    dp->hash[b] = NULL;
  }
  for (int i = 0; i < DP_MAX_TUNNELS; i++) {
    free(dp->tunnels[i].slab);
    dp->tunnels[i].slab = NULL;
    free(dp->tunnels[i].rbuf);
    dp->tunnels[i].rbuf = NULL;
    free(dp->tunnels[i].gro_mem);
    dp->tunnels[i].gro_mem = NULL;
    memset(dp->tunnels[i].gro, 0, sizeof dp->tunnels[i].gro);
    dp->tunnels[i].used = false;
    dp->tunnels[i].cur = NULL;
  }
  pthread_rwlock_unlock(&dp->lock);
  if (dp->tx_ep >= 0) close(dp->tx_ep);
  if (dp->rx_ep >= 0) close(dp->rx_ep);
  if (dp->stop_fd >= 0) close(dp->stop_fd);
  dp->tx_ep = dp->rx_ep = dp->stop_fd = -1;
}

void dp_free(dp_t *dp)
{
  dp_close(dp);
  free(dp->rx_bufs);
  free(dp->inject_buf);
  pthread_rwlock_destroy(&dp->lock);
  pthread_mutex_destroy(&dp->rx_mutex);
  free(dp);
}

int dp_attach_tunnel(dp_t *dp, uint32_t id, int fd, uint32_t mtu, uint32_t mss, bool vnet)
{
  if (id >= DP_MAX_TUNNELS || fd < 0 || mtu < 68 || mtu > 65535) return -EINVAL;
  /* Slot: headroom for the ESP header + IV, the packet (one spare octet detects a packet larger
   * than the MTU, which is dropped, never truncated), and the ESP trailer + ICV. */
  uint32_t slot = (DP_HEADROOM + mtu + 1 + ESP_MAX_OVERHEAD + 63) & ~63u;
  uint8_t *slab = malloc((size_t)DP_BATCH * slot);
  uint8_t *rbuf = vnet ? malloc(DP_VNET_HDR + DP_GSO_MAX) : NULL;
  uint8_t *gro = vnet ? malloc((size_t)DP_GRO_FLOWS * (DP_VNET_HDR + DP_GSO_MAX)) : NULL;
  if (!slab || (vnet && (!rbuf || !gro))) {
    free(slab);
    free(rbuf);
    free(gro);
    return -ENOMEM;
  }
  pthread_rwlock_wrlock(&dp->lock);
  dp_tunnel_t *t = &dp->tunnels[id];
  if (t->used || dp->closed) {
    pthread_rwlock_unlock(&dp->lock);
    free(slab);
    free(rbuf);
    free(gro);
    return dp->closed ? -EBADF : -EEXIST;
  }
  t->gen++;
  struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)t->gen << 32 | id};
  if (epoll_ctl(dp->tx_ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
    int e = errno;
    pthread_rwlock_unlock(&dp->lock);
    free(slab);
    free(rbuf);
    free(gro);
    return -e;
  }
  t->used = true;
  t->vnet = vnet;
  t->rbuf = rbuf;
  memset(t->gro, 0, sizeof t->gro);
  t->gro_mem = gro;
  t->gro_victim = 0;
  for (int i = 0; i < DP_GRO_FLOWS && gro; i++) t->gro[i].buf = gro + (size_t)i * (DP_VNET_HDR + DP_GSO_MAX);
  t->broken = false;
  t->fd = fd;
  t->mtu = mtu;
  t->mss = mss;
  t->slot = slot;
  t->slab = slab;
  t->cur = NULL;
  memset(&t->st, 0, sizeof t->st);
  pthread_rwlock_unlock(&dp->lock);
  return 0;
}

void dp_detach_tunnel(dp_t *dp, uint32_t id)
{
  if (id >= DP_MAX_TUNNELS) return;
  pthread_rwlock_wrlock(&dp->lock);
  dp_tunnel_t *t = &dp->tunnels[id];
  if (t->used) {
    if (!t->broken) epoll_ctl(dp->tx_ep, EPOLL_CTL_DEL, t->fd, NULL);
    for (int b = 0; b < DP_HASH; b++) {
      dp_child_t **pp = &dp->hash[b];
      while (*pp) {
        dp_child_t *c = *pp;
        if (c->tunnel == id) {
          *pp = c->next;
          free_child(c);
        } else {
          pp = &c->next;
        }
      }
    }
    free(t->slab);
    t->slab = NULL;
    free(t->rbuf);
    t->rbuf = NULL;
    free(t->gro_mem);
    t->gro_mem = NULL;
    memset(t->gro, 0, sizeof t->gro);
    t->cur = NULL;
    t->used = false;
    t->gen++;
  }
  pthread_rwlock_unlock(&dp->lock);
}

static ts_t *copy_ts(const ts_t *src, uint32_t n)
{
  ts_t *d = malloc((n ? n : 1) * sizeof *d);
  if (d && n) memcpy(d, src, n * sizeof *d);
  return d;
}

const char *dp_add_child(dp_t *dp, const dp_child_params_t *p)
{
  if (p->tunnel >= DP_MAX_TUNNELS) return "tunnel id out of range";
  dp_child_t *c = calloc(1, sizeof *c);
  if (!c) return "out of memory";
  esp_params_t in = {.spi = p->spi_in, .outbound = false, .esn = p->esn, .encr_id = p->encr_id,
                     .key_bits = p->key_bits, .integ_id = p->integ_id, .encr_key = p->encr_in,
                     .encr_key_len = p->encr_in_len, .integ_key = p->integ_in,
                     .integ_key_len = p->integ_in_len, .replay_window = p->replay_window};
  esp_params_t out = in;
  out.spi = p->spi_out;
  out.outbound = true;
  out.encr_key = p->encr_out;
  out.encr_key_len = p->encr_out_len;
  out.integ_key = p->integ_out;
  out.integ_key_len = p->integ_out_len;
  const char *err = esp_sa_init(&c->in, &in);
  if (err) {
    free(c);
    return err;
  }
  err = esp_sa_init(&c->out, &out);
  if (err) {
    esp_sa_free(&c->in);
    free(c);
    return err;
  }
  c->local_ts = copy_ts(p->local_ts, p->n_local);
  c->remote_ts = copy_ts(p->remote_ts, p->n_remote);
  if (!c->local_ts || !c->remote_ts) {
    free_child(c);
    return "out of memory";
  }
  c->n_local = p->n_local;
  c->n_remote = p->n_remote;
  c->spi_in = p->spi_in;
  c->tunnel = p->tunnel;
  c->local_addr = p->local_addr;
  atomic_store(&c->remote, dp_pack(p->remote_addr, p->remote_port));

  pthread_rwlock_wrlock(&dp->lock);
  dp_tunnel_t *t = &dp->tunnels[p->tunnel];
  if (!t->used) {
    pthread_rwlock_unlock(&dp->lock);
    free_child(c);
    return "no tunnel interface attached for this tunnel";
  }
  /* Re-adding an SPI replaces it (TsDataplane's Map.set does the same). */
  dp_child_t *old = unlink_child(dp, p->spi_in);
  if (old) {
    for (int i = 0; i < DP_MAX_TUNNELS; i++)
      if (dp->tunnels[i].cur == old) dp->tunnels[i].cur = NULL;
  }
  c->order = ++dp->next_order;
  uint32_t h = dp_hash(p->spi_in);
  c->next = dp->hash[h]; /* inbound first … */
  dp->hash[h] = c;
  if (p->activate || !t->cur) t->cur = c; /* … then the new outbound SA becomes the sender */
  pthread_rwlock_unlock(&dp->lock);
  if (old) free_child(old);
  return NULL;
}

bool dp_activate_child(dp_t *dp, uint32_t spi_in)
{
  pthread_rwlock_wrlock(&dp->lock); /* the TX thread reads cur once per batch, under the reader lock */
  dp_child_t *c = dp_lookup(dp, spi_in);
  if (c) dp->tunnels[c->tunnel].cur = c;
  pthread_rwlock_unlock(&dp->lock);
  return c != NULL;
}

bool dp_delete_child(dp_t *dp, uint32_t spi_in)
{
  pthread_rwlock_wrlock(&dp->lock);
  dp_child_t *c = unlink_child(dp, spi_in);
  if (c) {
    dp_tunnel_t *t = &dp->tunnels[c->tunnel];
    if (t->cur == c) t->cur = newest_child(dp, c->tunnel);
  }
  pthread_rwlock_unlock(&dp->lock);
  if (c) free_child(c);
  return c != NULL;
}

void dp_update_remote(dp_t *dp, uint32_t tunnel, uint32_t addr, uint16_t port)
{
  pthread_rwlock_rdlock(&dp->lock); /* the remote is atomic; the table only needs to hold still */
  for (int b = 0; b < DP_HASH; b++)
    for (dp_child_t *c = dp->hash[b]; c; c = c->next)
      if (c->tunnel == tunnel) atomic_store(&c->remote, dp_pack(addr, port));
  pthread_rwlock_unlock(&dp->lock);
}

#define DP_NAME(id, name) name,
const char *const DP_COUNTER_NAMES[DPC_COUNT] = {DP_COUNTER_LIST(DP_NAME)};
const char *const DP_STAT_NAMES[DPS_COUNT] = {DP_STAT_LIST(DP_NAME)};
const char *const DP_DROP_NAMES[DPD_COUNT] = {DP_DROP_LIST(DP_NAME)};

/*
 * Counters are read while the I/O threads run: each is a naturally aligned 64-bit word written by
 * one thread, so a read sees the old or the new value (x86-64, arm64), never a torn one.
 */
bool dp_counters(dp_t *dp, uint32_t spi_in, double *o)
{
  pthread_rwlock_rdlock(&dp->lock);
  dp_child_t *c = dp_lookup(dp, spi_in);
  if (c) {
    const esp_counters_t *i = &c->in.c, *u = &c->out.c;
    o[DPC_BYTES_IN] = (double)i->bytes;
    o[DPC_PACKETS_IN] = (double)i->packets;
    o[DPC_BYTES_OUT] = (double)u->bytes;
    o[DPC_PACKETS_OUT] = (double)u->packets;
    o[DPC_REPLAY] = (double)i->replay_drops;
    o[DPC_AUTH] = (double)i->auth_failures;
    o[DPC_POLICY_IN] = (double)i->policy_drops;
    o[DPC_POLICY_OUT] = (double)u->policy_drops;
    o[DPC_MALFORMED_IN] = (double)i->malformed;
    o[DPC_DUMMY_IN] = (double)i->dummy;
    o[DPC_SEQ_REFUSALS] = (double)u->seq_refusals;
  }
  pthread_rwlock_unlock(&dp->lock);
  return c != NULL;
}

bool dp_tunnel_stats(dp_t *dp, uint32_t tunnel, double *o)
{
  pthread_rwlock_rdlock(&dp->lock);
  const dp_stats_t *s = NULL;
  if (tunnel == DP_GLOBAL_STATS) s = &dp->global;
  else if (tunnel < DP_MAX_TUNNELS && dp->tunnels[tunnel].used) s = &dp->tunnels[tunnel].st;
  if (s)
    for (int i = 0; i < DPS_COUNT; i++) o[i] = (double)s->v[i];
  pthread_rwlock_unlock(&dp->lock);
  return s != NULL;
}

void dp_drops(dp_t *dp, double *o)
{
  /* No lock: each word has one writer and is read whole (see dp_counters). */
  for (int i = 0; i < DPD_COUNT; i++) o[i] = (double)dp->drops[i];
}

int32_t dp_inject(dp_t *dp, const uint8_t *pkt, uint32_t len, uint32_t from_addr, uint16_t from_port)
{
  pthread_rwlock_rdlock(&dp->lock);
  pthread_mutex_lock(&dp->rx_mutex);
  if (len > DP_RX_BUF) { /* larger than any UDP datagram: only a caller's bug gets here */
    dp->drops[DPD_OVERSIZE]++;
    pthread_mutex_unlock(&dp->rx_mutex);
    pthread_rwlock_unlock(&dp->lock);
    return ESP_OPEN_TOO_BIG;
  }
  memcpy(dp->inject_buf, pkt, len); /* decrypted in place in our buffer, never in the caller's */
  int32_t r = dp_rx_one(dp, dp->inject_buf, len, from_addr, from_port, false);
  pthread_mutex_unlock(&dp->rx_mutex);
  pthread_rwlock_unlock(&dp->lock);
  return r;
}

bool dp_set_seq(dp_t *dp, uint32_t spi_in, uint32_t hi, uint32_t lo)
{
  pthread_rwlock_wrlock(&dp->lock); /* the TX thread owns the sequence number: stop it first */
  dp_child_t *c = dp_lookup(dp, spi_in);
  if (c) {
    esp_sa_set_seq(&c->out, hi, lo);
    c->rekey_asked = false;
  }
  pthread_rwlock_unlock(&dp->lock);
  return c != NULL;
}
