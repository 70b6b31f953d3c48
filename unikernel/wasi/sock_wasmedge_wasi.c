/*
 * wasi/sock_wasmedge_wasi.c - the WasmEdge socket extension (wk/wasi_sock_ext.h):
 * the guest opens, binds, listens on and connects its own sockets.
 *
 * wk/net.h has no unbound socket: a listener is made by wk_net_tcp_listen, a
 * connection by wk_net_tcp_connect, a UDP socket by wk_net_udp_open. So
 * sock_open only makes an fd entry (handle -1) that remembers its type;
 * sock_bind remembers the address; sock_listen / sock_connect create the
 * network-layer socket then (a UDP socket is created at bind, or at its first
 * send_to with an ephemeral port). From there the entry is an ordinary socket
 * for sock_wasi.c: sock_recv/sock_send/fd_read/fd_write/poll_oneoff/fd_close
 * (TCP), sock_recv_from/sock_send_to (UDP).
 *
 * Blocking follows the fd's flags like sock_wasi.c: a blocking connect waits
 * until it is established or refused, a non-blocking one says EINPROGRESS and
 * the guest polls for writability. Only IPv4: IPv6 addresses are EAFNOSUPPORT.
 * WAMR's extension (same names, other signatures) is not provided yet.
 */
#include "internal_wasi.h"
#include "wk/net.h"
#include "wk/wasi.h"
#include "wk/wasi_sock_ext.h"

enum { WE_AF_INET = 1, WE_AF_INET6 = 2 };              /* address families */
enum { WE_SOCK_DGRAM = 1, WE_SOCK_STREAM = 2 };         /* socket types */
enum { WE_SOL_SOCKET = 0 };                             /* setsockopt levels */
enum { WE_SO_REUSEADDR = 0, WE_SO_TYPE = 1, WE_SO_ERROR = 2, WE_SO_KEEPALIVE = 7 };
#define WE_ADDR_LONG 128 /* the 128-byte address form: u16 family, then the bytes */

/* The address at guest pointer addr ({u32 buf, u32 len}) as IPv4 bytes. */
static int32_t read_addr(wk_vmctx *vm, int32_t addr, uint8_t ip[4]) {
  const uint8_t *a = wk_guest_ptr(vm, (uint32_t)addr, 8);
  if (!a) return WK_EFAULT;
  uint32_t buf, len;
  __builtin_memcpy(&buf, a, 4);
  __builtin_memcpy(&len, a + 4, 4);
  const uint8_t *b = wk_guest_ptr(vm, buf, len);
  if (!b) return WK_EFAULT;
  if (len == WE_ADDR_LONG) {
    uint16_t family;
    __builtin_memcpy(&family, b, 2);
    if (family == WE_AF_INET6) return WK_EAFNOSUPPORT;
    if (family != WE_AF_INET) return WK_EINVAL;
    b += 2;
  } else if (len == 16) {
    return WK_EAFNOSUPPORT;
  } else if (len != 4) {
    return WK_EINVAL;
  }
  __builtin_memcpy(ip, b, 4);
  return WK_ESUCCESS;
}

/* Write an endpoint back in the form the guest's buffer has (4 or 128 bytes). */
static int32_t write_addr(wk_vmctx *vm, int32_t addr, const wk_net_addr *a) {
  const uint8_t *p = wk_guest_ptr(vm, (uint32_t)addr, 8);
  if (!p) return WK_EFAULT;
  uint32_t buf, len;
  __builtin_memcpy(&buf, p, 4);
  __builtin_memcpy(&len, p + 4, 4);
  uint8_t *b = wk_guest_ptr(vm, buf, len);
  if (!b) return WK_EFAULT;
  if (len >= WE_ADDR_LONG) {
    uint16_t family = WE_AF_INET;
    __builtin_memset(b, 0, WE_ADDR_LONG);
    __builtin_memcpy(b, &family, 2);
    __builtin_memcpy(b + 2, a->addr, 4);
  } else if (len >= 4) {
    __builtin_memcpy(b, a->addr, 4);
  } else {
    return WK_EINVAL;
  }
  return WK_ESUCCESS;
}

/* Before the first packet leaves: let DHCP finish (up to WK_NET_PREOPEN_WAIT_NS),
 * or a connect would go out from 0.0.0.0 and wait for an answer that never comes.
 * A static address is there at once. */
static void address_first(void) {
  if (!wk_net_ready(0, 0)) (void)wk_net_wait_ready(WK_NET_PREOPEN_WAIT_NS);
}

static wk_net_addr endpoint(const uint8_t ip[4], uint16_t port) {
  wk_net_addr a = {.family = WK_NET_AF_INET, .port = port};
  __builtin_memcpy(a.addr, ip, 4);
  return a;
}

int32_t wk_wasmedge_sock_open(wk_vmctx *vm, int32_t af, int32_t type, int32_t fd_out) {
  if (af == WE_AF_INET6) return WK_EAFNOSUPPORT;
  if (af != WE_AF_INET) return WK_EINVAL;
  if (type != WE_SOCK_STREAM && type != WE_SOCK_DGRAM) return WK_EPROTOTYPE;
  if (!wk_guest_ptr(vm, (uint32_t)fd_out, 4)) return WK_EFAULT;
  int32_t fd = wk_wasi_fd_alloc(vm);
  if (fd < 0) return WK_EMFILE;
  wk_fd *f = wk_wasi_state_get(vm)->fds + fd;
  wk_wasi_sock_entry(f, -1, 0);
  f->sotype = type == WE_SOCK_STREAM ? WK_FILETYPE_SOCKET_STREAM : WK_FILETYPE_SOCKET_DGRAM;
  f->filetype = f->sotype;
  return wk_wasi_put(vm, fd_out, &fd, 4);
}

int32_t wk_wasmedge_sock_bind(wk_vmctx *vm, int32_t fd, int32_t addr, int32_t port) {
  wk_fd *f;
  int32_t err = wk_wasi_sock_fd(vm, fd, &f);
  if (err) return err;
  if (f->handle >= 0) return WK_EINVAL; /* already bound, listening or connected */
  if ((uint32_t)port > 65535) return WK_EINVAL;
  uint8_t ip[4];
  if ((err = read_addr(vm, addr, ip))) return err;
  if (f->sotype == WK_FILETYPE_SOCKET_DGRAM) { /* UDP: the socket exists from here on */
    wk_net_addr local = endpoint(ip, (uint16_t)port);
    int s = wk_net_udp_open(&local);
    if (s < 0) return (int32_t)-s;
    f->handle = s;
  }
  __builtin_memcpy(f->bound_ip, ip, 4);
  f->bound_port = (uint16_t)port;
  return WK_ESUCCESS;
}

/* A preopened listener (wasmkiln run -p) on port: its network-layer socket is
 * handed to the guest's own listener and its fd closed, so a WasmEdge server
 * that binds the published port gets the forwarded connections instead of
 * EADDRINUSE. -1 if there is none. */
static int take_preopened_listener(wk_vmctx *vm, uint16_t port) {
  wk_wasi_state *st = wk_wasi_state_get(vm);
  for (uint32_t i = 3; i < st->nfds; i++) {
    wk_fd *p = &st->fds[i];
    wk_net_addr a;
    if (p->kind != WK_FD_SOCKET || p->sotype != WK_FILETYPE_SOCKET_STREAM || !p->preopened ||
        wk_net_local_addr(p->handle, &a) < 0 || a.port != port)
      continue;
    int s = p->handle;
    *p = (wk_fd){0};
    return s;
  }
  return -1;
}

int32_t wk_wasmedge_sock_listen(wk_vmctx *vm, int32_t fd, int32_t backlog) {
  wk_fd *f;
  int32_t err = wk_wasi_sock_fd(vm, fd, &f);
  if (err) return err;
  if (f->sotype != WK_FILETYPE_SOCKET_STREAM) return WK_ENOTSUP;
  if (f->handle >= 0) return WK_EINVAL;
  wk_net_addr local = endpoint(f->bound_ip, f->bound_port);
  int s = wk_net_tcp_listen(&local, backlog < 1 ? 1 : backlog);
  if (s == -WK_EADDRINUSE && f->bound_port != 0) s = take_preopened_listener(vm, f->bound_port);
  if (s < 0) return s == -1 ? WK_EADDRINUSE : (int32_t)-s;
  f->handle = s;
  return WK_ESUCCESS;
}

int32_t wk_wasmedge_sock_accept(wk_vmctx *vm, int32_t fd, int32_t fd_out) {
  return wk_wasi_sock_accept(vm, fd, 0, fd_out); /* preview1's, without the flags */
}

int32_t wk_wasmedge_sock_connect(wk_vmctx *vm, int32_t fd, int32_t addr, int32_t port) {
  wk_fd *f;
  int32_t err = wk_wasi_sock_fd(vm, fd, &f);
  if (err) return err;
  if ((uint32_t)port > 65535) return WK_EINVAL;
  uint8_t ip[4];
  if ((err = read_addr(vm, addr, ip))) return err;
  if (f->sotype != WK_FILETYPE_SOCKET_STREAM) return WK_ENOTSUP; /* no connected UDP */
  if (f->handle >= 0) return WK_EISCONN;
  wk_net_addr remote = endpoint(ip, (uint16_t)port);
  address_first();
  int s = wk_net_tcp_connect(&remote);
  if (s < 0) return (int32_t)-s;
  f->handle = s;
  (void)wk_net_setopt(s, WK_NET_OPT_NODELAY, 1); /* as accepted connections (sock_wasi.c) */
  if (f->fdflags & WK_FDFLAGS_NONBLOCK) return WK_EINPROGRESS;
  wk_wasi_sock_wait_events(f, s, WK_NET_EV_WRITE | WK_NET_EV_ERR);
  int e = wk_net_error(s);
  return e < 0 ? (int32_t)-e : WK_ESUCCESS;
}

static int32_t sock_addr(wk_vmctx *vm, int32_t fd, int32_t addr, int32_t type_out,
                         int32_t port_out, int peer) {
  wk_fd *f;
  int32_t err = wk_wasi_sock_fd(vm, fd, &f);
  if (err) return err;
  if (!wk_guest_ptr(vm, (uint32_t)type_out, 4) || !wk_guest_ptr(vm, (uint32_t)port_out, 4))
    return WK_EFAULT;
  wk_net_addr a;
  if (f->handle < 0) {
    if (peer) return WK_ENOTCONN;
    a = endpoint(f->bound_ip, f->bound_port);
  } else {
    int r = peer ? wk_net_peer_addr(f->handle, &a) : wk_net_local_addr(f->handle, &a);
    if (r < 0) return (int32_t)-r;
  }
  if ((err = write_addr(vm, addr, &a))) return err;
  uint32_t type = 4, port = a.port; /* V1: the address type is 4 or 6 */
  wk_wasi_put(vm, type_out, &type, 4);
  return wk_wasi_put(vm, port_out, &port, 4);
}

int32_t wk_wasmedge_sock_getlocaladdr(wk_vmctx *vm, int32_t fd, int32_t addr, int32_t type_out,
                                      int32_t port_out) {
  return sock_addr(vm, fd, addr, type_out, port_out, 0);
}

int32_t wk_wasmedge_sock_getpeeraddr(wk_vmctx *vm, int32_t fd, int32_t addr, int32_t type_out,
                                     int32_t port_out) {
  return sock_addr(vm, fd, addr, type_out, port_out, 1);
}

/* The socket of a get/setsockopt call; only SOL_SOCKET options exist here. */
static int32_t opt_fd(wk_vmctx *vm, int32_t fd, int32_t level, wk_fd **f) {
  int32_t err = wk_wasi_sock_fd(vm, fd, f);
  return err ? err : level != WE_SOL_SOCKET ? WK_ENOPROTOOPT : WK_ESUCCESS;
}

int32_t wk_wasmedge_sock_setsockopt(wk_vmctx *vm, int32_t fd, int32_t level, int32_t name,
                                    int32_t value, int32_t value_len) {
  wk_fd *f;
  int32_t err = opt_fd(vm, fd, level, &f);
  if (err) return err;
  const uint8_t *v = wk_guest_ptr(vm, (uint32_t)value, (uint32_t)value_len);
  if (!v) return WK_EFAULT;
  if (value_len != 4) return WK_EINVAL; /* int options only */
  int32_t on;
  __builtin_memcpy(&on, v, 4);
  switch (name) {
    case WE_SO_REUSEADDR: return WK_ESUCCESS; /* listeners always reuse (lwipopts.h SO_REUSE) */
    case WE_SO_KEEPALIVE:
      if (f->handle < 0 || f->sotype != WK_FILETYPE_SOCKET_STREAM) return WK_ESUCCESS;
      {
        int r = wk_net_setopt(f->handle, WK_NET_OPT_KEEPALIVE, on != 0);
        return r < 0 && r != -WK_EBADF ? (int32_t)-r : WK_ESUCCESS;
      }
    default: return WK_ENOPROTOOPT;
  }
}

int32_t wk_wasmedge_sock_getsockopt(wk_vmctx *vm, int32_t fd, int32_t level, int32_t name,
                                    int32_t value, int32_t value_len_ptr) {
  wk_fd *f;
  int32_t err = opt_fd(vm, fd, level, &f);
  if (err) return err;
  const uint8_t *lp = wk_guest_ptr(vm, (uint32_t)value_len_ptr, 4);
  if (!lp) return WK_EFAULT;
  uint32_t len;
  __builtin_memcpy(&len, lp, 4);
  if (len < 4 || !wk_guest_ptr(vm, (uint32_t)value, 4)) return len < 4 ? WK_EINVAL : WK_EFAULT;
  int32_t out;
  switch (name) {
    case WE_SO_TYPE: out = f->sotype == WK_FILETYPE_SOCKET_STREAM ? WE_SOCK_STREAM : WE_SOCK_DGRAM;
      break;
    case WE_SO_ERROR: out = f->handle < 0 ? 0 : -wk_net_error(f->handle); break;
    case WE_SO_REUSEADDR: out = 1; break;
    default: return WK_ENOPROTOOPT;
  }
  uint32_t four = 4;
  wk_wasi_put(vm, value, &out, 4);
  return wk_wasi_put(vm, value_len_ptr, &four, 4);
}

/* The first non-empty iovec of a checked array (datagrams are one buffer). */
static void first_iov(wk_vmctx *vm, const uint8_t *arr, uint32_t n, uint8_t **buf,
                      uint32_t *len) {
  *buf = 0;
  *len = 0;
  for (uint32_t i = 0; i < n && *len == 0; i++) wk_wasi_iov_at(vm, arr, i, buf, len);
}

int32_t wk_wasmedge_sock_send_to(wk_vmctx *vm, int32_t fd, int32_t si_data, int32_t si_data_len,
                                 int32_t addr, int32_t port, int32_t si_flags,
                                 int32_t so_datalen_out) {
  wk_fd *f;
  int32_t err = wk_wasi_sock_fd(vm, fd, &f);
  if (err) return err;
  if (f->sotype != WK_FILETYPE_SOCKET_DGRAM) return WK_ENOTSUP;
  if (si_flags != 0 || (uint32_t)port > 65535) return WK_EINVAL;
  const uint8_t *arr;
  uint8_t ip[4];
  if ((err = wk_wasi_check_iovs(vm, si_data, si_data_len, &arr))) return err;
  if ((err = read_addr(vm, addr, ip))) return err;
  if (!wk_guest_ptr(vm, (uint32_t)so_datalen_out, 4)) return WK_EFAULT;
  address_first();
  if (f->handle < 0) { /* not bound: an ephemeral port, as sendto(2) does */
    wk_net_addr any = endpoint((const uint8_t[4]){0, 0, 0, 0}, 0);
    int s = wk_net_udp_open(&any);
    if (s < 0) return (int32_t)-s;
    f->handle = s;
  }
  uint8_t *buf;
  uint32_t len;
  first_iov(vm, arr, (uint32_t)si_data_len, &buf, &len);
  wk_net_addr to = endpoint(ip, (uint16_t)port);
  long r;
  while ((r = wk_net_udp_sendto(f->handle, buf, len, &to)) == -WK_EAGAIN &&
         !(f->fdflags & WK_FDFLAGS_NONBLOCK))
    wk_wasi_sock_wait_step(UINT64_MAX);
  if (r < 0) return (int32_t)-r;
  uint32_t sent = (uint32_t)r;
  return wk_wasi_put(vm, so_datalen_out, &sent, 4);
}

int32_t wk_wasmedge_sock_recv_from(wk_vmctx *vm, int32_t fd, int32_t ri_data,
                                   int32_t ri_data_len, int32_t addr, int32_t ri_flags,
                                   int32_t ro_datalen_out, int32_t ro_flags_out) {
  wk_fd *f;
  int32_t err = wk_wasi_sock_fd(vm, fd, &f);
  if (err) return err;
  if (f->sotype != WK_FILETYPE_SOCKET_DGRAM) return WK_ENOTSUP;
  if (ri_flags != 0) return WK_ENOTSUP; /* no peek */
  if (f->handle < 0) return WK_EINVAL;  /* nothing can arrive before bind or send_to */
  const uint8_t *arr;
  if ((err = wk_wasi_check_iovs(vm, ri_data, ri_data_len, &arr))) return err;
  if (!wk_guest_ptr(vm, (uint32_t)ro_datalen_out, 4) ||
      !wk_guest_ptr(vm, (uint32_t)ro_flags_out, 2))
    return WK_EFAULT;
  uint8_t *buf;
  uint32_t len;
  first_iov(vm, arr, (uint32_t)ri_data_len, &buf, &len);
  wk_net_addr from;
  long r;
  while ((r = wk_net_udp_recvfrom(f->handle, buf, len, &from)) == -WK_EAGAIN &&
         !(f->fdflags & WK_FDFLAGS_NONBLOCK))
    wk_wasi_sock_wait_step(UINT64_MAX);
  if (r < 0) return (int32_t)-r;
  if ((err = write_addr(vm, addr, &from))) return err;
  uint32_t got = (uint32_t)r > len ? len : (uint32_t)r;
  uint16_t roflags = (uint32_t)r > len ? 1 : 0; /* RECV_DATA_TRUNCATED */
  wk_wasi_put(vm, ro_flags_out, &roflags, 2);
  return wk_wasi_put(vm, ro_datalen_out, &got, 4);
}
