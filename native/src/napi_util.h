/*
 * Argument checking for the ESP and dataplane bindings (esp_napi.c, dp_napi.c): wrong types and
 * out-of-range values throw TypeError/RangeError naming the function and argument, so a bug in
 * the caller never becomes a read past the end of a buffer. (tun.c keeps its own copies.)
 */
#ifndef BRANCHGATE_NAPI_UTIL_H
#define BRANCHGATE_NAPI_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include <node_api.h>

#define BG_CALL(env, call)                                                                    \
  do {                                                                                        \
    if ((call) != napi_ok) {                                                                  \
      bg_throw_napi((env), #call);                                                            \
      return NULL;                                                                            \
    }                                                                                         \
  } while (0)

static inline void bg_throw_napi(napi_env env, const char *call)
{
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) return;
  const napi_extended_error_info *info = NULL;
  napi_get_last_error_info(env, &info);
  char msg[256];
  snprintf(msg, sizeof msg, "branchgate_native: %s failed: %s", call,
           info && info->error_message ? info->error_message : "unknown N-API error");
  napi_throw_error(env, NULL, msg);
}

static inline bool bg_uint(napi_env env, napi_value v, const char *fn, const char *name, uint32_t min,
                           uint32_t max, uint32_t *out)
{
  char msg[256];
  napi_valuetype t;
  double d;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_number) {
    snprintf(msg, sizeof msg, "%s: %s must be a number", fn, name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return false;
  }
  napi_get_value_double(env, v, &d);
  if (!(d >= min && d <= max) || d != (double)(uint32_t)d) {
    snprintf(msg, sizeof msg, "%s: %s must be an integer from %u to %u (got %g)", fn, name, min, max, d);
    napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
    return false;
  }
  *out = (uint32_t)d;
  return true;
}

static inline bool bg_bool(napi_env env, napi_value v, const char *fn, const char *name, bool *out)
{
  if (napi_get_value_bool(env, v, out) != napi_ok) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s must be a boolean", fn, name);
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return false;
  }
  return true;
}

static inline const char *bg_type_name(napi_typedarray_type t)
{
  switch (t) {
  case napi_uint8_array: return "Buffer or Uint8Array";
  case napi_uint32_array: return "Uint32Array";
  case napi_int32_array: return "Int32Array";
  case napi_float64_array: return "Float64Array";
  default: return "typed array";
  }
}

/* A typed array of the wanted type; the data pointer N-API returns already includes byteOffset.
 * *count is in elements. A detached buffer reads as empty. */
static inline bool bg_view(napi_env env, napi_value v, const char *fn, const char *name,
                           napi_typedarray_type want, void **data, size_t *count)
{
  bool is = false;
  napi_typedarray_type type;
  napi_value ab;
  size_t off;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is ||
      napi_get_typedarray_info(env, v, &type, count, data, &ab, &off) != napi_ok || type != want) {
    char msg[256];
    snprintf(msg, sizeof msg, "%s: %s must be a %s", fn, name, bg_type_name(want));
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
    return false;
  }
  if (*data == NULL) *count = 0;
  return true;
}

static inline void bg_range(napi_env env, const char *msg)
{
  napi_throw_range_error(env, "ERR_OUT_OF_RANGE", msg);
}

/* obj[key] = u32 / string; false (exception pending) on failure. For the table exports. */
static inline bool bg_set_u32(napi_env env, napi_value obj, const char *key, uint32_t v)
{
  napi_value x;
  return napi_create_uint32(env, v, &x) == napi_ok && napi_set_named_property(env, obj, key, x) == napi_ok;
}

static inline bool bg_set_str(napi_env env, napi_value obj, const char *key, const char *v)
{
  napi_value x;
  return napi_create_string_utf8(env, v, NAPI_AUTO_LENGTH, &x) == napi_ok && napi_set_named_property(env, obj, key, x) == napi_ok;
}

/* An array of the n strings names[0..n) (the C side's table of names, checked by the loader). */
static inline napi_value bg_string_array(napi_env env, const char *const *names, size_t n)
{
  napi_value arr, s;
  if (napi_create_array_with_length(env, n, &arr) != napi_ok) return NULL;
  for (size_t i = 0; i < n; i++)
    if (napi_create_string_utf8(env, names[i], NAPI_AUTO_LENGTH, &s) != napi_ok || napi_set_element(env, arr, (uint32_t)i, s) != napi_ok)
      return NULL;
  return arr;
}

#endif
