/*
 * net/net_none.c - wk/net.h without a network stack: every call says
 * -WK_ENOSYS. Linked when the lwIP source was absent at build time, and on
 * platforms without a NIC interface (spt for now), so callers (the WASI
 * socket layer) link the same way everywhere.
 */
#include "wk/errno.h"
#include "wk/net.h"

int wk_net_init(void) {
  return -WK_ENOSYS;
}

int wk_net_poll(void) {
  return -WK_ENOSYS;
}

int wk_net_wait(uint64_t timeout_ns) {
  (void)timeout_ns;
  return -WK_ENOSYS;
}

int wk_net_ready(wk_net_addr *ip, unsigned *prefix) {
  (void)ip;
  (void)prefix;
  return 0;
}

int wk_net_wait_ready(uint64_t timeout_ns) {
  (void)timeout_ns;
  return -WK_ENOSYS;
}

int wk_net_preopen_listeners(int *out, uint8_t *after_dirs, int max) {
  (void)out;
  (void)after_dirs;
  (void)max;
  return 0; /* no stack: the runner refuses --listen/-p for such targets */
}

void wk_net_drain(uint64_t timeout_ns) {
  (void)timeout_ns;
}

int wk_net_ipv6(void) {
  return 0;
}

int wk_net_ready6(int global) {
  (void)global;
  return 0;
}

int wk_net_wait_ready6(int global, uint64_t timeout_ns) {
  (void)global;
  (void)timeout_ns;
  return -WK_ENOSYS;
}

int wk_net_resolve(const char *name, wk_net_addr *out, uint64_t timeout_ns) {
  (void)name;
  (void)out;
  (void)timeout_ns;
  return -WK_ENOSYS;
}

int wk_net_tcp_listen(const wk_net_addr *local, int backlog) {
  (void)local;
  (void)backlog;
  return -WK_ENOSYS;
}

int wk_net_tcp_accept(int listener, wk_net_addr *peer) {
  (void)listener;
  (void)peer;
  return -WK_EBADF;
}

int wk_net_tcp_connect(const wk_net_addr *remote) {
  (void)remote;
  return -WK_ENOSYS;
}

long wk_net_recv(int s, void *buf, size_t len) {
  (void)s;
  (void)buf;
  (void)len;
  return -WK_EBADF;
}

long wk_net_send(int s, const void *buf, size_t len) {
  (void)s;
  (void)buf;
  (void)len;
  return -WK_EBADF;
}

long wk_net_send_part(int s, const void *buf, size_t len, int more) {
  (void)more;
  return wk_net_send(s, buf, len);
}

int wk_net_shutdown(int s, int how) {
  (void)s;
  (void)how;
  return -WK_EBADF;
}

int wk_net_setopt(int s, int opt, int value) {
  (void)s;
  (void)opt;
  (void)value;
  return -WK_EBADF;
}

int wk_net_getopt(int s, int opt, int *value) {
  (void)s;
  (void)opt;
  (void)value;
  return -WK_EBADF;
}

int wk_net_udp_open(const wk_net_addr *local) {
  (void)local;
  return -WK_ENOSYS;
}

long wk_net_udp_sendto(int s, const void *buf, size_t len, const wk_net_addr *to) {
  (void)s;
  (void)buf;
  (void)len;
  (void)to;
  return -WK_EBADF;
}

long wk_net_udp_recvfrom(int s, void *buf, size_t len, wk_net_addr *from) {
  (void)s;
  (void)buf;
  (void)len;
  (void)from;
  return -WK_EBADF;
}

int wk_net_events(int s) {
  (void)s;
  return -WK_EBADF;
}

int wk_net_error(int s) {
  (void)s;
  return -WK_EBADF;
}

int wk_net_local_addr(int s, wk_net_addr *out) {
  (void)s;
  (void)out;
  return -WK_EBADF;
}

int wk_net_peer_addr(int s, wk_net_addr *out) {
  (void)s;
  (void)out;
  return -WK_EBADF;
}

int wk_net_close(int s) {
  (void)s;
  return -WK_EBADF;
}
