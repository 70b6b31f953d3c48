/*
 * platform/spt/sock_spt.c - wk/net.h on the host's own sockets (`--net host`),
 * the spt platform's fast path: no second TCP/IP stack in the guest or in a
 * helper process, as wasmtime serves a preopened listener.
 *
 * The runner opens the listening sockets on the host (`wasmkiln run -p` or
 * `--listen`) and passes them as descriptors (`--net hostfd=N`, one per
 * net.listen=/net.publish= token, in order). The guest gets exactly those:
 * it accepts connections on them and reads, writes, shuts down and closes
 * what it accepted. A guest that listens on a port the run published gets
 * that port's preopened listener (the WASI layer takes it over on
 * -WK_EADDRINUSE, wasi/sock_ext_wasi.c); any other listen is -WK_EACCES.
 *
 * Reaching out is a second grant, `--net outbound` (`wasmkiln run --net` or
 * `--dns`): TCP connections (a non-blocking socket + connect; the socket turns
 * writable when connected, errs when refused, as lwIP's do), UDP sockets and
 * name lookups (hs_resolve: one A question to net.dns=, dns_spt.c). A UDP
 * socket gets an ephemeral port at its first send; binding one to a chosen
 * port is a new listener the run did not grant: -WK_EACCES. Without the
 * grant, connect, UDP and lookups are -WK_EACCES. The seccomp filter
 * (seccomp_spt.c) enforces both grants below this file: accept4 only on the
 * listeners, never bind() or listen(), and socket()/connect()/sendto() to an
 * address/recvfrom() only with the outbound grant.
 *
 * The host as the guest sees it: behind passt and slirp the guest reaches the
 * host's loopback at the gateway 10.0.2.2, and a module written for that
 * (tests connect to 10.0.2.2) must behave the same here. So 10.0.2.2 leaving
 * the guest (connect, sendto, the DNS server) goes to 127.0.0.1, and 127.0.0.1
 * coming back (a peer, a datagram's sender, an accepted client on the host's
 * loopback) is reported as 10.0.2.2. IPv6 likewise, with slirp's host
 * address: fec0::2 goes to ::1 and ::1 comes back as fec0::2. Other addresses
 * pass unchanged; a local address is the host's own (127.0.0.1 on loopback).
 *
 * Readiness for poll_oneoff: wk/net.h reports the events "as of the last
 * poll", and a waiter sleeps in wk_net_wait. Host sockets are level
 * triggered, so a socket already known readable (or writable) is left out of
 * the wait for that event: otherwise a connection with unread data that the
 * guest is not reading yet, or any writable socket, would end every wait at
 * once and the guest would spin. The known state is dropped when a call finds
 * the socket drained (a short read, EAGAIN) or full (a short write, EAGAIN),
 * and a wait then asks the kernel again.
 *
 * A wait asks again with a zero timeout for up to `--net spin=US` microseconds
 * (default 50) before it sleeps in ppoll. With one connection per request the
 * client is the bottleneck, and a server that sleeps makes each of the
 * client's connects and requests pay for waking it: a native C server doing
 * the same loop served 37k connections a second sleeping and 47k spinning, as
 * wasmtime (which never sleeps) does; on the quiet machine the spt server
 * with a 50 us spin served 1.19x the connections it served without
 * (docs/performance.md "3 Dec, night"). Spins that find nothing back off
 * (hs_wait), so an idle server still sleeps.
 *
 * System calls per request matter on this path (a connection per request is
 * accept4, read, write, close in the kernel's TCP): a sock_send of several
 * iovecs (a response's head and body) is one writev, and after a short read
 * the next read answers -WK_EAGAIN without asking the kernel, once (a server
 * reading until EAGAIN would otherwise make a second read per request that
 * finds nothing; data arriving meanwhile is what a wait reports).
 */
#include <linux/errno.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/net.h>
#include <linux/poll.h>
#include <linux/socket.h>
#include <linux/tcp.h>
#include <linux/uio.h>
#include <stdbool.h>
#include <stddef.h>

#include "../netcfg_plat.h"
#include "dns_spt.h"
#include "net_spt.h"
#include "syscall_spt_x86_64.h"
#include "wk/core.h"
#include "wk/errno.h"
#include "wk/net_ops.h"
#include "wk/platform.h"

/* <linux/socket.h> leaves these to libc; the values are the kernel's ABI. */
#define SOL_SOCKET_ 1
#define SO_ERROR_ 4
#define SO_KEEPALIVE_ 9
#define SOCK_NONBLOCK_ 04000
#define SOCK_CLOEXEC_ 02000000
#define MSG_MORE_ 0x8000
#define MSG_NOSIGNAL_ 0x4000
#define SHUT_RD_ 0
#define AF_INET_ 2
#define AF_INET6_ 10
#define SOCK_STREAM_ 1
#define SOCK_DGRAM_ 2
#define MSG_TRUNC_ 0x20
#define HS_SOCK_FLAGS (SOCK_NONBLOCK_ | SOCK_CLOEXEC_)

enum { HS_FREE = 0, HS_LISTEN, HS_CONN, HS_UDP };

typedef struct hsock {
  int fd;
  uint8_t kind;
  uint8_t corked;      /* a MSG_MORE piece is queued in the kernel */
  uint8_t nodelay;     /* TCP_NODELAY as last set (accepted: inherited from the listener) */
  uint8_t drained;     /* the last read was short: the next one answers EAGAIN itself */
  uint16_t known;      /* POLLIN / POLLOUT / POLLHUP / POLLERR seen and not yet used up */
  uint16_t guest_port; /* listeners: the port the guest asked for (-p's GUESTPORT) */
} hsock;

static hsock socks[WK_NET_SOCKETS_MAX];

static int linux_errno(long r) {
  switch (-r) {
  case EAGAIN: return -WK_EAGAIN;
  case ECONNRESET: return -WK_ECONNRESET;
  case EPIPE: return -WK_EPIPE;
  case ENOTCONN: return -WK_ENOTCONN;
  case ETIMEDOUT: return -WK_ETIMEDOUT;
  case ECONNABORTED: return -WK_ECONNABORTED;
  case ECONNREFUSED: return -WK_ECONNREFUSED;
  case EHOSTUNREACH: return -WK_EHOSTUNREACH;
  case ENETUNREACH: return -WK_ENETUNREACH;
  case ENETDOWN: return -WK_ENETDOWN;
  case EMFILE:
  case ENFILE: return -WK_EMFILE;
  case ENOMEM:
  case ENOBUFS: return -WK_ENOMEM;
  case EBADF: return -WK_EBADF;
  case EINVAL: return -WK_EINVAL;
  case EACCES:
  case EPERM: return -WK_EACCES; /* the host's firewall, a broadcast without SO_BROADCAST */
  case EADDRNOTAVAIL: return -WK_EADDRNOTAVAIL;
  case EAFNOSUPPORT: return -WK_EAFNOSUPPORT;
  case EMSGSIZE: return -WK_EMSGSIZE;
  case EISCONN: return -WK_EISCONN;
  case EALREADY: return -WK_EALREADY;
  default: return -WK_EIO;
  }
}

/* A system call, repeated while a signal (SIGSTOP/SIGCONT) interrupts it. */
static long sys(long nr, long a, long b, long c, long d, long e, long f) {
  long r;
  do r = wk_sys6(nr, a, b, c, d, e, f);
  while (r == -EINTR);
  return r;
}

static hsock *get(int s, int kind) {
  if (s < 0 || s >= WK_NET_SOCKETS_MAX || socks[s].kind == HS_FREE) return NULL;
  if (kind != HS_FREE && socks[s].kind != kind) return NULL;
  return &socks[s];
}

static int slot(int fd, int kind) {
  for (int i = 0; i < WK_NET_SOCKETS_MAX; i++) {
    if (socks[i].kind == HS_FREE) {
      socks[i] = (hsock){.fd = fd, .kind = (uint8_t)kind};
      return i;
    }
  }
  return -WK_EMFILE;
}

/* The gateway mapping (file comment): the guest's name of the host, the host's own. */
static const uint8_t gw4[4] = {10, 0, 2, 2}, lo4[4] = {127, 0, 0, 1};
static const uint8_t gw6[16] = {0xfe, 0xc0, [15] = 2}, lo6[16] = {[15] = 1};

static bool same(const uint8_t *a, const uint8_t *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

/* An address from the kernel; with `remote`, 127.0.0.1 and ::1 read as the gateway. */
static void from_sockaddr(const uint8_t *sa, uint32_t len, wk_net_addr *out, bool remote) {
  *out = (wk_net_addr){.family = WK_NET_AF_INET};
  uint16_t family = (uint16_t)(sa[0] | sa[1] << 8);
  if (len < 8) return;
  out->port = (uint16_t)(sa[2] << 8 | sa[3]);
  if (family == AF_INET6_ && len >= sizeof(struct sockaddr_in6)) {
    out->family = WK_NET_AF_INET6;
    __builtin_memcpy(out->addr, remote && same(sa + 8, lo6, 16) ? gw6 : sa + 8, 16);
  } else {
    __builtin_memcpy(out->addr, remote && same(sa + 4, lo4, 4) ? gw4 : sa + 4, 4);
  }
}

/* A guest address for the kernel, the gateway read as the host's loopback: its
 * length, or 0 for a family that is neither. */
static uint32_t to_sockaddr(const wk_net_addr *a, uint8_t sa[sizeof(struct sockaddr_in6)]) {
  __builtin_memset(sa, 0, sizeof(struct sockaddr_in6));
  sa[2] = (uint8_t)(a->port >> 8), sa[3] = (uint8_t)a->port;
  if (a->family == WK_NET_AF_INET6) {
    sa[0] = AF_INET6_;
    __builtin_memcpy(sa + 8, same(a->addr, gw6, 16) ? lo6 : a->addr, 16);
    return sizeof(struct sockaddr_in6);
  }
  if (a->family != WK_NET_AF_INET) return 0;
  sa[0] = AF_INET_;
  __builtin_memcpy(sa + 4, same(a->addr, gw4, 4) ? lo4 : a->addr, 4);
  return sizeof(struct sockaddr_in);
}

/* A call the run did not grant: -WK_EACCES for the guest, and once per kind a
 * line on stderr that names the flag granting it (EACCES alone does not say
 * that a proxy's connect needs `--net`). */
enum { HS_NOT_OUT = 0, HS_NOT_LISTEN = 1 };
static int refused(int what) {
  static uint8_t told[2];
  if (!told[what]) {
    told[what] = 1;
    if (what == HS_NOT_OUT)
      wk_log(
          "wasmkiln: the guest's connection out was refused: this run grants no "
          "outgoing network (wasmkiln run --net)\n");
    else
      wk_log(
          "wasmkiln: the guest's listen was refused: it may listen only on a published "
          "port (wasmkiln run -p HOSTPORT:GUESTPORT)\n");
  }
  return -WK_EACCES;
}

/* A new host socket of the outbound grant in a slot: the slot, or a negative errno. */
static int open_sock(int family, int type, int kind) {
  if (!wk_spt_net_outbound()) return refused(HS_NOT_OUT);
  if (family != WK_NET_AF_INET && family != WK_NET_AF_INET6) return -WK_EAFNOSUPPORT;
  int s = slot(-1, kind);
  if (s < 0) return s;
  long fd = wk_sys3(__NR_socket, family == WK_NET_AF_INET6 ? AF_INET6_ : AF_INET_,
                    type | HS_SOCK_FLAGS, 0);
  if (fd < 0) {
    socks[s] = (hsock){0};
    return linux_errno(fd);
  }
  socks[s].fd = (int)fd;
  return s;
}

static int set_int(int fd, int level, int name, int value) {
  long r = wk_sys6(__NR_setsockopt, fd, level, name, (long)&value, sizeof value, 0);
  return r < 0 ? linux_errno(r) : 0;
}

/* ---- the stack: nothing to bring up --------------------------------------- */

static int hs_zero(void) { return 0; }
/* The host's kernel has both families: the WASI layer offers AF_INET6 sockets, and
 * "localhost" has its ::1, as with lwIP's dual stack. */
static int hs_one(void) { return 1; }
static int hs_ready(wk_net_addr *ip, unsigned *prefix) {
  if (ip) *ip = (wk_net_addr){.family = WK_NET_AF_INET};
  if (prefix) *prefix = 0;
  return 1; /* the host's addresses are up; the guest has none of its own */
}
static int hs_wait_ready(uint64_t timeout_ns) {
  (void)timeout_ns;
  return 0;
}
static int hs_ready6(int global) {
  (void)global;
  return wk_spt_net_outbound(); /* the host's addresses, where the guest may use them */
}
static int hs_wait_ready6(int global, uint64_t timeout_ns) {
  (void)timeout_ns;
  return hs_ready6(global) ? 0 : -WK_ETIMEDOUT;
}
static void hs_drain(uint64_t timeout_ns) {
  (void)timeout_ns; /* the host kernel sends what is queued after the process exits */
}

/* A wait looks again for up to wk_spt_net_spin_ns() (`--net spin=US`, 50 by
 * default; 0: no spin) before it sleeps (see the file comment). A spin that finds
 * nothing makes the next waits sleep at once: 1, 3, 7, ... up to
 * HS_SPIN_SKIP_MAX of them after consecutive misses, so a server that is
 * mostly idle spins for at most one spin in every HS_SPIN_SKIP_MAX + 1 waits,
 * and a busy one, whose spins find the next client, does not sleep. */
#define HS_SPIN_SKIP_MAX 63u

typedef struct hs_spin {
  uint32_t skip;    /* waits left that sleep without spinning */
  uint32_t backoff; /* the skip after the next miss: 0, 1, 3, 7, ... */
} hs_spin;

static hs_spin spin;

struct timespec_ {
  long sec, nsec;
};

static long hs_ppoll(struct pollfd *p, int n, uint64_t timeout_ns) {
  struct timespec_ ts = {(long)(timeout_ns / 1000000000u), (long)(timeout_ns % 1000000000u)};
  return wk_sys6(__NR_ppoll, (long)p, n, (long)&ts, 0, 0, 0);
}

/* ppoll with timeout 0 until something is ready or `budget_ns` has passed. */
static long hs_spin_poll(struct pollfd *p, int n, uint64_t budget_ns) {
  uint64_t start = wk_plat_clock_monotonic();
  for (;;) {
    long r = hs_ppoll(p, n, 0);
    if (r != 0 || wk_plat_clock_monotonic() - start >= budget_ns) return r;
    __builtin_ia32_pause();
  }
}

/* ppoll over every socket for what is not known yet; `known` gains the answers. */
static int hs_wait(uint64_t timeout_ns) {
  struct pollfd p[WK_NET_SOCKETS_MAX];
  int idx[WK_NET_SOCKETS_MAX], n = 0;
  for (int i = 0; i < WK_NET_SOCKETS_MAX; i++) {
    hsock *h = &socks[i];
    if (h->kind == HS_FREE || (h->known & (POLLHUP | POLLERR))) continue;
    short want = (short)(POLLIN & ~h->known);
    if (h->kind == HS_CONN) want = (short)(want | (POLLOUT & ~h->known));
    if (want == 0) continue;
    p[n] = (struct pollfd){.fd = h->fd, .events = want};
    idx[n++] = i;
  }
  if (timeout_ns > 1000000000u) timeout_ns = 1000000000u; /* re-checks deadlines */
  long r = 0;
  uint64_t spin_ns = wk_spt_net_spin_ns();
  if (timeout_ns > 0 && spin_ns > 0 && spin.skip == 0) {
    uint64_t budget = timeout_ns < spin_ns ? timeout_ns : spin_ns;
    r = hs_spin_poll(p, n, budget);
    if (r == 0) {
      uint32_t next = spin.backoff * 2u + 1u;
      spin.backoff = next > HS_SPIN_SKIP_MAX ? HS_SPIN_SKIP_MAX : next;
      spin.skip = spin.backoff;
      timeout_ns -= budget;
    } else {
      spin.backoff = 0;
    }
  } else if (timeout_ns > 0 && spin.skip > 0) {
    spin.skip--;
  }
  if (r == 0) r = hs_ppoll(p, n, timeout_ns);
  if (r <= 0) return 0;
  for (int k = 0; k < n; k++) {
    socks[idx[k]].known |= (uint16_t)p[k].revents;
    if (p[k].revents & (POLLIN | POLLHUP | POLLERR)) socks[idx[k]].drained = 0;
  }
  return (int)r;
}
static int hs_poll(void) { return hs_wait(0); }

/* ---- listeners ------------------------------------------------------------- */

static int hs_preopen_listeners(int *out, uint8_t *after_dirs, int max) {
  wk_plat_listen want[WK_PLAT_LISTEN_MAX];
  int fds[WK_PLAT_LISTEN_MAX];
  int n = wk_plat_net_listeners(want, WK_PLAT_LISTEN_MAX);
  int nfd = wk_spt_net_host_fds(fds, WK_PLAT_LISTEN_MAX);
  if (n > max) n = max;
  if (n > nfd) n = nfd; /* wk_spt_net_setup checked they match */
  for (int i = 0; i < n; i++) {
    int s = slot(fds[i], HS_LISTEN);
    if (s < 0) return s;
    socks[s].guest_port = want[i].port;
    /* Accepted connections inherit it: the WASI layer turns Nagle off on each one
     * (wasi/sock_wasi.c), which then costs no system call (hs_setopt). */
    socks[s].nodelay = set_int(fds[i], IPPROTO_TCP, TCP_NODELAY, 1) == 0;
    out[i] = s;
    after_dirs[i] = want[i].after_dirs;
  }
  return n;
}

/* Only the published ports: -WK_EADDRINUSE makes the WASI layer hand the
 * guest the preopened listener of that port. */
static int hs_tcp_listen(const wk_net_addr *local, int backlog) {
  (void)backlog;
  for (int i = 0; i < WK_NET_SOCKETS_MAX; i++) {
    if (socks[i].kind == HS_LISTEN && socks[i].guest_port == local->port) return -WK_EADDRINUSE;
  }
  return refused(HS_NOT_LISTEN);
}

static int hs_tcp_accept(int listener, wk_net_addr *peer) {
  hsock *l = get(listener, HS_LISTEN);
  if (l == NULL) return -WK_EBADF;
  uint8_t sa[sizeof(struct sockaddr_in6)];
  int salen = sizeof sa;
  long fd = sys(__NR_accept4, l->fd, (long)sa, (long)&salen, SOCK_NONBLOCK_ | SOCK_CLOEXEC_, 0, 0);
  if (fd < 0) {
    if (fd == -EAGAIN) l->known &= (uint16_t)~POLLIN;
    return fd == -EAGAIN ? -WK_EAGAIN : linux_errno(fd);
  }
  int s = slot((int)fd, HS_CONN);
  if (s < 0) {
    (void)wk_sys3(__NR_close, fd, 0, 0);
    return s;
  }
  socks[s].nodelay = l->nodelay; /* Linux copies the listener's TCP_NODELAY */
  if (peer) from_sockaddr(sa, (uint32_t)salen, peer, true);
  return s;
}

/* A connection out (the outbound grant): at once, connected or still connecting.
 * Nothing is known about it yet: a wait asks for POLLOUT (connected) and sees
 * POLLERR when it is refused, which hs_events reports as the contract says. */
static int hs_tcp_connect(const wk_net_addr *remote) {
  uint8_t sa[sizeof(struct sockaddr_in6)];
  uint32_t salen = to_sockaddr(remote, sa);
  if (salen == 0) return -WK_EAFNOSUPPORT;
  int s = open_sock(remote->family, SOCK_STREAM_, HS_CONN);
  if (s < 0) return s;
  /* Not repeated on EINTR (sys): a second connect would say EALREADY; the
   * connection goes on in the background either way. */
  long r = wk_sys3(__NR_connect, socks[s].fd, (long)sa, salen);
  if (r == 0) {
    socks[s].known = POLLOUT;
  } else if (r != -EINPROGRESS && r != -EINTR) {
    (void)wk_sys3(__NR_close, socks[s].fd, 0, 0);
    socks[s] = (hsock){0};
    return linux_errno(r);
  }
  return s;
}

/* ---- connections ----------------------------------------------------------- */

static long hs_recv(int s, void *buf, size_t len) {
  hsock *h = get(s, HS_CONN);
  if (h == NULL) return -WK_EBADF;
  if (len == 0) return 0;
  if (h->drained) { /* see the file comment */
    h->drained = 0;
    return -WK_EAGAIN;
  }
  long r = sys(__NR_read, h->fd, (long)buf, (long)len, 0, 0, 0);
  if (r < 0 || (size_t)r < len) h->known &= (uint16_t)~POLLIN; /* drained, or an error */
  if (r == 0) h->known |= POLLHUP;                             /* end of stream */
  h->drained = r > 0 && (size_t)r < len;
  return r < 0 ? linux_errno(r) : r;
}

static long hs_send_part(int s, const void *buf, size_t len, int more) {
  hsock *h = get(s, HS_CONN);
  if (h == NULL) return -WK_EBADF;
  if (len == 0) {
    if (!more && h->corked) { /* push what MSG_MORE held back: setting TCP_NODELAY pushes */
      h->corked = 0;
      if (set_int(h->fd, IPPROTO_TCP, TCP_NODELAY, 1) == 0) h->nodelay = 1;
    }
    return 0;
  }
  long flags = MSG_NOSIGNAL_ | (more ? MSG_MORE_ : 0);
  long r = sys(__NR_sendto, h->fd, (long)buf, (long)len, flags, 0, 0);
  if (r < 0 || (size_t)r < len) h->known &= (uint16_t)~POLLOUT; /* full, or an error */
  if (r > 0) h->corked = (uint8_t)(more && (size_t)r == len);
  return r < 0 ? linux_errno(r) : r;
}

/* wk_net_iov is struct iovec's layout: the pieces go to writev as they are. */
_Static_assert(sizeof(wk_net_iov) == sizeof(struct iovec) &&
                   offsetof(wk_net_iov, base) == offsetof(struct iovec, iov_base) &&
                   offsetof(wk_net_iov, len) == offsetof(struct iovec, iov_len),
               "wk_net_iov must match struct iovec");

static long hs_sendv(int s, const wk_net_iov *iov, int n) {
  hsock *h = get(s, HS_CONN);
  if (h == NULL) return -WK_EBADF;
  size_t want = 0;
  for (int i = 0; i < n; i++) want += iov[i].len;
  if (want == 0) return hs_send_part(s, NULL, 0, 0);
  /* writev = sendmsg without flags: SIGPIPE is ignored (net_spt.c), the socket is
   * non-blocking, and nothing stays corked: the last piece pushes. */
  long r = sys(__NR_writev, h->fd, (long)iov, n, 0, 0, 0);
  if (r < 0 || (size_t)r < want) h->known &= (uint16_t)~POLLOUT; /* full, or an error */
  if (r > 0) h->corked = 0;
  return r < 0 ? linux_errno(r) : r;
}

static int hs_shutdown(int s, int how) {
  hsock *h = get(s, HS_CONN);
  if (h == NULL) return -WK_EBADF;
  if (how < WK_NET_SHUT_RD || how > WK_NET_SHUT_RDWR) return -WK_EINVAL;
  long r = wk_sys3(__NR_shutdown, h->fd, SHUT_RD_ + how - WK_NET_SHUT_RD, 0);
  return r < 0 ? linux_errno(r) : 0;
}

static int opt_of(int opt, int *level, int *name) {
  if (opt == WK_NET_OPT_NODELAY) {
    *level = IPPROTO_TCP, *name = TCP_NODELAY;
  } else if (opt == WK_NET_OPT_KEEPALIVE) {
    *level = SOL_SOCKET_, *name = SO_KEEPALIVE_;
  } else {
    return -WK_ENOPROTOOPT;
  }
  return 0;
}

static int hs_setopt(int s, int opt, int value) {
  hsock *h = get(s, HS_FREE);
  int level, name, err = opt_of(opt, &level, &name);
  if (h == NULL) return -WK_EBADF;
  if (h->kind != HS_CONN) return -WK_ENOTCONN;
  if (err) return err;
  if (opt == WK_NET_OPT_NODELAY) {
    if ((value != 0) == h->nodelay) return 0; /* every accept sets it: one system call less */
    h->nodelay = (uint8_t)(value != 0);
  }
  return set_int(h->fd, level, name, value != 0);
}

static int get_int(int fd, int level, int name, int *value) {
  int len = sizeof *value;
  long r = wk_sys6(__NR_getsockopt, fd, level, name, (long)value, (long)&len, 0);
  return r < 0 ? linux_errno(r) : 0;
}

static int hs_getopt(int s, int opt, int *value) {
  hsock *h = get(s, HS_FREE);
  int level, name, err = opt_of(opt, &level, &name);
  if (h == NULL) return -WK_EBADF;
  if (h->kind != HS_CONN) return -WK_ENOTCONN;
  if (err) return err;
  err = get_int(h->fd, level, name, value);
  if (err == 0) *value = *value != 0;
  return err;
}

/* ---- UDP (the outbound grant) ----------------------------------------------- */

/* No bind: a chosen port is a listener the run did not grant (-WK_EACCES), and
 * port 0 is what the kernel picks at the first send anyway (the local address
 * reads 0.0.0.0:0 until then). */
static int hs_udp_open(const wk_net_addr *local) {
  if (!wk_spt_net_outbound()) return refused(HS_NOT_OUT);
  if (local->port != 0) return refused(HS_NOT_LISTEN);
  return open_sock(local->family, SOCK_DGRAM_, HS_UDP);
}

static long hs_udp_sendto(int s, const void *buf, size_t len, const wk_net_addr *to) {
  hsock *h = get(s, HS_UDP);
  if (h == NULL) return -WK_EBADF;
  if (len > 65507) return -WK_EMSGSIZE;
  uint8_t sa[sizeof(struct sockaddr_in6)];
  uint32_t salen = to_sockaddr(to, sa);
  if (salen == 0) return -WK_EAFNOSUPPORT;
  long r = sys(__NR_sendto, h->fd, (long)buf, (long)len, MSG_NOSIGNAL_, (long)sa, salen);
  return r < 0 ? linux_errno(r) : r;
}

/* MSG_TRUNC: the datagram's full size, as the contract wants, even when cut. */
static long hs_udp_recvfrom(int s, void *buf, size_t len, wk_net_addr *from) {
  hsock *h = get(s, HS_UDP);
  if (h == NULL) return -WK_EBADF;
  uint8_t sa[sizeof(struct sockaddr_in6)];
  int salen = sizeof sa;
  long r = sys(__NR_recvfrom, h->fd, (long)buf, (long)len, MSG_TRUNC_, (long)sa, (long)&salen);
  if (r < 0) {
    if (r == -EAGAIN) h->known &= (uint16_t)~POLLIN;
    return linux_errno(r);
  }
  if (from) from_sockaddr(sa, (uint32_t)salen, from, true);
  return r;
}

/* ---- names (the outbound grant) -------------------------------------------- */

/* An A question to the run's DNS server (net.dns=, gateway mapping applied) on a
 * socket of its own, connected so the kernel drops datagrams from anyone else;
 * asked again once when half of timeout_ns passes without an answer. */
static int hs_resolve(const char *name, wk_net_addr *out, uint64_t timeout_ns) {
  if (!wk_spt_net_outbound()) return refused(HS_NOT_OUT);
  wk_net_addr server = {.family = WK_NET_AF_INET};
  if (!wk_spt_net_dns(server.addr, &server.port)) return -WK_EADDRNOTAVAIL;
  uint8_t msg[WK_DNS_UDP_MAX], sa[sizeof(struct sockaddr_in6)];
  uint16_t id = 0;
  (void)wk_plat_entropy(&id, sizeof id);
  long qlen = wk_dns_query(msg, sizeof msg, name, id);
  if (qlen < 0) return (int)qlen;
  long fd = wk_sys3(__NR_socket, AF_INET_, SOCK_DGRAM_ | HS_SOCK_FLAGS, 0);
  if (fd < 0) return linux_errno(fd);
  int err = (int)wk_sys3(__NR_connect, fd, (long)sa, to_sockaddr(&server, sa));
  err = err < 0 ? linux_errno(err) : -WK_ETIMEDOUT;
  for (int attempt = 0; attempt < 2 && err == -WK_ETIMEDOUT; attempt++) {
    if (sys(__NR_write, fd, (long)msg, qlen, 0, 0, 0) != qlen) break;
    uint64_t end = wk_plat_clock_monotonic() + timeout_ns / 2;
    for (;;) {
      uint64_t now = wk_plat_clock_monotonic();
      struct pollfd p = {.fd = (int)fd, .events = POLLIN};
      if (now >= end || hs_ppoll(&p, 1, end - now) <= 0) break; /* ask again, or give up */
      uint8_t reply[WK_DNS_UDP_MAX];
      long n = sys(__NR_read, fd, (long)reply, sizeof reply, 0, 0, 0);
      if (n < 0 && n != -EAGAIN) { /* ECONNREFUSED: nobody at that port */
        err = -WK_ENOENT;
        break;
      }
      uint8_t ip[4];
      int r = n > 0 ? wk_dns_answer(reply, (size_t)n, id, ip) : -WK_EAGAIN;
      if (r == -WK_EAGAIN) continue;
      if (r == 0)
        *out = (wk_net_addr){.family = WK_NET_AF_INET, .addr = {ip[0], ip[1], ip[2], ip[3]}};
      err = r;
      break;
    }
  }
  (void)wk_sys3(__NR_close, fd, 0, 0);
  return err;
}

/* ---- any socket ------------------------------------------------------------ */

static int hs_events(int s) {
  hsock *h = get(s, HS_FREE);
  if (h == NULL) return -WK_EBADF;
  int ev = 0;
  if (h->known & (POLLIN | POLLHUP | POLLERR)) ev |= WK_NET_EV_READ;
  if (h->kind == HS_UDP) ev |= WK_NET_EV_WRITE; /* a datagram goes, or is dropped */
  if (h->kind == HS_CONN) {
    if (h->known & (POLLOUT | POLLERR)) ev |= WK_NET_EV_WRITE;
    if (h->known & POLLHUP) ev |= WK_NET_EV_HUP;
    if (h->known & POLLERR) ev |= WK_NET_EV_ERR;
  }
  return ev;
}

static int hs_error(int s) {
  hsock *h = get(s, HS_FREE);
  if (h == NULL) return -WK_EBADF;
  int e = 0;
  if (get_int(h->fd, SOL_SOCKET_, SO_ERROR_, &e) < 0 || e == 0) return 0;
  h->known &= (uint16_t)~POLLERR;
  return linux_errno(-e);
}

static int name_of(int s, long nr, wk_net_addr *out) {
  hsock *h = get(s, HS_FREE);
  if (h == NULL) return -WK_EBADF;
  if (h->kind == HS_LISTEN) { /* what the guest asked for: any address, its port */
    if (nr == __NR_getpeername) return -WK_ENOTCONN;
    *out = (wk_net_addr){.family = WK_NET_AF_INET, .port = h->guest_port};
    return 0;
  }
  uint8_t sa[sizeof(struct sockaddr_in6)];
  int len = sizeof sa;
  long r = wk_sys3(nr, h->fd, (long)sa, (long)&len);
  if (r < 0) return linux_errno(r);
  from_sockaddr(sa, (uint32_t)len, out, nr == __NR_getpeername);
  return 0;
}
static int hs_local_addr(int s, wk_net_addr *out) { return name_of(s, __NR_getsockname, out); }
static int hs_peer_addr(int s, wk_net_addr *out) { return name_of(s, __NR_getpeername, out); }

static int hs_close(int s) {
  hsock *h = get(s, HS_FREE);
  if (h == NULL) return -WK_EBADF;
  (void)wk_sys3(__NR_close, h->fd, 0, 0); /* a graceful close: the kernel sends the rest */
  *h = (hsock){0};
  return 0;
}

static const wk_net_ops host_ops = {
    .ipv6 = hs_one,
    .init = hs_zero,
    .poll = hs_poll,
    .wait = hs_wait,
    .ready = hs_ready,
    .wait_ready = hs_wait_ready,
    .ready6 = hs_ready6,
    .wait_ready6 = hs_wait_ready6,
    .preopen_listeners = hs_preopen_listeners,
    .drain = hs_drain,
    .resolve = hs_resolve,
    .tcp_listen = hs_tcp_listen,
    .tcp_accept = hs_tcp_accept,
    .tcp_connect = hs_tcp_connect,
    .recv = hs_recv,
    .send_part = hs_send_part,
    .sendv = hs_sendv,
    .shutdown = hs_shutdown,
    .setopt = hs_setopt,
    .getopt = hs_getopt,
    .udp_open = hs_udp_open,
    .udp_sendto = hs_udp_sendto,
    .udp_recvfrom = hs_udp_recvfrom,
    .events = hs_events,
    .error = hs_error,
    .local_addr = hs_local_addr,
    .peer_addr = hs_peer_addr,
    .close = hs_close,
};

const struct wk_net_ops *wk_plat_net_sockets(void) { return wk_spt_net_host() ? &host_ops : NULL; }
