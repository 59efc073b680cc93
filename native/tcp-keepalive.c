/*
 * TCP keepalive with the three settings a DestinationRule's tcpKeepalive names: the idle time
 * before the first probe (TCP_KEEPIDLE), the time between probes (TCP_KEEPINTVL) and how many
 * go unanswered before the connection is dropped (TCP_KEEPCNT). Node sets only the first
 * (socket.setKeepAlive); Envoy sets all three for Istio. Node-API, no state:
 *
 *   setKeepalive(fd, idleSeconds, intervalSeconds, probes) -> undefined   (0 leaves a setting to the system)
 *   keepalive(fd) -> { enabled, idleSeconds, intervalSeconds, probes }   (what the kernel holds)
 *
 * A failure throws an Error whose code is the errno name.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>

static napi_value fail(napi_env env, int err) {
  const char *code = err == EBADF ? "EBADF" : err == ENOTSOCK ? "ENOTSOCK" : err == ENOPROTOOPT ? "ENOPROTOOPT" : err == EINVAL ? "EINVAL" : "EIO";
  napi_throw_error(env, code, strerror(err));
  return NULL;
}

static int int_args(napi_env env, napi_callback_info info, size_t want, int32_t *out) {
  size_t argc = 4;
  napi_value argv[4];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want) return 0;
  for (size_t i = 0; i < want; i++)
    if (napi_get_value_int32(env, argv[i], &out[i]) != napi_ok || out[i] < 0) return 0;
  return 1;
}

static napi_value set_keepalive(napi_env env, napi_callback_info info) {
  int32_t a[4];
  if (!int_args(env, info, 4, a)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "setKeepalive(fd, idleSeconds, intervalSeconds, probes): each must be a non-negative integer");
    return NULL;
  }
  int on = 1;
  if (setsockopt(a[0], SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on) != 0) return fail(env, errno);
  if (a[1] > 0 && setsockopt(a[0], IPPROTO_TCP, TCP_KEEPIDLE, &a[1], sizeof a[1]) != 0) return fail(env, errno);
  if (a[2] > 0 && setsockopt(a[0], IPPROTO_TCP, TCP_KEEPINTVL, &a[2], sizeof a[2]) != 0) return fail(env, errno);
  if (a[3] > 0 && setsockopt(a[0], IPPROTO_TCP, TCP_KEEPCNT, &a[3], sizeof a[3]) != 0) return fail(env, errno);
  return NULL;
}

static napi_value get_keepalive(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!int_args(env, info, 1, &fd)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "keepalive(fd): fd must be a socket's file descriptor");
    return NULL;
  }
  int on = 0, idle = 0, interval = 0, probes = 0;
  socklen_t len = sizeof on;
  if (getsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, &len) != 0) return fail(env, errno);
  len = sizeof idle;
  if (getsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, &len) != 0) return fail(env, errno);
  len = sizeof interval;
  if (getsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, &len) != 0) return fail(env, errno);
  len = sizeof probes;
  if (getsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, &len) != 0) return fail(env, errno);
  napi_value result, v;
  napi_create_object(env, &result);
  napi_get_boolean(env, on != 0, &v);
  napi_set_named_property(env, result, "enabled", v);
  napi_create_int32(env, idle, &v);
  napi_set_named_property(env, result, "idleSeconds", v);
  napi_create_int32(env, interval, &v);
  napi_set_named_property(env, result, "intervalSeconds", v);
  napi_create_int32(env, probes, &v);
  napi_set_named_property(env, result, "probes", v);
  return result;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  napi_create_function(env, "setKeepalive", NAPI_AUTO_LENGTH, set_keepalive, NULL, &fn);
  napi_set_named_property(env, exports, "setKeepalive", fn);
  napi_create_function(env, "keepalive", NAPI_AUTO_LENGTH, get_keepalive, NULL, &fn);
  napi_set_named_property(env, exports, "keepalive", fn);
  return exports;
}
