/*
 * platform/spt/net_spt.h - the spt NIC's command-line side (net_spt.c), for
 * main_spt.c and seccomp_spt.c.
 */
#ifndef WK_NET_SPT_H
#define WK_NET_SPT_H

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

/* The host listening sockets of --net host (hostfd=N, in token order): copies
 * at most max into out, returns how many there are. */
int wk_spt_net_host_fds(int *out, int max);

#endif /* WK_NET_SPT_H */
