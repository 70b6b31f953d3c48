/*
 * wk/net.h - the unikernel's network: TCP and UDP sockets over the platform's
 * NIC (wk/platform.h), for the WASI socket layer.
 *
 * Model: one NIC, one IPv4 address (static from the platform, else DHCP),
 * everything polled. Nothing happens on the network unless someone calls
 * wk_net_poll() (directly, or through any call below, which polls first when
 * it needs fresh state). Every call is non-blocking: where POSIX would block,
 * these return -WK_EAGAIN, and the caller waits by polling and checking
 * wk_net_events(). A poll_oneoff implementation loops over wk_net_poll() and
 * wk_net_events() until a socket is ready or its clock deadline passes.
 *
 * Sockets are small integers, 0 <= s < WK_NET_SOCKETS_MAX, owned by the
 * caller until wk_net_close(). They are not WASI fds: the WASI layer maps its
 * fds to them.
 *
 * Error contract: calls return a negative WASI errno (wk/errno.h), e.g.
 * -WK_EAGAIN, -WK_ECONNRESET, -WK_EBADF (not an open socket of that kind),
 * -WK_ENOSYS (built without a network stack: the lwIP source was absent, or
 * the platform has no network support), -WK_ENODEV (no NIC).
 *
 * Implementations: net/socket_lwip.c + net/stack_lwip.c (lwIP, raw API,
 * NO_SYS), net/net_none.c (every call -WK_ENOSYS).
 */
#ifndef WK_NET_H
#define WK_NET_H

#include <stddef.h>
#include <stdint.h>

/* Sized for bursts: a pool of 200 clients that reconnects at once meets up to 128 of the
 * server's connections still closing and the old pending ones. With 64 pending at most, the
 * listener dropped the burst's other SYNs, and passt (Debian bookworm's) reset those clients
 * after its 10 s handshake timeout (bench/soak.py; docs/network.md "Soak"). */
#define WK_NET_SOCKETS_MAX 512 /* open sockets (TCP + UDP, listeners included) */
#define WK_NET_BACKLOG_MAX 255 /* pending connections per listener (lwIP: a u8_t) */
#if WK_NET_BACKLOG_MAX > 255
#error "WK_NET_BACKLOG_MAX: lwIP keeps a listener's backlog in a u8_t"
#endif

/* Address families (values of wk_net_addr.family). */
#define WK_NET_AF_INET 4
#define WK_NET_AF_INET6 6 /* when wk_net_ipv6(); else -WK_EAFNOSUPPORT */

/* An endpoint. addr holds 4 bytes (INET) or 16 (INET6), network order. The
 * IPv6 "::" is both families at once (a dual-stack listener or UDP socket);
 * a link-local IPv6 address is on the one NIC. */
typedef struct wk_net_addr {
  uint8_t family;
  uint16_t port; /* host order */
  uint8_t addr[16];
} wk_net_addr;

/* 1 when the stack was built with IPv6 (dual stack: a link-local address at
 * once, global ones by SLAAC), else 0. */
int wk_net_ipv6(void);

/* ---- the stack ------------------------------------------------------------- */

/* Bring the NIC and the stack up (idempotent). Static address from the
 * platform, else DHCP starts; the address may arrive later (wk_net_ready).
 * 0, -WK_ENODEV, -WK_ENOSYS, -WK_EIO. */
int wk_net_init(void);

/* Take in received frames, run protocol timers (retransmits, delayed ACKs,
 * DHCP, ARP), send what is queued. Cheap when nothing happened. Returns the
 * number of frames taken in (>= 0), or -WK_ENOSYS / -WK_ENETDOWN before init. */
int wk_net_poll(void);

/* wk_net_poll, and when it took in nothing, let the platform block for up to
 * timeout_ns until a frame may be waiting (spt sleeps in poll(2); kvm halts
 * until the NIC's interrupt or a timer). For callers that wait on sockets: same
 * result as wk_net_poll. */
int wk_net_wait(uint64_t timeout_ns);
/* What waiters pass: short against lwIP's timers (250 ms), long for a CPU. A
 * frame ends the wait early (spt's poll(2), kvm's NIC interrupt), so this only
 * bounds how often an idle guest wakes: 1 ms cost an idle kvm guest ~10% of a
 * host core under TCG, 10 ms ~3% (docs/network.md "Waiting"). */
#define WK_NET_IDLE_WAIT_NS 10000000ull

/* 1 when the interface has an IPv4 address (static, or DHCP bound), else 0.
 * If ip is not NULL, *ip gets the address and *prefix its netmask length. */
int wk_net_ready(wk_net_addr *ip, unsigned *prefix);

/* Poll until wk_net_ready or timeout_ns of monotonic time pass.
 * 0 or -WK_ETIMEDOUT. */
int wk_net_wait_ready(uint64_t timeout_ns);

/* IPv6 (wk_net_ipv6): 1 when the interface has a preferred global address
 * (SLAAC done: global != 0) or link-local one (its duplicate address
 * detection done: global == 0), else 0; and the same wait as
 * wk_net_wait_ready for it (-WK_ETIMEDOUT also when there is no IPv6). */
int wk_net_ready6(int global);
int wk_net_wait_ready6(int global, uint64_t timeout_ns);

/* The run's preopened listeners (wasmkiln run --listen / -p, read from the
 * platform): brings the stack up, waits up to WK_NET_PREOPEN_WAIT_NS for an
 * address (so the guest does not race DHCP; listening on 0.0.0.0 works
 * without one anyway), and opens one TCP listener per entry, in order, with
 * the full backlog. Opens at most max, stored in out, with after_dirs[i] set
 * where the listener goes after the preopened directories (wk_plat_listen);
 * returns how many (0 without a network or when the run asked for none:
 * nothing is touched), or a negative errno (every socket opened so far is
 * closed again). */
#define WK_NET_PREOPEN_WAIT_NS 10000000000ull
int wk_net_preopen_listeners(int *out, uint8_t *after_dirs, int max);

/* The run is over: let what TCP still has to send leave before the machine
 * stops (a guest that writes a response, closes and exits must not lose its
 * tail). Polls until no connection has unsent or unacknowledged data, or
 * timeout_ns pass. Cheap when the network was never used. Called by the
 * platforms after wk_main returns. */
#define WK_NET_DRAIN_NS 2000000000ull
void wk_net_drain(uint64_t timeout_ns);

/* The IPv4 address of a host name, asked of the DNS server (the run's
 * net.dns=, else the one DHCP offered; waits for DHCP first). Numeric names
 * are parsed, not sent. One name at a time; waits up to timeout_ns.
 * 0 (out->port is 0), -WK_ENOENT (no such name, or the server did not say),
 * -WK_ETIMEDOUT, -WK_EADDRNOTAVAIL (no DNS server known), -WK_EINVAL (empty,
 * or longer than 255), -WK_ENOSYS / -WK_ENODEV (no network). */
#define WK_NET_RESOLVE_NS 10000000000ull
int wk_net_resolve(const char *name, wk_net_addr *out, uint64_t timeout_ns);

/* ---- TCP ------------------------------------------------------------------ */

/* A listening socket on local (addr 0.0.0.0 = any; port 0 = ephemeral).
 * backlog is clamped to 1..WK_NET_BACKLOG_MAX. Returns the socket or
 * -WK_EADDRINUSE, -WK_EMFILE, -WK_ENOMEM, -WK_EAFNOSUPPORT. */
int wk_net_tcp_listen(const wk_net_addr *local, int backlog);

/* A connected socket from listener's queue, or -WK_EAGAIN when none waits.
 * peer (may be NULL) gets the remote endpoint. */
int wk_net_tcp_accept(int listener, wk_net_addr *peer);

/* Start connecting to remote; returns the socket at once. The socket turns
 * WK_NET_EV_WRITE when connected, WK_NET_EV_ERR when refused (wk_net_error
 * tells why). -WK_EMFILE, -WK_ENOMEM, -WK_EAFNOSUPPORT, -WK_ENETUNREACH. */
int wk_net_tcp_connect(const wk_net_addr *remote);

/* Bytes received (<= len), 0 at end of stream (the peer shut down its side),
 * -WK_EAGAIN when nothing waits, -WK_ECONNRESET and friends on error. */
long wk_net_recv(int s, void *buf, size_t len);

/* Bytes queued for sending (<= len, possibly fewer: partial writes happen
 * when the send buffer is nearly full), -WK_EAGAIN when it is full,
 * -WK_EPIPE after shutdown(WR), -WK_ENOTCONN while connecting. */
long wk_net_send(int s, const void *buf, size_t len);
/* One piece of a gather write (wk_net_sendv). */
typedef struct wk_net_iov {
  const void *base;
  size_t len;
} wk_net_iov;
/* wk_net_send of n pieces in order, as one write (the iovecs of one
 * sock_send): bytes queued from the pieces taken in order, fewer than their
 * sum when the send buffer fills (a piece may be cut), errors as wk_net_send's
 * when nothing was taken. The pieces leave in as few segments as they fit: a
 * response head and a small body sent apart would meet Nagle's algorithm in the
 * peer's stack (passt's host sockets run it), the body waiting for the client's
 * delayed ACK of the head, 40 ms. On the host's sockets (spt) it is one writev
 * instead of a system call per piece. */
long wk_net_sendv(int s, const wk_net_iov *iov, int n);

#define WK_NET_SHUT_RD 1
#define WK_NET_SHUT_WR 2
#define WK_NET_SHUT_RDWR 3
int wk_net_shutdown(int s, int how);

/* Each TCP connection's receive window and send buffer, in bytes (fixed when
 * the stack is built: net/lwipopts.h TCP_WND and TCP_SND_BUF). */
#define WK_NET_RCVBUF (128 * 1024)
#define WK_NET_SNDBUF (128 * 1024)

/* TCP options (connections; a listener has none: -WK_ENOTCONN). */
#define WK_NET_OPT_NODELAY 1   /* TCP_NODELAY: value 0/1 */
#define WK_NET_OPT_KEEPALIVE 2 /* SO_KEEPALIVE: value 0/1 */
int wk_net_setopt(int s, int opt, int value);
int wk_net_getopt(int s, int opt, int *value);

/* ---- UDP ------------------------------------------------------------------ */

/* A UDP socket bound to local (port 0 = ephemeral). -WK_EADDRINUSE, ... */
int wk_net_udp_open(const wk_net_addr *local);

/* Send one datagram to `to`. Returns len, or -WK_EMSGSIZE (more than
 * 65507 bytes), -WK_EAGAIN (no buffer now), -WK_EHOSTUNREACH. */
long wk_net_udp_sendto(int s, const void *buf, size_t len, const wk_net_addr *to);

/* Take the next datagram: copies min(len, its size) bytes, returns its full
 * size (so > len means truncated), -WK_EAGAIN when none waits. from (may be
 * NULL) gets the sender. Up to WK_NET_UDP_QUEUE datagrams wait per socket;
 * more are dropped, as a full socket buffer would. */
#define WK_NET_UDP_QUEUE 64
long wk_net_udp_recvfrom(int s, void *buf, size_t len, wk_net_addr *from);

/* ---- any socket ------------------------------------------------------------ */

/* Readiness, for poll_oneoff. */
#define WK_NET_EV_READ 0x1  /* recv/accept/recvfrom would not return -WK_EAGAIN */
#define WK_NET_EV_WRITE 0x2 /* send would not return -WK_EAGAIN */
#define WK_NET_EV_HUP 0x4   /* the peer closed its side (reads give 0) */
#define WK_NET_EV_ERR 0x8   /* the connection failed: wk_net_error says why */
/* The events of s as of the last wk_net_poll (this call does not poll), or
 * -WK_EBADF. */
int wk_net_events(int s);

/* The pending error of s as a negative errno (0 if none), and clear it. */
int wk_net_error(int s);

int wk_net_local_addr(int s, wk_net_addr *out);
int wk_net_peer_addr(int s, wk_net_addr *out); /* -WK_ENOTCONN if none */

/* Close s: TCP connections are shut down gracefully in the background
 * (lwIP keeps the connection until the peer has everything). 0 or -WK_EBADF. */
int wk_net_close(int s);

#endif /* WK_NET_H */
