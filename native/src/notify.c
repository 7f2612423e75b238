/*
 * sd_notify(3) without libsystemd: one datagram to the unix socket systemd names in
 * $NOTIFY_SOCKET. Node has no unix datagram sockets, so this is the one call the daemon needs
 * (src/systemd/notify.ts). A path starting with '@' is an abstract socket (the '@' becomes a
 * NUL byte, and the address length counts only the bytes used), as sd_notify does.
 *
 *   sdNotify(path: string, message: string): void   throws Error with .code = errno name
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <node_api.h>

#define NOTIFY_MAX 4096

static napi_value throw_errno(napi_env env, const char *what, int err)
{
  char msg[160];
  snprintf(msg, sizeof msg, "sdNotify: %s: %s", what, strerror(err));
  napi_value code, text, e;
  napi_create_string_utf8(env, err == ENOENT ? "ENOENT" : err == ECONNREFUSED ? "ECONNREFUSED" : err == EACCES ? "EACCES" : "EIO",
                          NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &e);
  napi_throw(env, e);
  return NULL;
}

static napi_value sd_notify_js(napi_env env, napi_callback_info info)
{
  size_t argc = 2;
  napi_value argv[2];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2) {
    napi_throw_type_error(env, NULL, "sdNotify(path, message): two strings");
    return NULL;
  }
  struct sockaddr_un sa;
  memset(&sa, 0, sizeof sa);
  sa.sun_family = AF_UNIX;
  size_t plen = 0;
  /* sun_path holds 108 bytes; a longer path cannot be a socket systemd made. */
  if (napi_get_value_string_utf8(env, argv[0], sa.sun_path, sizeof sa.sun_path, &plen) != napi_ok || plen == 0 ||
      plen >= sizeof sa.sun_path - 1) {
    napi_throw_type_error(env, NULL, "sdNotify: path must be a non-empty string shorter than 107 bytes");
    return NULL;
  }
  if (sa.sun_path[0] != '/' && sa.sun_path[0] != '@') {
    napi_throw_type_error(env, NULL, "sdNotify: path must be absolute or start with @ (abstract)");
    return NULL;
  }
  socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + plen);
  if (sa.sun_path[0] == '@') sa.sun_path[0] = '\0';
  else alen += 1; /* the terminating NUL of a filesystem path */

  char msg[NOTIFY_MAX];
  size_t mlen = 0;
  if (napi_get_value_string_utf8(env, argv[1], msg, sizeof msg, &mlen) != napi_ok || mlen == 0 || mlen >= sizeof msg - 1) {
    napi_throw_type_error(env, NULL, "sdNotify: message must be a non-empty string under 4 KiB");
    return NULL;
  }
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  ssize_t n;
  do {
    n = sendto(fd, msg, mlen, MSG_NOSIGNAL, (struct sockaddr *)&sa, alen);
  } while (n < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (n < 0) return throw_errno(env, "sendto", err);
  return NULL;
}

napi_status notify_napi_init(napi_env env, napi_value exports)
{
  napi_property_descriptor props[] = {
    {"sdNotify", NULL, sd_notify_js, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  return napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
