/*
 * wasi/sock_ext_wasi.c - sockets the guest creates itself (sock_ext_wasi.h),
 * shared by the WasmEdge and WAMR socket extensions.
 *
 * wk/net.h has no unbound socket: a listener is made by wk_net_tcp_listen, a
 * connection by wk_net_tcp_connect, a UDP socket by wk_net_udp_open. So open
 * only makes an fd entry (handle -1) that remembers its type; bind remembers
 * the address; listen / connect create the network-layer socket then (a UDP
 * socket is created at bind, or at its first send_to with an ephemeral port).
 * From there the entry is an ordinary socket for sock_wasi.c: sock_recv,
 * sock_send, fd_read, fd_write, poll_oneoff, fd_close.
 *
 * Blocking follows the fd's flags like sock_wasi.c: a blocking connect waits
 * until it is established or refused, a non-blocking one says EINPROGRESS and
 * the guest polls for writability. A socket has one family, given at open:
 * IPv4, or IPv6 when the stack has it (wk_net_ipv6; the IPv6 "::" listens on
 * both); an address of the other family is EAFNOSUPPORT.
 */
#include "sock_ext_wasi.h"

#include "guestmem_wasi.h"
#include "sock_wasi.h"

#include "wk/wasi.h"

/* Before the first packet to `to` leaves: let DHCP finish (up to
 * WK_NET_PREOPEN_WAIT_NS), or a connect would go out from 0.0.0.0 and wait for
 * an answer that never comes (a static address is there at once); for IPv6,
 * let SLAAC give a global address (or the link-local one pass duplicate
 * detection), or lwIP has no source address for it. */
static void address_first(const wk_net_addr *to) {
  if (to->family == WK_NET_AF_INET6) {
    int global = !(to->addr[0] == 0xfe && (to->addr[1] & 0xc0) == 0x80);
    if (!wk_net_ready6(global)) (void)wk_net_wait_ready6(global, WK_NET_PREOPEN_WAIT_NS);
  } else if (!wk_net_ready(0, 0)) {
    (void)wk_net_wait_ready(WK_NET_PREOPEN_WAIT_NS);
  }
}

static int family_ok(int family) {
  return family == WK_NET_AF_INET || (family == WK_NET_AF_INET6 && wk_net_ipv6());
}

/* An address for socket f: its own family (EAFNOSUPPORT for the other one, as
 * an IPv4 socket given an IPv6 address; EINVAL for no family at all). */
static int32_t check_family(const wk_fd *f, const wk_net_addr *a) {
  int own = f->family ? f->family : WK_NET_AF_INET;
  return a->family == own                                              ? WK_ESUCCESS
         : a->family == WK_NET_AF_INET || a->family == WK_NET_AF_INET6 ? WK_EAFNOSUPPORT
                                                                       : WK_EINVAL;
}

/* The address sock_bind gave f (or its family's "any", port 0, if none). */
static wk_net_addr bound(const wk_fd *f) {
  wk_net_addr a = {.family = f->family ? f->family : WK_NET_AF_INET, .port = f->bound_port};
  __builtin_memcpy(a.addr, f->bound_ip, sizeof f->bound_ip);
  return a;
}

int32_t wk_sockext_open(wk_vmctx *vm, int family, uint8_t filetype, int32_t fd_out) {
  if (family == WK_NET_AF_INET6 && !wk_net_ipv6()) return WK_EAFNOSUPPORT;
  if (!family_ok(family)) return WK_EINVAL;
  if (filetype != WK_FILETYPE_SOCKET_STREAM && filetype != WK_FILETYPE_SOCKET_DGRAM)
    return WK_EPROTOTYPE;
  if (!wk_guest_ptr(vm, (uint32_t)fd_out, 4)) return WK_EFAULT;
  int32_t fd = wk_wasi_fd_alloc(vm);
  if (fd < 0) return WK_EMFILE;
  wk_fd *f = wk_wasi_state_get(vm)->fds + fd;
  wk_wasi_sock_entry(f, -1, 0);
  f->sotype = filetype;
  f->filetype = filetype;
  f->family = (uint8_t)family;
  return wk_wasi_put(vm, fd_out, &fd, 4);
}

/* Options the entry holds, onto its new network-layer TCP socket. */
static void apply_tcp_opts(const wk_fd *f, int s) {
  (void)wk_net_setopt(s, WK_NET_OPT_NODELAY, !(f->sockopts & WK_SOCKOPT_BIT_NAGLE));
  if (f->sockopts & WK_SOCKOPT_BIT_KEEPALIVE) (void)wk_net_setopt(s, WK_NET_OPT_KEEPALIVE, 1);
}

int32_t wk_sockext_bind(wk_vmctx *vm, int32_t fd, const wk_net_addr *local) {
  wk_fd *f;
  int32_t err = wk_wasi_sock_fd(vm, fd, &f);
  if (err) return err;
  if ((err = check_family(f, local))) return err;
  if (f->handle >= 0) return WK_EINVAL;        /* already bound, listening or connected */
  if (f->sotype == WK_FILETYPE_SOCKET_DGRAM) { /* UDP: the socket exists from here on */
    int s = wk_net_udp_open(local);
    if (s < 0) return (int32_t)-s;
    f->handle = s;
  }
  __builtin_memcpy(f->bound_ip, local->addr, sizeof f->bound_ip);
  f->bound_port = local->port;
  return WK_ESUCCESS;
}

/* A preopened listener (wasmkiln run -p) on port: its network-layer socket is
 * handed to the guest's own listener and its fd closed, so a server that binds
 * the published port gets the forwarded connections instead of EADDRINUSE.
 * -1 if there is none. */
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

int32_t wk_sockext_listen(wk_vmctx *vm, int32_t fd, int32_t backlog) {
  wk_fd *f;
  int32_t err = wk_wasi_sock_fd(vm, fd, &f);
  if (err) return err;
  if (f->sotype != WK_FILETYPE_SOCKET_STREAM) return WK_ENOTSUP;
  if (f->handle >= 0) return WK_EINVAL;
  wk_net_addr local = bound(f);
  int s = wk_net_tcp_listen(&local, backlog < 1 ? 1 : backlog);
  if (s == -WK_EADDRINUSE && f->bound_port != 0) s = take_preopened_listener(vm, f->bound_port);
  if (s < 0) return s == -1 ? WK_EADDRINUSE : (int32_t)-s;
  f->handle = s;
  return WK_ESUCCESS;
}

int32_t wk_sockext_connect(wk_vmctx *vm, int32_t fd, const wk_net_addr *remote) {
  wk_fd *f;
  int32_t err = wk_wasi_sock_fd(vm, fd, &f);
  if (err) return err;
  if ((err = check_family(f, remote))) return err;
  if (f->sotype != WK_FILETYPE_SOCKET_STREAM) return WK_ENOTSUP; /* no connected UDP */
  if (f->handle >= 0) return WK_EISCONN;
  address_first(remote);
  int s = wk_net_tcp_connect(remote);
  if (s < 0) return (int32_t)-s;
  f->handle = s;
  apply_tcp_opts(f, s); /* NODELAY on unless asked: as accepted connections (sock_wasi.c) */
  if (f->fdflags & WK_FDFLAGS_NONBLOCK) return WK_EINPROGRESS;
  wk_wasi_sock_wait_events(f, s, WK_NET_EV_WRITE | WK_NET_EV_ERR);
  int e = wk_net_error(s);
  return e < 0 ? (int32_t)-e : WK_ESUCCESS;
}

int32_t wk_sockext_addr(wk_vmctx *vm, int32_t fd, int peer, wk_net_addr *out) {
  wk_fd *f;
  int32_t err = wk_wasi_sock_fd(vm, fd, &f);
  if (err) return err;
  if (f->handle < 0) {
    if (peer) return WK_ENOTCONN;
    *out = bound(f);
    return WK_ESUCCESS;
  }
  int r = peer ? wk_net_peer_addr(f->handle, out) : wk_net_local_addr(f->handle, out);
  return r < 0 ? (int32_t)-r : WK_ESUCCESS;
}

/* The datagram socket fd and the first non-empty buffer of its iovecs (a
 * datagram is one buffer), for send_to and recv_from. */
static int32_t datagram(wk_vmctx *vm, int32_t fd, int32_t iovs, int32_t iovs_len, wk_fd **f,
                        uint8_t **buf, uint32_t *len) {
  const uint8_t *arr;
  int32_t err = wk_wasi_sock_fd(vm, fd, f);
  if (err) return err;
  if ((*f)->sotype != WK_FILETYPE_SOCKET_DGRAM) return WK_ENOTSUP;
  if ((err = wk_wasi_check_iovs(vm, iovs, iovs_len, &arr))) return err;
  *buf = 0;
  *len = 0;
  for (uint32_t i = 0; i < (uint32_t)iovs_len && *len == 0; i++)
    wk_wasi_iov_at(vm, arr, i, buf, len);
  return WK_ESUCCESS;
}

int32_t wk_sockext_send_to(wk_vmctx *vm, int32_t fd, int32_t iovs, int32_t iovs_len,
                           const wk_net_addr *to, uint32_t *sent) {
  wk_fd *f;
  uint8_t *buf;
  uint32_t len;
  int32_t err = datagram(vm, fd, iovs, iovs_len, &f, &buf, &len);
  if (err || (err = check_family(f, to))) return err;
  address_first(to);
  if (f->handle < 0) { /* not bound: an ephemeral port, as sendto(2) does */
    wk_net_addr any = bound(f);
    int s = wk_net_udp_open(&any);
    if (s < 0) return (int32_t)-s;
    f->handle = s;
  }
  long r;
  while ((r = wk_net_udp_sendto(f->handle, buf, len, to)) == -WK_EAGAIN &&
         !(f->fdflags & WK_FDFLAGS_NONBLOCK))
    wk_wasi_sock_wait_step(UINT64_MAX);
  if (r < 0) return (int32_t)-r;
  *sent = (uint32_t)r;
  return WK_ESUCCESS;
}

int32_t wk_sockext_recv_from(wk_vmctx *vm, int32_t fd, int32_t iovs, int32_t iovs_len,
                             wk_net_addr *from, uint32_t *got, int *truncated) {
  wk_fd *f;
  uint8_t *buf;
  uint32_t len;
  int32_t err = datagram(vm, fd, iovs, iovs_len, &f, &buf, &len);
  if (err) return err;
  if (f->handle < 0) return WK_EINVAL; /* nothing can arrive before bind or send_to */
  long r;
  while ((r = wk_net_udp_recvfrom(f->handle, buf, len, from)) == -WK_EAGAIN &&
         !(f->fdflags & WK_FDFLAGS_NONBLOCK))
    wk_wasi_sock_wait_step(UINT64_MAX);
  if (r < 0) return (int32_t)-r;
  *truncated = (uint32_t)r > len;
  *got = *truncated ? len : (uint32_t)r;
  return WK_ESUCCESS;
}

/* ---- options ------------------------------------------------------------------- */

static uint8_t opt_bit(int opt) {
  switch (opt) {
  case WK_SOCKOPT_REUSEADDR: return WK_SOCKOPT_BIT_REUSEADDR;
  case WK_SOCKOPT_KEEPALIVE: return WK_SOCKOPT_BIT_KEEPALIVE;
  case WK_SOCKOPT_NODELAY: return WK_SOCKOPT_BIT_NAGLE;
  case WK_SOCKOPT_BROADCAST: return WK_SOCKOPT_BIT_BROADCAST;
  default: return 0;
  }
}

/* Which socket type an option belongs to (0: either). */
static uint8_t opt_type(int opt) {
  switch (opt) {
  case WK_SOCKOPT_KEEPALIVE:
  case WK_SOCKOPT_NODELAY: return WK_FILETYPE_SOCKET_STREAM;
  case WK_SOCKOPT_BROADCAST: return WK_FILETYPE_SOCKET_DGRAM;
  default: return 0;
  }
}

int32_t wk_sockext_setopt(wk_vmctx *vm, int32_t fd, int opt, uint32_t value) {
  wk_fd *f;
  int32_t err = wk_wasi_sock_fd(vm, fd, &f);
  if (err) return err;
  if (opt == WK_SOCKOPT_RCVBUF || opt == WK_SOCKOPT_SNDBUF) return WK_ESUCCESS; /* fixed */
  uint8_t bit = opt_bit(opt), type = opt_type(opt);
  if (!bit) return WK_ENOPROTOOPT; /* TYPE, ERROR: read-only */
  if (type && f->sotype != type) return WK_ENOPROTOOPT;
  int on = value != 0;
  if (opt == WK_SOCKOPT_NODELAY) on = !on; /* the bit says Nagle is on */
  f->sockopts = (uint8_t)(on ? f->sockopts | bit : f->sockopts & ~bit);
  if (f->handle < 0 || type != WK_FILETYPE_SOCKET_STREAM) return WK_ESUCCESS;
  int r = wk_net_setopt(
      f->handle, opt == WK_SOCKOPT_NODELAY ? WK_NET_OPT_NODELAY : WK_NET_OPT_KEEPALIVE, value != 0);
  /* A listener has no options of its own (accepted connections get NODELAY). */
  return r < 0 && r != -WK_EBADF && r != -WK_ENOTCONN ? (int32_t)-r : WK_ESUCCESS;
}

int32_t wk_sockext_getopt(wk_vmctx *vm, int32_t fd, int opt, uint32_t *value) {
  wk_fd *f;
  int32_t err = wk_wasi_sock_fd(vm, fd, &f);
  if (err) return err;
  uint8_t bit = opt_bit(opt), type = opt_type(opt);
  if (type && f->sotype != type) return WK_ENOPROTOOPT;
  switch (opt) {
  case WK_SOCKOPT_RCVBUF: *value = WK_NET_RCVBUF; return WK_ESUCCESS;
  case WK_SOCKOPT_SNDBUF: *value = WK_NET_SNDBUF; return WK_ESUCCESS;
  case WK_SOCKOPT_TYPE: *value = f->sotype; return WK_ESUCCESS;
  case WK_SOCKOPT_ERROR:
    *value = f->handle < 0 ? 0 : (uint32_t)-wk_net_error(f->handle);
    return WK_ESUCCESS;
  default: break;
  }
  if (!bit) return WK_ENOPROTOOPT;
  int on = (f->sockopts & bit) != 0;
  *value = (uint32_t)(opt == WK_SOCKOPT_NODELAY ? !on : on);
  return WK_ESUCCESS;
}

/* ---- names ----------------------------------------------------------------------- */

/* Dotted-decimal IPv4 (exactly four parts, each 0..255), as inet_pton does. */
static int parse_ipv4(const char *s, size_t len, uint8_t ip[4]) {
  size_t i = 0;
  for (int k = 0; k < 4; k++) {
    if (k > 0 && (i >= len || s[i++] != '.')) return 0;
    unsigned v = 0, digits = 0;
    for (; i < len && s[i] >= '0' && s[i] <= '9' && digits < 4; i++, digits++)
      v = v * 10 + (unsigned)(s[i] - '0');
    if (digits == 0 || digits > 3 || v > 255) return 0;
    ip[k] = (uint8_t)v;
  }
  return i == len;
}

static int name_is(const char *s, size_t len, const char *lit) {
  size_t i = 0;
  for (; lit[i]; i++) {
    char c = i < len ? s[i] : 0;
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
    if (c != lit[i]) return 0;
  }
  return i == len;
}

static int hexval(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

/* IPv6 text (RFC 4291 2.2: hex groups, one "::", an IPv4 tail), as inet_pton. */
static int parse_ipv6(const char *s, size_t len, uint8_t ip[16]) {
  uint8_t b[16] = {0};
  int n = 0, gap = -1; /* bytes written; where "::" was */
  size_t i = 0;
  if (len >= 2 && s[0] == ':' && s[1] == ':')
    gap = 0, i = 2;
  else if (len >= 1 && s[0] == ':')
    return 0;
  while (i < len) {
    if (n == 16) return 0;
    size_t start = i;
    unsigned v = 0;
    int digits = 0;
    for (int h; i < len && digits < 5 && (h = hexval(s[i])) >= 0; i++, digits++)
      v = v << 4 | (unsigned)h;
    if (i < len && s[i] == '.') { /* the IPv4 tail: the last 4 bytes */
      if (n > 12 || !parse_ipv4(s + start, len - start, b + n)) return 0;
      n += 4, i = len;
      break;
    }
    if (digits == 0 || digits > 4) return 0;
    b[n++] = (uint8_t)(v >> 8), b[n++] = (uint8_t)v;
    if (i == len) break;
    if (s[i] != ':' || ++i == len) return 0;
    if (s[i] == ':') {
      if (gap >= 0) return 0;
      gap = n, i++;
    }
  }
  if (gap < 0 && n != 16) return 0;
  if (gap >= 0) { /* move what followed "::" to the end */
    int tail = n - gap;
    if (n == 16) return 0;
    for (int k = 0; k < tail; k++) b[15 - k] = b[n - 1 - k];
    for (int k = gap; k < 16 - tail; k++) b[k] = 0;
  }
  __builtin_memcpy(ip, b, 16);
  return 1;
}

int wk_sockext_resolve(const char *name, size_t len, int numeric_only, int family,
                       wk_net_addr *out) {
  while (len > 0 && name[len - 1] == '\0') len--; /* a length that counted the NUL */
  if (len > 0 && name[len - 1] == '.') len--;     /* "localhost." is "localhost" */
  if (len == 0 || len > WK_SOCKEXT_NAME_MAX) return -WK_EINVAL;
  int want4 = family != WK_NET_AF_INET6, want6 = family != WK_NET_AF_INET;
  out[0] = (wk_net_addr){.family = WK_NET_AF_INET};
  if (parse_ipv4(name, len, out[0].addr)) return want4 ? 1 : -WK_ENOENT;
  out[0].family = WK_NET_AF_INET6;
  if (parse_ipv6(name, len, out[0].addr)) return want6 ? 1 : -WK_ENOENT;
  if (name_is(name, len, "localhost")) { /* IPv4 first; ::1 too when the stack has IPv6 */
    int n = 0;
    if (want4) out[n] = (wk_net_addr){.family = WK_NET_AF_INET, .addr = {127, 0, 0, 1}}, n++;
    if (want6 && wk_net_ipv6())
      out[n] = (wk_net_addr){.family = WK_NET_AF_INET6, .addr = {[15] = 1}}, n++;
    return n ? n : -WK_ENOENT;
  }
  if (numeric_only || !want4) return -WK_ENOENT; /* DNS here asks for A records only */
  char buf[WK_SOCKEXT_NAME_MAX + 1];
  for (size_t i = 0; i < len; i++) {
    if (name[i] == '\0') return -WK_EINVAL; /* a NUL inside the name */
    buf[i] = name[i];
  }
  buf[len] = '\0';
  int r = wk_net_resolve(buf, out, WK_NET_RESOLVE_NS);
  return r < 0 ? r : 1;
}

int wk_sockext_service_port(const char *s, size_t len) {
  static const struct {
    const char *name;
    uint16_t port;
  } known[] = {
      {"http", 80}, {"https", 443}, {"domain", 53}, {"ftp", 21},
      {"ssh", 22},  {"smtp", 25},   {"ntp", 123},   {"http-alt", 8080},
  };
  while (len > 0 && s[len - 1] == '\0') len--;
  if (len == 0) return 0;
  unsigned v = 0;
  size_t i = 0;
  while (i < len && i < 6 && s[i] >= '0' && s[i] <= '9') v = v * 10 + (unsigned)(s[i++] - '0');
  if (i == len) return v <= 65535 ? (int)v : -1;
  for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
    if (name_is(s, len, known[k].name)) return known[k].port;
  return -1;
}
