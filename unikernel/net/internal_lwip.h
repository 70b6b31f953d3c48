/*
 * net/internal_lwip.h - the lwIP implementation of wk/net.h (wk/net_ops.h):
 * its calls, shared by stack_lwip.c (the stack) and the sockets (socket_lwip.c,
 * tcp_lwip.c, udp_lwip.c), gathered into wk_net_lwip_ops at the end of socket_lwip.c.
 */
#ifndef WK_INTERNAL_LWIP_H
#define WK_INTERNAL_LWIP_H

#include "wk/net_ops.h"

int wk_lwip_net_ipv6(void);
int wk_lwip_net_init(void);
int wk_lwip_net_poll(void);
int wk_lwip_net_wait(uint64_t timeout_ns);
int wk_lwip_net_ready(wk_net_addr *ip, unsigned *prefix);
int wk_lwip_net_wait_ready(uint64_t timeout_ns);
int wk_lwip_net_ready6(int global);
int wk_lwip_net_wait_ready6(int global, uint64_t timeout_ns);
int wk_lwip_net_preopen_listeners(int *out, uint8_t *after_dirs, int max);
void wk_lwip_net_drain(uint64_t timeout_ns);
int wk_lwip_net_resolve(const char *name, wk_net_addr *out, uint64_t timeout_ns);
int wk_lwip_net_tcp_listen(const wk_net_addr *local, int backlog);
int wk_lwip_net_tcp_accept(int listener, wk_net_addr *peer);
int wk_lwip_net_tcp_connect(const wk_net_addr *remote);
long wk_lwip_net_recv(int s, void *buf, size_t len);
long wk_lwip_net_send_part(int s, const void *buf, size_t len, int more);
int wk_lwip_net_shutdown(int s, int how);
int wk_lwip_net_setopt(int s, int opt, int value);
int wk_lwip_net_getopt(int s, int opt, int *value);
int wk_lwip_net_udp_open(const wk_net_addr *local);
long wk_lwip_net_udp_sendto(int s, const void *buf, size_t len, const wk_net_addr *to);
long wk_lwip_net_udp_recvfrom(int s, void *buf, size_t len, wk_net_addr *from);
int wk_lwip_net_events(int s);
int wk_lwip_net_error(int s);
int wk_lwip_net_local_addr(int s, wk_net_addr *out);
int wk_lwip_net_peer_addr(int s, wk_net_addr *out);
int wk_lwip_net_close(int s);

#endif /* WK_INTERNAL_LWIP_H */
