/*
 * Node-API bindings of the dataplane engine (dp.h); the TypeScript side is
 * src/dataplane/native-dataplane.ts, the typed surface src/native/dp-api.ts. Addresses are IPv4
 * as u32 in host order. Events from the I/O threads reach JS through one threadsafe function
 * (unref'd: it never keeps the process alive), called on the main thread.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "dp.h"
#include "napi_util.h"

static const napi_type_tag DP_TAG = {0x6272616e63686761ULL, 0x74652d64702d2d31ULL};

typedef struct {
  dp_t *dp;
  napi_threadsafe_function tsfn;
  bool released;
  napi_env env;
} dp_box_t;

typedef struct {
  int kind;
  uint32_t a, b;
} dp_event_t;

/* From any thread: queue the event (nonblocking). The threadsafe function's queue has no size
 * limit, but what can be in it is bounded by construction: REKEY_NEEDED once per outbound SA
 * (rekey_asked) and TUN_ERROR once per tunnel (broken), so at most a few per installed SA. A
 * limit here could only lose one of those, which nothing would ever ask for again. */
static void emit(void *ctx, int kind, uint32_t a, uint32_t b)
{
  dp_box_t *box = ctx;
  dp_event_t *e = malloc(sizeof *e);
  if (!e) return;
  e->kind = kind;
  e->a = a;
  e->b = b;
  if (napi_call_threadsafe_function(box->tsfn, e, napi_tsfn_nonblocking) != napi_ok) free(e);
}

static void call_js(napi_env env, napi_value cb, void *context, void *data)
{
  dp_event_t *e = data;
  if (env != NULL && cb != NULL) {
    napi_value argv[3], undefined;
    napi_create_int32(env, e->kind, &argv[0]);
    napi_create_uint32(env, e->a, &argv[1]);
    napi_create_uint32(env, e->b, &argv[2]);
    napi_get_undefined(env, &undefined);
    napi_call_function(env, undefined, cb, 3, argv, NULL);
  }
  free(e);
}

static void shutdown_box(dp_box_t *box)
{
  if (box->dp) dp_close(box->dp); /* joins the threads: no emit after this */
  if (!box->released) {
    box->released = true;
    napi_release_threadsafe_function(box->tsfn, napi_tsfn_abort);
  }
}

/* Environment teardown (process exit, worker end): stop the threads before OpenSSL and the
 * loop go away under them. */
static void on_teardown(void *arg) { shutdown_box(arg); }

static void finalize(napi_env env, void *data, void *hint)
{
  dp_box_t *box = data;
  napi_remove_env_cleanup_hook(env, on_teardown, box);
  shutdown_box(box);
  if (box->dp) dp_free(box->dp);
  free(box);
}

static dp_t *get_dp(napi_env env, napi_value v, const char *fn)
{
  bool ours = false;
  napi_valuetype t = napi_undefined;
  napi_typeof(env, v, &t);
  if (t == napi_object) napi_check_object_type_tag(env, v, &DP_TAG, &ours);
  dp_box_t *box = NULL;
  if (!ours || napi_unwrap(env, v, (void **)&box) != napi_ok || !box) {
    char msg[128];
    snprintf(msg, sizeof msg, "%s: dp must be a value returned by dpCreate()", fn);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return NULL;
  }
  return box->dp;
}

#define ARGS(n, fn)                                                                           \
  size_t argc = (n);                                                                          \
  napi_value argv[(n) > 0 ? (n) : 1];                                                         \
  BG_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));                         \
  if (argc < (n)) {                                                                           \
    napi_throw_type_error(env, "ERR_MISSING_ARGS", fn ": missing arguments");                 \
    return NULL;                                                                              \
  }

static napi_value create(napi_env env, napi_callback_info info)
{
  ARGS(1, "dpCreate");
  napi_valuetype t;
  BG_CALL(env, napi_typeof(env, argv[0], &t));
  if (t != napi_function) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "dpCreate: onEvent must be a function");
    return NULL;
  }
  dp_box_t *box = calloc(1, sizeof *box);
  if (!box) {
    napi_throw_error(env, "ENOMEM", "dpCreate: out of memory");
    return NULL;
  }
  box->env = env;
  napi_value name;
  napi_create_string_utf8(env, "branchgate:dataplane-events", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[0], NULL, name, 0, 1, NULL, NULL, NULL, call_js, &box->tsfn) != napi_ok) {
    free(box);
    bg_throw_napi(env, "dpCreate: napi_create_threadsafe_function");
    return NULL;
  }
  napi_unref_threadsafe_function(env, box->tsfn);
  char err[256] = "";
  box->dp = dp_create(emit, box, err, sizeof err);
  if (!box->dp) {
    napi_release_threadsafe_function(box->tsfn, napi_tsfn_abort);
    free(box);
    char msg[320];
    snprintf(msg, sizeof msg, "dpCreate: %s", err);
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  napi_value obj;
  if (napi_create_object(env, &obj) != napi_ok || napi_type_tag_object(env, obj, &DP_TAG) != napi_ok ||
      napi_wrap(env, obj, box, finalize, NULL, NULL) != napi_ok) {
    shutdown_box(box);
    dp_free(box->dp);
    free(box);
    bg_throw_napi(env, "dpCreate: wrapping the engine");
    return NULL;
  }
  napi_add_env_cleanup_hook(env, on_teardown, box);
  return obj;
}

static napi_value add_socket(napi_env env, napi_callback_info info)
{
  ARGS(4, "dpAddSocket");
  dp_t *dp = get_dp(env, argv[0], "dpAddSocket");
  uint32_t addr, port, fd;
  if (!dp || !bg_uint(env, argv[1], "dpAddSocket", "addr", 0, UINT32_MAX, &addr) ||
      !bg_uint(env, argv[2], "dpAddSocket", "port", 1, 65535, &port) ||
      !bg_uint(env, argv[3], "dpAddSocket", "existingFd", 0, INT32_MAX, &fd))
    return NULL;
  char err[384] = "";
  int r = dp_add_socket(dp, addr, (uint16_t)port, (int)fd, err, sizeof err);
  if (r < 0) {
    char msg[448];
    snprintf(msg, sizeof msg, "dpAddSocket: %s", err);
    napi_throw_error(env, NULL, msg);
    return NULL;
  }
  napi_value out, mode, why;
  BG_CALL(env, napi_create_object(env, &out));
  napi_create_int32(env, r, &mode);
  napi_create_string_utf8(env, err, NAPI_AUTO_LENGTH, &why);
  napi_set_named_property(env, out, "mode", mode);
  napi_set_named_property(env, out, "reason", why);
  return out;
}

static napi_value attach(napi_env env, napi_callback_info info)
{
  ARGS(5, "dpAttachTunnel");
  dp_t *dp = get_dp(env, argv[0], "dpAttachTunnel");
  uint32_t id, fd, mtu, mss;
  if (!dp || !bg_uint(env, argv[1], "dpAttachTunnel", "tunnelId", 0, DP_MAX_TUNNELS - 1, &id) ||
      !bg_uint(env, argv[2], "dpAttachTunnel", "tunFd", 0, INT32_MAX, &fd) ||
      !bg_uint(env, argv[3], "dpAttachTunnel", "mtu", 68, 65535, &mtu) ||
      !bg_uint(env, argv[4], "dpAttachTunnel", "mssClamp", 0, 65535, &mss))
    return NULL;
  bool vnet = false; /* optional 6th argument: the fd has virtio_net_hdr (tun.c open's offload) */
  if (argc > 5) {
    napi_value all[6];
    size_t n6 = 6;
    BG_CALL(env, napi_get_cb_info(env, info, &n6, all, NULL, NULL));
    napi_valuetype vt;
    BG_CALL(env, napi_typeof(env, all[5], &vt));
    if (vt != napi_undefined && !bg_bool(env, all[5], "dpAttachTunnel", "vnet", &vnet)) return NULL;
  }
  int r = dp_attach_tunnel(dp, id, (int)fd, mtu, mss, vnet);
  if (r < 0) {
    char msg[160];
    snprintf(msg, sizeof msg, "dpAttachTunnel: tunnel %u (fd %u): %s", id, fd, strerror(-r));
    napi_throw_error(env, NULL, msg);
  }
  return NULL;
}

static napi_value detach(napi_env env, napi_callback_info info)
{
  ARGS(2, "dpDetachTunnel");
  dp_t *dp = get_dp(env, argv[0], "dpDetachTunnel");
  uint32_t id;
  if (!dp || !bg_uint(env, argv[1], "dpDetachTunnel", "tunnelId", 0, DP_MAX_TUNNELS - 1, &id)) return NULL;
  dp_detach_tunnel(dp, id);
  return NULL;
}

/* Selectors: 5 u32 per selector (start, end, protocol, startPort, endPort). */
static bool get_ts(napi_env env, napi_value v, const char *name, ts_t **out, uint32_t *n)
{
  uint32_t *raw;
  size_t len;
  if (!bg_view(env, v, "dpAddChild", name, napi_uint32_array, (void **)&raw, &len)) return false;
  if (len % 5 != 0 || len / 5 > 256) {
    bg_range(env, "dpAddChild: selectors are 5 numbers each, at most 256 selectors");
    return false;
  }
  *n = (uint32_t)(len / 5);
  *out = malloc((*n ? *n : 1) * sizeof(ts_t));
  if (!*out) {
    napi_throw_error(env, "ENOMEM", "dpAddChild: out of memory");
    return false;
  }
  for (uint32_t i = 0; i < *n; i++) {
    const uint32_t *r = raw + i * 5;
    if (r[2] > 255 || r[3] > 65535 || r[4] > 65535) {
      free(*out);
      bg_range(env, "dpAddChild: selector protocol or port out of range");
      return false;
    }
    (*out)[i] = (ts_t){.start = r[0], .end = r[1], .proto = (uint8_t)r[2], .port_start = (uint16_t)r[3], .port_end = (uint16_t)r[4]};
  }
  return true;
}

static napi_value add_child(napi_env env, napi_callback_info info)
{
  ARGS(18, "dpAddChild");
  dp_t *dp = get_dp(env, argv[0], "dpAddChild");
  dp_child_params_t p;
  memset(&p, 0, sizeof p);
  uint32_t port;
  uint8_t *ei, *ii, *eo, *io;
  const char *fn = "dpAddChild";
  if (!dp || !bg_uint(env, argv[1], fn, "tunnelId", 0, DP_MAX_TUNNELS - 1, &p.tunnel) ||
      !bg_uint(env, argv[2], fn, "spiIn", 0, UINT32_MAX, &p.spi_in) ||
      !bg_uint(env, argv[3], fn, "spiOut", 0, UINT32_MAX, &p.spi_out) ||
      !bg_bool(env, argv[4], fn, "esn", &p.esn) ||
      !bg_uint(env, argv[5], fn, "encrId", 0, 1024, &p.encr_id) ||
      !bg_uint(env, argv[6], fn, "keyBits", 0, 256, &p.key_bits) ||
      !bg_uint(env, argv[7], fn, "integId", 0, 1024, &p.integ_id) ||
      !bg_view(env, argv[8], fn, "encrKeyIn", napi_uint8_array, (void **)&ei, &p.encr_in_len) ||
      !bg_view(env, argv[9], fn, "integKeyIn", napi_uint8_array, (void **)&ii, &p.integ_in_len) ||
      !bg_view(env, argv[10], fn, "encrKeyOut", napi_uint8_array, (void **)&eo, &p.encr_out_len) ||
      !bg_view(env, argv[11], fn, "integKeyOut", napi_uint8_array, (void **)&io, &p.integ_out_len) ||
      !bg_uint(env, argv[12], fn, "replayWindow", 0, 1u << 20, &p.replay_window) ||
      !bg_uint(env, argv[15], fn, "localAddr", 0, UINT32_MAX, &p.local_addr) ||
      !bg_uint(env, argv[16], fn, "remoteAddr", 0, UINT32_MAX, &p.remote_addr) ||
      !bg_uint(env, argv[17], fn, "remotePort", 1, 65535, &port))
    return NULL;
  p.encr_in = ei;
  p.integ_in = ii;
  p.encr_out = eo;
  p.integ_out = io;
  p.remote_port = (uint16_t)port;
  /* activate (optional 19th argument, default true): see dp_child_params_t. */
  p.activate = true;
  if (argc > 18) {
    napi_value extra[19];
    size_t n19 = 19;
    BG_CALL(env, napi_get_cb_info(env, info, &n19, extra, NULL, NULL));
    napi_valuetype vt;
    BG_CALL(env, napi_typeof(env, extra[18], &vt));
    if (vt != napi_undefined && !bg_bool(env, extra[18], fn, "activate", &p.activate)) return NULL;
  }
  ts_t *lts = NULL, *rts = NULL;
  if (!get_ts(env, argv[13], "localTs", &lts, &p.n_local)) return NULL;
  if (!get_ts(env, argv[14], "remoteTs", &rts, &p.n_remote)) {
    free(lts);
    return NULL;
  }
  p.local_ts = lts;
  p.remote_ts = rts;
  const char *err = dp_add_child(dp, &p);
  free(lts);
  free(rts);
  if (err) {
    char msg[256];
    snprintf(msg, sizeof msg, "dpAddChild: %s", err);
    bg_range(env, msg);
  }
  return NULL;
}

static napi_value boolean(napi_env env, bool b)
{
  napi_value v;
  napi_get_boolean(env, b, &v);
  return v;
}

static napi_value delete_child(napi_env env, napi_callback_info info)
{
  ARGS(2, "dpDeleteChild");
  dp_t *dp = get_dp(env, argv[0], "dpDeleteChild");
  uint32_t spi;
  if (!dp || !bg_uint(env, argv[1], "dpDeleteChild", "spiIn", 0, UINT32_MAX, &spi)) return NULL;
  return boolean(env, dp_delete_child(dp, spi));
}

static napi_value activate_child(napi_env env, napi_callback_info info)
{
  ARGS(2, "dpActivateChild");
  dp_t *dp = get_dp(env, argv[0], "dpActivateChild");
  uint32_t spi;
  if (!dp || !bg_uint(env, argv[1], "dpActivateChild", "spiIn", 0, UINT32_MAX, &spi)) return NULL;
  return boolean(env, dp_activate_child(dp, spi));
}

static napi_value update_remote(napi_env env, napi_callback_info info)
{
  ARGS(4, "dpUpdateRemote");
  dp_t *dp = get_dp(env, argv[0], "dpUpdateRemote");
  uint32_t id, addr, port;
  if (!dp || !bg_uint(env, argv[1], "dpUpdateRemote", "tunnelId", 0, DP_MAX_TUNNELS - 1, &id) ||
      !bg_uint(env, argv[2], "dpUpdateRemote", "addr", 0, UINT32_MAX, &addr) ||
      !bg_uint(env, argv[3], "dpUpdateRemote", "port", 1, 65535, &port))
    return NULL;
  dp_update_remote(dp, id, addr, (uint16_t)port);
  return NULL;
}

static napi_value counters(napi_env env, napi_callback_info info)
{
  ARGS(3, "dpCounters");
  dp_t *dp = get_dp(env, argv[0], "dpCounters");
  uint32_t spi;
  double *o;
  size_t n;
  if (!dp || !bg_uint(env, argv[1], "dpCounters", "spiIn", 0, UINT32_MAX, &spi) ||
      !bg_view(env, argv[2], "dpCounters", "out", napi_float64_array, (void **)&o, &n))
    return NULL;
  if (n < DPC_COUNT) {
    bg_range(env, "dpCounters: out is too short");
    return NULL;
  }
  return boolean(env, dp_counters(dp, spi, o));
}

static napi_value tunnel_stats(napi_env env, napi_callback_info info)
{
  ARGS(3, "dpTunnelStats");
  dp_t *dp = get_dp(env, argv[0], "dpTunnelStats");
  uint32_t id;
  double *o;
  size_t n;
  if (!dp || !bg_uint(env, argv[1], "dpTunnelStats", "tunnelId", 0, UINT32_MAX, &id) ||
      !bg_view(env, argv[2], "dpTunnelStats", "out", napi_float64_array, (void **)&o, &n))
    return NULL;
  if (n < DPS_COUNT) {
    bg_range(env, "dpTunnelStats: out is too short");
    return NULL;
  }
  return boolean(env, dp_tunnel_stats(dp, id, o));
}

static napi_value drops(napi_env env, napi_callback_info info)
{
  ARGS(2, "dpDrops");
  dp_t *dp = get_dp(env, argv[0], "dpDrops");
  double *o;
  size_t n;
  if (!dp || !bg_view(env, argv[1], "dpDrops", "out", napi_float64_array, (void **)&o, &n)) return NULL;
  if (n < DPD_COUNT) {
    bg_range(env, "dpDrops: out is too short");
    return NULL;
  }
  dp_drops(dp, o);
  return NULL;
}

/* dpNames() -> { counters, tunnelStats, drops }: the names of each output array, in C order
 * (dp.h's X-macro lists); src/native/esp-native.ts checks them against the TypeScript lists. */
static napi_value names(napi_env env, napi_callback_info info)
{
  napi_value out, c, s, d;
  BG_CALL(env, napi_create_object(env, &out));
  if (!(c = bg_string_array(env, DP_COUNTER_NAMES, DPC_COUNT)) || !(s = bg_string_array(env, DP_STAT_NAMES, DPS_COUNT)) ||
      !(d = bg_string_array(env, DP_DROP_NAMES, DPD_COUNT))) {
    bg_throw_napi(env, "dpNames");
    return NULL;
  }
  BG_CALL(env, napi_set_named_property(env, out, "counters", c));
  BG_CALL(env, napi_set_named_property(env, out, "tunnelStats", s));
  BG_CALL(env, napi_set_named_property(env, out, "drops", d));
  return out;
}

static napi_value inject(napi_env env, napi_callback_info info)
{
  ARGS(4, "dpInject");
  dp_t *dp = get_dp(env, argv[0], "dpInject");
  uint8_t *pkt;
  size_t len;
  uint32_t addr, port;
  if (!dp || !bg_view(env, argv[1], "dpInject", "datagram", napi_uint8_array, (void **)&pkt, &len) ||
      !bg_uint(env, argv[2], "dpInject", "fromAddr", 0, UINT32_MAX, &addr) ||
      !bg_uint(env, argv[3], "dpInject", "fromPort", 0, 65535, &port))
    return NULL;
  napi_value v;
  BG_CALL(env, napi_create_int32(env, dp_inject(dp, pkt, len > UINT32_MAX ? UINT32_MAX : (uint32_t)len, addr, (uint16_t)port), &v));
  return v;
}

static napi_value set_seq(napi_env env, napi_callback_info info)
{
  ARGS(4, "dpSetSeq");
  dp_t *dp = get_dp(env, argv[0], "dpSetSeq");
  uint32_t spi, hi, lo;
  if (!dp || !bg_uint(env, argv[1], "dpSetSeq", "spiIn", 0, UINT32_MAX, &spi) ||
      !bg_uint(env, argv[2], "dpSetSeq", "hi", 0, UINT32_MAX, &hi) ||
      !bg_uint(env, argv[3], "dpSetSeq", "lo", 0, UINT32_MAX, &lo))
    return NULL;
  return boolean(env, dp_set_seq(dp, spi, hi, lo));
}

static napi_value close_(napi_env env, napi_callback_info info)
{
  ARGS(1, "dpClose");
  bool ours = false;
  napi_valuetype t = napi_undefined;
  napi_typeof(env, argv[0], &t);
  if (t == napi_object) napi_check_object_type_tag(env, argv[0], &DP_TAG, &ours);
  dp_box_t *box = NULL;
  if (!ours || napi_unwrap(env, argv[0], (void **)&box) != napi_ok || !box) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "dpClose: dp must be a value returned by dpCreate()");
    return NULL;
  }
  shutdown_box(box);
  return NULL;
}

static napi_value find_udp(napi_env env, napi_callback_info info)
{
  ARGS(2, "findUdpSocket");
  uint32_t addr, port;
  if (!bg_uint(env, argv[0], "findUdpSocket", "addr", 0, UINT32_MAX, &addr) ||
      !bg_uint(env, argv[1], "findUdpSocket", "port", 1, 65535, &port))
    return NULL;
  napi_value v;
  BG_CALL(env, napi_create_int32(env, dp_find_udp_socket(addr, (uint16_t)port), &v));
  return v;
}

/* The TUN twin for tests (as MemoryTun is for TsDataplane): a non-blocking SOCK_SEQPACKET pair
 * keeps packet boundaries like a TUN fd, needs no privileges, and the engine reads and writes
 * it with the same read()/write() calls. Returns [engineEnd, testEnd]. */
static napi_value socketpair_for_test(napi_env env, napi_callback_info info)
{
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0) {
    napi_throw_error(env, NULL, "socketpairForTest: socketpair failed");
    return NULL;
  }
  /* Room for a few thousand packets queued each way, as a TUN's queue would hold. */
  int big = 8 << 20;
  for (int i = 0; i < 2; i++) {
    if (setsockopt(sv[i], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) < 0)
      setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    if (setsockopt(sv[i], SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0)
      setsockopt(sv[i], SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  }
  napi_value arr, a, b;
  BG_CALL(env, napi_create_array_with_length(env, 2, &arr));
  napi_create_int32(env, sv[0], &a);
  napi_create_int32(env, sv[1], &b);
  napi_set_element(env, arr, 0, a);
  napi_set_element(env, arr, 1, b);
  return arr;
}

napi_status dp_napi_init(napi_env env, napi_value exports)
{
  napi_property_descriptor props[] = {
    {"dpCreate", NULL, create, NULL, NULL, NULL, napi_enumerable, NULL},
    {"dpAddSocket", NULL, add_socket, NULL, NULL, NULL, napi_enumerable, NULL},
    {"dpAttachTunnel", NULL, attach, NULL, NULL, NULL, napi_enumerable, NULL},
    {"dpDetachTunnel", NULL, detach, NULL, NULL, NULL, napi_enumerable, NULL},
    {"dpAddChild", NULL, add_child, NULL, NULL, NULL, napi_enumerable, NULL},
    {"dpActivateChild", NULL, activate_child, NULL, NULL, NULL, napi_enumerable, NULL},
    {"dpDeleteChild", NULL, delete_child, NULL, NULL, NULL, napi_enumerable, NULL},
    {"dpUpdateRemote", NULL, update_remote, NULL, NULL, NULL, napi_enumerable, NULL},
    {"dpNames", NULL, names, NULL, NULL, NULL, napi_enumerable, NULL},
    {"dpCounters", NULL, counters, NULL, NULL, NULL, napi_enumerable, NULL},
    {"dpTunnelStats", NULL, tunnel_stats, NULL, NULL, NULL, napi_enumerable, NULL},
    {"dpDrops", NULL, drops, NULL, NULL, NULL, napi_enumerable, NULL},
    {"dpInject", NULL, inject, NULL, NULL, NULL, napi_enumerable, NULL},
    {"dpSetSeq", NULL, set_seq, NULL, NULL, NULL, napi_enumerable, NULL},
    {"dpClose", NULL, close_, NULL, NULL, NULL, napi_enumerable, NULL},
    {"findUdpSocket", NULL, find_udp, NULL, NULL, NULL, napi_enumerable, NULL},
    {"socketpairForTest", NULL, socketpair_for_test, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
