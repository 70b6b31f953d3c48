/*
 * platform/spt/seccomp_spt.h - the spt sandbox: a seccomp filter that leaves
 * the process only console I/O, clocks, entropy and exit.
 */
#ifndef WK_SECCOMP_SPT_H
#define WK_SECCOMP_SPT_H

/* Install the filter (and no_new_privs). 0, or a negative Linux errno. Irreversible. */
int wk_spt_seccomp_install(int net_fd); /* net_fd: the NIC's frames socket, or -1 */

#endif /* WK_SECCOMP_SPT_H */
