/*
 * platform/spt/seccomp_spt.h - the spt sandbox: a seccomp filter that leaves
 * the process only console I/O, clocks, entropy and exit, plus its network:
 * the NIC's frames socket, or the host sockets the run granted.
 */
#ifndef WK_SECCOMP_SPT_H
#define WK_SECCOMP_SPT_H

#define WK_SPT_LISTENERS_MAX 16

typedef struct wk_spt_sandbox {
  int net_fd;       /* the NIC's frames socket, or -1 */
  int host_sockets; /* 1: --net host, the guest uses the host's sockets */
  int outbound;     /* with host_sockets: the guest may connect out, use UDP, look names up */
  int nlisteners;   /* with host_sockets: the listening sockets granted */
  int listeners[WK_SPT_LISTENERS_MAX];
} wk_spt_sandbox;

/* Install the filter (and no_new_privs). 0, or a negative Linux errno (-1 if
 * the filter did not fit). Irreversible. */
int wk_spt_seccomp_install(const wk_spt_sandbox *sb);

#endif /* WK_SECCOMP_SPT_H */
