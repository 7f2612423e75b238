/*
 * branchgate_native: a Linux TUN device for Node, in plain C over Node-API.
 *
 *   open(name, mtu)                              -> { fd, name }
 *   readBatch(fd, slab, slotSize, lengths[, stats]) -> packets read (0 when none ready)
 *   writeBatch(fd, slab, offsets, lengths, count) -> packets written
 *   watch(fd, onReadable)                        -> handle
 *   unwatch(handle)
 *   close(fd)
 *
 * Why this shape (docs/performance.md): a non-blocking fd drained in batches into one
 * preallocated slab costs one JS<->C crossing per batch, not per packet, and never ties up the
 * libuv threadpool the way fs.read does (measured 1.78 M pkt/s vs 133 k pkt/s).
 *
 * Nothing here blocks: the fd is O_NONBLOCK and every loop stops at EAGAIN.
 * Nothing here allocates per packet: the caller owns the slab and the typed arrays.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <net/if.h>
#include <linux/if_tun.h>

#include <node_api.h>
#include "napi_util.h"
/* libuv is NOT part of Node-API's ABI guarantee: uv_poll_t's layout may change between Node
 * majors. That is acceptable because this addon is always compiled from source against the
 * headers of the Node that runs it (npm install -> node-gyp rebuild); a binary copied to another
 * Node major must be rebuilt. The pure Node-API alternative (a reader thread feeding a
 * threadsafe function) costs a thread hop per wake-up and is not worth it here. */
#include <uv.h>

/* ---------------------------------------------------------------------------------------- */
/* Errors: every throw says what failed and, where we know, what to do about it.              */

static const char *errno_code(int err)
{
  switch (err) {
  case EPERM: return "EPERM";
  case ENOENT: return "ENOENT";
  case EINTR: return "EINTR";
  case EIO: return "EIO";
  case ENXIO: return "ENXIO";
  case EBADF: return "EBADF";
  case EAGAIN: return "EAGAIN";
  case ENOMEM: return "ENOMEM";
  case EACCES: return "EACCES";
  case EFAULT: return "EFAULT";
  case EBUSY: return "EBUSY";
  case EEXIST: return "EEXIST";
  case ENODEV: return "ENODEV";
  case EINVAL: return "EINVAL";
  case ENFILE: return "ENFILE";
  case EMFILE: return "EMFILE";
  case ENOTTY: return "ENOTTY";
  case ENOSPC: return "ENOSPC";
  case EBADFD: return "EBADFD";
  case EMSGSIZE: return "EMSGSIZE";
  case ENOBUFS: return "ENOBUFS";
  default: return "ESYSCALL";
  }
}

/* Builds `Error(what: strerror (CODE) — hint)` with .code and .errno set. */
static napi_value errno_error(napi_env env, int err, const char *what, const char *hint)
{
  char msg[768];
  snprintf(msg, sizeof msg, "%s: %s (%s)%s%s", what, strerror(err), errno_code(err),
           hint ? " — " : "", hint ? hint : "");
  napi_value code, text, error, no;
  napi_create_string_utf8(env, errno_code(err), NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &error);
  napi_create_int32(env, -err, &no); /* negative, like Node's own system errors */
  napi_set_named_property(env, error, "errno", no);
  return error;
}

static void throw_errno(napi_env env, int err, const char *what, const char *hint)
{
  napi_throw(env, errno_error(env, err, what, hint));
}

/* N-API call checks and argument checks (wrong types and out-of-range values throw
 * TypeError/RangeError naming the argument, so a caller's bug never becomes a read past the end
 * of a buffer) are shared with the ESP and dataplane exports: napi_util.h. */

static bool arg_fd(napi_env env, napi_value v, const char *fn, int *fd)
{
  uint32_t u;
  if (!bg_uint(env, v, fn, "fd", 0, INT_MAX, &u)) return false;
  *fd = (int)u;
  return true;
}

/* ---------------------------------------------------------------------------------------- */
/* open(name, mtu) -> { fd, name }                                                            */

#define PRIV_HINT                                                                             \
  "run as root or grant CAP_NET_ADMIN (setcap cap_net_admin+ep); in a container add "        \
  "--cap-add NET_ADMIN --device /dev/net/tun"

/* MTU and IFF_UP through an AF_INET datagram socket: the classic netdevice ioctls (see
 * netdevice(7)); no `ip` child process, no rtnetlink dependency. Returns 0 or an errno and
 * names the step that failed. */
static int configure_link(const char *ifname, uint32_t mtu, const char **step)
{
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) {
    *step = "socket(AF_INET) for interface ioctls";
    return errno;
  }
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
  ifr.ifr_mtu = (int)mtu;
  int err = 0;
  if (ioctl(s, SIOCSIFMTU, &ifr) < 0) {
    err = errno;
    *step = "set MTU (SIOCSIFMTU)";
  } else if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) {
    err = errno;
    *step = "read interface flags (SIOCGIFFLAGS)";
  } else if (!(ifr.ifr_flags & IFF_UP)) {
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) {
      err = errno;
      *step = "bring the link up (SIOCSIFFLAGS)";
    }
  }
  close(s);
  return err;
}

/*
 * open(name, mtu[, offload]) -> { fd, name, offload }
 *
 * offload (the native dataplane's TUN, src/dataplane/native-dataplane.ts): IFF_VNET_HDR with a
 * 10-octet struct virtio_net_hdr before every packet both ways, and TUNSETOFFLOAD(TUN_F_CSUM |
 * TUN_F_TSO4 | TUN_F_TSO_ECN): the kernel may hand us TCP super-packets up to 64 KiB (segmented by
 * the engine, native/src/dp_io.c) and packets whose checksum is left to us, and it accepts such
 * super-packets on write (the engine coalesces consecutive TCP segments). The tunnel is then
 * crossed once per super-packet instead of once per segment (as wireguard-go's TUN GSO/GRO does;
 * docs/performance.md). If the kernel refuses the offloads, the device is opened plain
 * and `offload` in the result is false.
 */
static napi_value tun_open(napi_env env, napi_callback_info info)
{
  size_t argc = 3;
  napi_value argv[3];
  BG_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "open(name, mtu): both arguments are required");
    return NULL;
  }
  napi_valuetype t;
  BG_CALL(env, napi_typeof(env, argv[0], &t));
  if (t != napi_string) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "open: name must be a string");
    return NULL;
  }
  /* Check the length before copying: N-API would silently truncate to the buffer. */
  size_t len = 0;
  BG_CALL(env, napi_get_value_string_utf8(env, argv[0], NULL, 0, &len));
  char name[IFNAMSIZ];
  char msg[512];
  if (len >= IFNAMSIZ) {
    snprintf(msg, sizeof msg,
             "open: interface name is %zu bytes; Linux allows at most %d (IFNAMSIZ - 1)", len,
             IFNAMSIZ - 1);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return NULL;
  }
  BG_CALL(env, napi_get_value_string_utf8(env, argv[0], name, sizeof name, &len));
  if (strlen(name) != len) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_VALUE", "open: name must not contain NUL");
    return NULL;
  }
  uint32_t mtu;
  /* 68 is IPv4's minimum (RFC 791) and the kernel's floor for tun; 65535 its ceiling. */
  if (!bg_uint(env, argv[1], "open", "mtu", 68, 65535, &mtu)) return NULL;
  bool offload = false;
  if (argc > 2) {
    napi_valuetype ot;
    BG_CALL(env, napi_typeof(env, argv[2], &ot));
    if (ot == napi_boolean) BG_CALL(env, napi_get_value_bool(env, argv[2], &offload));
  }

  int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int err = errno;
    const char *hint = (err == EACCES || err == EPERM) ? PRIV_HINT
                       : (err == ENOENT || err == ENODEV || err == ENXIO)
                           ? "the TUN driver is missing: load it with `modprobe tun`; in a "
                             "container add --device /dev/net/tun"
                           : NULL;
    throw_errno(env, err, "cannot open /dev/net/tun", hint);
    return NULL;
  }

  /* IFF_NO_PI: packets are bare IP, no 4-byte protocol prefix. An empty name lets the kernel
   * pick tunN. An existing persistent TUN device of that name is attached to, not recreated. */
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, len);
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (offload ? IFF_VNET_HDR : 0);
  int set = ioctl(fd, TUNSETIFF, &ifr);
  if (set < 0 && offload && errno == EINVAL) { /* an existing device without vnet headers: plain */
    offload = false;
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
    set = ioctl(fd, TUNSETIFF, &ifr);
  }
  if (set < 0) {
    int err = errno;
    close(fd);
    const char *hint = NULL;
    char hintbuf[256];
    if (err == EPERM || err == EACCES) {
      hint = PRIV_HINT;
    } else if (err == EBUSY) {
      snprintf(hintbuf, sizeof hintbuf,
               "TUN device %s is already attached to another file descriptor (another "
               "branchgate or VPN?): stop that process or choose another name",
               name);
      hint = hintbuf;
    } else if (err == EINVAL && if_nametoindex(name) != 0) {
      snprintf(hintbuf, sizeof hintbuf,
               "%s exists and is not a single-queue TUN device (a TAP, a multi-queue TUN or "
               "another kind of link): choose another name or remove it with `ip link del %s`",
               name, name);
      hint = hintbuf;
    } else if (err == EINVAL) {
      hint = "not a valid interface name (no '/', ':', whitespace, \".\" or \"..\")";
    }
    snprintf(msg, sizeof msg, "cannot create or attach TUN device \"%s\" (TUNSETIFF)", name);
    throw_errno(env, err, msg, hint);
    return NULL;
  }
  if (offload) {
    int hdr = 10; /* sizeof(struct virtio_net_hdr) */
    unsigned int feat = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO_ECN;
    if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0 || ioctl(fd, TUNSETOFFLOAD, feat) < 0) {
      /* The flag is fixed once set; without offloads the header stays, all zero: still usable. */
      ioctl(fd, TUNSETOFFLOAD, 0u);
    }
  }
  /* The kernel wrote back the real name (it matters when the kernel chose it). */
  char real[IFNAMSIZ];
  snprintf(real, sizeof real, "%s", ifr.ifr_name);

  const char *step = "";
  int err = configure_link(real, mtu, &step);
  if (err != 0) {
    close(fd); /* a non-persistent device disappears with its last fd */
    snprintf(msg, sizeof msg, "TUN device %s: cannot %s to MTU %u", real, step, mtu);
    throw_errno(env, err, msg,
                err == EPERM || err == EACCES ? PRIV_HINT
                : err == EINVAL ? "the device refused this MTU (TUN accepts 68..65535)"
                                : NULL);
    return NULL;
  }

  napi_value result, vfd, vname;
  if (napi_create_object(env, &result) != napi_ok || napi_create_int32(env, fd, &vfd) != napi_ok ||
      napi_create_string_utf8(env, real, NAPI_AUTO_LENGTH, &vname) != napi_ok ||
      napi_set_named_property(env, result, "fd", vfd) != napi_ok ||
      napi_set_named_property(env, result, "name", vname) != napi_ok ||
      napi_get_boolean(env, offload, &vname) != napi_ok ||
      napi_set_named_property(env, result, "offload", vname) != napi_ok) {
    close(fd);
    bg_throw_napi(env, "building open() result");
    return NULL;
  }
  return result;
}

/* ---------------------------------------------------------------------------------------- */
/* readBatch(fd, slab, slotSize, lengths[, stats]) -> count                                   */
/*                                                                                            */
/* Packet i lands at slab[i*slotSize], its length in lengths[i]. Reads stop at EAGAIN, at     */
/* lengths.length packets, or when the slab has no room for another slot.                     */
/*                                                                                            */
/* A TUN read into a short buffer silently truncates the packet (measured: a 1028-byte packet */
/* read into 100 bytes returns 100). So each read gets one extra scratch byte through readv:  */
/* a read longer than slotSize is a packet that did not fit; it is dropped (forwarding a      */
/* truncated IP packet is worse than dropping it) and counted in stats[0] when given. That    */
/* happens only if someone raised the MTU above the slot size behind our back.                */

static napi_value tun_read_batch(napi_env env, napi_callback_info info)
{
  size_t argc = 5;
  napi_value argv[5];
  BG_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS",
                          "readBatch(fd, slab, slotSize, lengths): 4 arguments are required");
    return NULL;
  }
  int fd;
  uint8_t *slab;
  size_t slab_len, nlen, nstats = 0;
  uint32_t slot, *lengths, *stats = NULL;
  if (!arg_fd(env, argv[0], "readBatch", &fd)) return NULL;
  if (!bg_view(env, argv[1], "readBatch", "slab", napi_uint8_array, (void **)&slab, &slab_len))
    return NULL;
  if (!bg_uint(env, argv[2], "readBatch", "slotSize", 1, 65536, &slot)) return NULL;
  if (!bg_view(env, argv[3], "readBatch", "lengths", napi_uint32_array, (void **)&lengths, &nlen))
    return NULL;
  if (argc >= 5) {
    napi_valuetype t;
    BG_CALL(env, napi_typeof(env, argv[4], &t));
    if (t != napi_undefined &&
        !bg_view(env, argv[4], "readBatch", "stats", napi_uint32_array, (void **)&stats, &nstats))
      return NULL;
    if (nstats == 0) stats = NULL;
  }
  size_t max = slab_len / slot;
  if (nlen < max) max = nlen;
  if (max == 0) {
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE",
                           "readBatch: no room for a packet: slab must hold at least one slot of "
                           "slotSize bytes and lengths must have at least one element");
    return NULL;
  }

  uint8_t overflow[1];
  size_t n = 0;
  while (n < max) {
    struct iovec iov[2] = {
      {.iov_base = slab + n * (size_t)slot, .iov_len = slot},
      {.iov_base = overflow, .iov_len = sizeof overflow},
    };
    ssize_t r = readv(fd, iov, 2);
    if (r > (ssize_t)slot) {
      if (stats) stats[0]++;
      continue;
    }
    if (r > 0) {
      lengths[n++] = (uint32_t)r;
      continue;
    }
    if (r == 0) break; /* not a TUN fd (EOF); TUN never returns 0 for a non-empty buffer */
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    /* Hand back what we already have; the error repeats on the next call and throws then. */
    if (n > 0) break;
    int err = errno;
    char what[96];
    snprintf(what, sizeof what, "readBatch: read from TUN fd %d failed", fd);
    throw_errno(env, err, what,
                err == EBADFD ? "the TUN device was deleted (ip link del?): close and reopen it"
                : err == EBADF ? "the fd is closed or was never opened by open()"
                               : NULL);
    return NULL;
  }
  napi_value result;
  BG_CALL(env, napi_create_uint32(env, (uint32_t)n, &result));
  return result;
}

/* ---------------------------------------------------------------------------------------- */
/* writeBatch(fd, slab, offsets, lengths, count) -> written                                   */
/*                                                                                            */
/* count - written packets were dropped, as a router drops:                                   */
/*   EAGAIN/ENOBUFS (queue full) and EIO (link administratively down) end the batch, since    */
/*   the rest would fail the same way;                                                        */
/*   EINVAL (the kernel refuses it: empty, or not IPv4/IPv6) skips that one packet, because   */
/*   decrypted content comes from a peer and must not be able to stop the datapath.          */
/* Anything else (the fd is gone) throws; the error carries .written.                         */

static napi_value tun_write_batch(napi_env env, napi_callback_info info)
{
  size_t argc = 5;
  napi_value argv[5];
  BG_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS",
                          "writeBatch(fd, slab, offsets, lengths, count): 5 arguments are "
                          "required");
    return NULL;
  }
  int fd;
  uint8_t *slab;
  size_t slab_len, noff, nlen;
  uint32_t *offsets, *lengths, count;
  if (!arg_fd(env, argv[0], "writeBatch", &fd)) return NULL;
  if (!bg_view(env, argv[1], "writeBatch", "slab", napi_uint8_array, (void **)&slab, &slab_len))
    return NULL;
  if (!bg_view(env, argv[2], "writeBatch", "offsets", napi_uint32_array, (void **)&offsets,
                &noff))
    return NULL;
  if (!bg_view(env, argv[3], "writeBatch", "lengths", napi_uint32_array, (void **)&lengths,
                &nlen))
    return NULL;
  size_t cap = noff < nlen ? noff : nlen;
  if (!bg_uint(env, argv[4], "writeBatch", "count", 0, (uint32_t)(cap > UINT32_MAX ? UINT32_MAX : cap),
                &count))
    return NULL;
  /* Validate every slice before the first write, so a bad batch has no side effects. */
  for (uint32_t i = 0; i < count; i++) {
    if ((uint64_t)offsets[i] + lengths[i] > slab_len) {
      char msg[192];
      snprintf(msg, sizeof msg,
               "writeBatch: packet %u (offset %u, length %u) runs past the end of the slab "
               "(%zu bytes)",
               i, offsets[i], lengths[i], slab_len);
      napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
      return NULL;
    }
  }

  uint32_t written = 0;
  for (uint32_t i = 0; i < count;) {
    ssize_t r = write(fd, slab + offsets[i], lengths[i]);
    if (r >= 0) {
      written++;
      i++;
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EINVAL) {
      i++;
      continue;
    }
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == EIO) break;
    int err = errno;
    char what[96];
    snprintf(what, sizeof what, "writeBatch: write to TUN fd %d failed", fd);
    napi_value error = errno_error(env, err, what,
                                   err == EBADFD ? "the TUN device was deleted (ip link del?): "
                                                   "close and reopen it"
                                   : err == EBADF ? "the fd is closed or was never opened by open()"
                                                  : NULL);
    napi_value w;
    napi_create_uint32(env, written, &w);
    napi_set_named_property(env, error, "written", w);
    napi_throw(env, error);
    return NULL;
  }
  napi_value result;
  BG_CALL(env, napi_create_uint32(env, written, &result));
  return result;
}

/* ---------------------------------------------------------------------------------------- */
/* watch / unwatch: readiness through uv_poll_t on the environment's own loop.                */
/*                                                                                            */
/* Lifetime. A watch_t is referenced by two owners: the JS handle object (napi_wrap, released */
/* by its finalizer) and the libuv handle (released by uv_close's callback). It is freed by   */
/* whichever lets go last, so unwatch twice, unwatch after close(fd), GC of a live handle or  */
/* environment teardown can never touch freed memory. An active watch keeps the process       */
/* alive (it is a daemon's input); after unwatch the handle is closed and does not.           */
/*                                                                                            */
/* libuv forbids two poll handles on one fd in one loop, and closing an fd that is still      */
/* polled; so each environment keeps a list of its active watches: watch() refuses a second   */
/* watch on an fd and close(fd) stops the fd's watch first.                                   */

typedef struct watch_s {
  uv_poll_t poll;
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  napi_async_cleanup_hook_handle hook;
  int fd;
  bool closing;     /* uv_close requested (by unwatch, close(fd) or teardown) */
  bool uv_closed;   /* uv_close callback ran */
  bool js_released; /* the JS handle object was collected */
  struct watch_s *next, *prev;
} watch_t;

typedef struct {
  watch_t *active; /* watches not yet closing */
} instance_t;

static const napi_type_tag WATCH_TAG = {0x6272616e63686761ULL, 0x74652d74756e7721ULL};

static instance_t *instance(napi_env env)
{
  void *data = NULL;
  napi_get_instance_data(env, &data);
  return (instance_t *)data;
}

static void maybe_free(watch_t *w)
{
  if (w->uv_closed && w->js_released) free(w);
}

static void on_uv_closed(uv_handle_t *h)
{
  watch_t *w = (watch_t *)h->data;
  napi_env env = w->env;
  napi_delete_reference(env, w->callback);
  napi_async_destroy(env, w->async);
  napi_async_cleanup_hook_handle hook = w->hook;
  bool free_now = w->js_released;
  w->uv_closed = true;
  /* Removing the hook may let a tearing-down environment finish, and its finalizers may run
   * and free w (it sees uv_closed): so read everything first and touch w no more after. */
  if (hook) napi_remove_async_cleanup_hook(hook);
  if (free_now) free(w);
}

static void stop_watch(watch_t *w)
{
  if (w->closing) return;
  w->closing = true;
  if (w->prev) w->prev->next = w->next;
  else {
    instance_t *inst = instance(w->env);
    if (inst && inst->active == w) inst->active = w->next;
  }
  if (w->next) w->next->prev = w->prev;
  w->next = w->prev = NULL;
  uv_poll_stop(&w->poll);
  uv_close((uv_handle_t *)&w->poll, on_uv_closed);
}

/* Environment teardown (process exit, worker termination): close the libuv handle so the loop
 * can close; Node waits until on_uv_closed removes the hook. */
static void on_env_teardown(napi_async_cleanup_hook_handle handle, void *arg)
{
  stop_watch((watch_t *)arg);
}

static void on_handle_collected(napi_env env, void *data, void *hint)
{
  watch_t *w = (watch_t *)data;
  w->js_released = true;
  maybe_free(w);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
  watch_t *w = (watch_t *)h->data;
  if (w->closing) return;
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value cb, recv, arg;
  size_t argc = 0;
  if (napi_get_reference_value(env, w->callback, &cb) == napi_ok && cb != NULL &&
      napi_get_global(env, &recv) == napi_ok) { /* make_callback wants an object receiver */
    /* On POLLERR libuv has already stopped this poll and reports UV_EBADF; pass that on so the
     * JS side can find out why (a readBatch will then throw the real errno). */
    if (status < 0) {
      char msg[160];
      snprintf(msg, sizeof msg, "TUN fd %d: readiness poll failed: %s", w->fd,
               uv_strerror(status));
      napi_value code, text;
      napi_create_string_utf8(env, uv_err_name(status), NAPI_AUTO_LENGTH, &code);
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
      napi_create_error(env, code, text, &arg);
      argc = 1;
    }
    /* napi_make_callback, not napi_call_function: it runs the microtask queue afterwards and
     * keeps async_hooks context, as any libuv-driven callback into JS must. */
    napi_status s = napi_make_callback(env, w->async, recv, cb, argc, argc ? &arg : NULL, NULL);
    if (s == napi_pending_exception) {
      /* Nothing up the stack can catch it: report it as an uncaught exception, as Node does
       * for its own callbacks, instead of losing it. */
      napi_value exc;
      if (napi_get_and_clear_last_exception(env, &exc) == napi_ok) napi_fatal_exception(env, exc);
    }
  }
  napi_close_handle_scope(env, scope);
}

static napi_value tun_watch(napi_env env, napi_callback_info info)
{
  size_t argc = 2;
  napi_value argv[2];
  BG_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  if (argc < 2) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "watch(fd, onReadable): 2 arguments are required");
    return NULL;
  }
  if (!arg_fd(env, argv[0], "watch", &fd)) return NULL;
  napi_valuetype t;
  BG_CALL(env, napi_typeof(env, argv[1], &t));
  if (t != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "watch: onReadable must be a function");
    return NULL;
  }
  instance_t *inst = instance(env);
  for (watch_t *o = inst ? inst->active : NULL; o; o = o->next) {
    if (o->fd == fd) {
      char msg[128];
      snprintf(msg, sizeof msg, "watch: fd %d is already watched; unwatch it first", fd);
      napi_throw_error(env, "ERR_INVALID_STATE", msg);
      return NULL;
    }
  }
  uv_loop_t *loop;
  BG_CALL(env, napi_get_uv_event_loop(env, &loop));

  watch_t *w = calloc(1, sizeof *w);
  if (!w) {
    throw_errno(env, ENOMEM, "watch", NULL);
    return NULL;
  }
  w->env = env;
  w->fd = fd;
  w->js_released = true; /* no JS owner until napi_wrap succeeds */

  /* N-API pieces first: until libuv knows the handle, a failure is a plain free. */
  napi_value handle, resource_name, vfd;
  if (napi_create_reference(env, argv[1], 1, &w->callback) != napi_ok) {
    free(w);
    bg_throw_napi(env, "watch: napi_create_reference");
    return NULL;
  }
  if (napi_create_string_utf8(env, "branchgate:tun-watch", NAPI_AUTO_LENGTH, &resource_name) !=
          napi_ok ||
      napi_async_init(env, NULL, resource_name, &w->async) != napi_ok ||
      napi_create_object(env, &handle) != napi_ok || napi_create_int32(env, fd, &vfd) != napi_ok ||
      napi_set_named_property(env, handle, "fd", vfd) != napi_ok ||
      napi_type_tag_object(env, handle, &WATCH_TAG) != napi_ok) {
    napi_delete_reference(env, w->callback);
    if (w->async) napi_async_destroy(env, w->async);
    free(w);
    bg_throw_napi(env, "watch: building the handle");
    return NULL;
  }

  int rc = uv_poll_init(loop, &w->poll, fd);
  bool initialized = rc == 0; /* only an initialized handle is known to the loop */
  w->poll.data = w;
  if (rc == 0) rc = uv_poll_start(&w->poll, UV_READABLE, on_poll);
  if (rc != 0) {
    char msg[192];
    snprintf(msg, sizeof msg, "watch: cannot poll fd %d: %s (%s)%s", fd, uv_strerror(rc),
             uv_err_name(rc),
             rc == UV_EPERM ? " — this kind of file cannot be polled; pass a TUN fd from open()"
             : rc == UV_EEXIST ? " — something else in this process already polls it"
             : rc == UV_EBADF ? " — the fd is closed" : "");
    if (initialized) {
      stop_watch(w); /* on_uv_closed releases the N-API pieces and frees w */
    } else {
      napi_delete_reference(env, w->callback);
      napi_async_destroy(env, w->async);
      free(w);
    }
    napi_throw_error(env, uv_err_name(rc), msg);
    return NULL;
  }
  if (napi_add_async_cleanup_hook(env, on_env_teardown, w, &w->hook) != napi_ok ||
      napi_wrap(env, handle, w, on_handle_collected, NULL, NULL) != napi_ok) {
    stop_watch(w); /* same path as unwatch; w->hook may still be NULL */
    bg_throw_napi(env, "watch: registering the handle");
    return NULL;
  }
  w->js_released = false;

  w->next = inst ? inst->active : NULL;
  if (w->next) w->next->prev = w;
  if (inst) inst->active = w;
  return handle;
}

static napi_value tun_unwatch(napi_env env, napi_callback_info info)
{
  size_t argc = 1;
  napi_value argv[1];
  BG_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  bool ours = false;
  napi_valuetype t = napi_undefined;
  if (argc >= 1) napi_typeof(env, argv[0], &t);
  if (t == napi_object) BG_CALL(env, napi_check_object_type_tag(env, argv[0], &WATCH_TAG, &ours));
  if (!ours) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE",
                          "unwatch: handle must be the value returned by watch()");
    return NULL;
  }
  watch_t *w = NULL;
  BG_CALL(env, napi_unwrap(env, argv[0], (void **)&w));
  stop_watch(w); /* idempotent */
  return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* close(fd): stop its watch first (libuv must not poll a closed, possibly reused, fd).       */

static napi_value tun_close(napi_env env, napi_callback_info info)
{
  size_t argc = 1;
  napi_value argv[1];
  BG_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int fd;
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "close(fd): fd is required");
    return NULL;
  }
  if (!arg_fd(env, argv[0], "close", &fd)) return NULL;
  instance_t *inst = instance(env);
  for (watch_t *w = inst ? inst->active : NULL; w; w = w->next) {
    if (w->fd == fd) {
      stop_watch(w);
      break;
    }
  }
  /* On Linux the fd is released even when close() reports EINTR, so never retry. */
  if (close(fd) < 0 && errno != EINTR) {
    int err = errno; /* before snprintf can change it */
    char what[64];
    snprintf(what, sizeof what, "close: fd %d", fd);
    throw_errno(env, err, what, err == EBADF ? "it is not open (closed twice?)" : NULL);
  }
  return NULL;
}

/* ---------------------------------------------------------------------------------------- */

/* The ESP (esp_napi.c), dataplane (dp_napi.c) and privilege (priv.c) exports share this
 * module's init. */
napi_status esp_napi_init(napi_env env, napi_value exports);
napi_status dp_napi_init(napi_env env, napi_value exports);
napi_status priv_napi_init(napi_env env, napi_value exports);
napi_status notify_napi_init(napi_env env, napi_value exports);

static void free_instance(napi_env env, void *data, void *hint)
{
  free(data); /* every watch has closed by now: their cleanup hooks hold the env open */
}

NAPI_MODULE_INIT()
{
  instance_t *inst = calloc(1, sizeof *inst);
  if (!inst || napi_set_instance_data(env, inst, free_instance, NULL) != napi_ok) {
    free(inst);
    napi_throw_error(env, NULL, "branchgate_native: cannot allocate instance data");
    return NULL;
  }
  napi_property_descriptor props[] = {
    {"open", NULL, tun_open, NULL, NULL, NULL, napi_enumerable, NULL},
    {"readBatch", NULL, tun_read_batch, NULL, NULL, NULL, napi_enumerable, NULL},
    {"writeBatch", NULL, tun_write_batch, NULL, NULL, NULL, napi_enumerable, NULL},
    {"watch", NULL, tun_watch, NULL, NULL, NULL, napi_enumerable, NULL},
    {"unwatch", NULL, tun_unwatch, NULL, NULL, NULL, napi_enumerable, NULL},
    {"close", NULL, tun_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  BG_CALL(env, napi_define_properties(env, exports, sizeof props / sizeof props[0], props));
  BG_CALL(env, esp_napi_init(env, exports));
  BG_CALL(env, dp_napi_init(env, exports));
  BG_CALL(env, priv_napi_init(env, exports));
  BG_CALL(env, notify_napi_init(env, exports));
  return exports;
}
