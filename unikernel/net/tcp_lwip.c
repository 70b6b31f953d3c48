/*
 * net/tcp_lwip.c - wk/net.h TCP sockets on lwIP's raw TCP API (the table:
 * socket_lwip.h): listeners and their accept queues, connections, and the TCP
 * side of events, options, close and the drain at exit.
 *
 * TCP receive chains are linked by hand through pbuf->next without
 * updating tot_len (a u16 in lwIP 2.1, too small for a 128 KiB window);
 * rx_bytes holds the real total.
 */
#include <string.h>

#include "lwip/priv/tcp_priv.h" /* tcp_active_pcbs, for wk_net_drain */
#include "lwip/tcp.h"
#include "socket_lwip.h"
#include "wk/bootmark.h"
#include "wk/errno.h"
#include "wk/platform.h"

#define TCP_WRITE_CHUNK 32768 /* tcp_write takes a u16 length */

_Static_assert(WK_NET_RCVBUF == TCP_WND, "wk/net.h WK_NET_RCVBUF is lwipopts.h TCP_WND");
_Static_assert(WK_NET_SNDBUF == TCP_SND_BUF, "wk/net.h WK_NET_SNDBUF is lwipopts.h TCP_SND_BUF");

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
  /* A reset before the connection was established is the peer refusing it, as
   * POSIX (and the host's sockets on spt) say: ECONNREFUSED, not ECONNRESET. */
  k->err = err == ERR_RST && !k->connected ? -WK_ECONNREFUSED : wk_lwip_map_err(err);
  k->connected = 0;
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
      k->err = wk_lwip_map_err(err);
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
  WK_BOOT_MARK_ONCE("connection");
  int s = wk_lwip_sk_new(SK_TCP);
  if (s < 0) {
    tcp_abort(newpcb);
    return ERR_ABRT;
  }
  sk *k = wk_lwip_sk_at(s);
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

/* A new TCP socket of this kind for an endpoint, with its PCB (the slot given back when
 * lwIP has no PCB): wk_lwip_sk_open, then tcp_new of the address's type. */
static int tcp_open(int kind, const wk_net_addr *a, ip_addr_t *ip, struct tcp_pcb **pcb) {
  int s = wk_lwip_sk_open(kind, a, ip);
  if (s < 0) {
    return s;
  }
  *pcb = tcp_new_ip_type(wk_lwip_pcb_type(ip));
  if (*pcb == NULL) {
    wk_lwip_sk_free(s);
    return -WK_ENOMEM;
  }
  return s;
}

int wk_lwip_net_tcp_listen(const wk_net_addr *local, int backlog) {
  if (backlog < 1) {
    backlog = 1;
  }
  if (backlog > WK_NET_BACKLOG_MAX) {
    backlog = WK_NET_BACKLOG_MAX;
  }
  ip_addr_t ip;
  struct tcp_pcb *pcb;
  int s = tcp_open(SK_LISTEN, local, &ip, &pcb);
  if (s < 0) {
    return s;
  }
  ip_set_option(pcb, SOF_REUSEADDR);
  err_t e = tcp_bind(pcb, &ip, local->port);
  if (e != ERR_OK) {
    tcp_abort(pcb);
    wk_lwip_sk_free(s);
    return wk_lwip_map_err(e);
  }
  struct tcp_pcb *lpcb = tcp_listen_with_backlog_and_err(pcb, (u8_t)backlog, &e);
  if (lpcb == NULL) {
    tcp_abort(pcb);
    wk_lwip_sk_free(s);
    return wk_lwip_map_err(e);
  }
  sk *l = wk_lwip_sk_at(s);
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
  WK_BOOT_MARK("net init");
  int rc = wk_lwip_net_init();
  if (rc < 0) {
    return rc;
  }
  (void)wk_lwip_net_wait_ready(WK_NET_PREOPEN_WAIT_NS);
  WK_BOOT_MARK("address");
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
  WK_BOOT_MARK("listening");
  return n;
}

int wk_lwip_net_tcp_accept(int listener, wk_net_addr *peer) {
  sk *l = wk_lwip_sk_get(listener, SK_LISTEN);
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
    sk *k = wk_lwip_sk_at(s);
    k->queued = 0;
    if (k->tcp != NULL) {
      tcp_backlog_accepted(k->tcp);
    }
    if (peer != NULL) {
      if (k->tcp != NULL) {
        wk_lwip_from_ip(&k->tcp->remote_ip, k->tcp->remote_port, peer);
      } else {
        memset(peer, 0, sizeof *peer);
        peer->family = WK_NET_AF_INET;
      }
    }
    WK_BOOT_MARK_ONCE("accepted");
    return s; /* even if it was reset meanwhile: the app sees the error on use */
  }
  return -WK_EAGAIN;
}

int wk_lwip_net_tcp_connect(const wk_net_addr *remote) {
  ip_addr_t ip;
  struct tcp_pcb *pcb;
  int s = tcp_open(SK_TCP, remote, &ip, &pcb);
  if (s < 0) {
    return s;
  }
  sk *k = wk_lwip_sk_at(s);
  tcp_attach(k, pcb);
  err_t e = tcp_connect(pcb, &ip, remote->port, on_connected);
  if (e != ERR_OK) {
    tcp_detach(pcb);
    tcp_abort(pcb);
    wk_lwip_sk_free(s);
    return wk_lwip_map_err(e);
  }
  (void)wk_lwip_net_poll(); /* the SYN leaves now */
  return s;
}

long wk_lwip_net_recv(int s, void *buf, size_t len) {
  sk *k = wk_lwip_sk_get(s, SK_TCP);
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
  WK_BOOT_MARK_ONCE("first send");
  sk *k = wk_lwip_sk_get(s, SK_TCP);
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
        return done > 0 ? (long)done : wk_lwip_map_err(e);
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
  sk *k = wk_lwip_sk_get(s, SK_TCP);
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
      return wk_lwip_map_err(e);
    }
  }
  return 0;
}

/* The TCP socket whose options a set/getopt call reaches, or NULL with *err set: options
 * exist only on TCP connections that have a PCB (UDP has none we support; a listener's
 * PCB is lwIP's smaller tcp_pcb_listen, which has no Nagle flags to set). */
static sk *opt_socket(int s, int *err) {
  sk *k = wk_lwip_sk_get(s, SK_FREE);
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

int wk_lwip_tcp_events(const sk *k) {
  int ev = 0;
  if (k->kind == SK_LISTEN) {
    return k->aq_len > 0 ? WK_NET_EV_READ : 0;
  }
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
  return ev;
}

void wk_lwip_tcp_release(sk *k) {
  if (k->kind == SK_TCP) {
    close_tcp_conn(k, 0);
    return;
  }
  while (k->aq_len > 0) {
    sk *c = wk_lwip_sk_at(k->aq[k->aq_head]);
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
}
