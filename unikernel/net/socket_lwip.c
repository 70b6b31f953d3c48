/*
 * net/socket_lwip.c - wk/net.h sockets on lwIP's raw API: the socket table
 * (socket_lwip.h), the calls on any socket, and the operations table. TCP is
 * tcp_lwip.c, UDP udp_lwip.c.
 */
#include "socket_lwip.h"

#include <string.h>

#include "lwip/netif.h"
#include "lwip/tcp.h"
#include "lwip/udp.h"
#include "wk/errno.h"
#include "wk/platform.h"

static sk socks[WK_NET_SOCKETS_MAX];

/* ---- the table and addresses ---------------------------------------------------------- */

int wk_lwip_map_err(err_t e) {
  switch (e) {
  case ERR_OK: return 0;
  case ERR_MEM:
  case ERR_BUF: return -WK_ENOMEM;
  case ERR_TIMEOUT: return -WK_ETIMEDOUT;
  case ERR_RTE: return -WK_ENETUNREACH;
  case ERR_INPROGRESS: return -WK_EINPROGRESS;
  case ERR_VAL:
  case ERR_ARG: return -WK_EINVAL;
  case ERR_WOULDBLOCK: return -WK_EAGAIN;
  case ERR_USE: return -WK_EADDRINUSE;
  case ERR_ALREADY: return -WK_EALREADY;
  case ERR_ISCONN: return -WK_EISCONN;
  case ERR_CONN: return -WK_ENOTCONN;
  case ERR_ABRT: return -WK_ECONNABORTED;
  case ERR_RST: return -WK_ECONNRESET;
  case ERR_CLSD: return -WK_ENOTCONN;
  default: return -WK_EIO;
  }
}

sk *wk_lwip_sk_get(int s, int kind) {
  if (s < 0 || s >= WK_NET_SOCKETS_MAX || socks[s].kind == SK_FREE) {
    return NULL;
  }
  if (kind != SK_FREE && socks[s].kind != kind) {
    return NULL;
  }
  return &socks[s];
}

int wk_lwip_sk_new(int kind) {
  for (int i = 0; i < WK_NET_SOCKETS_MAX; i++) {
    if (socks[i].kind == SK_FREE) {
      memset(&socks[i], 0, sizeof socks[i]);
      socks[i].kind = (uint8_t)kind;
      socks[i].dq_head = socks[i].dq_tail = -1;
      return i;
    }
  }
  return -WK_EMFILE;
}

int wk_lwip_to_ip(const wk_net_addr *a, ip_addr_t *ip) {
  if (a != NULL && a->family == WK_NET_AF_INET) {
    IP_ADDR4(ip, a->addr[0], a->addr[1], a->addr[2], a->addr[3]);
    return 0;
  }
#if LWIP_IPV6
  if (a != NULL && a->family == WK_NET_AF_INET6) {
    uint32_t w[4];
    memcpy(w, a->addr, 16); /* network order, as lwIP keeps it */
    IP_ADDR6(ip, w[0], w[1], w[2], w[3]);
    if (ip6_addr_isany(ip_2_ip6(ip))) {
      ip_addr_copy(*ip, *IP_ANY_TYPE);
    } else if (ip6_addr_islinklocal(ip_2_ip6(ip))) {
      ip6_addr_assign_zone(ip_2_ip6(ip), IP6_UNICAST, netif_default); /* the one NIC */
    }
    return 0;
  }
#endif
  return -WK_EAFNOSUPPORT;
}

uint8_t wk_lwip_pcb_type(const ip_addr_t *ip) {
  (void)ip; /* IP_GET_TYPE ignores it without IPv6 */
  return (uint8_t)IP_GET_TYPE(ip);
}

void wk_lwip_from_ip(const ip_addr_t *ip, uint16_t port, wk_net_addr *a) {
  memset(a, 0, sizeof *a);
  a->port = port;
#if LWIP_IPV6
  if (IP_IS_V6(ip)) {
    a->family = WK_NET_AF_INET6;
    memcpy(a->addr, ip_2_ip6(ip)->addr, 16);
    return;
  }
#endif
  a->family = WK_NET_AF_INET;
  uint32_t v = ip4_addr_get_u32(ip_2_ip4(ip));
  memcpy(a->addr, &v, 4);
}

int wk_lwip_net_ipv6(void) { return LWIP_IPV6; }

sk *wk_lwip_sk_at(int s) { return &socks[s]; }

void wk_lwip_sk_free(int s) { socks[s].kind = SK_FREE; }

int wk_lwip_sk_open(int kind, const wk_net_addr *a, ip_addr_t *ip) {
  int rc = wk_lwip_net_init(); /* up the stack on first use; sockets need it */
  if (rc == 0) {
    rc = wk_lwip_to_ip(a, ip);
  }
  return rc < 0 ? rc : wk_lwip_sk_new(kind);
}

/* ---- any socket ------------------------------------------------------------------- */

int wk_lwip_net_events(int s) {
  sk *k = wk_lwip_sk_get(s, SK_FREE);
  if (k == NULL) {
    return -WK_EBADF;
  }
  int ev = 0;
  switch (k->kind) {
  case SK_LISTEN:
  case SK_TCP: ev = wk_lwip_tcp_events(k); break;
  case SK_UDP:
    ev |= WK_NET_EV_WRITE;
    if (k->dq_len > 0) {
      ev |= WK_NET_EV_READ;
    }
    break;
  default: break;
  }
  return ev;
}

int wk_lwip_net_error(int s) {
  sk *k = wk_lwip_sk_get(s, SK_FREE);
  if (k == NULL) {
    return -WK_EBADF;
  }
  int e = k->err;
  if (k->tcp != NULL || k->kind != SK_TCP) {
    k->err = 0; /* a dead connection keeps reporting its error */
  }
  return e;
}

int wk_lwip_net_local_addr(int s, wk_net_addr *out) {
  sk *k = wk_lwip_sk_get(s, SK_FREE);
  if (k == NULL) {
    return -WK_EBADF;
  }
  if (k->kind == SK_UDP) {
    wk_lwip_from_ip(&k->udp->local_ip, k->udp->local_port, out);
  } else if (k->tcp != NULL) {
    wk_lwip_from_ip(&k->tcp->local_ip, k->tcp->local_port, out);
  } else {
    return -WK_ENOTCONN;
  }
  return 0;
}

int wk_lwip_net_peer_addr(int s, wk_net_addr *out) {
  sk *k = wk_lwip_sk_get(s, SK_TCP);
  if (k == NULL) {
    sk *u = wk_lwip_sk_get(s, SK_FREE);
    return u == NULL ? -WK_EBADF : -WK_ENOTCONN;
  }
  if (k->tcp == NULL || !k->connected) {
    return -WK_ENOTCONN;
  }
  wk_lwip_from_ip(&k->tcp->remote_ip, k->tcp->remote_port, out);
  return 0;
}

int wk_lwip_net_close(int s) {
  sk *k = wk_lwip_sk_get(s, SK_FREE);
  if (k == NULL) {
    return -WK_EBADF;
  }
  switch (k->kind) {
  case SK_LISTEN:
  case SK_TCP: wk_lwip_tcp_release(k); break;
  case SK_UDP: wk_lwip_udp_release(k); break;
  default: break;
  }
  k->kind = SK_FREE;
  wk_plat_net_flush();
  return 0;
}

const wk_net_ops wk_net_lwip_ops = {
    .ipv6 = wk_lwip_net_ipv6,
    .init = wk_lwip_net_init,
    .poll = wk_lwip_net_poll,
    .wait = wk_lwip_net_wait,
    .ready = wk_lwip_net_ready,
    .wait_ready = wk_lwip_net_wait_ready,
    .ready6 = wk_lwip_net_ready6,
    .wait_ready6 = wk_lwip_net_wait_ready6,
    .preopen_listeners = wk_lwip_net_preopen_listeners,
    .drain = wk_lwip_net_drain,
    .resolve = wk_lwip_net_resolve,
    .tcp_listen = wk_lwip_net_tcp_listen,
    .tcp_accept = wk_lwip_net_tcp_accept,
    .tcp_connect = wk_lwip_net_tcp_connect,
    .recv = wk_lwip_net_recv,
    .send_part = wk_lwip_net_send_part,
    .shutdown = wk_lwip_net_shutdown,
    .setopt = wk_lwip_net_setopt,
    .getopt = wk_lwip_net_getopt,
    .udp_open = wk_lwip_net_udp_open,
    .udp_sendto = wk_lwip_net_udp_sendto,
    .udp_recvfrom = wk_lwip_net_udp_recvfrom,
    .events = wk_lwip_net_events,
    .error = wk_lwip_net_error,
    .local_addr = wk_lwip_net_local_addr,
    .peer_addr = wk_lwip_net_peer_addr,
    .close = wk_lwip_net_close,
};
