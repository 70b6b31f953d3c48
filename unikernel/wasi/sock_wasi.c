/*
 * wasi/sock_wasi.c - preview1 sockets over the network layer (wk/net.h):
 * sock_accept, sock_recv, sock_send, sock_shutdown, and the socket side of
 * fd_read, fd_write and poll_oneoff.
 *
 * Model (wasmtime's -S tcplisten): the guest cannot create sockets with
 * preview1; it gets preopened listeners (fdtable_wasi.c, fds from 3) and the
 * connections sock_accept hands out. Every fd entry of kind WK_FD_SOCKET
 * holds a wk/net.h socket in `handle`.
 *
 * Blocking: wk/net.h never blocks. A socket fd without FDFLAGS_NONBLOCK
 * waits here by polling the network until the call can finish, as a blocking
 * socket would; the preopened listeners start non-blocking, accepted
 * connections are blocking unless sock_accept's flags say otherwise (wasmtime
 * does the same). There is one guest thread and nothing else to run: each
 * wait step is wk_net_wait, which, when nothing arrived, halts the vCPU on kvm
 * (until the NIC's interrupt or a timer) and sleeps in poll(2) on spt, for at
 * most WK_NET_IDLE_WAIT_NS.
 *
 * Accepted connections have Nagle's algorithm off (TCP_NODELAY): preview1
 * cannot ask for it, and each sock_send is already one application write. With
 * it on, a response's last partial segment waits for the peer's ACK, which
 * QEMU's slirp delays: one keep-alive client fetching a 612-byte page took
 * 4-6 ms a request with Nagle and 0.34 ms without (TCG, docs/network.md).
 */
#include "sock_wasi.h"
#include "guestmem_wasi.h"
#include "wk/net.h"
#include "wk/wasi.h"

/* riflags / roflags of sock_recv */
enum { RECV_PEEK = 1, RECV_WAITALL = 2 };

void wk_wasi_sock_wait_step(uint64_t max_ns) {
  if (wk_net_wait(max_ns < WK_NET_IDLE_WAIT_NS ? max_ns : WK_NET_IDLE_WAIT_NS) == 0)
    wk_wasi_cpu_relax(); /* nothing came in */
}

/* ENOTSOCK for a descriptor that is not a socket, as the wasi-testsuite
 * (sock_shutdown-not_sock) and wasmtime's default preview1 say; wasmtime's
 * legacy preview1 (-S preview2=n, the one with tcplisten) says EBADF. */
int32_t wk_wasi_sock_fd(wk_vmctx *vm, int32_t fd, wk_fd **out) {
  wk_fd *f = wk_wasi_fd(vm, fd);
  if (!f) return WK_EBADF;
  if (f->kind != WK_FD_SOCKET) return WK_ENOTSOCK;
  *out = f;
  return WK_ESUCCESS;
}

static int blocking(const wk_fd *f) { return !(f->fdflags & WK_FDFLAGS_NONBLOCK); }

/* wk/net.h results are negative errnos; WASI errnos are positive. */
static int32_t errno_of(long r) { return (int32_t)-r; }

int32_t wk_wasi_sock_accept(wk_vmctx *vm, int32_t fd, int32_t flags, int32_t fd_out) {
  wk_fd *f;
  int32_t err = wk_wasi_sock_fd(vm, fd, &f);
  if (err) return err;
  if ((uint32_t)flags & ~(uint32_t)WK_FDFLAGS_NONBLOCK) return WK_EINVAL;
  if (!wk_guest_ptr(vm, (uint32_t)fd_out, 4)) return WK_EFAULT;
  if (!(f->base & WK_RIGHT_SOCK_ACCEPT)) return WK_ENOTCAPABLE;
  int listener = f->handle, wait = blocking(f);
  int s;
  while ((s = wk_net_tcp_accept(listener, NULL)) == -WK_EAGAIN && wait)
    wk_wasi_sock_wait_step(UINT64_MAX);
  if (s == -WK_EBADF) return WK_EINVAL; /* a connection, not a listener (as POSIX) */
  if (s < 0) return errno_of(s);
  (void)wk_net_setopt(s, WK_NET_OPT_NODELAY, 1); /* see the file comment */
  return wk_wasi_sock_install(vm, s, (uint16_t)flags, fd_out);
}

int32_t wk_wasi_sock_install(wk_vmctx *vm, int s, uint16_t fdflags, int32_t fd_out) {
  int32_t nfd = wk_wasi_fd_alloc(vm); /* may move the table: entries are stale after this */
  if (nfd < 0) {
    (void)wk_net_close(s);
    return WK_EMFILE;
  }
  wk_wasi_sock_entry(wk_wasi_state_get(vm)->fds + nfd, s, fdflags);
  return wk_wasi_put(vm, fd_out, &nfd, 4);
}

void wk_wasi_sock_wait_events(const wk_fd *f, int s, int mask) {
  while (blocking(f)) {
    int ev = wk_net_events(s);
    if (ev < 0 || (ev & mask)) return;
    wk_wasi_sock_wait_step(UINT64_MAX);
  }
}

/* Read from the socket into the iovecs. A call fills each buffer completely
 * when `full` (RECV_WAITALL) and otherwise stops at the first short read, as
 * a stream does. A blocking fd waits while nothing came yet (or, when full,
 * until everything has); a read also stops at the end of the stream. Errors
 * after some bytes came are left for the next call. */
static int32_t recv_iovs(wk_vmctx *vm, wk_fd *f, const uint8_t *arr, uint32_t n, int full,
                         uint32_t *total) {
  int wait = blocking(f);
  *total = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint8_t *buf;
    uint32_t len;
    wk_wasi_iov_at(vm, arr, i, &buf, &len);
    if (len > UINT32_MAX - *total) break; /* the count is a u32: stop short */
    uint32_t done = 0;
    while (done < len) {
      long r = wk_net_recv(f->handle, buf + done, len - done);
      if (r == -WK_EAGAIN && wait && (full || *total + done == 0)) {
        wk_wasi_sock_wait_step(UINT64_MAX);
        continue;
      }
      if (r <= 0) { /* an error, EAGAIN, or the end of the stream */
        *total += done;
        return *total || r == 0 ? WK_ESUCCESS : errno_of(r);
      }
      done += (uint32_t)r;
      if (!full) break;
    }
    *total += done;
    if (done < len) break;
  }
  return WK_ESUCCESS;
}

/* Iovecs per gather write; a sock_send with more is sent a batch at a time. */
#define SEND_IOVS 16

/* Send the iovecs: each batch of up to SEND_IOVS is one wk_net_sendv (one
 * writev on spt's host sockets: a response's head and body in one system
 * call). A blocking fd sends everything (`full`), waiting while the socket is
 * full; a non-blocking one stops at the first short write. Errors after some
 * bytes left are left for the next call. */
static int32_t send_iovs(wk_vmctx *vm, wk_fd *f, const uint8_t *arr, uint32_t n, int full,
                         uint32_t *total) {
  int wait = blocking(f);
  *total = 0;
  for (uint32_t i = 0; i < n;) {
    wk_net_iov v[SEND_IOVS];
    int k = 0;
    uint32_t batch = 0;
    for (; i < n && k < SEND_IOVS; i++) {
      uint8_t *buf;
      uint32_t len;
      wk_wasi_iov_at(vm, arr, i, &buf, &len);
      if (len > UINT32_MAX - *total - batch) { /* the count is a u32: stop short */
        n = i;
        break;
      }
      if (len > 0) v[k++] = (wk_net_iov){buf, len};
      batch += len;
    }
    uint32_t sent = 0;
    int first = 0;
    while (sent < batch) {
      long r = wk_net_sendv(f->handle, v + first, k - first);
      if (r == -WK_EAGAIN && wait && (full || *total + sent == 0)) {
        wk_wasi_sock_wait_step(UINT64_MAX);
        continue;
      }
      if (r <= 0) { /* an error, or EAGAIN */
        *total += sent;
        return *total || r == 0 ? WK_ESUCCESS : errno_of(r);
      }
      sent += (uint32_t)r;
      for (size_t left = (size_t)r; left > 0;) { /* skip what left, in the batch */
        if (left < v[first].len) {
          v[first].base = (const uint8_t *)v[first].base + left;
          v[first].len -= left;
          break;
        }
        left -= v[first++].len;
      }
      if (!full) break;
    }
    *total += sent;
    if (sent < batch) break;
  }
  return WK_ESUCCESS;
}

int32_t wk_wasi_sock_readv(wk_vmctx *vm, wk_fd *f, const uint8_t *iovs, uint32_t n,
                           uint32_t *total) {
  return recv_iovs(vm, f, iovs, n, 0, total);
}

int32_t wk_wasi_sock_writev(wk_vmctx *vm, wk_fd *f, const uint8_t *iovs, uint32_t n,
                            uint32_t *total) {
  return send_iovs(vm, f, iovs, n, blocking(f), total);
}

int32_t wk_wasi_sock_recv(wk_vmctx *vm, int32_t fd, int32_t ri_data, int32_t ri_data_len,
                          int32_t ri_flags, int32_t ro_datalen_out, int32_t ro_flags_out) {
  wk_fd *f;
  int32_t err = wk_wasi_sock_fd(vm, fd, &f);
  if (err) return err;
  if ((uint32_t)ri_flags & ~(uint32_t)(RECV_PEEK | RECV_WAITALL)) return WK_EINVAL;
  if (ri_flags & RECV_PEEK) return WK_ENOTSUP; /* the stack cannot look without taking */
  if (!(f->base & WK_RIGHT_FD_READ)) return WK_ENOTCAPABLE;
  const uint8_t *arr;
  if ((err = wk_wasi_check_iovs(vm, ri_data, ri_data_len, &arr))) return err;
  if (!wk_guest_ptr(vm, (uint32_t)ro_datalen_out, 4) ||
      !wk_guest_ptr(vm, (uint32_t)ro_flags_out, 2))
    return WK_EFAULT;
  uint32_t total;
  err = recv_iovs(vm, f, arr, (uint32_t)ri_data_len, ri_flags & RECV_WAITALL, &total);
  if (err) return err;
  uint16_t roflags = 0; /* RECV_DATA_TRUNCATED is for datagrams only */
  wk_wasi_put(vm, ro_flags_out, &roflags, 2);
  return wk_wasi_put(vm, ro_datalen_out, &total, 4);
}

int32_t wk_wasi_sock_send(wk_vmctx *vm, int32_t fd, int32_t si_data, int32_t si_data_len,
                          int32_t si_flags, int32_t so_datalen_out) {
  wk_fd *f;
  int32_t err = wk_wasi_sock_fd(vm, fd, &f);
  if (err) return err;
  if (si_flags != 0) return WK_EINVAL; /* siflags has no flags defined */
  if (!(f->base & WK_RIGHT_FD_WRITE)) return WK_ENOTCAPABLE;
  const uint8_t *arr;
  if ((err = wk_wasi_check_iovs(vm, si_data, si_data_len, &arr))) return err;
  if (!wk_guest_ptr(vm, (uint32_t)so_datalen_out, 4)) return WK_EFAULT;
  uint32_t total;
  err = send_iovs(vm, f, arr, (uint32_t)si_data_len, blocking(f), &total);
  return err ? err : wk_wasi_put(vm, so_datalen_out, &total, 4);
}

int32_t wk_wasi_sock_shutdown(wk_vmctx *vm, int32_t fd, int32_t how) {
  wk_fd *f;
  int32_t err = wk_wasi_sock_fd(vm, fd, &f);
  if (err) return err;
  if ((uint32_t)how - 1u > 2u) return WK_EINVAL; /* sdflags: RD 1, WR 2 */
  if (!(f->base & WK_RIGHT_SOCK_SHUTDOWN)) return WK_ENOTCAPABLE;
  int r = wk_net_shutdown(f->handle, how); /* WK_NET_SHUT_* have sdflags' values */
  if (r == -WK_EBADF) return WK_ENOTCONN;  /* a listener */
  return r < 0 ? errno_of(r) : WK_ESUCCESS;
}

int wk_wasi_sock_ready(wk_fd *f, uint8_t tag, uint64_t *nbytes) {
  int ev = wk_net_events(f->handle);
  *nbytes = 0;
  if (ev < 0) return 1; /* gone: the next call on it reports why */
  if (tag == WK_EVENTTYPE_FD_READ)
    return (ev & (WK_NET_EV_READ | WK_NET_EV_HUP | WK_NET_EV_ERR)) != 0;
  return (ev & (WK_NET_EV_WRITE | WK_NET_EV_ERR)) != 0;
}
