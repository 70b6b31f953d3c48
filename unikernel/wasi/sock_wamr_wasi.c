/*
 * wasi/sock_wamr_wasi.c - WAMR's socket extension (wk/wasi_sock_ext.h, second
 * table): what wasm-micro-runtime's lib-socket (socket(), bind(), connect(),
 * getaddrinfo() ... over wasi-libc) imports from wasi_snapshot_preview1.
 *
 * The names overlap WasmEdge's (sock_open, sock_bind, sock_connect,
 * sock_send_to, sock_recv_from) with other signatures; the compiler binds by
 * signature. This file decodes WAMR's guest layouts and calls the shared
 * implementation (sock_ext_wasi.c):
 *
 *   __wasi_addr_t (24 bytes): u32 kind @0 (0 IPv4, 1 IPv6); IPv4: 4 address
 *     bytes @4, u16 port @8; IPv6: eight u16 groups @4 (each in host order),
 *     u16 port @20. Ports in host order.
 *   __wasi_addr_info_t (28): an __wasi_addr_t, then i32 socket type @24.
 *   __wasi_addr_info_hints_t (12): i32 type @0, i32 family @4, u8 enabled @8.
 *   families 0 INET4, 1 INET6, 2 UNSPEC; types -1 ANY, 0 DGRAM, 1 STREAM.
 *
 * sock_open's first argument (WAMR's "address pool" fd) is ignored: the
 * unikernel's network is the guest's to use. Options the stack has
 * (reuse_addr, keep_alive, tcp_no_delay, broadcast; the buffer sizes read
 * only) are provided; the others (timeouts, linger, keep-alive timing, fast
 * open, quick ack, multicast, TTL, IPv6-only, reuse_port) are ENOTSUP, so an
 * app that links lib-socket builds and learns at run time what is missing.
 */
#include "sock_ext_wasi.h"

#include "guestmem_wasi.h"
#include "sock_wasi.h"
#include "wk/wasi.h"
#include "wk/wasi_sock_ext.h"

enum { WAMR_INET4 = 0, WAMR_INET6 = 1, WAMR_UNSPEC = 2 };
enum { WAMR_SOCK_ANY = -1, WAMR_SOCK_DGRAM = 0, WAMR_SOCK_STREAM = 1 };
#define ADDR_SIZE 24
#define ADDR_INFO_SIZE 28
#define HINTS_SIZE 12
#define SERVICE_MAX 32 /* longest service name or port string */

static int32_t read_addr(wk_vmctx *vm, int32_t ptr, wk_net_addr *out) {
  const uint8_t *p = wk_guest_ptr(vm, (uint32_t)ptr, ADDR_SIZE);
  if (!p) return WK_EFAULT;
  uint32_t kind;
  __builtin_memcpy(&kind, p, 4);
  *out = (wk_net_addr){0};
  if (kind == WAMR_INET4) {
    out->family = WK_NET_AF_INET;
    __builtin_memcpy(out->addr, p + 4, 4);
    __builtin_memcpy(&out->port, p + 8, 2);
  } else if (kind == WAMR_INET6) {
    out->family = WK_NET_AF_INET6;
    for (int i = 0; i < 8; i++) { /* host-order groups -> network-order bytes */
      uint16_t g;
      __builtin_memcpy(&g, p + 4 + 2 * i, 2);
      out->addr[2 * i] = (uint8_t)(g >> 8);
      out->addr[2 * i + 1] = (uint8_t)g;
    }
    __builtin_memcpy(&out->port, p + 20, 2);
  } else {
    return WK_EINVAL;
  }
  return WK_ESUCCESS;
}

/* Encode a into the 24 bytes at b (checked by the caller). */
static void encode_addr(uint8_t *b, const wk_net_addr *a) {
  uint32_t kind = a->family == WK_NET_AF_INET6 ? WAMR_INET6 : WAMR_INET4;
  __builtin_memset(b, 0, ADDR_SIZE);
  __builtin_memcpy(b, &kind, 4);
  if (kind == WAMR_INET4) {
    __builtin_memcpy(b + 4, a->addr, 4);
    __builtin_memcpy(b + 8, &a->port, 2);
    return;
  }
  for (int i = 0; i < 8; i++) {
    uint16_t g = (uint16_t)(a->addr[2 * i] << 8 | a->addr[2 * i + 1]);
    __builtin_memcpy(b + 4 + 2 * i, &g, 2);
  }
  __builtin_memcpy(b + 20, &a->port, 2);
}

static int32_t write_addr(wk_vmctx *vm, int32_t ptr, const wk_net_addr *a) {
  uint8_t *b = wk_guest_ptr(vm, (uint32_t)ptr, ADDR_SIZE);
  if (!b) return WK_EFAULT;
  encode_addr(b, a);
  return WK_ESUCCESS;
}

int32_t wk_wamr_sock_open(wk_vmctx *vm, int32_t poolfd, int32_t af, int32_t type, int32_t fd_out) {
  (void)poolfd;
  int family = af == WAMR_INET4 ? WK_NET_AF_INET : af == WAMR_INET6 ? WK_NET_AF_INET6 : 0;
  uint8_t ft = type == WAMR_SOCK_STREAM  ? WK_FILETYPE_SOCKET_STREAM
               : type == WAMR_SOCK_DGRAM ? WK_FILETYPE_SOCKET_DGRAM
                                         : 0;
  return wk_sockext_open(vm, family, ft, fd_out);
}

int32_t wk_wamr_sock_bind(wk_vmctx *vm, int32_t fd, int32_t addr) {
  wk_net_addr a;
  int32_t err = read_addr(vm, addr, &a);
  return err ? err : wk_sockext_bind(vm, fd, &a);
}

int32_t wk_wamr_sock_connect(wk_vmctx *vm, int32_t fd, int32_t addr) {
  wk_net_addr a;
  int32_t err = read_addr(vm, addr, &a);
  return err ? err : wk_sockext_connect(vm, fd, &a);
}

static int32_t sock_addr(wk_vmctx *vm, int32_t fd, int32_t addr, int peer) {
  if (!wk_guest_ptr(vm, (uint32_t)addr, ADDR_SIZE)) return WK_EFAULT;
  wk_net_addr a;
  int32_t err = wk_sockext_addr(vm, fd, peer, &a);
  return err ? err : write_addr(vm, addr, &a);
}

int32_t wk_wamr_sock_addr_local(wk_vmctx *vm, int32_t fd, int32_t addr) {
  return sock_addr(vm, fd, addr, 0);
}

int32_t wk_wamr_sock_addr_remote(wk_vmctx *vm, int32_t fd, int32_t addr) {
  return sock_addr(vm, fd, addr, 1);
}

int32_t wk_wamr_sock_send_to(wk_vmctx *vm, int32_t fd, int32_t si_data, int32_t si_data_len,
                             int32_t si_flags, int32_t addr, int32_t so_datalen_out) {
  if (si_flags != 0) return WK_EINVAL;
  wk_net_addr to;
  int32_t err = read_addr(vm, addr, &to);
  if (err) return err;
  if (!wk_guest_ptr(vm, (uint32_t)so_datalen_out, 4)) return WK_EFAULT;
  uint32_t sent;
  if ((err = wk_sockext_send_to(vm, fd, si_data, si_data_len, &to, &sent))) return err;
  return wk_wasi_put(vm, so_datalen_out, &sent, 4);
}

int32_t wk_wamr_sock_recv_from(wk_vmctx *vm, int32_t fd, int32_t ri_data, int32_t ri_data_len,
                               int32_t ri_flags, int32_t addr, int32_t ro_datalen_out) {
  if (ri_flags != 0) return WK_ENOTSUP; /* no peek, no waitall for datagrams */
  if (!wk_guest_ptr(vm, (uint32_t)addr, ADDR_SIZE) ||
      !wk_guest_ptr(vm, (uint32_t)ro_datalen_out, 4))
    return WK_EFAULT;
  wk_net_addr from;
  uint32_t got;
  int truncated;
  int32_t err = wk_sockext_recv_from(vm, fd, ri_data, ri_data_len, &from, &got, &truncated);
  if (err || (err = write_addr(vm, addr, &from))) return err;
  return wk_wasi_put(vm, ro_datalen_out, &got, 4);
}

/* A NUL-terminated guest string of at most max bytes before the NUL, or NULL
 * (EFAULT: out of bounds; EINVAL: too long, *len = max + 1). */
static const char *guest_cstr(wk_vmctx *vm, int32_t ptr, size_t max, size_t *len) {
  const char *s = wk_guest_ptr(vm, (uint32_t)ptr, 1);
  *len = 0;
  if (!s) return 0;
  for (*len = 0; *len <= max; (*len)++) {
    const char *c = wk_guest_ptr(vm, (uint32_t)ptr + (uint32_t)*len, 1);
    if (!c) return 0;
    if (*c == '\0') return s;
  }
  return 0;
}

int32_t wk_wamr_sock_addr_resolve(wk_vmctx *vm, int32_t host, int32_t service, int32_t hints,
                                  int32_t addr_info, int32_t addr_info_size, int32_t max_info_out) {
  size_t hlen, slen;
  const char *h = guest_cstr(vm, host, WK_SOCKEXT_NAME_MAX, &hlen);
  if (!h) return hlen > WK_SOCKEXT_NAME_MAX ? WK_EINVAL : WK_EFAULT;
  const char *sv = guest_cstr(vm, service, SERVICE_MAX, &slen);
  if (!sv) return slen > SERVICE_MAX ? WK_EINVAL : WK_EFAULT;
  const uint8_t *hi = wk_guest_ptr(vm, (uint32_t)hints, HINTS_SIZE);
  if (!hi || !wk_guest_ptr(vm, (uint32_t)max_info_out, 4) ||
      !wk_guest_ptr(vm, (uint32_t)addr_info, (uint64_t)(uint32_t)addr_info_size * ADDR_INFO_SIZE))
    return WK_EFAULT;
  int32_t want_type, want_family;
  __builtin_memcpy(&want_type, hi, 4);
  __builtin_memcpy(&want_family, hi + 4, 4);
  if (!hi[8]) want_type = WAMR_SOCK_ANY, want_family = WAMR_UNSPEC; /* hints not enabled */
  if (want_family == WAMR_INET6 && !wk_net_ipv6()) return WK_EAFNOSUPPORT;
  int port = wk_sockext_service_port(sv, slen);
  if (port < 0) return WK_EINVAL;
  wk_net_addr addrs[WK_SOCKEXT_ADDRS_MAX];
  int count = wk_sockext_resolve(h, hlen, 0,
                                 want_family == WAMR_INET4   ? WK_NET_AF_INET
                                 : want_family == WAMR_INET6 ? WK_NET_AF_INET6
                                                             : 0,
                                 addrs);
  if (count < 0) return (int32_t)-count;
  int32_t types[2] = {want_type == WAMR_SOCK_ANY ? WAMR_SOCK_STREAM : want_type, WAMR_SOCK_DGRAM};
  uint32_t ntypes = want_type == WAMR_SOCK_ANY ? 2 : 1, total = 0;
  for (int i = 0; i < count; i++) {
    addrs[i].port = (uint16_t)port;
    for (uint32_t t = 0; t < ntypes; t++, total++) {
      if (total >= (uint32_t)addr_info_size) continue; /* counted, not stored */
      uint8_t *e = wk_guest_ptr(vm, (uint32_t)addr_info + total * ADDR_INFO_SIZE, ADDR_INFO_SIZE);
      encode_addr(e, &addrs[i]);
      __builtin_memcpy(e + ADDR_SIZE, &types[t], 4);
    }
  }
  return wk_wasi_put(vm, max_info_out, &total, 4);
}

/* ---- options ------------------------------------------------------------------------ */

static int32_t get_bool(wk_vmctx *vm, int32_t fd, int opt, int32_t out) {
  if (!wk_guest_ptr(vm, (uint32_t)out, 1)) return WK_EFAULT;
  uint32_t v;
  int32_t err = wk_sockext_getopt(vm, fd, opt, &v);
  uint8_t b = v != 0;
  return err ? err : wk_wasi_put(vm, out, &b, 1);
}

static int32_t get_size(wk_vmctx *vm, int32_t fd, int opt, int32_t out) {
  if (!wk_guest_ptr(vm, (uint32_t)out, 4)) return WK_EFAULT;
  uint32_t v;
  int32_t err = wk_sockext_getopt(vm, fd, opt, &v);
  return err ? err : wk_wasi_put(vm, out, &v, 4);
}

#define WAMR_OPTION(name, opt, getter)                                       \
  int32_t wk_wamr_sock_set_##name(wk_vmctx *vm, int32_t fd, int32_t value) { \
    return wk_sockext_setopt(vm, fd, opt, (uint32_t)value);                  \
  }                                                                          \
  int32_t wk_wamr_sock_get_##name(wk_vmctx *vm, int32_t fd, int32_t out) {   \
    return getter(vm, fd, opt, out);                                         \
  }
WAMR_OPTION(reuse_addr, WK_SOCKOPT_REUSEADDR, get_bool)
WAMR_OPTION(keep_alive, WK_SOCKOPT_KEEPALIVE, get_bool)
WAMR_OPTION(tcp_no_delay, WK_SOCKOPT_NODELAY, get_bool)
WAMR_OPTION(broadcast, WK_SOCKOPT_BROADCAST, get_bool)
WAMR_OPTION(recv_buf_size, WK_SOCKOPT_RCVBUF, get_size)
WAMR_OPTION(send_buf_size, WK_SOCKOPT_SNDBUF, get_size)
#undef WAMR_OPTION

/* The options this stack does not have, by signature: ENOTSUP on a socket
 * (and what any socket call says for an fd that is not one). */
static int32_t unsupported(wk_vmctx *vm, int32_t fd) {
  wk_fd *f;
  int32_t err = wk_wasi_sock_fd(vm, fd, &f);
  return err ? err : WK_ENOTSUP;
}

int32_t wk_wamr_sock_unsupported_ii(wk_vmctx *vm, int32_t fd, int32_t a) {
  (void)a;
  return unsupported(vm, fd);
}

int32_t wk_wamr_sock_unsupported_iI(wk_vmctx *vm, int32_t fd, int64_t a) {
  (void)a;
  return unsupported(vm, fd);
}

int32_t wk_wamr_sock_unsupported_iii(wk_vmctx *vm, int32_t fd, int32_t a, int32_t b) {
  (void)a;
  (void)b;
  return unsupported(vm, fd);
}
