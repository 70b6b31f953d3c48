/*
 * net/udp_lwip.c - wk/net.h UDP sockets on lwIP's raw UDP API (the table:
 * socket_lwip.h): each socket's FIFO of received datagrams, drawn from one
 * pool shared by all of them (a full socket, or pool, drops, as a socket
 * buffer does).
 */
#include <string.h>

#include "lwip/udp.h"
#include "socket_lwip.h"
#include "wk/errno.h"
#include "wk/platform.h"

#define UDP_POOL 1024         /* datagrams waiting in all UDP sockets together */
#define UDP_MAX_PAYLOAD 65507 /* 65535 - IPv4 header - UDP header */

typedef struct dgram {
  struct pbuf *p;
  ip_addr_t from;
  uint16_t port;
  int16_t next;
} dgram;

static dgram udp_pool[UDP_POOL];
static int16_t udp_free = -1; /* free list through next */
static int udp_pool_ready;

/* ---- UDP -------------------------------------------------------------------------- */

static void udp_pool_init(void) {
  if (udp_pool_ready) {
    return;
  }
  for (int i = 0; i < UDP_POOL; i++) {
    udp_pool[i].next = (int16_t)(i + 1 < UDP_POOL ? i + 1 : -1);
  }
  udp_free = 0;
  udp_pool_ready = 1;
}

static void on_udp(void *arg, struct udp_pcb *pcb, struct pbuf *p, const ip_addr_t *addr,
                   u16_t port) {
  sk *k = arg;
  (void)pcb;
  if (k == NULL || k->dq_len >= WK_NET_UDP_QUEUE || udp_free < 0) {
    pbuf_free(p); /* a full socket buffer drops */
    return;
  }
  int16_t i = udp_free;
  udp_free = udp_pool[i].next;
  udp_pool[i].p = p;
  ip_addr_copy(udp_pool[i].from, *addr);
  udp_pool[i].port = port;
  udp_pool[i].next = -1;
  if (k->dq_tail >= 0) {
    udp_pool[k->dq_tail].next = i;
  } else {
    k->dq_head = i;
  }
  k->dq_tail = i;
  k->dq_len++;
}

int wk_lwip_net_udp_open(const wk_net_addr *local) {
  ip_addr_t ip;
  int s = wk_lwip_sk_open(SK_UDP, local, &ip);
  if (s < 0) {
    return s;
  }
  udp_pool_init();
  struct udp_pcb *pcb = udp_new_ip_type(wk_lwip_pcb_type(&ip));
  if (pcb == NULL) {
    wk_lwip_sk_free(s);
    return -WK_ENOMEM;
  }
  err_t e = udp_bind(pcb, &ip, local->port);
  if (e != ERR_OK) {
    udp_remove(pcb);
    wk_lwip_sk_free(s);
    return wk_lwip_map_err(e);
  }
  sk *k = wk_lwip_sk_at(s);
  k->udp = pcb;
  udp_recv(pcb, on_udp, k);
  return s;
}

long wk_lwip_net_udp_sendto(int s, const void *buf, size_t len, const wk_net_addr *to) {
  sk *k = wk_lwip_sk_get(s, SK_UDP);
  if (k == NULL) {
    return -WK_EBADF;
  }
  ip_addr_t ip;
  int rc = wk_lwip_to_ip(to, &ip);
  if (rc < 0) {
    return rc;
  }
  if (len > UDP_MAX_PAYLOAD) {
    return -WK_EMSGSIZE;
  }
  struct pbuf *p = pbuf_alloc(PBUF_TRANSPORT, (u16_t)len, PBUF_RAM);
  if (p == NULL) {
    return -WK_EAGAIN;
  }
  if (len > 0 && pbuf_take(p, buf, (u16_t)len) != ERR_OK) {
    pbuf_free(p);
    return -WK_EIO;
  }
  err_t e = udp_sendto(k->udp, p, &ip, to->port);
  pbuf_free(p);
  wk_plat_net_flush();
  if (e == ERR_RTE) {
    return -WK_EHOSTUNREACH;
  }
  if (e == ERR_MEM || e == ERR_BUF || e == ERR_IF) {
    return -WK_EAGAIN;
  }
  return e == ERR_OK ? (long)len : wk_lwip_map_err(e);
}

long wk_lwip_net_udp_recvfrom(int s, void *buf, size_t len, wk_net_addr *from) {
  sk *k = wk_lwip_sk_get(s, SK_UDP);
  if (k == NULL) {
    return -WK_EBADF;
  }
  if (k->dq_len == 0) {
    (void)wk_lwip_net_poll();
    if (k->dq_len == 0) {
      return -WK_EAGAIN;
    }
  }
  int16_t i = k->dq_head;
  dgram *d = &udp_pool[i];
  k->dq_head = d->next;
  if (k->dq_head < 0) {
    k->dq_tail = -1;
  }
  k->dq_len--;
  long size = d->p->tot_len;
  size_t n = len < (size_t)size ? len : (size_t)size;
  if (n > 0) {
    pbuf_copy_partial(d->p, buf, (u16_t)n, 0);
  }
  if (from != NULL) {
    wk_lwip_from_ip(&d->from, d->port, from);
  }
  pbuf_free(d->p);
  d->p = NULL;
  d->next = udp_free;
  udp_free = i;
  return size;
}

void wk_lwip_udp_release(sk *k) {
  while (k->dq_len > 0) {
    int16_t i = k->dq_head;
    k->dq_head = udp_pool[i].next;
    k->dq_len--;
    pbuf_free(udp_pool[i].p);
    udp_pool[i].p = NULL;
    udp_pool[i].next = udp_free;
    udp_free = i;
  }
  udp_remove(k->udp);
}
