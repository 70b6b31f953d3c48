/*
 * net/lwipopts.h - lwIP 2.1 configuration for the wasmkiln unikernel.
 *
 * Model: one CPU, no threads, no interrupts. lwIP runs only inside
 * wk_net_* calls (raw API, NO_SYS=1); wk_net_poll() feeds it frames from the
 * platform and runs its timers from the monotonic clock (sys_now).
 *
 * Sizes are chosen for serving files over TCP to a host through QEMU's slirp
 * or a tap device, with up to ~64 concurrent connections. Memory: lwIP's heap
 * and pools come from the core's kernel heap (wk_malloc, pages taken on
 * demand, see wk/core.h), so an image costs nothing in .bss for them and a
 * server runs in 32 MiB of guest RAM; the counts below are lwIP's defaults
 * for its sanity checks, not reservations.
 */
#ifndef WK_LWIPOPTS_H
#define WK_LWIPOPTS_H

/* ---- system model ------------------------------------------------------------ */
#define NO_SYS 1               /* no OS: raw API, polled */
#define SYS_LIGHTWEIGHT_PROT 0 /* single core, no interrupts: nothing to protect */
#define LWIP_SOCKET 0          /* our own socket layer (wk/net.h) on the raw API */
#define LWIP_NETCONN 0         /* needs threads */
#define LWIP_NETIF_API 0       /* needs threads */
#define LWIP_ALTCP 0           /* no TLS layer here */
#define LWIP_TIMERS 1          /* lwIP's timeout list, run by sys_check_timeouts() */

/* ---- memory ------------------------------------------------------------------ */
#define MEM_ALIGNMENT 8 /* x86_64: keep u64 and pointers aligned */
/* lwIP's heap (PBUF_RAM pbufs: TCP send-buffer data copied by tcp_write,
 * outgoing UDP) and its pools (MEMP_MEM_MALLOC: pcbs, segments, pool pbufs)
 * are the kernel heap's, a buddy allocator on pages claimed only when used,
 * instead of static arrays (5 MiB of .bss that the kvm loader wrote and the
 * boot code zeroed on every boot). When memory runs out, tcp_write fails and
 * wk_net_send returns -WK_EAGAIN until data is acknowledged: graceful. */
#include <stddef.h>
void *wk_malloc(size_t size);
void *wk_calloc(size_t n, size_t size);
void wk_free(void *p);
#define MEM_LIBC_MALLOC 1
#define mem_clib_malloc wk_malloc
#define mem_clib_calloc wk_calloc
#define mem_clib_free wk_free
#define MEMP_MEM_MALLOC 1
#define MEM_SIZE (4 * 1024 * 1024) /* unused with MEM_LIBC_MALLOC */
/* Received frames are copied from the NIC into pool pbufs, one frame each.
 * 512 covers the TCP_WND of ~5 connections with unread data at once plus
 * headroom for ACK-only traffic; an exhausted pool drops frames (TCP resends). */
#define PBUF_POOL_SIZE 512
/* One Ethernet frame (1514 bytes, 1518 with a VLAN tag), rounded up; the NIC
 * copy must never need a chain. */
#define PBUF_POOL_BUFSIZE 1536
#define MEMP_NUM_PBUF 64     /* PBUF_REF/ROM: IP fragments, loopback */
#define MEMP_NUM_TCP_PCB 128 /* 64 concurrent connections + TIME_WAIT + closing */
#define MEMP_NUM_TCP_PCB_LISTEN 16
#define MEMP_NUM_UDP_PCB 16 /* DHCP uses one */
/* Segments queued for sending across all connections: TCP_SND_QUEUELEN per
 * busy connection; 16 busy connections at once. A tcp_seg is ~40 bytes. */
#define MEMP_NUM_TCP_SEG 4096
#define MEMP_NUM_REASSDATA 8  /* IP datagrams being reassembled at once */
#define MEMP_NUM_ARP_QUEUE 32 /* packets waiting for an ARP reply */

#include <stdint.h>

/* ---- protocols ---------------------------------------------------------------- */
#define LWIP_IPV4 1
/* IPv6 next to IPv4 (dual stack): a link-local address at once, global ones
 * by SLAAC from router advertisements (passt and slirp send them), ND and MLD;
 * no DHCPv6. Off, every ip_addr_t is 4 bytes instead of 20 and AF_INET6 is
 * EAFNOSUPPORT (wk_net_ipv6). */
#ifndef LWIP_IPV6
#define LWIP_IPV6 1
#endif
#define LWIP_IPV6_AUTOCONFIG LWIP_IPV6
#define LWIP_IPV6_DHCP6 0
/* Reassembly keeps its bookkeeping (pointers: 8 bytes here) in place of the
 * fragment header unless this is set; lwIP asserts it on 64-bit targets. */
#define IPV6_FRAG_COPYHEADER 1
#define LWIP_ARP 1
#define ARP_TABLE_SIZE 16
#define ARP_QUEUEING 1 /* keep the first packets to a host while ARP resolves */
#define LWIP_ETHERNET 1
#define LWIP_ICMP 1 /* answers ping */
#define LWIP_RAW 0
#define LWIP_UDP 1
#define LWIP_TCP 1
#define LWIP_DHCP 1 /* default when the platform gives no address */
/* No ARP probe for the offered address: it costs a second or more at boot,
 * and the networks this runs on (slirp, a host's tap) have one guest. */
#define DHCP_DOES_ARP_CHECK 0
#define LWIP_AUTOIP 0
#define LWIP_IGMP 0
/* Names for sock_getaddrinfo / sock_addr_resolve (wk_net_resolve): the
 * server comes from DHCP, or from the run (net.dns=A.B.C.D[:PORT]); the port
 * is a run setting too, so a test can answer on an unprivileged host port. */
#define LWIP_DNS 1
uint16_t wk_lwip_dns_port(void);
#define DNS_SERVER_PORT wk_lwip_dns_port()
#define IP_REASSEMBLY 1
#define IP_FRAG 1
/* 127.0.0.1 works (a guest talking to itself); loopback frames are run in
 * wk_net_poll via netif_poll_all. */
#define LWIP_NETIF_LOOPBACK 1
#define LWIP_HAVE_LOOPIF 1
#define LWIP_LOOPBACK_MAX_PBUFS 64
#define LWIP_NETIF_STATUS_CALLBACK 0
#define LWIP_NETIF_LINK_CALLBACK 0
#define LWIP_NETIF_HOSTNAME 0

/* ---- TCP ---------------------------------------------------------------------- */
/* The largest segment: a 9000-byte MTU (kvm, a device that reports one: virtio_net.h
 * VIRTIO_NET_MTU_MAX) - 20 (IP) - 20 (TCP). lwIP sends and advertises the netif's MTU - 40,
 * so on a 1500-byte link (spt, slirp, aarch64) segments stay 1460: WK_TCP_MSS_ETH, which
 * the per-segment sizes below keep as their unit. */
#define TCP_MSS 8960
#define WK_TCP_MSS_ETH 1460
/* Window scaling: lets a peer that supports it (Linux over tap) keep more
 * than 64 KiB in flight; slirp does not scale, and then 65535 is used. */
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE 2
/* Receive window: 128 KiB, enough for ~1 ms of 1 Gbit/s; bounded by what
 * the pbuf pool holds (lwIP's sanity check enforces it). */
#define TCP_WND (128 * 1024)
/* Send buffer per connection: 128 KiB. A transfer stalls when the sender
 * cannot queue a full window; twice slirp's 64 KiB window keeps the pipe
 * full while the app refills, and a tap peer can use the whole of it. */
#define TCP_SND_BUF (128 * 1024)
/* Segments per connection: enough for TCP_SND_BUF in small writes too
 * (lwIP's rule of thumb, 4x the full-sized count). */
#define TCP_SND_QUEUELEN ((4 * TCP_SND_BUF + WK_TCP_MSS_ETH - 1) / WK_TCP_MSS_ETH)
/* Writable (WK_NET_EV_WRITE) once about a quarter of the send buffer is free (lwIP's
 * sanity check wants it below 0xffff - 4 * TCP_MSS). */
#define TCP_SNDLOWAT (0xffff - 4 * TCP_MSS - 1)
/* A window update after this much is read (lwIP's default, min(TCP_WND / 4, 4 MSS), with
 * the Ethernet MSS as before the jumbo TCP_MSS). */
#define TCP_WND_UPDATE_THRESHOLD (4 * WK_TCP_MSS_ETH)
#define TCP_SNDQUEUELOWAT (TCP_SND_QUEUELEN / 2)
/* tcp_write fills whole segments; a small write's pbuf has at most 1460 bytes to spare (with
 * a jumbo MSS a 612-byte answer would otherwise take an 8960-byte allocation). */
#define TCP_OVERSIZE WK_TCP_MSS_ETH
#define TCP_QUEUE_OOSEQ 1    /* keep out-of-order segments (fewer resends) */
#define LWIP_TCP_SACK_OUT 1  /* tell the peer which out-of-order data we hold */
#define TCP_LISTEN_BACKLOG 1 /* refuse SYNs while a listener's queue is full */
#define LWIP_TCP_KEEPALIVE 1 /* SO_KEEPALIVE */
#define SO_REUSE 1           /* listeners re-bind a port held by TIME_WAIT connections */
#define LWIP_TCP_TIMESTAMPS 0
/* TIME_WAIT (net/timewait_lwip.c): a new SYN for the four-tuple of a
 * TIME_WAIT PCB recycles it, as Linux does, instead of lwIP's ACK that makes
 * the client reset; and at most this many TIME_WAIT PCBs are kept (with
 * MEMP_MEM_MALLOC lwIP itself never frees one early). */
#define WK_LWIP_TIME_WAIT_MAX 128
struct pbuf;
int wk_lwip_ip4_input_hook(struct pbuf *p);
int wk_lwip_ip6_input_hook(struct pbuf *p);
#define LWIP_HOOK_IP4_INPUT(p, inp) wk_lwip_ip4_input_hook(p)
#define LWIP_HOOK_IP6_INPUT(p, inp) wk_lwip_ip6_input_hook(p)
#define LWIP_CALLBACK_API 1

/* ---- checksums ---------------------------------------------------------------- */
/* No offload is negotiated with the NIC, so lwIP computes every checksum.
 * CHECKSUM_ON_COPY: tcp_write sums the data while copying it in, so
 * segments are not read twice at send time. */
#define LWIP_CHECKSUM_ON_COPY 1
#define CHECKSUM_GEN_IP 1
#define CHECKSUM_GEN_UDP 1
#define CHECKSUM_GEN_TCP 1
#define CHECKSUM_GEN_ICMP 1
#define CHECKSUM_CHECK_IP 1
#define CHECKSUM_CHECK_UDP 1
#define CHECKSUM_CHECK_TCP 1
#define CHECKSUM_CHECK_ICMP 1
/* Word-at-a-time checksum, fused copy+checksum for tcp_write, and word
 * copies (net/chksum_lwip.c): under QEMU TCG `rep movsb` (core's memcpy)
 * runs byte by byte, and a separate checksum pass reads the data twice. */
#include <stddef.h>
unsigned short wk_lwip_chksum(const void *data, int len);
unsigned short wk_lwip_chksum_copy(void *dst, const void *src, unsigned short len);
void *wk_lwip_memcpy(void *dst, const void *src, size_t len);
#define LWIP_CHKSUM wk_lwip_chksum
#define LWIP_CHKSUM_COPY(dst, src, len) wk_lwip_chksum_copy((dst), (src), (len))
#define MEMCPY(dst, src, len) wk_lwip_memcpy((dst), (src), (len))

/* ---- platform hooks (net/stack_lwip.c) --------------------------------------- */
#include <stdint.h>
uint32_t wk_lwip_rand(void);
#define LWIP_RAND() wk_lwip_rand() /* ISNs, ports, DHCP xid: from platform entropy */

/* ---- diagnostics -------------------------------------------------------------- */
#define LWIP_STATS 0 /* no counters on the hot path */
#define LWIP_STATS_DISPLAY 0
#define LWIP_DEBUG 0
#define LWIP_PERF 0

#endif /* WK_LWIPOPTS_H */
