/*
 * platform/spt/net_spt.h - the spt NIC's command-line side (net_spt.c), for
 * main_spt.c and seccomp_spt.c.
 */
#ifndef WK_NET_SPT_H
#define WK_NET_SPT_H

#include <stdint.h>

/* One `--net TOKEN` argument: fd=N, or a net.* setting (../netcfg_plat.h).
 * NULL, or a one-line message. */
const char *wk_spt_net_option(const char *tok);

/* After the arguments, before the sandbox is sealed: checks the settings and
 * makes the frames socket non-blocking. NULL, or a one-line message. */
const char *wk_spt_net_setup(void);

/* The frames socket, or -1 without one (seccomp_spt.c allows it read/write/poll). */
int wk_spt_net_fd(void);

/* 1 with --net host: the guest's sockets are the host's (sock_spt.c). */
int wk_spt_net_host(void);

/* 1 with --net host --net outbound: the guest may open host sockets of its own
 * (TCP connect, UDP, name lookup), and the seccomp filter allows socket(),
 * connect(), sendto() with a destination and recvfrom(). */
int wk_spt_net_outbound(void);

/* The DNS server of --net net.dns=A.B.C.D[:PORT]: 1 and ip/port, or 0 without one. */
int wk_spt_net_dns(uint8_t ip[4], uint16_t *port);

/* The host listening sockets of --net host (hostfd=N, in token order): copies
 * at most max into out, returns how many there are. */
int wk_spt_net_host_fds(int *out, int max);

/* --net spin=US (default WK_SPT_NET_SPIN_US, at most WK_SPT_NET_SPIN_US_MAX): how long
 * a wait on the host's sockets asks again before it sleeps in ppoll (sock_spt.c);
 * 0 sleeps at once. In ns. 50 us: on the quiet machine (bench/spt_wait.py, 5 rounds,
 * 3 Dec 22:52 UTC) 1.19x the req/s of no spin with one connection per request (every
 * round 1.16-1.22x), level with keep-alive (docs/performance.md "3 Dec, night"). */
#define WK_SPT_NET_SPIN_US 50u
#define WK_SPT_NET_SPIN_US_MAX 1000u
uint64_t wk_spt_net_spin_ns(void);

#endif /* WK_NET_SPT_H */
