/*
 * net/socket_lwip.h - private to net/: the socket table the lwIP sockets share
 * (socket_lwip.c), for the TCP (tcp_lwip.c) and UDP (udp_lwip.c) halves.
 *
 * Each socket is a slot in a fixed table. lwIP calls back into the slot
 * (tcp_arg/udp_recv arg) from inside wk_net_poll: received TCP data is
 * appended to the slot's pbuf chain, accepted connections to its listener's
 * queue, UDP datagrams to a per-socket FIFO drawn from one shared pool.
 * Everything is bounded: WK_NET_SOCKETS_MAX slots, WK_NET_BACKLOG_MAX queued
 * connections per listener, WK_NET_UDP_QUEUE datagrams per UDP socket
 * (udp_lwip.c's pool in all), and TCP data by the receive window (it is
 * reopened, tcp_recved, only as the application reads).
 */
#ifndef WK_SOCKET_LWIP_H
#define WK_SOCKET_LWIP_H

#include <stdint.h>

#include "internal_lwip.h"
#include "lwip/ip_addr.h"
#include "lwip/pbuf.h"
#include "wk/net.h"

enum sk_kind { SK_FREE = 0, SK_LISTEN, SK_TCP, SK_UDP };

typedef struct sk {
  uint8_t kind;
  uint8_t connected; /* TCP: established (accepted, or connect completed) */
  uint8_t rd_eof;    /* TCP: FIN received */
  uint8_t rd_shut;   /* TCP: shutdown(RD): discard what arrives */
  uint8_t wr_shut;   /* TCP: shutdown(WR) done */
  uint8_t queued;    /* TCP: still in a listener's accept queue */
  int err;           /* pending error, negative errno; 0 none */
  struct tcp_pcb *tcp;
  struct udp_pcb *udp;
  /* TCP receive chain */
  struct pbuf *rx_head, *rx_tail;
  uint16_t rx_off;   /* bytes of rx_head already read */
  uint32_t rx_bytes; /* unread bytes in the chain */
  /* listener */
  uint16_t backlog, aq_head, aq_len;
  int16_t aq[WK_NET_BACKLOG_MAX];
  /* UDP FIFO: indices into udp_pool, -1 = none */
  int16_t dq_head, dq_tail;
  uint16_t dq_len;
} sk;

/* The socket s of this kind (SK_FREE: any kind), or NULL for a free slot, an index
 * out of range or another kind. */
sk *wk_lwip_sk_get(int s, int kind);
/* Slot s, whatever it holds (s from the table: an accept queue, a listener). */
sk *wk_lwip_sk_at(int s);
/* A free slot, zeroed, of this kind: its index, or -WK_EMFILE. */
int wk_lwip_sk_new(int kind);
/* The one way a socket is created for an endpoint (listen, connect, UDP open):
 * the stack brought up, the address as lwIP's (*ip, whose type is the PCB type
 * to create, wk_lwip_pcb_type) and a new slot of this kind. Its index, or a
 * negative errno (nothing taken). wk_lwip_sk_free gives the slot back when the
 * PCB cannot be made. */
int wk_lwip_sk_open(int kind, const wk_net_addr *a, ip_addr_t *ip);
void wk_lwip_sk_free(int s);

/* lwIP's err_t as a negative errno (0 for ERR_OK). */
int wk_lwip_map_err(err_t e);
/* a as lwIP's address (-WK_EAFNOSUPPORT for a family the stack lacks); the IPv6
 * "::" gives IPADDR_TYPE_ANY: a dual-stack socket, as Linux's IPv6 sockets are. */
int wk_lwip_to_ip(const wk_net_addr *a, ip_addr_t *ip);
uint8_t wk_lwip_pcb_type(const ip_addr_t *ip);
void wk_lwip_from_ip(const ip_addr_t *ip, uint16_t port, wk_net_addr *a);

/* The TCP and UDP halves' parts of the calls on any socket. */
int wk_lwip_tcp_events(const sk *k); /* SK_LISTEN, SK_TCP */
void wk_lwip_tcp_release(sk *k);     /* close: SK_LISTEN, SK_TCP */
void wk_lwip_udp_release(sk *k);     /* close: SK_UDP */

#endif /* WK_SOCKET_LWIP_H */
