/*
 * net/net_none.c - wk/net.h without a network stack: every call says
 * -WK_ENOSYS. Linked when the lwIP source was absent at build time, and on
 * platforms without a NIC interface (spt for now), so callers (the WASI
 * socket layer) link the same way everywhere.
 */
#include "wk/errno.h"
#include "wk/net_ops.h"

static int none_init(void) { return -WK_ENOSYS; }

static int none_poll(void) { return -WK_ENOSYS; }

static int none_wait(uint64_t timeout_ns) {
  (void)timeout_ns;
  return -WK_ENOSYS;
}

static int none_ready(wk_net_addr *ip, unsigned *prefix) {
  (void)ip;
  (void)prefix;
  return 0;
}

static int none_wait_ready(uint64_t timeout_ns) {
  (void)timeout_ns;
  return -WK_ENOSYS;
}

static int none_preopen_listeners(int *out, uint8_t *after_dirs, int max) {
  (void)out;
  (void)after_dirs;
  (void)max;
  return 0; /* no stack: the runner refuses --listen/-p for such targets */
}

static void none_drain(uint64_t timeout_ns) { (void)timeout_ns; }

static int none_ipv6(void) { return 0; }

static int none_ready6(int global) {
  (void)global;
  return 0;
}

static int none_wait_ready6(int global, uint64_t timeout_ns) {
  (void)global;
  (void)timeout_ns;
  return -WK_ENOSYS;
}

static int none_resolve(const char *name, wk_net_addr *out, uint64_t timeout_ns) {
  (void)name;
  (void)out;
  (void)timeout_ns;
  return -WK_ENOSYS;
}

static int none_tcp_listen(const wk_net_addr *local, int backlog) {
  (void)local;
  (void)backlog;
  return -WK_ENOSYS;
}

static int none_tcp_accept(int listener, wk_net_addr *peer) {
  (void)listener;
  (void)peer;
  return -WK_EBADF;
}

static int none_tcp_connect(const wk_net_addr *remote) {
  (void)remote;
  return -WK_ENOSYS;
}

static long none_recv(int s, void *buf, size_t len) {
  (void)s;
  (void)buf;
  (void)len;
  return -WK_EBADF;
}

static long none_send_part(int s, const void *buf, size_t len, int more) {
  (void)more;
  return wk_net_send(s, buf, len);
}

static int none_shutdown(int s, int how) {
  (void)s;
  (void)how;
  return -WK_EBADF;
}

static int none_setopt(int s, int opt, int value) {
  (void)s;
  (void)opt;
  (void)value;
  return -WK_EBADF;
}

static int none_getopt(int s, int opt, int *value) {
  (void)s;
  (void)opt;
  (void)value;
  return -WK_EBADF;
}

static int none_udp_open(const wk_net_addr *local) {
  (void)local;
  return -WK_ENOSYS;
}

static long none_udp_sendto(int s, const void *buf, size_t len, const wk_net_addr *to) {
  (void)s;
  (void)buf;
  (void)len;
  (void)to;
  return -WK_EBADF;
}

static long none_udp_recvfrom(int s, void *buf, size_t len, wk_net_addr *from) {
  (void)s;
  (void)buf;
  (void)len;
  (void)from;
  return -WK_EBADF;
}

static int none_events(int s) {
  (void)s;
  return -WK_EBADF;
}

static int none_error(int s) {
  (void)s;
  return -WK_EBADF;
}

static int none_local_addr(int s, wk_net_addr *out) {
  (void)s;
  (void)out;
  return -WK_EBADF;
}

static int none_peer_addr(int s, wk_net_addr *out) {
  (void)s;
  (void)out;
  return -WK_EBADF;
}

static int none_close(int s) {
  (void)s;
  return -WK_EBADF;
}

const wk_net_ops wk_net_none_ops = {
    .ipv6 = none_ipv6,
    .init = none_init,
    .poll = none_poll,
    .wait = none_wait,
    .ready = none_ready,
    .wait_ready = none_wait_ready,
    .ready6 = none_ready6,
    .wait_ready6 = none_wait_ready6,
    .preopen_listeners = none_preopen_listeners,
    .drain = none_drain,
    .resolve = none_resolve,
    .tcp_listen = none_tcp_listen,
    .tcp_accept = none_tcp_accept,
    .tcp_connect = none_tcp_connect,
    .recv = none_recv,
    .send_part = none_send_part,
    .shutdown = none_shutdown,
    .setopt = none_setopt,
    .getopt = none_getopt,
    .udp_open = none_udp_open,
    .udp_sendto = none_udp_sendto,
    .udp_recvfrom = none_udp_recvfrom,
    .events = none_events,
    .error = none_error,
    .local_addr = none_local_addr,
    .peer_addr = none_peer_addr,
    .close = none_close,
};
