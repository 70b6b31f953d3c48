/*
 * platform/spt/seccomp_spt.c - the spt sandbox (Solo5's spt model).
 *
 * After wk_spt_seccomp_install() the process may only:
 *   write(fd 1 or 2)      console out          read(fd 0)        console in
 *   read/write(net fd)    NIC frames (net_spt.c), only when the run gave one
 *   poll(.., 1, ..)       wait for the NIC (one pollfd), only with a net fd
 *   clock_gettime         clocks               clock_getres       clock resolution
 *   getrandom             entropy              exit, exit_group   leave
 *   mprotect(.., .., PROT_READ|PROT_WRITE)      memory.grow in a guard reservation
 *   rt_sigreturn          return from the fault handler (memory_spt.c)
 *   restart_syscall       the kernel resuming a poll interrupted by SIGSTOP/SIGCONT
 * Anything else, any other architecture (i386/x32 entry points), and x32
 * system call numbers kill the whole process with SIGSYS
 * (SECCOMP_RET_KILL_PROCESS). No memory is mapped after this point: the
 * platform maps everything the guest can ever use before installing it; the
 * one change allowed is making reserved pages readable and writable (never
 * executable: the prot argument must be exactly PROT_READ|PROT_WRITE).
 *
 * The fd checks look at the low 32 bits of the first argument only: read and
 * write take an `unsigned int fd`, so the kernel ignores the high half too.
 */
#include "seccomp_spt.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/mman.h>
#include <linux/prctl.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>

#include "syscall_spt_x86_64.h"

#define NR_OFF offsetof(struct seccomp_data, nr)
#define ARCH_OFF offsetof(struct seccomp_data, arch)
#define ARG0_LO_OFF offsetof(struct seccomp_data, args[0]) /* little endian: low word first */
#define ARG1_LO_OFF offsetof(struct seccomp_data, args[1])
#define ARG2_LO_OFF offsetof(struct seccomp_data, args[2])

#define LOAD(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define JEQ(k, t, f) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f))
#define JGE(k, t, f) BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (k), (t), (f))
#define RET(k) BPF_STMT(BPF_RET | BPF_K, (k))

#define X32_SYSCALL_BIT 0x40000000u

/*
 * Layout; BPF jump offsets count from the next instruction, so the comment on
 * each line names its targets by index.
 *   0-2   arch != x86_64                 -> KILL
 *   3-5   nr has the x32 bit             -> KILL
 *   6-12  calls without argument checks  -> ALLOW (30)
 *   13 write -> 18, 14 read -> 22, 15 mprotect -> 25, 16 poll -> 27, 17 anything else -> KILL
 *   18-21 write: fd 1, 2 or the net fd -> ALLOW, else KILL (29)
 *   22-24 read:  fd 0 or the net fd    -> ALLOW, else KILL
 *   25-26 mprotect: prot == PROT_READ|PROT_WRITE -> ALLOW, else KILL
 *   27-28 poll: nfds == 1 (only with a net fd) -> ALLOW, else KILL
 *   29    KILL
 *   30    ALLOW
 * NET_FD and NET_POLL (the k of 21, 24 and 28) are set at install time; without
 * a net fd they hold values no call can pass (fds and nfds are below 2^31).
 */
#define NO_MATCH 0xffffffffu
enum { IDX_WRITE_NET = 21, IDX_READ_NET = 24, IDX_POLL = 28 };
static struct sock_filter filter[] = {
    /* 0 */ LOAD(ARCH_OFF),
    /* 1 */ JEQ(AUDIT_ARCH_X86_64, 1, 0),
    /* 2 */ RET(SECCOMP_RET_KILL_PROCESS),
    /* 3 */ LOAD(NR_OFF),
    /* 4 */ JGE(X32_SYSCALL_BIT, 0, 1),
    /* 5 */ RET(SECCOMP_RET_KILL_PROCESS),
    /* 6 */ JEQ(__NR_restart_syscall, 23, 0), /* a poll resumed after SIGSTOP/SIGCONT */
    /* 7 */ JEQ(__NR_clock_gettime, 22, 0),
    /* 8 */ JEQ(__NR_clock_getres, 21, 0),
    /* 9 */ JEQ(__NR_getrandom, 20, 0),
    /* 10 */ JEQ(__NR_exit_group, 19, 0),
    /* 11 */ JEQ(__NR_exit, 18, 0),
    /* 12 */ JEQ(__NR_rt_sigreturn, 17, 0),
    /* 13 */ JEQ(__NR_write, 4, 0),
    /* 14 */ JEQ(__NR_read, 7, 0),
    /* 15 */ JEQ(__NR_mprotect, 9, 0),
    /* 16 */ JEQ(__NR_poll, 10, 0),
    /* 17 */ RET(SECCOMP_RET_KILL_PROCESS),
    /* 18 write: */ LOAD(ARG0_LO_OFF),
    /* 19 */ JEQ(1, 10, 0),
    /* 20 */ JEQ(2, 9, 0),
    /* 21 */ JEQ(NO_MATCH, 8, 7), /* the net fd */
    /* 22 read: */ LOAD(ARG0_LO_OFF),
    /* 23 */ JEQ(0, 6, 0),
    /* 24 */ JEQ(NO_MATCH, 5, 4), /* the net fd */
    /* 25 mprotect: */ LOAD(ARG2_LO_OFF),
    /* 26 */ JEQ(PROT_READ | PROT_WRITE, 3, 2),
    /* 27 poll: */ LOAD(ARG1_LO_OFF),
    /* 28 */ JEQ(NO_MATCH, 1, 0), /* 1 with a net fd */
    /* 29 */ RET(SECCOMP_RET_KILL_PROCESS),
    /* 30 */ RET(SECCOMP_RET_ALLOW),
};

int wk_spt_seccomp_install(int net_fd) {
  if (net_fd >= 0) {
    filter[IDX_WRITE_NET].k = (uint32_t)net_fd;
    filter[IDX_READ_NET].k = (uint32_t)net_fd;
    filter[IDX_POLL].k = 1;
  }
  struct sock_fprog prog = {
      .len = (unsigned short)(sizeof filter / sizeof filter[0]),
      .filter = (struct sock_filter *)filter,
  };
  long r = wk_sys6(__NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
  if (r < 0) return (int)r;
  r = wk_sys3(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, (long)&prog);
  return r < 0 ? (int)r : 0;
}

_Static_assert(sizeof filter / sizeof filter[0] == 31, "update the jump offsets with the layout");
