/*
 * net/net.c - wk/net.h: every call goes to one implementation (wk/net_ops.h),
 * chosen at the first call. WK_NET_NIC_OPS, a compile definition, names the
 * one over the NIC this variant was built with (lwIP, or the ENOSYS stub);
 * the platform's host sockets win when the run asked for them.
 */
#include "wk/net_ops.h"
#include "wk/platform.h"

#ifndef WK_NET_NIC_OPS
#error "WK_NET_NIC_OPS names the NIC implementation (wk_net_lwip_ops or wk_net_none_ops)"
#endif

static const wk_net_ops *chosen;

static const wk_net_ops *ops(void) {
  if (chosen == NULL) {
    chosen = wk_plat_net_sockets();
    if (chosen == NULL) chosen = &WK_NET_NIC_OPS;
  }
  return chosen;
}

int wk_net_ipv6(void) { return ops()->ipv6(); }
int wk_net_init(void) { return ops()->init(); }
int wk_net_poll(void) { return ops()->poll(); }
int wk_net_wait(uint64_t timeout_ns) { return ops()->wait(timeout_ns); }
int wk_net_ready(wk_net_addr *ip, unsigned *prefix) { return ops()->ready(ip, prefix); }
int wk_net_wait_ready(uint64_t timeout_ns) { return ops()->wait_ready(timeout_ns); }
int wk_net_ready6(int global) { return ops()->ready6(global); }
int wk_net_wait_ready6(int global, uint64_t timeout_ns) {
  return ops()->wait_ready6(global, timeout_ns);
}
int wk_net_preopen_listeners(int *out, uint8_t *after_dirs, int max) {
  return ops()->preopen_listeners(out, after_dirs, max);
}
void wk_net_drain(uint64_t timeout_ns) { ops()->drain(timeout_ns); }
int wk_net_resolve(const char *name, wk_net_addr *out, uint64_t timeout_ns) {
  return ops()->resolve(name, out, timeout_ns);
}
int wk_net_tcp_listen(const wk_net_addr *local, int backlog) {
  return ops()->tcp_listen(local, backlog);
}
int wk_net_tcp_accept(int listener, wk_net_addr *peer) { return ops()->tcp_accept(listener, peer); }
int wk_net_tcp_connect(const wk_net_addr *remote) { return ops()->tcp_connect(remote); }
long wk_net_recv(int s, void *buf, size_t len) { return ops()->recv(s, buf, len); }
long wk_net_send(int s, const void *buf, size_t len) { return ops()->send_part(s, buf, len, 0); }
long wk_net_sendv(int s, const wk_net_iov *iov, int n) {
  const wk_net_ops *o = ops();
  if (o->sendv) return o->sendv(s, iov, n);
  long total = 0; /* a piece at a time, all but the last queued (send_part's more) */
  for (int i = 0; i < n; i++) {
    long r = o->send_part(s, iov[i].base, iov[i].len, i + 1 < n);
    if (r < 0 || (size_t)r < iov[i].len) {
      if (r < 0 && total > 0) (void)o->send_part(s, NULL, 0, 0); /* push what was queued */
      return r < 0 && total == 0 ? r : total + (r > 0 ? r : 0);
    }
    total += r;
  }
  return total;
}
int wk_net_shutdown(int s, int how) { return ops()->shutdown(s, how); }
int wk_net_setopt(int s, int opt, int value) { return ops()->setopt(s, opt, value); }
int wk_net_getopt(int s, int opt, int *value) { return ops()->getopt(s, opt, value); }
int wk_net_udp_open(const wk_net_addr *local) { return ops()->udp_open(local); }
long wk_net_udp_sendto(int s, const void *buf, size_t len, const wk_net_addr *to) {
  return ops()->udp_sendto(s, buf, len, to);
}
long wk_net_udp_recvfrom(int s, void *buf, size_t len, wk_net_addr *from) {
  return ops()->udp_recvfrom(s, buf, len, from);
}
int wk_net_events(int s) { return ops()->events(s); }
int wk_net_error(int s) { return ops()->error(s); }
int wk_net_local_addr(int s, wk_net_addr *out) { return ops()->local_addr(s, out); }
int wk_net_peer_addr(int s, wk_net_addr *out) { return ops()->peer_addr(s, out); }
int wk_net_close(int s) { return ops()->close(s); }
