/*
 * wk/net_ops.h - what implements wk/net.h: a table of the same calls.
 *
 * wk/net.h's functions (net/net.c) forward every call to one table, chosen
 * at the first call: the platform's host sockets when the run asked for them
 * (wk_plat_net_sockets: spt, `wasmkiln run --net-backend host`), else the
 * stack over the platform's NIC (net/socket_lwip.c, stack_lwip.c), or the stub that answers
 * -WK_ENOSYS when the runtime was built without lwIP (net/net_none.c). Each
 * entry has the contract of the wk/net.h function of the same name.
 */
#ifndef WK_NET_OPS_H
#define WK_NET_OPS_H

#include "wk/net.h"

typedef struct wk_net_ops {
  int (*ipv6)(void);
  int (*init)(void);
  int (*poll)(void);
  int (*wait)(uint64_t timeout_ns);
  int (*ready)(wk_net_addr *ip, unsigned *prefix);
  int (*wait_ready)(uint64_t timeout_ns);
  int (*ready6)(int global);
  int (*wait_ready6)(int global, uint64_t timeout_ns);
  int (*preopen_listeners)(int *out, uint8_t *after_dirs, int max);
  void (*drain)(uint64_t timeout_ns);
  int (*resolve)(const char *name, wk_net_addr *out, uint64_t timeout_ns);
  int (*tcp_listen)(const wk_net_addr *local, int backlog);
  int (*tcp_accept)(int listener, wk_net_addr *peer);
  int (*tcp_connect)(const wk_net_addr *remote);
  long (*recv)(int s, void *buf, size_t len);
  /* wk_net_send for one piece of a write made of several: with more nonzero, a
   * piece taken whole is queued, not pushed; a piece not taken whole, and any
   * piece with more = 0 (len 0 included), pushes everything queued. */
  long (*send_part)(int s, const void *buf, size_t len, int more);
  /* wk_net_sendv in one call; NULL: net.c sends the pieces with send_part. */
  long (*sendv)(int s, const wk_net_iov *iov, int n);
  int (*shutdown)(int s, int how);
  int (*setopt)(int s, int opt, int value);
  int (*getopt)(int s, int opt, int *value);
  int (*udp_open)(const wk_net_addr *local);
  long (*udp_sendto)(int s, const void *buf, size_t len, const wk_net_addr *to);
  long (*udp_recvfrom)(int s, void *buf, size_t len, wk_net_addr *from);
  int (*events)(int s);
  int (*error)(int s);
  int (*local_addr)(int s, wk_net_addr *out);
  int (*peer_addr)(int s, wk_net_addr *out);
  int (*close)(int s);
} wk_net_ops;

/* The implementations net/ provides (one of them is linked, per variant). */
extern const wk_net_ops wk_net_lwip_ops;
extern const wk_net_ops wk_net_none_ops;

#endif /* WK_NET_OPS_H */
