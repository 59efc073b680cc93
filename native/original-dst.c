/*
 * The original destination of a connection that iptables REDIRECTed to the sidecar's capture
 * listener: getsockopt(SO_ORIGINAL_DST), which Node does not expose. Envoy reads the same option
 * for Istio's transparent capture. One function, no state, Node-API (stable across Node versions):
 *
 *   originalDestination(fd) -> { address, port, family } | null
 *
 * null: the kernel has no translated address for the socket (it was not redirected, or conntrack
 * does not track it). Any other failure throws an Error whose code is the errno name.
 */
#define NAPI_VERSION 8
#include <node_api.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

/* From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>, without their includes. */
#ifndef SO_ORIGINAL_DST
#define SO_ORIGINAL_DST 80
#endif
#ifndef IP6T_SO_ORIGINAL_DST
#define IP6T_SO_ORIGINAL_DST 80
#endif

static napi_value fail(napi_env env, int err) {
  const char *code = err == EBADF ? "EBADF" : err == ENOTSOCK ? "ENOTSOCK" : err == ENOPROTOOPT ? "ENOPROTOOPT" : err == EINVAL ? "EINVAL" : "EIO";
  napi_throw_error(env, code, strerror(err));
  return NULL;
}

static napi_value original_destination(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  int32_t fd = -1;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "originalDestination(fd): fd must be a socket's file descriptor");
    return NULL;
  }

  struct sockaddr_storage local;
  socklen_t local_len = sizeof local;
  if (getsockname(fd, (struct sockaddr *)&local, &local_len) != 0) return fail(env, errno);

  struct sockaddr_storage dst;
  socklen_t len = sizeof dst;
  int rc;
  if (local.ss_family == AF_INET6) {
    /* An IPv4 peer on a dual-stack socket is tracked as IPv4; a native IPv6 one by ip6tables. */
    const struct sockaddr_in6 *l6 = (const struct sockaddr_in6 *)&local;
    if (IN6_IS_ADDR_V4MAPPED(&l6->sin6_addr)) rc = getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &len);
    else rc = getsockopt(fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &dst, &len);
  } else {
    rc = getsockopt(fd, SOL_IP, SO_ORIGINAL_DST, &dst, &len);
  }
  if (rc != 0) {
    if (errno == ENOENT) {
      napi_value nothing;
      napi_get_null(env, &nothing);
      return nothing;
    }
    return fail(env, errno);
  }

  char text[INET6_ADDRSTRLEN];
  int port;
  int family;
  if (dst.ss_family == AF_INET6) {
    const struct sockaddr_in6 *d = (const struct sockaddr_in6 *)&dst;
    inet_ntop(AF_INET6, &d->sin6_addr, text, sizeof text);
    port = ntohs(d->sin6_port);
    family = 6;
  } else {
    const struct sockaddr_in *d = (const struct sockaddr_in *)&dst;
    inet_ntop(AF_INET, &d->sin_addr, text, sizeof text);
    port = ntohs(d->sin_port);
    family = 4;
  }

  napi_value result, address, port_value, family_value;
  napi_create_object(env, &result);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &address);
  napi_create_int32(env, port, &port_value);
  napi_create_int32(env, family, &family_value);
  napi_set_named_property(env, result, "address", address);
  napi_set_named_property(env, result, "port", port_value);
  napi_set_named_property(env, result, "family", family_value);
  return result;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_value fn;
  napi_create_function(env, "originalDestination", NAPI_AUTO_LENGTH, original_destination, NULL, &fn);
  napi_set_named_property(env, exports, "originalDestination", fn);
  return exports;
}
