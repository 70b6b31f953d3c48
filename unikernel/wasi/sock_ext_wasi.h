/*
 * wasi/sock_ext_wasi.h - sockets the guest creates itself, whatever the ABI
 * (sock_ext_wasi.c). The WasmEdge extension (sock_wasmedge_wasi.c) and WAMR's
 * (sock_wamr_wasi.c) differ in how they spell addresses, families, types and
 * options in guest memory, not in what a call does; each decodes its own
 * encoding into a wk_net_addr and calls these, so the two cannot drift.
 *
 * Every call takes a WASI fd and returns a WASI errno (positive). An fd made
 * by wk_sockext_open has handle -1 until listen, connect, a UDP bind or a
 * first send_to creates the network-layer socket (wk/net.h has no unbound
 * socket); options set before that are kept in the entry and applied then.
 */
#ifndef WK_SOCK_EXT_WASI_H
#define WK_SOCK_EXT_WASI_H

#include <stddef.h>
#include <stdint.h>

#include "fdtable_wasi.h"
#include "wk/net.h"

/* A new unbound socket of this family and filetype (WK_FILETYPE_SOCKET_STREAM
 * or _DGRAM); its number goes to the guest's *fd_out. EAFNOSUPPORT for IPv6. */
int32_t wk_sockext_open(wk_vmctx *vm, int family, uint8_t filetype, int32_t fd_out);
/* Remember the local address (a UDP socket is created here). */
int32_t wk_sockext_bind(wk_vmctx *vm, int32_t fd, const wk_net_addr *local);
int32_t wk_sockext_listen(wk_vmctx *vm, int32_t fd, int32_t backlog);
/* Blocking fd: wait until connected or refused; non-blocking: EINPROGRESS. */
int32_t wk_sockext_connect(wk_vmctx *vm, int32_t fd, const wk_net_addr *remote);
/* The local (peer 0) or remote (peer 1) endpoint. */
int32_t wk_sockext_addr(wk_vmctx *vm, int32_t fd, int peer, wk_net_addr *out);
/* One datagram from the first non-empty iovec; *sent gets its length. */
int32_t wk_sockext_send_to(wk_vmctx *vm, int32_t fd, int32_t iovs, int32_t iovs_len,
                           const wk_net_addr *to, uint32_t *sent);
/* The next datagram into the first non-empty iovec; *got its copied length,
 * *truncated 1 when it was longer. */
int32_t wk_sockext_recv_from(wk_vmctx *vm, int32_t fd, int32_t iovs, int32_t iovs_len,
                             wk_net_addr *from, uint32_t *got, int *truncated);

/* Options both extensions know, by our numbers. */
enum {
  WK_SOCKOPT_REUSEADDR = 1, /* 0/1; listeners re-bind TIME_WAIT ports either way */
  WK_SOCKOPT_KEEPALIVE,     /* 0/1 (TCP) */
  WK_SOCKOPT_NODELAY,       /* 0/1 (TCP); on by default, as accepted connections */
  WK_SOCKOPT_BROADCAST,     /* 0/1 (UDP); lwIP sends to broadcast either way */
  WK_SOCKOPT_RCVBUF,        /* bytes; the stack's are fixed: get only, set ignored */
  WK_SOCKOPT_SNDBUF,        /* bytes; likewise */
  WK_SOCKOPT_TYPE,          /* get only: WK_FILETYPE_SOCKET_* */
  WK_SOCKOPT_ERROR,         /* get only: the pending errno (cleared) */
};
/* Bits of wk_fd.sockopts: what was set before (or after) the socket existed. */
#define WK_SOCKOPT_BIT_REUSEADDR 0x1
#define WK_SOCKOPT_BIT_KEEPALIVE 0x2
#define WK_SOCKOPT_BIT_NAGLE 0x4 /* NODELAY turned off */
#define WK_SOCKOPT_BIT_BROADCAST 0x8
int32_t wk_sockext_setopt(wk_vmctx *vm, int32_t fd, int opt, uint32_t value);
int32_t wk_sockext_getopt(wk_vmctx *vm, int32_t fd, int opt, uint32_t *value);

/* ---- names ------------------------------------------------------------------ */

#define WK_SOCKEXT_NAME_MAX 255 /* longest host name (DNS's limit) */
#define WK_SOCKEXT_ADDRS_MAX 4  /* addresses one lookup gives */

/* The addresses of host name[0..len) of family (WK_NET_AF_INET, _INET6, or
 * 0: either): a numeric IPv4 or IPv6 address, "localhost" (127.0.0.1, then
 * ::1 when the stack has IPv6), else (unless numeric_only) IPv4 addresses
 * asked of DNS (wk_net_resolve: A records only). Returns how many (>= 1) were
 * stored in out (at most WK_SOCKEXT_ADDRS_MAX, ports 0), or a negative errno:
 * -WK_ENOENT (unknown, or none of that family), -WK_ETIMEDOUT,
 * -WK_EADDRNOTAVAIL (no DNS server), -WK_EINVAL (empty or too long),
 * -WK_ENOSYS (no network). */
int wk_sockext_resolve(const char *name, size_t len, int numeric_only, int family,
                       wk_net_addr *out);
/* A service (port) name: decimal 0..65535, "" (0), or one of a few well-known
 * names (http, https, ...). The port, or -1. */
int wk_sockext_service_port(const char *s, size_t len);

#endif /* WK_SOCK_EXT_WASI_H */
