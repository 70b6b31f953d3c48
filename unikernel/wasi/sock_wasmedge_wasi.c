/*
 * wasi/sock_wasmedge_wasi.c - the WasmEdge socket extension (wk/wasi_sock_ext.h):
 * the guest opens, binds, listens on and connects its own sockets, and looks
 * names up (sock_getaddrinfo).
 *
 * This file only translates WasmEdge's encodings (an address is a guest
 * {u32 buf, u32 buf_len} whose buffer holds 4 bytes of IPv4, 16 of IPv6, or
 * a 128-byte store that starts with a u16 family) to and from wk_net_addr;
 * what the calls do is sock_ext_wasi.c's, shared with WAMR's extension.
 *
 * Two generations share the names (WasmEdge >= 0.12 binds by signature too):
 * V1 as wasmedge_wasi_socket < 0.5 imports it, and V2, which the crate's
 * newer releases import both under the plain names (sock_recv_from with a
 * port out, sock_getlocaladdr/getpeeraddr without the type out) and as
 * *_v2. Where a V2 function has V1's signature it is the same function here.
 */
#include "sock_ext_wasi.h"

#include "guestmem_wasi.h"
#include "sock_wasi.h"
#include "wk/wasi.h"
#include "wk/wasi_sock_ext.h"

enum { WE_AF_UNSPEC = 0, WE_AF_INET = 1, WE_AF_INET6 = 2 };      /* address families */
enum { WE_SOCK_ANY = 0, WE_SOCK_DGRAM = 1, WE_SOCK_STREAM = 2 }; /* socket types */
enum { WE_SOL_SOCKET = 0 };                                      /* option levels */
#define WE_ADDR_LONG 128 /* the 128-byte address form: u16 family, then the bytes */

/* WasmEdge's getaddrinfo errors, after WASI's errno values. */
enum {
  WE_EAI_AGAIN = 78,
  WE_EAI_BADFLAGS = 79,
  WE_EAI_FAIL = 80,
  WE_EAI_FAMILY = 81,
  WE_EAI_MEMORY = 82,
  WE_EAI_NONAME = 84,
  WE_EAI_SERVICE = 85,
};

/* The address at guest pointer addr ({u32 buf, u32 len}); the port is separate. */
static int32_t read_addr(wk_vmctx *vm, int32_t addr, uint32_t port, wk_net_addr *out) {
  const uint8_t *a = wk_guest_ptr(vm, (uint32_t)addr, 8);
  if (!a) return WK_EFAULT;
  uint32_t buf, len;
  __builtin_memcpy(&buf, a, 4);
  __builtin_memcpy(&len, a + 4, 4);
  const uint8_t *b = wk_guest_ptr(vm, buf, len);
  if (!b) return WK_EFAULT;
  if (port > 65535) return WK_EINVAL;
  *out = (wk_net_addr){.port = (uint16_t)port};
  if (len == WE_ADDR_LONG) {
    uint16_t family;
    __builtin_memcpy(&family, b, 2);
    if (family != WE_AF_INET && family != WE_AF_INET6) return WK_EINVAL;
    len = family == WE_AF_INET ? 4 : 16;
    b += 2;
  }
  if (len != 4 && len != 16) return WK_EINVAL;
  out->family = len == 4 ? WK_NET_AF_INET : WK_NET_AF_INET6;
  __builtin_memcpy(out->addr, b, len);
  return WK_ESUCCESS;
}

/* Write an endpoint's address back in the form the guest's buffer has: the
 * 128-byte store (always, for V2: need_long), or the bare 4 or 16 bytes. */
static int32_t write_addr(wk_vmctx *vm, int32_t addr, const wk_net_addr *a, int need_long) {
  const uint8_t *p = wk_guest_ptr(vm, (uint32_t)addr, 8);
  if (!p) return WK_EFAULT;
  uint32_t buf, len, n = a->family == WK_NET_AF_INET6 ? 16 : 4;
  __builtin_memcpy(&buf, p, 4);
  __builtin_memcpy(&len, p + 4, 4);
  uint8_t *b = wk_guest_ptr(vm, buf, len);
  if (!b) return WK_EFAULT;
  if (len == WE_ADDR_LONG) {
    uint16_t family = n == 4 ? WE_AF_INET : WE_AF_INET6;
    __builtin_memset(b, 0, WE_ADDR_LONG);
    __builtin_memcpy(b, &family, 2);
    __builtin_memcpy(b + 2, a->addr, n);
  } else if (!need_long && len >= n) {
    __builtin_memcpy(b, a->addr, n);
  } else {
    return WK_EINVAL;
  }
  return WK_ESUCCESS;
}

int32_t wk_wasmedge_sock_open(wk_vmctx *vm, int32_t af, int32_t type, int32_t fd_out) {
  int family = af == WE_AF_INET ? WK_NET_AF_INET : af == WE_AF_INET6 ? WK_NET_AF_INET6 : 0;
  uint8_t ft = type == WE_SOCK_STREAM  ? WK_FILETYPE_SOCKET_STREAM
               : type == WE_SOCK_DGRAM ? WK_FILETYPE_SOCKET_DGRAM
                                       : 0;
  return wk_sockext_open(vm, family, ft, fd_out);
}

int32_t wk_wasmedge_sock_bind(wk_vmctx *vm, int32_t fd, int32_t addr, int32_t port) {
  wk_net_addr a;
  int32_t err = read_addr(vm, addr, (uint32_t)port, &a);
  return err ? err : wk_sockext_bind(vm, fd, &a);
}

int32_t wk_wasmedge_sock_listen(wk_vmctx *vm, int32_t fd, int32_t backlog) {
  return wk_sockext_listen(vm, fd, backlog);
}

int32_t wk_wasmedge_sock_accept(wk_vmctx *vm, int32_t fd, int32_t fd_out) {
  return wk_wasi_sock_accept(vm, fd, 0, fd_out); /* preview1's, without the flags */
}

int32_t wk_wasmedge_sock_connect(wk_vmctx *vm, int32_t fd, int32_t addr, int32_t port) {
  wk_net_addr a;
  int32_t err = read_addr(vm, addr, (uint32_t)port, &a);
  return err ? err : wk_sockext_connect(vm, fd, &a);
}

/* getlocaladdr/getpeeraddr, V1 (type_out >= 0: the address type, 4 or 6) and
 * V2 (type_out < 0: none, and the buffer must be the 128-byte store). */
static int32_t sock_addr(wk_vmctx *vm, int32_t fd, int32_t addr, int64_t type_out, int32_t port_out,
                         int peer) {
  if ((type_out >= 0 && !wk_guest_ptr(vm, (uint32_t)type_out, 4)) ||
      !wk_guest_ptr(vm, (uint32_t)port_out, 4))
    return WK_EFAULT;
  wk_net_addr a;
  int32_t err = wk_sockext_addr(vm, fd, peer, &a);
  if (err || (err = write_addr(vm, addr, &a, type_out < 0))) return err;
  uint32_t type = a.family == WK_NET_AF_INET6 ? 6 : 4, port = a.port;
  if (type_out >= 0) wk_wasi_put(vm, (int32_t)type_out, &type, 4);
  return wk_wasi_put(vm, port_out, &port, 4);
}

int32_t wk_wasmedge_sock_getlocaladdr(wk_vmctx *vm, int32_t fd, int32_t addr, int32_t type_out,
                                      int32_t port_out) {
  return sock_addr(vm, fd, addr, (uint32_t)type_out, port_out, 0);
}

int32_t wk_wasmedge_sock_getpeeraddr(wk_vmctx *vm, int32_t fd, int32_t addr, int32_t type_out,
                                     int32_t port_out) {
  return sock_addr(vm, fd, addr, (uint32_t)type_out, port_out, 1);
}

int32_t wk_wasmedge_sock_getlocaladdr_v2(wk_vmctx *vm, int32_t fd, int32_t addr, int32_t port_out) {
  return sock_addr(vm, fd, addr, -1, port_out, 0);
}

int32_t wk_wasmedge_sock_getpeeraddr_v2(wk_vmctx *vm, int32_t fd, int32_t addr, int32_t port_out) {
  return sock_addr(vm, fd, addr, -1, port_out, 1);
}

/* WasmEdge's SOL_SOCKET option numbers -> ours; 0: known but not provided
 * (DONTROUTE, OOBINLINE, LINGER, RCVLOWAT, RCVTIMEO, SNDTIMEO, ACCEPTCONN,
 * BINDTODEVICE); -1: no such option. */
static int we_opt(int32_t level, int32_t name) {
  static const signed char map[] = {
      WK_SOCKOPT_REUSEADDR,
      WK_SOCKOPT_TYPE,
      WK_SOCKOPT_ERROR,
      0,
      WK_SOCKOPT_BROADCAST,
      WK_SOCKOPT_SNDBUF,
      WK_SOCKOPT_RCVBUF,
      WK_SOCKOPT_KEEPALIVE,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
  };
  if (level != WE_SOL_SOCKET || name < 0 || (size_t)name >= sizeof map) return -1;
  return map[name];
}

/* The socket behind fd and WasmEdge's (level, name) as a wk option in *opt:
 * 0, or the errno set/getsockopt return. */
static int32_t we_sock_opt(wk_vmctx *vm, int32_t fd, int32_t level, int32_t name, int *opt) {
  wk_fd *f;
  int32_t err = wk_wasi_sock_fd(vm, fd, &f);
  if (err) return err;
  *opt = we_opt(level, name);
  if (*opt <= 0) return *opt < 0 ? WK_ENOPROTOOPT : WK_ENOTSUP;
  return 0;
}

int32_t wk_wasmedge_sock_setsockopt(wk_vmctx *vm, int32_t fd, int32_t level, int32_t name,
                                    int32_t value, int32_t value_len) {
  int opt;
  int32_t err = we_sock_opt(vm, fd, level, name, &opt);
  if (err) return err;
  const uint8_t *v = wk_guest_ptr(vm, (uint32_t)value, (uint32_t)value_len);
  if (!v) return WK_EFAULT;
  if (value_len != 4) return WK_EINVAL; /* int options only */
  uint32_t on;
  __builtin_memcpy(&on, v, 4);
  return wk_sockext_setopt(vm, fd, opt, on);
}

int32_t wk_wasmedge_sock_getsockopt(wk_vmctx *vm, int32_t fd, int32_t level, int32_t name,
                                    int32_t value, int32_t value_len_ptr) {
  int opt;
  int32_t err = we_sock_opt(vm, fd, level, name, &opt);
  if (err) return err;
  const uint8_t *lp = wk_guest_ptr(vm, (uint32_t)value_len_ptr, 4);
  if (!lp) return WK_EFAULT;
  uint32_t len, out;
  __builtin_memcpy(&len, lp, 4);
  if (len < 4) return WK_EINVAL;
  if (!wk_guest_ptr(vm, (uint32_t)value, 4)) return WK_EFAULT;
  if ((err = wk_sockext_getopt(vm, fd, opt, &out))) return err;
  if (opt == WK_SOCKOPT_TYPE) /* WasmEdge's numbering */
    out = out == WK_FILETYPE_SOCKET_STREAM ? WE_SOCK_STREAM : WE_SOCK_DGRAM;
  uint32_t four = 4;
  wk_wasi_put(vm, value, &out, 4);
  return wk_wasi_put(vm, value_len_ptr, &four, 4);
}

int32_t wk_wasmedge_sock_send_to(wk_vmctx *vm, int32_t fd, int32_t si_data, int32_t si_data_len,
                                 int32_t addr, int32_t port, int32_t si_flags,
                                 int32_t so_datalen_out) {
  if (si_flags != 0) return WK_EINVAL;
  wk_net_addr to;
  int32_t err = read_addr(vm, addr, (uint32_t)port, &to);
  if (err) return err;
  if (!wk_guest_ptr(vm, (uint32_t)so_datalen_out, 4)) return WK_EFAULT;
  uint32_t sent;
  if ((err = wk_sockext_send_to(vm, fd, si_data, si_data_len, &to, &sent))) return err;
  return wk_wasi_put(vm, so_datalen_out, &sent, 4);
}

/* recv_from, V1 (port_out < 0: the sender's port is not reported) and V2. */
static int32_t recv_from(wk_vmctx *vm, int32_t fd, int32_t ri_data, int32_t ri_data_len,
                         int32_t addr, int32_t ri_flags, int64_t port_out, int32_t ro_datalen_out,
                         int32_t ro_flags_out) {
  if (ri_flags != 0) return WK_ENOTSUP; /* no peek, no waitall for datagrams */
  if (!wk_guest_ptr(vm, (uint32_t)ro_datalen_out, 4) ||
      !wk_guest_ptr(vm, (uint32_t)ro_flags_out, 2) ||
      (port_out >= 0 && !wk_guest_ptr(vm, (uint32_t)port_out, 2)))
    return WK_EFAULT;
  wk_net_addr from;
  uint32_t got;
  int truncated;
  int32_t err = wk_sockext_recv_from(vm, fd, ri_data, ri_data_len, &from, &got, &truncated);
  if (err || (err = write_addr(vm, addr, &from, 0))) return err;
  uint16_t roflags = truncated ? 1 : 0, port = from.port;          /* RECV_DATA_TRUNCATED */
  if (port_out >= 0) wk_wasi_put(vm, (int32_t)port_out, &port, 2); /* a u16, as WasmEdge */
  wk_wasi_put(vm, ro_flags_out, &roflags, 2);
  return wk_wasi_put(vm, ro_datalen_out, &got, 4);
}

int32_t wk_wasmedge_sock_recv_from(wk_vmctx *vm, int32_t fd, int32_t ri_data, int32_t ri_data_len,
                                   int32_t addr, int32_t ri_flags, int32_t ro_datalen_out,
                                   int32_t ro_flags_out) {
  return recv_from(vm, fd, ri_data, ri_data_len, addr, ri_flags, -1, ro_datalen_out, ro_flags_out);
}

int32_t wk_wasmedge_sock_recv_from_v2(wk_vmctx *vm, int32_t fd, int32_t ri_data,
                                      int32_t ri_data_len, int32_t addr, int32_t ri_flags,
                                      int32_t port_out, int32_t ro_datalen_out,
                                      int32_t ro_flags_out) {
  return recv_from(vm, fd, ri_data, ri_data_len, addr, ri_flags, (uint32_t)port_out, ro_datalen_out,
                   ro_flags_out);
}

/* ---- sock_getaddrinfo ------------------------------------------------------------ */

/* Guest layouts (WasmEdge's witx): addrinfo is 28 bytes {u16 flags @0, u8 family
 * @2, u8 socktype @3, u8 protocol @4, u32 addrlen @8, u32 addr @12, u32
 * canonname @16, u32 canonname_len @20, u32 next @24}; addr points at a sockaddr
 * {u8 family @0, u32 data_len @4, u32 data @8} whose data gets what Linux's
 * sockaddr_in has after its family: the port (big-endian), the address, zeros. */
#define AI_SIZE 28
#define SA_SIZE 12
#define SA_DATA_IN 14  /* sizeof(struct sockaddr_in) - sizeof(sa_family_t) */
#define SA_DATA_IN6 26 /* sizeof(struct sockaddr_in6) - sizeof(sa_family_t) */
enum { AI_PASSIVE = 1, AI_CANONNAME = 2, AI_NUMERICHOST = 4, AI_ALL_FLAGS = 0x7f };
enum { WE_PROTO_IP = 0, WE_PROTO_TCP = 1, WE_PROTO_UDP = 2 };

static uint32_t get_u32(const uint8_t *p) {
  uint32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

/* Fill one guest addrinfo (ai, checked) for address a of this socket type. */
static int32_t fill_addrinfo(wk_vmctx *vm, uint8_t *ai, const wk_net_addr *a, uint8_t type,
                             const char *canon, size_t canon_len) {
  int v6 = a->family == WK_NET_AF_INET6;
  uint32_t data_len = v6 ? SA_DATA_IN6 : SA_DATA_IN, addrlen = data_len + 2, cl = 0;
  uint8_t *sa = wk_guest_ptr(vm, get_u32(ai + 12), SA_SIZE);
  if (!sa) return WK_EFAULT;
  if (get_u32(sa + 4) < data_len) return WE_EAI_MEMORY;
  uint8_t *data = wk_guest_ptr(vm, get_u32(sa + 8), data_len);
  if (!data) return WK_EFAULT;
  uint16_t zero16 = 0;
  __builtin_memcpy(ai, &zero16, 2);
  ai[2] = v6 ? WE_AF_INET6 : WE_AF_INET;
  ai[3] = type;
  ai[4] = type == WE_SOCK_STREAM ? WE_PROTO_TCP : WE_PROTO_UDP;
  __builtin_memcpy(ai + 8, &addrlen, 4);
  sa[0] = ai[2];
  __builtin_memcpy(sa + 4, &data_len, 4);
  __builtin_memset(data, 0, data_len);
  data[0] = (uint8_t)(a->port >> 8);
  data[1] = (uint8_t)a->port;
  if (v6) {
    __builtin_memcpy(data + 6, a->addr, 16); /* after the port and the flow label */
  } else {
    __builtin_memcpy(data + 2, a->addr, 4);
  }
  if (canon) { /* only into a buffer that holds it and its NUL */
    uint8_t *c = wk_guest_ptr(vm, get_u32(ai + 16), (uint64_t)canon_len + 1);
    if (c && get_u32(ai + 20) > canon_len) {
      __builtin_memcpy(c, canon, canon_len);
      c[canon_len] = 0;
      cl = (uint32_t)canon_len;
    }
  }
  __builtin_memcpy(ai + 20, &cl, 4);
  return WK_ESUCCESS;
}

static int32_t eai_of(int r) {
  switch (-r) {
  case WK_ETIMEDOUT: return WE_EAI_AGAIN;
  case WK_ENOENT:
  case WK_EINVAL: return WE_EAI_NONAME;
  default: return WE_EAI_FAIL; /* no DNS server, no network */
  }
}

int32_t wk_wasmedge_sock_getaddrinfo(wk_vmctx *vm, int32_t node, int32_t node_len, int32_t service,
                                     int32_t service_len, int32_t hints, int32_t res,
                                     int32_t max_res, int32_t res_len_out) {
  const char *n = wk_guest_ptr(vm, (uint32_t)node, (uint32_t)node_len);
  const char *sv = wk_guest_ptr(vm, (uint32_t)service, (uint32_t)service_len);
  const uint8_t *h = wk_guest_ptr(vm, (uint32_t)hints, AI_SIZE);
  const uint8_t *first = wk_guest_ptr(vm, (uint32_t)res, 4);
  if (!n || !sv || !h || !first || !wk_guest_ptr(vm, (uint32_t)res_len_out, 4)) return WK_EFAULT;
  size_t nlen = (uint32_t)node_len, slen = (uint32_t)service_len;
  while (nlen > 0 && n[nlen - 1] == '\0') nlen--; /* the crate counts the NUL */
  while (slen > 0 && sv[slen - 1] == '\0') slen--;
  uint16_t flags;
  __builtin_memcpy(&flags, h, 2);
  if (nlen == 0 && slen == 0) return WE_EAI_NONAME;
  if ((uint32_t)max_res < 1) return WE_EAI_MEMORY;
  if ((flags & ~AI_ALL_FLAGS) || ((flags & AI_CANONNAME) && nlen == 0)) return WE_EAI_BADFLAGS;
  if (h[2] > WE_AF_INET6 || (h[2] == WE_AF_INET6 && !wk_net_ipv6())) return WE_EAI_FAMILY;
  if (h[3] > WE_SOCK_STREAM || h[4] > WE_PROTO_UDP) return WK_ENOSYS;
  int family = h[2] == WE_AF_INET ? WK_NET_AF_INET : h[2] == WE_AF_INET6 ? WK_NET_AF_INET6 : 0;
  int port = wk_sockext_service_port(sv, slen);
  if (port < 0) return WE_EAI_SERVICE;
  wk_net_addr addrs[WK_SOCKEXT_ADDRS_MAX];
  int count = 1;
  if (nlen == 0) { /* the service alone: any address to bind, or loopback to connect */
    int v6 = family == WK_NET_AF_INET6;
    addrs[0] = (wk_net_addr){.family = v6 ? WK_NET_AF_INET6 : WK_NET_AF_INET};
    if (!(flags & AI_PASSIVE) && v6) addrs[0].addr[15] = 1; /* ::1 */
    if (!(flags & AI_PASSIVE) && !v6) addrs[0].addr[0] = 127, addrs[0].addr[3] = 1;
  } else {
    count = wk_sockext_resolve(n, nlen, flags & AI_NUMERICHOST, family, addrs);
    if (count < 0) return eai_of(count);
  }
  /* Socket types: the hint's, or stream then datagram (as glibc, without raw). */
  uint8_t types[2] = {h[3] ? h[3] : WE_SOCK_STREAM, WE_SOCK_DGRAM};
  int ntypes = h[3] ? 1 : 2;
  if (h[4] == WE_PROTO_TCP || h[4] == WE_PROTO_UDP) { /* a protocol fixes the type */
    types[0] = h[4] == WE_PROTO_TCP ? WE_SOCK_STREAM : WE_SOCK_DGRAM;
    ntypes = 1;
  }
  uint32_t cur = get_u32(first), done = 0;
  for (int i = 0; i < count; i++) {
    addrs[i].port = (uint16_t)port;
    for (int t = 0; t < ntypes && done < (uint32_t)max_res && cur; t++) { /* 0 ends the list */
      uint8_t *ai = wk_guest_ptr(vm, cur, AI_SIZE);
      if (!ai) return WK_EFAULT;
      int canon = (flags & AI_CANONNAME) && done == 0;
      int32_t err = fill_addrinfo(vm, ai, &addrs[i], types[t], canon ? n : 0, nlen);
      if (err) return err;
      done++;
      cur = get_u32(ai + 24);
    }
  }
  return wk_wasi_put(vm, res_len_out, &done, 4);
}
