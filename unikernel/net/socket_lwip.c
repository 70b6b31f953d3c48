/*
 * net/socket_lwip.c - wk/net.h sockets on lwIP's raw TCP and UDP API.
 *
 * Each socket is a slot in a fixed table. lwIP calls back into the slot
 * (tcp_arg/udp_recv arg) from inside wk_net_poll: received TCP data is
 * appended to the slot's pbuf chain, accepted connections to its listener's
 * queue, UDP datagrams to a per-socket FIFO drawn from one shared pool.
 * Everything is bounded: WK_NET_SOCKETS_MAX slots, WK_NET_BACKLOG_MAX queued
 * connections per listener, WK_NET_UDP_QUEUE datagrams per UDP socket
 * (UDP_POOL in all), and TCP data by the receive window (it is reopened,
 * tcp_recved, only as the application reads).
 *
 * TCP receive chains are linked by hand through pbuf->next without
 * updating tot_len (a u16 in lwIP 2.1, too small for a 128 KiB window);
 * rx_bytes holds the real total.
 */
#include <string.h>

#include "internal_lwip.h"
#include "lwip/ip_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h" /* tcp_active_pcbs, for wk_net_drain */
#include "lwip/tcp.h"
#include "lwip/udp.h"
#include "wk/errno.h"
#include "wk/net.h"
#include "wk/platform.h"

#define UDP_POOL 1024         /* datagrams waiting in all UDP sockets together */
#define TCP_WRITE_CHUNK 32768 /* tcp_write takes a u16 length */
#define UDP_MAX_PAYLOAD 65507 /* 65535 - IPv4 header - UDP header */

_Static_assert(WK_NET_RCVBUF == TCP_WND, "wk/net.h WK_NET_RCVBUF is lwipopts.h TCP_WND");
_Static_assert(WK_NET_SNDBUF == TCP_SND_BUF, "wk/net.h WK_NET_SNDBUF is lwipopts.h TCP_SND_BUF");

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

typedef struct dgram {
  struct pbuf *p;
  ip_addr_t from;
  uint16_t port;
  int16_t next;
} dgram;

static sk socks[WK_NET_SOCKETS_MAX];
static dgram udp_pool[UDP_POOL];
static int16_t udp_free = -1; /* free list through next */
static int udp_pool_ready;

/* ---- helpers ---------------------------------------------------------------------- */

static int map_err(err_t e) {
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

static sk *get(int s, int kind) {
  if (s < 0 || s >= WK_NET_SOCKETS_MAX || socks[s].kind == SK_FREE) {
    return NULL;
  }
  if (kind != SK_FREE && socks[s].kind != kind) {
    return NULL;
  }
  return &socks[s];
}

static int sk_alloc(int kind) {
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

/* a as lwIP's address. Its type is the PCB type to create: IPv4, IPv6, or for
 * the IPv6 "::" both (IPADDR_TYPE_ANY: a dual-stack socket, as Linux's IPv6
 * sockets are by default). */
static int to_ip(const wk_net_addr *a, ip_addr_t *ip) {
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

static uint8_t pcb_type(const ip_addr_t *ip) {
  (void)ip; /* IP_GET_TYPE ignores it without IPv6 */
  return (uint8_t)IP_GET_TYPE(ip);
}

static void from_ip(const ip_addr_t *ip, uint16_t port, wk_net_addr *a) {
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

/* Up the stack on first use; sockets need it. */
static int ensure_up(void) { return wk_lwip_net_init(); }

/* ---- TCP callbacks -------------------------------------------------------------------- */

static void rx_free(sk *k) {
  struct pbuf *p = k->rx_head;
  while (p != NULL) {
    struct pbuf *next = p->next;
    p->next = NULL;
    pbuf_free(p);
    p = next;
  }
  k->rx_head = k->rx_tail = NULL;
  k->rx_off = 0;
  k->rx_bytes = 0;
}

static err_t on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err) {
  sk *k = arg;
  (void)err;
  if (k == NULL) {
    if (p != NULL) {
      tcp_recved(pcb, p->tot_len);
      pbuf_free(p);
    }
    return ERR_OK;
  }
  if (p == NULL) {
    k->rd_eof = 1;
    return ERR_OK;
  }
  if (k->rd_shut) {
    tcp_recved(pcb, p->tot_len);
    pbuf_free(p);
    return ERR_OK;
  }
  /* Append the chain; its own tot_len values stay as lwIP set them. */
  uint32_t n = p->tot_len;
  struct pbuf *last = p;
  while (last->next != NULL) {
    last = last->next;
  }
  if (k->rx_tail != NULL) {
    k->rx_tail->next = p;
  } else {
    k->rx_head = p;
  }
  k->rx_tail = last;
  k->rx_bytes += n;
  return ERR_OK;
}

static void on_err(void *arg, err_t err) {
  sk *k = arg;
  if (k == NULL) {
    return;
  }
  k->tcp = NULL; /* lwIP has freed it */
  k->connected = 0;
  k->err = map_err(err);
  if (k->err == 0) {
    k->err = -WK_ECONNABORTED;
  }
}

static err_t on_connected(void *arg, struct tcp_pcb *pcb, err_t err) {
  sk *k = arg;
  (void)pcb;
  if (k != NULL) {
    if (err == ERR_OK) {
      k->connected = 1;
    } else {
      k->err = map_err(err);
    }
  }
  return ERR_OK;
}

static void tcp_attach(sk *k, struct tcp_pcb *pcb) {
  k->tcp = pcb;
  tcp_arg(pcb, k);
  tcp_recv(pcb, on_recv);
  tcp_err(pcb, on_err);
}

static void tcp_detach(struct tcp_pcb *pcb) {
  tcp_arg(pcb, NULL);
  tcp_recv(pcb, NULL); /* lwIP's tcp_recv_null then frees what still arrives */
  tcp_err(pcb, NULL);
  tcp_sent(pcb, NULL);
}

static err_t on_accept(void *arg, struct tcp_pcb *newpcb, err_t err) {
  sk *l = arg;
  if (err != ERR_OK || newpcb == NULL) {
    return ERR_VAL;
  }
  if (l == NULL || l->aq_len >= l->backlog) {
    tcp_abort(newpcb);
    return ERR_ABRT;
  }
  int s = sk_alloc(SK_TCP);
  if (s < 0) {
    tcp_abort(newpcb);
    return ERR_ABRT;
  }
  sk *k = &socks[s];
  tcp_attach(k, newpcb);
  k->connected = 1;
  k->queued = 1;
  /* Counts against the listener's backlog until the application accepts. */
  tcp_backlog_delayed(newpcb);
  l->aq[(l->aq_head + l->aq_len) % WK_NET_BACKLOG_MAX] = (int16_t)s;
  l->aq_len++;
  return ERR_OK;
}

/* ---- TCP -------------------------------------------------------------------------- */

int wk_lwip_net_tcp_listen(const wk_net_addr *local, int backlog) {
  int rc = ensure_up();
  ip_addr_t ip;
  if (rc == 0) {
    rc = to_ip(local, &ip);
  }
  if (rc < 0) {
    return rc;
  }
  if (backlog < 1) {
    backlog = 1;
  }
  if (backlog > WK_NET_BACKLOG_MAX) {
    backlog = WK_NET_BACKLOG_MAX;
  }
  int s = sk_alloc(SK_LISTEN);
  if (s < 0) {
    return s;
  }
  struct tcp_pcb *pcb = tcp_new_ip_type(pcb_type(&ip));
  if (pcb == NULL) {
    socks[s].kind = SK_FREE;
    return -WK_ENOMEM;
  }
  ip_set_option(pcb, SOF_REUSEADDR);
  err_t e = tcp_bind(pcb, &ip, local->port);
  if (e != ERR_OK) {
    tcp_abort(pcb);
    socks[s].kind = SK_FREE;
    return map_err(e);
  }
  struct tcp_pcb *lpcb = tcp_listen_with_backlog_and_err(pcb, (u8_t)backlog, &e);
  if (lpcb == NULL) {
    tcp_abort(pcb);
    socks[s].kind = SK_FREE;
    return map_err(e);
  }
  sk *l = &socks[s];
  l->tcp = lpcb;
  l->backlog = (uint16_t)backlog;
  tcp_arg(lpcb, l);
  tcp_accept(lpcb, on_accept);
  return s;
}

int wk_lwip_net_preopen_listeners(int *out, uint8_t *after_dirs, int max) {
  wk_plat_listen want[WK_PLAT_LISTEN_MAX];
  int n = wk_plat_net_listeners(want, WK_PLAT_LISTEN_MAX);
  if (n <= 0) {
    return 0;
  }
  if (n > WK_PLAT_LISTEN_MAX) {
    n = WK_PLAT_LISTEN_MAX;
  }
  if (n > max) {
    n = max;
  }
  int rc = wk_lwip_net_init();
  if (rc < 0) {
    return rc;
  }
  (void)wk_lwip_net_wait_ready(WK_NET_PREOPEN_WAIT_NS);
  int opened[WK_PLAT_LISTEN_MAX];
  for (int i = 0; i < n; i++) {
    wk_net_addr a = {.family = WK_NET_AF_INET, .port = want[i].port};
    memcpy(a.addr, want[i].ip4, 4);
    int s = wk_lwip_net_tcp_listen(&a, WK_NET_BACKLOG_MAX);
    if (s < 0) {
      while (i > 0) {
        (void)wk_lwip_net_close(opened[--i]);
      }
      return s;
    }
    opened[i] = s;
    out[i] = s;
    after_dirs[i] = want[i].after_dirs;
  }
  return n;
}

int wk_lwip_net_tcp_accept(int listener, wk_net_addr *peer) {
  sk *l = get(listener, SK_LISTEN);
  if (l == NULL) {
    return -WK_EBADF;
  }
  if (l->aq_len == 0) {
    (void)wk_lwip_net_poll();
  }
  while (l->aq_len > 0) {
    int s = l->aq[l->aq_head];
    l->aq_head = (uint16_t)((l->aq_head + 1) % WK_NET_BACKLOG_MAX);
    l->aq_len--;
    sk *k = &socks[s];
    k->queued = 0;
    if (k->tcp != NULL) {
      tcp_backlog_accepted(k->tcp);
    }
    if (peer != NULL) {
      if (k->tcp != NULL) {
        from_ip(&k->tcp->remote_ip, k->tcp->remote_port, peer);
      } else {
        memset(peer, 0, sizeof *peer);
        peer->family = WK_NET_AF_INET;
      }
    }
    return s; /* even if it was reset meanwhile: the app sees the error on use */
  }
  return -WK_EAGAIN;
}

int wk_lwip_net_tcp_connect(const wk_net_addr *remote) {
  int rc = ensure_up();
  ip_addr_t ip;
  if (rc == 0) {
    rc = to_ip(remote, &ip);
  }
  if (rc < 0) {
    return rc;
  }
  int s = sk_alloc(SK_TCP);
  if (s < 0) {
    return s;
  }
  struct tcp_pcb *pcb = tcp_new_ip_type(pcb_type(&ip));
  if (pcb == NULL) {
    socks[s].kind = SK_FREE;
    return -WK_ENOMEM;
  }
  sk *k = &socks[s];
  tcp_attach(k, pcb);
  err_t e = tcp_connect(pcb, &ip, remote->port, on_connected);
  if (e != ERR_OK) {
    tcp_detach(pcb);
    tcp_abort(pcb);
    k->kind = SK_FREE;
    return map_err(e);
  }
  (void)wk_lwip_net_poll(); /* the SYN leaves now */
  return s;
}

long wk_lwip_net_recv(int s, void *buf, size_t len) {
  sk *k = get(s, SK_TCP);
  if (k == NULL) {
    return -WK_EBADF;
  }
  if (k->rx_bytes == 0 && !k->rd_eof && k->err == 0) {
    (void)wk_lwip_net_poll();
  }
  if (k->rd_shut) {
    return 0;
  }
  uint8_t *out = buf;
  size_t done = 0;
  while (done < len && k->rx_head != NULL) {
    struct pbuf *p = k->rx_head;
    size_t avail = (size_t)p->len - k->rx_off;
    size_t n = len - done < avail ? len - done : avail;
    memcpy(out + done, (uint8_t *)p->payload + k->rx_off, n);
    done += n;
    k->rx_off = (uint16_t)(k->rx_off + n);
    if (k->rx_off == p->len) {
      k->rx_head = p->next;
      if (k->rx_head == NULL) {
        k->rx_tail = NULL;
      }
      p->next = NULL;
      pbuf_free(p);
      k->rx_off = 0;
    }
  }
  k->rx_bytes -= (uint32_t)done;
  if (done > 0) {
    if (k->tcp != NULL) {
      for (size_t left = done; left > 0;) {
        u16_t n = left > 0xffff ? 0xffff : (u16_t)left;
        tcp_recved(k->tcp, n); /* reopen the window */
        left -= n;
      }
    }
    return (long)done;
  }
  if (len == 0) {
    return 0;
  }
  if (k->rd_eof) {
    return 0;
  }
  if (k->err != 0) {
    return k->err;
  }
  if (k->tcp == NULL) {
    return -WK_ENOTCONN;
  }
  return -WK_EAGAIN;
}

long wk_lwip_net_send_part(int s, const void *buf, size_t len, int more) {
  sk *k = get(s, SK_TCP);
  if (k == NULL) {
    return -WK_EBADF;
  }
  if (k->err != 0) {
    return k->err;
  }
  if (k->wr_shut) {
    return -WK_EPIPE;
  }
  if (k->tcp == NULL) {
    return -WK_ENOTCONN;
  }
  if (!k->connected) {
    return -WK_EAGAIN; /* still connecting */
  }
  const uint8_t *in = buf;
  size_t done = 0;
  for (int attempt = 0; attempt < 2 && done == 0; attempt++) {
    if (attempt > 0) {
      (void)wk_lwip_net_poll(); /* ACKs may have freed room */
      if (k->tcp == NULL) {
        return k->err != 0 ? k->err : -WK_ECONNRESET;
      }
    }
    while (done < len) {
      size_t room = tcp_sndbuf(k->tcp);
      if (room == 0 || tcp_sndqueuelen(k->tcp) >= TCP_SND_QUEUELEN - 1) {
        break;
      }
      size_t n = len - done;
      if (n > room) {
        n = room;
      }
      if (n > TCP_WRITE_CHUNK) {
        n = TCP_WRITE_CHUNK;
      }
      u8_t flags = TCP_WRITE_FLAG_COPY;
      if (done + n < len || more) {
        flags |= TCP_WRITE_FLAG_MORE;
      }
      err_t e = tcp_write(k->tcp, in + done, (u16_t)n, flags);
      if (e == ERR_MEM) {
        break; /* heap or segment pool full: what fit is sent */
      }
      if (e != ERR_OK) {
        return done > 0 ? (long)done : map_err(e);
      }
      done += n;
    }
    if (!more || done < len) { /* all taken with more to come: the next piece pushes */
      tcp_output(k->tcp);
      wk_plat_net_flush();
    }
  }
  if (len == 0) {
    return 0;
  }
  return done > 0 ? (long)done : -WK_EAGAIN;
}

int wk_lwip_net_shutdown(int s, int how) {
  sk *k = get(s, SK_TCP);
  if (k == NULL) {
    return -WK_EBADF;
  }
  if (how < WK_NET_SHUT_RD || how > WK_NET_SHUT_RDWR) {
    return -WK_EINVAL;
  }
  if (k->tcp == NULL) {
    return k->err != 0 ? k->err : -WK_ENOTCONN;
  }
  int rd = (how & WK_NET_SHUT_RD) != 0, wr = (how & WK_NET_SHUT_WR) != 0;
  if (rd && !k->rd_shut) {
    k->rd_shut = 1;
    if (k->rx_bytes > 0 && k->tcp != NULL) {
      for (uint32_t left = k->rx_bytes; left > 0;) {
        u16_t n = left > 0xffff ? 0xffff : (u16_t)left;
        tcp_recved(k->tcp, n);
        left -= n;
      }
    }
    rx_free(k);
  }
  if (wr && !k->wr_shut) {
    k->wr_shut = 1;
    err_t e = tcp_shutdown(k->tcp, 0, 1);
    wk_plat_net_flush();
    if (e != ERR_OK) {
      return map_err(e);
    }
  }
  return 0;
}

/* The TCP socket whose options a set/getopt call reaches, or NULL with *err set: options
 * exist only on TCP connections that have a PCB (UDP has none we support; a listener's
 * PCB is lwIP's smaller tcp_pcb_listen, which has no Nagle flags to set). */
static sk *opt_socket(int s, int *err) {
  sk *k = get(s, SK_FREE);
  if (k == NULL) {
    *err = -WK_EBADF;
  } else if (k->kind != SK_TCP || k->tcp == NULL) {
    *err = k->kind == SK_UDP ? -WK_ENOPROTOOPT : -WK_ENOTCONN;
    k = NULL;
  }
  return k;
}

int wk_lwip_net_setopt(int s, int opt, int value) {
  int err = 0;
  sk *k = opt_socket(s, &err);
  if (k == NULL) {
    return err;
  }
  switch (opt) {
  case WK_NET_OPT_NODELAY:
    if (value) {
      tcp_nagle_disable(k->tcp);
    } else {
      tcp_nagle_enable(k->tcp);
    }
    return 0;
  case WK_NET_OPT_KEEPALIVE:
    if (value) {
      ip_set_option(k->tcp, SOF_KEEPALIVE);
    } else {
      ip_reset_option(k->tcp, SOF_KEEPALIVE);
    }
    return 0;
  default: return -WK_ENOPROTOOPT;
  }
}

int wk_lwip_net_getopt(int s, int opt, int *value) {
  int err = 0;
  sk *k = opt_socket(s, &err);
  if (k == NULL) {
    return err;
  }
  switch (opt) {
  case WK_NET_OPT_NODELAY: *value = tcp_nagle_disabled(k->tcp) ? 1 : 0; return 0;
  case WK_NET_OPT_KEEPALIVE: *value = ip_get_option(k->tcp, SOF_KEEPALIVE) ? 1 : 0; return 0;
  default: return -WK_ENOPROTOOPT;
  }
}

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
  int rc = ensure_up();
  ip_addr_t ip;
  if (rc == 0) {
    rc = to_ip(local, &ip);
  }
  if (rc < 0) {
    return rc;
  }
  udp_pool_init();
  int s = sk_alloc(SK_UDP);
  if (s < 0) {
    return s;
  }
  struct udp_pcb *pcb = udp_new_ip_type(pcb_type(&ip));
  if (pcb == NULL) {
    socks[s].kind = SK_FREE;
    return -WK_ENOMEM;
  }
  err_t e = udp_bind(pcb, &ip, local->port);
  if (e != ERR_OK) {
    udp_remove(pcb);
    socks[s].kind = SK_FREE;
    return map_err(e);
  }
  socks[s].udp = pcb;
  udp_recv(pcb, on_udp, &socks[s]);
  return s;
}

long wk_lwip_net_udp_sendto(int s, const void *buf, size_t len, const wk_net_addr *to) {
  sk *k = get(s, SK_UDP);
  if (k == NULL) {
    return -WK_EBADF;
  }
  ip_addr_t ip;
  int rc = to_ip(to, &ip);
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
  return e == ERR_OK ? (long)len : map_err(e);
}

long wk_lwip_net_udp_recvfrom(int s, void *buf, size_t len, wk_net_addr *from) {
  sk *k = get(s, SK_UDP);
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
    from_ip(&d->from, d->port, from);
  }
  pbuf_free(d->p);
  d->p = NULL;
  d->next = udp_free;
  udp_free = i;
  return size;
}

/* ---- any socket ------------------------------------------------------------------- */

int wk_lwip_net_events(int s) {
  sk *k = get(s, SK_FREE);
  if (k == NULL) {
    return -WK_EBADF;
  }
  int ev = 0;
  switch (k->kind) {
  case SK_LISTEN:
    if (k->aq_len > 0) {
      ev |= WK_NET_EV_READ;
    }
    break;
  case SK_TCP:
    if (k->rx_bytes > 0 || k->rd_eof || k->rd_shut || k->err != 0 || k->tcp == NULL) {
      ev |= WK_NET_EV_READ;
    }
    if (k->rd_eof) {
      ev |= WK_NET_EV_HUP;
    }
    if (k->err != 0 || k->tcp == NULL) {
      ev |= WK_NET_EV_ERR | WK_NET_EV_WRITE;
    } else if (k->wr_shut) {
      ev |= WK_NET_EV_WRITE; /* send fails at once with EPIPE */
    } else if (k->connected && tcp_sndbuf(k->tcp) >= TCP_SNDLOWAT &&
               tcp_sndqueuelen(k->tcp) < TCP_SNDQUEUELOWAT) {
      ev |= WK_NET_EV_WRITE;
    }
    break;
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
  sk *k = get(s, SK_FREE);
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
  sk *k = get(s, SK_FREE);
  if (k == NULL) {
    return -WK_EBADF;
  }
  if (k->kind == SK_UDP) {
    from_ip(&k->udp->local_ip, k->udp->local_port, out);
  } else if (k->tcp != NULL) {
    from_ip(&k->tcp->local_ip, k->tcp->local_port, out);
  } else {
    return -WK_ENOTCONN;
  }
  return 0;
}

int wk_lwip_net_peer_addr(int s, wk_net_addr *out) {
  sk *k = get(s, SK_TCP);
  if (k == NULL) {
    sk *u = get(s, SK_FREE);
    return u == NULL ? -WK_EBADF : -WK_ENOTCONN;
  }
  if (k->tcp == NULL || !k->connected) {
    return -WK_ENOTCONN;
  }
  from_ip(&k->tcp->remote_ip, k->tcp->remote_port, out);
  return 0;
}

static void close_tcp_conn(sk *k, int reset) {
  struct tcp_pcb *pcb = k->tcp;
  int unread = reset || k->rx_bytes > 0;
  rx_free(k);
  k->tcp = NULL;
  if (pcb == NULL) {
    return;
  }
  tcp_detach(pcb);
  if (k->queued) {
    tcp_backlog_accepted(pcb);
  }
  /* Unread data at close: reset, as BSD sockets do; otherwise a graceful
   * close that lwIP finishes in the background. */
  if (unread || tcp_close(pcb) != ERR_OK) {
    tcp_abort(pcb);
  }
}

/* Any connection (open, or closed by the application and finishing in the
 * background) with data still to send or to be acknowledged? */
static int tcp_busy(void) {
  for (struct tcp_pcb *p = tcp_active_pcbs; p != NULL; p = p->next) {
    if (p->unsent != NULL || p->unacked != NULL) {
      return 1;
    }
  }
  return 0;
}

void wk_lwip_net_drain(uint64_t timeout_ns) {
  if (!wk_lwip_net_ready(NULL, NULL) && wk_lwip_net_poll() < 0) {
    return; /* never brought up */
  }
  uint64_t t0 = wk_plat_clock_monotonic();
  (void)wk_lwip_net_poll();
  while (tcp_busy() && wk_plat_clock_monotonic() - t0 < timeout_ns) {
    (void)wk_lwip_net_wait(WK_NET_IDLE_WAIT_NS);
  }
}

int wk_lwip_net_close(int s) {
  sk *k = get(s, SK_FREE);
  if (k == NULL) {
    return -WK_EBADF;
  }
  switch (k->kind) {
  case SK_LISTEN:
    while (k->aq_len > 0) {
      sk *c = &socks[k->aq[k->aq_head]];
      k->aq_head = (uint16_t)((k->aq_head + 1) % WK_NET_BACKLOG_MAX);
      k->aq_len--;
      close_tcp_conn(c, 1); /* reset: nobody will ever read it */
      c->kind = SK_FREE;
    }
    if (k->tcp != NULL) {
      tcp_arg(k->tcp, NULL);
      tcp_accept(k->tcp, NULL);
      tcp_close(k->tcp); /* a listener's close cannot fail */
    }
    break;
  case SK_TCP: close_tcp_conn(k, 0); break;
  case SK_UDP:
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
    break;
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
