/*
 * Least privilege: name resolution and the one-way switch from root to an unprivileged
 * user that keeps a few capabilities.
 *
 *   privResolve(user, group|null) -> { uid, gid, user, group, groups[], userFound }
 *   privDrop(uid, gid, groups[], keep[])
 *   privRaiseAmbient(keep[])
 *
 * privResolve reads the passwd and group databases through NSS (getpwnam_r/getgrnam_r, so LDAP
 * or systemd-userdb users work as `id` sees them) and the user's supplementary groups with
 * getgrouplist(3), as initgroups(3) would. It never changes anything.
 *
 * privDrop, called from the main thread while root, in this order (capabilities(7)):
 *   1. PR_CAPBSET_DROP every capability not in `keep`: the bounding set limits what any later
 *      execve (BIRD, ip) can ever gain, file capabilities and setuid binaries included. Needs
 *      CAP_SETPCAP, so it comes before the uid change. The bounding set is per thread; this is
 *      the main thread's, which every child process is forked from.
 *   2. PR_SET_KEEPCAPS 1: without it the uid change below empties the permitted set.
 *   3. setgroups, setresgid, setresuid (real = effective = saved, so there is no way back).
 *      glibc runs each of these on every thread of the process (the SIGSETXID broadcast in
 *      nptl), because the kernel applies credentials per thread; the caller checks that in
 *      /proc/self/task/x/status afterwards. Threads other than this one lose every capability
 *      (KEEPCAPS is per thread and only set here).
 *   4. capset: permitted = effective = inheritable = keep (the uid change cleared effective).
 *   5. PR_CAP_AMBIENT_RAISE each kept capability: ambient capabilities survive execve of an
 *      ordinary binary, so the children spawned from this thread (`ip` for routes, BIRD for BGP)
 *      run with exactly these capabilities, as under systemd's AmbientCapabilities=.
 *   6. PR_SET_NO_NEW_PRIVS: no later execve can gain privileges (setuid, file capabilities).
 * A failure throws an Error naming the step, with strerror, .code (EPERM...) and what to do.
 * After step 3 the process is half switched: the caller must treat any error as fatal.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <linux/capability.h>

#include <node_api.h>
#include "napi_util.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

/* Lookup buffers grow to this before we give up (a group with thousands of members). */
#define MAX_NSS_BUF (4u << 20)
#define MAX_GROUPS 65536u
#define MAX_NAME 256

/* ---------------------------------------------------------------------------------------- */
/* Errors                                                                                     */

static void throw_coded(napi_env env, const char *code, const char *msg)
{
  napi_value c, m, e;
  if (napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &c) != napi_ok ||
      napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m) != napi_ok ||
      napi_create_error(env, c, m, &e) != napi_ok) {
    napi_throw_error(env, code, msg);
    return;
  }
  napi_throw(env, e);
}

/* `what: strerror (ECODE) — hint` with .code = ECODE, like Node's own system errors. */
static void throw_errno(napi_env env, int err, const char *what, const char *hint)
{
  const char *name = strerrorname_np(err);
  char msg[768];
  snprintf(msg, sizeof msg, "%s: %s (%s)%s%s", what, strerror(err), name ? name : "ESYSCALL", hint ? " — " : "",
           hint ? hint : "");
  throw_coded(env, name ? name : "ESYSCALL", msg);
}

/* ---------------------------------------------------------------------------------------- */
/* Arguments                                                                                  */

/* A JS string into buf (NUL-terminated); too long or not a string throws. */
static bool arg_string(napi_env env, napi_value v, const char *fn, const char *name, char *buf, size_t cap)
{
  napi_valuetype t;
  size_t len = 0;
  char msg[160];
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) {
    snprintf(msg, sizeof msg, "%s: %s must be a string", fn, name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return false;
  }
  if (napi_get_value_string_utf8(env, v, NULL, 0, &len) != napi_ok || len == 0 || len >= cap) {
    snprintf(msg, sizeof msg, "%s: %s must be 1 to %zu bytes", fn, name, cap - 1);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return false;
  }
  napi_get_value_string_utf8(env, v, buf, cap, &len);
  if (strlen(buf) != len) { /* an embedded NUL would make the lookup name a different one */
    snprintf(msg, sizeof msg, "%s: %s contains a NUL character", fn, name);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return false;
  }
  return true;
}

/* "1234" -> 1234 when the whole string is a decimal id below (id_t)-1; else false. */
static bool numeric_id(const char *s, uint32_t *out)
{
  if (*s == '\0' || strlen(s) > 10) return false;
  uint64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return false;
    v = v * 10 + (uint64_t)(*p - '0');
  }
  if (v >= UINT32_MAX) return false; /* (uid_t)-1 means "unchanged" to setresuid */
  *out = (uint32_t)v;
  return true;
}

/* Array of uint32 from a JS array; every element checked. Caller frees *out. */
static bool arg_u32_array(napi_env env, napi_value v, const char *fn, const char *name, uint32_t max_len,
                          uint32_t max_value, uint32_t **out, uint32_t *n)
{
  bool is = false;
  char msg[160];
  if (napi_is_array(env, v, &is) != napi_ok || !is) {
    snprintf(msg, sizeof msg, "%s: %s must be an array of integers", fn, name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return false;
  }
  uint32_t len = 0;
  napi_get_array_length(env, v, &len);
  if (len > max_len) {
    snprintf(msg, sizeof msg, "%s: %s has %u entries (at most %u)", fn, name, len, max_len);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return false;
  }
  uint32_t *a = calloc(len ? len : 1, sizeof *a);
  if (!a) {
    napi_throw_error(env, "ENOMEM", "out of memory");
    return false;
  }
  for (uint32_t i = 0; i < len; i++) {
    napi_value e;
    if (napi_get_element(env, v, i, &e) != napi_ok || !bg_uint(env, e, fn, name, 0, max_value, &a[i])) {
      free(a);
      return false;
    }
  }
  *out = a;
  *n = len;
  return true;
}

/* ---------------------------------------------------------------------------------------- */
/* privResolve(user, group|null)                                                              */

static size_t nss_buf_start(int which)
{
  long s = sysconf(which);
  return s > 0 && s < (long)MAX_NSS_BUF ? (size_t)s : 16384;
}

/* getpw*_r "not found" comes back as 0 with a NULL result, or (man getpwnam_r, NOTES) as one of
 * ENOENT, ESRCH, EBADF, EPERM from some NSS modules. */
static bool not_found(int rc)
{
  return rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM;
}

typedef struct {
  bool found;
  uint32_t uid, gid;
  char name[MAX_NAME];
} user_t;

/* 0: looked up (found or not); else an errno. */
static int lookup_user(const char *spec, user_t *u)
{
  uint32_t id = 0;
  bool numeric = numeric_id(spec, &id);
  size_t size = nss_buf_start(_SC_GETPW_R_SIZE_MAX);
  for (;;) {
    char *buf = malloc(size);
    if (!buf) return ENOMEM;
    struct passwd pw, *res = NULL;
    int rc = numeric ? getpwuid_r((uid_t)id, &pw, buf, size, &res) : getpwnam_r(spec, &pw, buf, size, &res);
    if (rc == ERANGE && size < MAX_NSS_BUF) {
      free(buf);
      size *= 2;
      continue;
    }
    if (res) {
      u->found = true;
      u->uid = pw.pw_uid;
      u->gid = pw.pw_gid;
      snprintf(u->name, sizeof u->name, "%s", pw.pw_name);
      free(buf);
      return 0;
    }
    free(buf);
    if (!not_found(rc)) return rc;
    u->found = false;
    u->uid = id;
    u->gid = 0;
    snprintf(u->name, sizeof u->name, "%s", spec);
    return 0;
  }
}

/* Group by name or number; *found false when neither the name nor the number is known. */
static int lookup_group(const char *spec, bool *found, uint32_t *gid, char *name, size_t name_cap)
{
  uint32_t id = 0;
  bool numeric = numeric_id(spec, &id);
  size_t size = nss_buf_start(_SC_GETGR_R_SIZE_MAX);
  for (;;) {
    char *buf = malloc(size);
    if (!buf) return ENOMEM;
    struct group gr, *res = NULL;
    int rc = numeric ? getgrgid_r((gid_t)id, &gr, buf, size, &res) : getgrnam_r(spec, &gr, buf, size, &res);
    if (rc == ERANGE && size < MAX_NSS_BUF) {
      free(buf);
      size *= 2;
      continue;
    }
    if (res) {
      *found = true;
      *gid = gr.gr_gid;
      snprintf(name, name_cap, "%s", gr.gr_name);
      free(buf);
      return 0;
    }
    free(buf);
    if (!not_found(rc)) return rc;
    *found = false;
    *gid = id;
    snprintf(name, name_cap, "%s", spec);
    return 0;
  }
}

static napi_value make_u32(napi_env env, uint32_t v)
{
  napi_value r;
  napi_create_uint32(env, v, &r);
  return r;
}

static napi_value make_str(napi_env env, const char *s)
{
  napi_value r;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &r);
  return r;
}

static napi_value priv_resolve(napi_env env, napi_callback_info info)
{
  size_t argc = 2;
  napi_value argv[2];
  BG_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "privResolve(user, group): both arguments are required (group may be null)");
    return NULL;
  }
  char user[MAX_NAME], group[MAX_NAME] = "";
  if (!arg_string(env, argv[0], "privResolve", "user", user, sizeof user)) return NULL;
  napi_valuetype gt;
  BG_CALL(env, napi_typeof(env, argv[1], &gt));
  bool want_group = gt != napi_null && gt != napi_undefined;
  if (want_group && !arg_string(env, argv[1], "privResolve", "group", group, sizeof group)) return NULL;

  user_t u;
  char msg[512];
  int rc = lookup_user(user, &u);
  if (rc != 0) {
    snprintf(msg, sizeof msg, "looking up user '%s' (getpwnam_r)", user);
    throw_errno(env, rc, msg, "check /etc/nsswitch.conf and the passwd sources it names");
    return NULL;
  }
  uint32_t num;
  if (!u.found && !numeric_id(user, &num)) {
    snprintf(msg, sizeof msg, "no user named '%s' in the passwd database (getpwnam_r through NSS found none)", user);
    throw_coded(env, "ENOUSER", msg);
    return NULL;
  }
  uint32_t gid = u.gid;
  char gname[MAX_NAME];
  bool gfound = u.found;
  if (want_group) {
    rc = lookup_group(group, &gfound, &gid, gname, sizeof gname);
    if (rc != 0) {
      snprintf(msg, sizeof msg, "looking up group '%s' (getgrnam_r)", group);
      throw_errno(env, rc, msg, "check /etc/nsswitch.conf and the group sources it names");
      return NULL;
    }
    if (!gfound && !numeric_id(group, &num)) {
      snprintf(msg, sizeof msg, "no group named '%s' in the group database (getgrnam_r through NSS found none)", group);
      throw_coded(env, "ENOGROUP", msg);
      return NULL;
    }
  } else if (!u.found) {
    snprintf(msg, sizeof msg, "uid %s has no passwd entry, so it has no primary group: name one as the group", user);
    throw_coded(env, "ENOGROUP", msg);
    return NULL;
  } else {
    bool f = false;
    char tmp[MAX_NAME];
    /* The primary group's name, for messages; a gid without a group entry keeps its number. */
    snprintf(tmp, sizeof tmp, "%u", gid);
    rc = lookup_group(tmp, &f, &gid, gname, sizeof gname);
    if (rc != 0) snprintf(gname, sizeof gname, "%u", gid);
  }

  /* Supplementary groups: getgrouplist(3) as initgroups(3) would set them, with the primary
   * group (the configured one when given) included. A uid without a passwd entry has none. */
  uint32_t *groups = NULL;
  int ng = 0;
  if (u.found) {
    int cap = 64;
    for (;;) {
      gid_t *g = malloc((size_t)cap * sizeof *g);
      if (!g) {
        napi_throw_error(env, "ENOMEM", "out of memory");
        return NULL;
      }
      int n = cap;
      if (getgrouplist(u.name, (gid_t)gid, g, &n) >= 0) {
        groups = malloc((size_t)(n ? n : 1) * sizeof *groups);
        if (groups)
          for (int i = 0; i < n; i++) groups[i] = g[i];
        ng = n;
        free(g);
        break;
      }
      free(g);
      if (n <= cap || (unsigned)n > MAX_GROUPS) { /* no progress, or absurd: stop with what we know */
        snprintf(msg, sizeof msg, "user '%s' is in more than %u groups (getgrouplist)", u.name, MAX_GROUPS);
        throw_coded(env, "E2BIG", msg);
        return NULL;
      }
      cap = n;
    }
    if (!groups) {
      napi_throw_error(env, "ENOMEM", "out of memory");
      return NULL;
    }
  } else {
    groups = malloc(sizeof *groups);
    if (!groups) {
      napi_throw_error(env, "ENOMEM", "out of memory");
      return NULL;
    }
    groups[0] = gid;
    ng = 1;
  }

  napi_value out, arr;
  BG_CALL(env, napi_create_object(env, &out));
  if (napi_create_array_with_length(env, (size_t)ng, &arr) != napi_ok) {
    free(groups);
    bg_throw_napi(env, "napi_create_array_with_length");
    return NULL;
  }
  for (int i = 0; i < ng; i++) napi_set_element(env, arr, (uint32_t)i, make_u32(env, groups[i]));
  free(groups);
  napi_value found;
  napi_get_boolean(env, u.found, &found);
  napi_set_named_property(env, out, "uid", make_u32(env, u.uid));
  napi_set_named_property(env, out, "gid", make_u32(env, gid));
  napi_set_named_property(env, out, "user", make_str(env, u.name));
  napi_set_named_property(env, out, "group", make_str(env, gname));
  napi_set_named_property(env, out, "groups", arr);
  napi_set_named_property(env, out, "userFound", found);
  return out;
}

/* ---------------------------------------------------------------------------------------- */
/* privDrop(uid, gid, groups[], keep[])                                                       */

static int capget_self(uint64_t *eff, uint64_t *prm)
{
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2];
  memset(d, 0, sizeof d);
  if (syscall(SYS_capget, &hdr, d) < 0) return errno;
  *eff = (uint64_t)d[0].effective | (uint64_t)d[1].effective << 32;
  *prm = (uint64_t)d[0].permitted | (uint64_t)d[1].permitted << 32;
  return 0;
}

#define BIT(c) ((uint64_t)1 << (c))

static napi_value priv_drop(napi_env env, napi_callback_info info)
{
  size_t argc = 4;
  napi_value argv[4];
  BG_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "privDrop(uid, gid, groups, keep): four arguments are required");
    return NULL;
  }
  uint32_t uid, gid, ng, nk;
  uint32_t *groups = NULL, *keep = NULL;
  /* Never "drop" to root, and never pass (id_t)-1, which set*id read as "leave unchanged". */
  if (!bg_uint(env, argv[0], "privDrop", "uid", 1, UINT32_MAX - 1, &uid) ||
      !bg_uint(env, argv[1], "privDrop", "gid", 1, UINT32_MAX - 1, &gid))
    return NULL;
  if (!arg_u32_array(env, argv[2], "privDrop", "groups", MAX_GROUPS, UINT32_MAX - 1, &groups, &ng)) return NULL;
  if (!arg_u32_array(env, argv[3], "privDrop", "keep", 64, 63, &keep, &nk)) {
    free(groups);
    return NULL;
  }
  uint64_t want = 0;
  for (uint32_t i = 0; i < nk; i++) want |= BIT(keep[i]);
  free(keep);

  char msg[512];
  gid_t *g = malloc((ng ? ng : 1) * sizeof *g);
  if (!g) {
    free(groups);
    napi_throw_error(env, "ENOMEM", "out of memory");
    return NULL;
  }
  for (uint32_t i = 0; i < ng; i++) g[i] = (gid_t)groups[i];
  free(groups);

  /* Checks that change nothing, so the common mistakes fail before the process is half switched. */
  if (geteuid() != 0) {
    free(g);
    snprintf(msg, sizeof msg, "privDrop: the process is not root (euid %u), so there is nothing to drop", (unsigned)geteuid());
    throw_coded(env, "ENOTROOT", msg);
    return NULL;
  }
  uint64_t eff = 0, prm = 0;
  int rc = capget_self(&eff, &prm);
  if (rc != 0) {
    free(g);
    throw_errno(env, rc, "reading this thread's capabilities (capget)", NULL);
    return NULL;
  }
  static const struct { int cap; const char *name; } NEED[] = {
    {CAP_SETUID, "CAP_SETUID"}, {CAP_SETGID, "CAP_SETGID"}, {CAP_SETPCAP, "CAP_SETPCAP"}};
  for (size_t i = 0; i < sizeof NEED / sizeof NEED[0]; i++) {
    if (!(eff & BIT(NEED[i].cap))) {
      free(g);
      snprintf(msg, sizeof msg, "root without %s cannot switch users: start branchgate as full root, or start it as the "
               "unprivileged user with CAP_NET_ADMIN and CAP_NET_BIND_SERVICE (docs/privileges.md)", NEED[i].name);
      throw_coded(env, "EPERM", msg);
      return NULL;
    }
  }
  for (int c = 0; c < 64; c++) {
    if (!(want & BIT(c))) continue;
    int in_bset = prctl(PR_CAPBSET_READ, c, 0, 0, 0);
    if (in_bset != 1 || !(prm & BIT(c))) {
      free(g);
      snprintf(msg, sizeof msg, "capability %d is not %s of this process, so it cannot be kept: in a container add it "
               "(docker run --cap-add NET_ADMIN), under systemd allow it in CapabilityBoundingSet=", c,
               in_bset != 1 ? "in the bounding set" : "permitted");
      throw_coded(env, "EPERM", msg);
      return NULL;
    }
  }

  /* 1. The bounding set: everything but `keep`, up to the kernel's last capability (EINVAL). */
  for (int c = 0; c < 64; c++) {
    int r = prctl(PR_CAPBSET_READ, c, 0, 0, 0);
    if (r < 0 && errno == EINVAL) break;
    if (r == 1 && !(want & BIT(c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0) {
      int err = errno;
      free(g);
      snprintf(msg, sizeof msg, "dropping capability %d from the bounding set (PR_CAPBSET_DROP)", c);
      throw_errno(env, err, msg, "needs CAP_SETPCAP; nothing has been switched yet");
      return NULL;
    }
  }
  /* 2. Keep the permitted set across the uid change (this thread only). */
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) {
    int err = errno;
    free(g);
    throw_errno(env, err, "prctl(PR_SET_KEEPCAPS, 1)", "a locked SECBIT_KEEP_CAPS_LOCKED securebit forbids it");
    return NULL;
  }
  /* 3. Groups, then the group id, then the user id (after it, set*gid would be refused). */
  if (setgroups(ng, g) < 0) {
    int err = errno;
    free(g);
    throw_errno(env, err, "setgroups (supplementary groups)", "needs CAP_SETGID; the process is unchanged apart from its bounding set");
    return NULL;
  }
  free(g);
  if (setresgid(gid, gid, gid) < 0) {
    int err = errno;
    snprintf(msg, sizeof msg, "setresgid(%u)", gid);
    throw_errno(env, err, msg, "needs CAP_SETGID; the process is half switched and must exit");
    return NULL;
  }
  if (setresuid(uid, uid, uid) < 0) {
    int err = errno;
    snprintf(msg, sizeof msg, "setresuid(%u)", uid);
    throw_errno(env, err, msg, err == EAGAIN ? "the user is at its RLIMIT_NPROC process limit; the process is half switched and must exit"
                                             : "needs CAP_SETUID; the process is half switched and must exit");
    return NULL;
  }
  prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0); /* its job is done (execve clears it anyway) */

  /* 4. permitted = effective = inheritable = keep. Inheritable is what ambient needs below. */
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2];
  memset(d, 0, sizeof d);
  d[0].effective = d[0].permitted = d[0].inheritable = (uint32_t)want;
  d[1].effective = d[1].permitted = d[1].inheritable = (uint32_t)(want >> 32);
  if (syscall(SYS_capset, &hdr, d) < 0) {
    throw_errno(env, errno, "capset (permitted = effective = inheritable = the kept set)",
                "the kept capabilities were not permitted any more; the process must exit");
    return NULL;
  }
  /* 5. Ambient: exactly the kept set, inherited by the children spawned from this thread. */
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
    throw_errno(env, errno, "prctl(PR_CAP_AMBIENT_CLEAR_ALL)", "needs Linux 4.3 or newer");
    return NULL;
  }
  for (int c = 0; c < 64; c++) {
    if ((want & BIT(c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0) {
      int err = errno;
      snprintf(msg, sizeof msg, "raising capability %d as ambient (PR_CAP_AMBIENT_RAISE)", c);
      throw_errno(env, err, msg, "a locked SECBIT_NO_CAP_AMBIENT_RAISE forbids it; the process must exit");
      return NULL;
    }
  }
  /* 6. No execve from now on gains privileges (setuid binaries, file capabilities). */
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
    throw_errno(env, errno, "prctl(PR_SET_NO_NEW_PRIVS, 1)", "needs Linux 3.5 or newer");
    return NULL;
  }
  return NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* privRaiseAmbient(keep[]) — without root: make permitted capabilities ambient               */

/* A process that got its capabilities from file capabilities (setcap on the node binary, the
 * container image's way) has them permitted and effective but not inheritable or ambient, so
 * every execve drops them: `ip` and BIRD would run without CAP_NET_ADMIN. This adds `keep` to
 * the inheritable set (allowed: they are permitted) and raises them as ambient, which is what
 * systemd's AmbientCapabilities= does before exec. Each must be permitted, else EPERM. */
static napi_value priv_raise_ambient(napi_env env, napi_callback_info info)
{
  size_t argc = 1;
  napi_value argv[1];
  BG_CALL(env, napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1) {
    napi_throw_type_error(env, "ERR_MISSING_ARGS", "privRaiseAmbient(keep): the capability list is required");
    return NULL;
  }
  uint32_t *keep = NULL, nk = 0;
  if (!arg_u32_array(env, argv[0], "privRaiseAmbient", "keep", 64, 63, &keep, &nk)) return NULL;
  uint64_t want = 0;
  for (uint32_t i = 0; i < nk; i++) want |= BIT(keep[i]);
  free(keep);
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct d[2];
  memset(d, 0, sizeof d);
  if (syscall(SYS_capget, &hdr, d) < 0) {
    throw_errno(env, errno, "reading this thread's capabilities (capget)", NULL);
    return NULL;
  }
  uint64_t prm = (uint64_t)d[0].permitted | (uint64_t)d[1].permitted << 32;
  char msg[256];
  for (int c = 0; c < 64; c++) {
    if ((want & BIT(c)) && !(prm & BIT(c))) {
      snprintf(msg, sizeof msg, "capability %d is not permitted, so it cannot be made ambient", c);
      throw_coded(env, "EPERM", msg);
      return NULL;
    }
  }
  d[0].inheritable |= (uint32_t)want;
  d[1].inheritable |= (uint32_t)(want >> 32);
  if (syscall(SYS_capset, &hdr, d) < 0) {
    throw_errno(env, errno, "capset (adding the capabilities to the inheritable set)", NULL);
    return NULL;
  }
  for (int c = 0; c < 64; c++) {
    if ((want & BIT(c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0) {
      int err = errno;
      snprintf(msg, sizeof msg, "raising capability %d as ambient (PR_CAP_AMBIENT_RAISE)", c);
      throw_errno(env, err, msg, "a locked SECBIT_NO_CAP_AMBIENT_RAISE forbids it");
      return NULL;
    }
  }
  return NULL;
}

/* ---------------------------------------------------------------------------------------- */

napi_status priv_napi_init(napi_env env, napi_value exports)
{
  napi_property_descriptor props[] = {
    {"privResolve", NULL, priv_resolve, NULL, NULL, NULL, napi_enumerable, NULL},
    {"privDrop", NULL, priv_drop, NULL, NULL, NULL, napi_enumerable, NULL},
    {"privRaiseAmbient", NULL, priv_raise_ambient, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
