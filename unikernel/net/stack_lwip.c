/*
 * net/stack_lwip.c - lwIP over the platform's NIC: the netif, the poll loop,
 * and what lwIP asks of its port (sys_now, random numbers, assertions).
 *
 * Frames in: wk_net_poll copies each waiting frame from the platform into a
 * PBUF_POOL pbuf (one frame, one pbuf) and hands it to ethernet_input.
 * Frames out: lwIP's linkoutput gathers the pbuf chain into an iov for
 * wk_plat_net_send (the driver copies it once). Frames are queued, not
 * notified one by one; wk_net_poll and the socket calls that produce
 * traffic end with wk_plat_net_flush, so a burst costs one notification.
 */
#include <string.h>

#include "lwip/dhcp.h"
#include "lwip/dns.h"
#include "lwip/etharp.h"
#if LWIP_IPV6
#include "lwip/ethip6.h"
#include "lwip/mld6.h"
#endif
#include "internal_lwip.h"
#include "lwip/init.h"
#include "lwip/ip4_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/timeouts.h"
#include "netif/ethernet.h"
#include "wk/bootmark.h"
#include "wk/errno.h"
#include "wk/net.h"
#include "wk/platform.h"

#define RX_BUDGET 128        /* frames taken per wk_net_poll before timers run */
#define TX_IOV_MAX 32        /* pbufs in one outgoing frame (lwIP uses 1-3) */
#define TX_WAIT_NS 20000000u /* how long linkoutput waits for a free TX buffer */
#define EXIT_LWIP_ASSERT 134
#define ETH_FRAME_EXTRA 14 /* the Ethernet header: a frame is the IP MTU + this */
#define RX_MTU_MAX 9000    /* the largest MTU taken from the platform (TCP_MSS + 40) */
#define RX_FRAME_MAX (RX_MTU_MAX + ETH_FRAME_EXTRA)

static struct netif nif;
static int net_state; /* 0 not started, 1 up, < 0 the error wk_net_init gave */
static wk_plat_netinfo info;

/* The DNS server the run named (net.dns=), which wins over DHCP's; the port
 * lwIP's dns.c sends to (DNS_SERVER_PORT in lwipopts.h). */
static ip_addr_t dns_static;
static int dns_static_set;
static uint16_t dns_port = 53;

/* One name lookup at a time (there is one guest thread). lwIP keeps the
 * callback argument past a timeout of ours, so it is a serial number, not a
 * pointer into a stack frame that is gone by then. */
static struct {
  uint32_t serial; /* of the lookup being waited for */
  int done;        /* 0 waiting, 1 found, -1 failed */
  ip_addr_t ip;
} dns_wait;

/* ---- lwIP port hooks ------------------------------------------------------------ */

u32_t sys_now(void) { return (u32_t)(wk_plat_clock_monotonic() / 1000000u); }

uint32_t wk_lwip_rand(void) {
  uint32_t r;
  if (wk_plat_entropy(&r, sizeof r) == 0) {
    return r;
  }
  /* No entropy source: a clock-seeded xorshift (ISNs are then guessable,
   * which the platform already warned about when it has no RDRAND). */
  static uint32_t x;
  if (x == 0) {
    x = (uint32_t)wk_plat_clock_monotonic() | 1u;
  }
  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return x;
}

static void put(const char *s) { (void)wk_plat_console_write(2, s, strlen(s)); }

void wk_lwip_assert_fail(const char *msg, const char *file, int line) {
  char num[12];
  int n = (int)sizeof num - 1;
  unsigned v = line < 0 ? 0u : (unsigned)line;
  num[n] = '\0';
  do {
    num[--n] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0 && n > 0);
  put("wasmkiln: lwIP assertion failed: ");
  put(msg);
  put(" (");
  put(file);
  put(":");
  put(num + n);
  put(")\n");
  wk_plat_exit(EXIT_LWIP_ASSERT);
}

uint16_t wk_lwip_dns_port(void) { return dns_port; }

/* ---- the netif ------------------------------------------------------------------ */

static err_t link_output(struct netif *n, struct pbuf *p) {
  (void)n;
  wk_plat_iov iov[TX_IOV_MAX];
  int cnt = 0;
  for (struct pbuf *q = p; q != NULL; q = q->next) {
    if (q->len == 0) {
      continue;
    }
    if (cnt == TX_IOV_MAX) {
      return ERR_IF;
    }
    iov[cnt].base = q->payload;
    iov[cnt].len = q->len;
    cnt++;
  }
  int rc = wk_plat_net_send(iov, cnt);
  if (rc == -WK_EAGAIN) {
    /* Every TX buffer is in flight: let the device have them, and wait
     * (bounded) for it to give some back. */
    uint64_t t0 = wk_plat_clock_monotonic();
    do {
      wk_plat_net_flush();
      rc = wk_plat_net_send(iov, cnt);
    } while (rc == -WK_EAGAIN && wk_plat_clock_monotonic() - t0 < TX_WAIT_NS);
  }
  return rc == 0 ? ERR_OK : ERR_IF;
}

static err_t netif_setup(struct netif *n) {
  n->name[0] = 'e';
  n->name[1] = 'n';
  n->output = etharp_output;
  n->linkoutput = link_output;
  n->mtu = info.mtu > RX_MTU_MAX ? RX_MTU_MAX : info.mtu;
  n->hwaddr_len = ETH_HWADDR_LEN;
  memcpy(n->hwaddr, info.mac, ETH_HWADDR_LEN);
  n->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_LINK_UP;
#if LWIP_IPV6
  n->output_ip6 = ethip6_output;
  n->flags |= NETIF_FLAG_MLD6; /* the NIC takes every multicast frame: nothing to program */
#endif
  return ERR_OK;
}

static void prefix_to_mask(unsigned prefix, ip4_addr_t *mask) {
  uint32_t m = prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
  ip4_addr_set_u32(mask, lwip_htonl(m));
}

int wk_lwip_net_init(void) {
  if (net_state != 0) {
    return net_state > 0 ? 0 : net_state;
  }
  int rc = wk_plat_net_open(&info);
  if (rc < 0) {
    net_state = rc;
    return rc;
  }
  WK_BOOT_MARK("nic up");
  lwip_init();
  if ((info.dns4[0] | info.dns4[1] | info.dns4[2] | info.dns4[3]) != 0) {
    IP_ADDR4(&dns_static, info.dns4[0], info.dns4[1], info.dns4[2], info.dns4[3]);
    dns_static_set = 1;
    dns_setserver(0, &dns_static);
  }
  if (info.dns_port != 0) {
    dns_port = info.dns_port;
  }
  ip4_addr_t ip, mask, gw;
  if (info.static_ip) {
    IP4_ADDR(&ip, info.ip4[0], info.ip4[1], info.ip4[2], info.ip4[3]);
    prefix_to_mask(info.prefix4, &mask);
    IP4_ADDR(&gw, info.gw4[0], info.gw4[1], info.gw4[2], info.gw4[3]);
  } else {
    ip4_addr_set_zero(&ip);
    ip4_addr_set_zero(&mask);
    ip4_addr_set_zero(&gw);
  }
  if (netif_add(&nif, &ip, &mask, &gw, NULL, netif_setup, ethernet_input) == NULL) {
    net_state = -WK_EIO;
    return net_state;
  }
  netif_set_default(&nif);
#if LWIP_IPV6
  netif_create_ip6_linklocal_address(&nif, 1); /* from the MAC (EUI-64) */
  nif.ip6_autoconfig_enabled = 1;              /* global addresses by SLAAC (lwIP's setter macro
                                                * tests the pointer, which -Waddress refuses) */
#endif
  netif_set_up(&nif);
  if (info.static_ip && !ip4_addr_isany_val(gw)) {
    /* The gateway's MAC, asked for now: an answer to a client off the link needs
     * it (passt's and slirp's forwarded connections come through the gateway),
     * and lwIP does not learn it from the client's SYN. Asked here, the reply
     * arrives while the program starts instead of being a round trip inside the
     * first connection's handshake (docs/performance.md "kvm first response"). */
    (void)etharp_request(&nif, &gw);
  }
  if (!info.static_ip && dhcp_start(&nif) != ERR_OK) {
    net_state = -WK_ENOMEM;
    return net_state;
  }
  net_state = 1;
  wk_plat_net_flush();
  WK_BOOT_MARK("lwip up");
  return 0;
}

/* One frame longer than a pool pbuf may hold (an MTU above 1500, kvm with a device that
 * reports one): copied into rx_big, then into a chain of pool pbufs for lwIP. 1 taken,
 * 0 none waiting, -1 dropped (too long, or the pool is empty: TCP resends it). */
static int take_big_frame(void) {
  static uint8_t rx_big[RX_FRAME_MAX];
  long len = wk_plat_net_recv(rx_big, sizeof rx_big);
  if (len <= 0) {
    return len == 0 ? 0 : -1;
  }
  struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_POOL);
  if (p == NULL) {
    return -1;
  }
  if (pbuf_take(p, rx_big, (u16_t)len) != ERR_OK || nif.input(p, &nif) != ERR_OK) {
    pbuf_free(p);
  }
  return 1;
}

int wk_lwip_net_poll(void) {
  if (net_state <= 0) {
    return net_state == 0 ? -WK_ENETDOWN : net_state;
  }
  int taken = 0;
  for (int i = 0; i < RX_BUDGET; i++) {
    if (nif.mtu + ETH_FRAME_EXTRA > PBUF_POOL_BUFSIZE) {
      /* Jumbo frames: through a bounce buffer into a chain of pool pbufs. */
      int rc = take_big_frame();
      if (rc == 0) {
        break;
      }
      taken += rc > 0;
      continue;
    }
    struct pbuf *p = pbuf_alloc(PBUF_RAW, PBUF_POOL_BUFSIZE, PBUF_POOL);
    if (p == NULL) {
      /* Pool exhausted (unread data everywhere): drain one frame so the
       * device keeps moving; TCP will resend it. */
      static uint8_t discard[PBUF_POOL_BUFSIZE];
      if (wk_plat_net_recv(discard, sizeof discard) == 0) {
        break;
      }
      continue;
    }
    long len = wk_plat_net_recv(p->payload, p->len);
    if (len <= 0) {
      pbuf_free(p);
      if (len == 0) {
        break;
      }
      continue;
    }
    pbuf_realloc(p, (u16_t)len);
    if (nif.input(p, &nif) != ERR_OK) {
      pbuf_free(p);
    }
    taken++;
  }
  netif_poll_all(); /* loopback traffic (127.0.0.1, our own address) */
  sys_check_timeouts();
  wk_plat_net_flush();
  return taken;
}

int wk_lwip_net_ready(wk_net_addr *ip, unsigned *prefix) {
  if (net_state <= 0) {
    return 0;
  }
  const ip4_addr_t *a = netif_ip4_addr(&nif);
  if (ip4_addr_isany(a)) {
    return 0;
  }
  if (ip != NULL) {
    uint32_t v = ip4_addr_get_u32(a);
    memset(ip, 0, sizeof *ip);
    ip->family = WK_NET_AF_INET;
    memcpy(ip->addr, &v, 4);
  }
  if (prefix != NULL) {
    uint32_t m = lwip_ntohl(ip4_addr_get_u32(netif_ip4_netmask(&nif)));
    unsigned n = 0;
    while (n < 32 && (m & (0x80000000u >> n))) {
      n++;
    }
    *prefix = n;
  }
  return 1;
}

int wk_lwip_net_wait(uint64_t timeout_ns) {
  int n = wk_lwip_net_poll();
  if (n == 0) {
    wk_plat_net_wait(timeout_ns);
  }
  return n;
}

int wk_lwip_net_wait_ready(uint64_t timeout_ns) {
  int rc = wk_lwip_net_init();
  if (rc < 0) {
    return rc;
  }
  uint64_t t0 = wk_plat_clock_monotonic();
  while (!wk_lwip_net_ready(NULL, NULL)) {
    if (wk_plat_clock_monotonic() - t0 >= timeout_ns) {
      return -WK_ETIMEDOUT;
    }
    (void)wk_lwip_net_wait(WK_NET_IDLE_WAIT_NS);
  }
  return 0;
}

static void on_dns(const char *name, const ip_addr_t *ip, void *arg) {
  (void)name;
  if ((uint32_t)(uintptr_t)arg != dns_wait.serial) {
    return; /* a lookup nobody waits for any more */
  }
  if (ip != NULL) {
    ip_addr_copy(dns_wait.ip, *ip);
    dns_wait.done = 1;
  } else {
    dns_wait.done = -1;
  }
}

int wk_lwip_net_resolve(const char *name, wk_net_addr *out, uint64_t timeout_ns) {
  size_t len = strlen(name);
  if (len == 0 || len >= DNS_MAX_NAME_LENGTH) {
    return -WK_EINVAL;
  }
  int rc = wk_lwip_net_init();
  if (rc < 0) {
    return rc;
  }
  uint64_t t0 = wk_plat_clock_monotonic();
  if (!wk_lwip_net_ready(NULL, NULL)) {
    (void)wk_lwip_net_wait_ready(timeout_ns); /* DHCP brings the server's address */
  }
  if (dns_static_set) {
    dns_setserver(0, &dns_static); /* DHCP may have replaced it */
  }
  if (ip_addr_isany(dns_getserver(0)) && ip_addr_isany(dns_getserver(1))) {
    return -WK_EADDRNOTAVAIL;
  }
  dns_wait.serial++;
  dns_wait.done = 0;
  ip_addr_t ip;
  err_t e = dns_gethostbyname_addrtype(name, &ip, on_dns, (void *)(uintptr_t)dns_wait.serial,
                                       LWIP_DNS_ADDRTYPE_IPV4); /* A records: IPv4 only */
  if (e == ERR_INPROGRESS) {
    wk_plat_net_flush();
    while (dns_wait.done == 0 && wk_plat_clock_monotonic() - t0 < timeout_ns) {
      (void)wk_lwip_net_wait(WK_NET_IDLE_WAIT_NS);
    }
    if (dns_wait.done == 0) {
      dns_wait.serial++; /* a late answer is dropped */
      return -WK_ETIMEDOUT;
    }
    if (dns_wait.done < 0) {
      return -WK_ENOENT;
    }
    ip_addr_copy(ip, dns_wait.ip);
  } else if (e != ERR_OK) {
    return e == ERR_MEM ? -WK_ENOMEM : -WK_EINVAL;
  }
  uint32_t v = ip4_addr_get_u32(ip_2_ip4(&ip));
  memset(out, 0, sizeof *out);
  out->family = WK_NET_AF_INET;
  memcpy(out->addr, &v, 4);
  return 0;
}

int wk_lwip_net_ready6(int global) {
#if LWIP_IPV6
  if (net_state <= 0) {
    return 0;
  }
  for (int i = 0; i < LWIP_IPV6_NUM_ADDRESSES; i++) {
    if (ip6_addr_ispreferred(netif_ip6_addr_state(&nif, i)) &&
        !ip6_addr_islinklocal(netif_ip6_addr(&nif, i)) == !!global) {
      return 1;
    }
  }
#else
  (void)global;
#endif
  return 0;
}

int wk_lwip_net_wait_ready6(int global, uint64_t timeout_ns) {
  int rc = wk_lwip_net_init();
  if (rc < 0) {
    return rc;
  }
  uint64_t t0 = wk_plat_clock_monotonic();
  while (!wk_lwip_net_ready6(global)) {
    if (!wk_lwip_net_ipv6() || wk_plat_clock_monotonic() - t0 >= timeout_ns) {
      return -WK_ETIMEDOUT;
    }
    (void)wk_lwip_net_wait(WK_NET_IDLE_WAIT_NS);
  }
  return 0;
}
