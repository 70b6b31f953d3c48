/*
 * net/timewait_lwip.c - TIME_WAIT that neither refuses new connections nor
 * grows without bound.
 *
 * A server closes first (HTTP/1.0, "Connection: close"), so its side of every
 * connection sits in TIME_WAIT for 2 MSL. Clients reuse source ports long
 * before that (Linux picks them per destination, and passt forwards the
 * client's own port), so a fresh SYN often meets a TIME_WAIT PCB of the same
 * four-tuple. lwIP 2.1 answers such a SYN with a bare ACK (tcp_timewait_input);
 * the client resets, retries a second later, meets the same PCB, and fails.
 * Linux and the BSDs accept that SYN and recycle the old PCB (RFC 1122
 * 4.2.2.13, RFC 6191). With MEMP_MEM_MALLOC, lwIP also never kills an old
 * TIME_WAIT PCB (it does so only when a pool runs dry), so 10k connections a
 * second would keep over a million of them, and every segment's lookup walks
 * that list.
 *
 * Both are fixed in lwIP's IP input hooks (lwipopts.h), before tcp_input sees
 * the segment: a pure SYN (no ACK, no RST) whose four-tuple matches a
 * TIME_WAIT PCB frees that PCB (tcp_abort frees a TIME_WAIT PCB silently),
 * so the SYN reaches the listener; and past WK_LWIP_TIME_WAIT_MAX TIME_WAIT
 * PCBs, the oldest ones are freed. The old connection's segments cannot
 * follow its peer's new SYN: the peer closed it, and the link is one virtual
 * wire, which does not reorder across connections.
 */
#include <string.h>

#include "lwip/ip_addr.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h" /* tcp_tw_pcbs */
#include "lwip/prot/ip4.h"
#include "lwip/prot/ip6.h"
#include "lwip/prot/tcp.h"
#include "lwip/tcp.h"

/* The four-tuple of a pure SYN, as lwIP stores it in a PCB. */
typedef struct syn_key {
  ip_addr_t remote, local;
  u16_t remote_port, local_port;
} syn_key;

/* The TCP header of a pure SYN at offset `hlen` of `p`, or NULL. */
static const struct tcp_hdr *pure_syn(const struct pbuf *p, size_t hlen) {
  if (p->len < hlen + TCP_HLEN) {
    return NULL; /* not in the first pbuf: NIC frames always are (one pbuf each) */
  }
  const struct tcp_hdr *th = (const struct tcp_hdr *)((const u8_t *)p->payload + hlen);
  u8_t flags = TCPH_FLAGS(th) & (TCP_SYN | TCP_ACK | TCP_RST);
  return flags == TCP_SYN ? th : NULL;
}

static int same_ip(const ip_addr_t *a, const ip_addr_t *b) {
#if LWIP_IPV6
  if (IP_IS_V6_VAL(*a) || IP_IS_V6_VAL(*b)) {
    return IP_IS_V6_VAL(*a) && IP_IS_V6_VAL(*b) && ip6_addr_cmp_zoneless(ip_2_ip6(a), ip_2_ip6(b));
  }
#endif
  return ip4_addr_cmp(ip_2_ip4(a), ip_2_ip4(b));
}

/* Free the TIME_WAIT PCB the SYN `th` (addresses in `k`) would meet, and the
 * oldest ones beyond WK_LWIP_TIME_WAIT_MAX. tcp_tw_pcbs is newest first
 * (TCP_REG pushes). Returns 0: lwIP goes on with the segment. */
static int recycle(syn_key *k, const struct tcp_hdr *th) {
  k->remote_port = lwip_ntohs(th->src);
  k->local_port = lwip_ntohs(th->dest);
  struct tcp_pcb *match = NULL;
  struct tcp_pcb *keep_last = NULL; /* the WK_LWIP_TIME_WAIT_MAX-th PCB kept */
  int n = 0;
  for (struct tcp_pcb *pcb = tcp_tw_pcbs; pcb != NULL; pcb = pcb->next) {
    if (match == NULL && pcb->remote_port == k->remote_port && pcb->local_port == k->local_port &&
        same_ip(&pcb->remote_ip, &k->remote) && same_ip(&pcb->local_ip, &k->local)) {
      match = pcb;
      continue; /* about to go: not counted */
    }
    if (++n == WK_LWIP_TIME_WAIT_MAX) {
      keep_last = pcb;
    }
  }
  if (match != NULL) {
    tcp_abort(match);
  }
  if (keep_last != NULL) {
    while (keep_last->next != NULL) {
      tcp_abort(keep_last->next); /* unlinks it: keep_last->next moves on */
    }
  }
  return 0;
}

int wk_lwip_ip4_input_hook(struct pbuf *p) {
  if (p->len < IP_HLEN) {
    return 0;
  }
  const struct ip_hdr *ih = (const struct ip_hdr *)p->payload;
  if (IPH_PROTO(ih) != IP_PROTO_TCP || (lwip_ntohs(IPH_OFFSET(ih)) & (IP_OFFMASK | IP_MF))) {
    return 0;
  }
  const struct tcp_hdr *th = pure_syn(p, IPH_HL_BYTES(ih));
  if (th == NULL || tcp_tw_pcbs == NULL) {
    return 0;
  }
  syn_key k;
  ip_addr_copy_from_ip4(k.remote, ih->src);
  ip_addr_copy_from_ip4(k.local, ih->dest);
  return recycle(&k, th);
}

#if LWIP_IPV6
int wk_lwip_ip6_input_hook(struct pbuf *p) {
  if (p->len < IP6_HLEN) {
    return 0;
  }
  const struct ip6_hdr *ih = (const struct ip6_hdr *)p->payload;
  if (IP6H_NEXTH(ih) != IP6_NEXTH_TCP) {
    return 0; /* extension headers first: left to lwIP as it is */
  }
  const struct tcp_hdr *th = pure_syn(p, IP6_HLEN);
  if (th == NULL || tcp_tw_pcbs == NULL) {
    return 0;
  }
  syn_key k;
  ip_addr_copy_from_ip6_packed(k.remote, ih->src);
  ip_addr_copy_from_ip6_packed(k.local, ih->dest);
  return recycle(&k, th);
}
#endif
