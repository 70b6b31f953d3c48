/*
 * platform/spt/seccomp_spt.c - the spt sandbox (Solo5's spt model).
 *
 * After wk_spt_seccomp_install() the process may only:
 *   write(fd 1 or 2)      console out          read(fd 0)        console in
 *   clock_gettime         clocks               clock_getres       clock resolution
 *   getrandom             entropy              exit, exit_group   leave
 * Anything else, any other architecture (i386/x32 entry points), and x32
 * system call numbers kill the whole process with SIGSYS
 * (SECCOMP_RET_KILL_PROCESS). No memory is mapped after this point: the
 * platform maps everything the guest can ever use before installing it.
 *
 * The fd checks look at the low 32 bits of the first argument only: read and
 * write take an `unsigned int fd`, so the kernel ignores the high half too.
 */
#include "seccomp_spt.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/prctl.h>
#include <linux/seccomp.h>
#include <stddef.h>

#include "syscall_spt_x86_64.h"

#define NR_OFF offsetof(struct seccomp_data, nr)
#define ARCH_OFF offsetof(struct seccomp_data, arch)
#define ARG0_LO_OFF offsetof(struct seccomp_data, args[0]) /* little endian: low word first */

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
 *   6-10  calls without argument checks  -> ALLOW (20)
 *   11    write -> 14, 12 read -> 17, 13 anything else -> KILL
 *   14-16 write: fd 1 or 2 -> ALLOW, else KILL (19)
 *   17-19 read:  fd 0      -> ALLOW, else KILL
 *   20    ALLOW
 */
static const struct sock_filter filter[] = {
    /* 0 */ LOAD(ARCH_OFF),
    /* 1 */ JEQ(AUDIT_ARCH_X86_64, 1, 0),
    /* 2 */ RET(SECCOMP_RET_KILL_PROCESS),
    /* 3 */ LOAD(NR_OFF),
    /* 4 */ JGE(X32_SYSCALL_BIT, 0, 1),
    /* 5 */ RET(SECCOMP_RET_KILL_PROCESS),
    /* 6 */ JEQ(__NR_clock_gettime, 13, 0),
    /* 7 */ JEQ(__NR_clock_getres, 12, 0),
    /* 8 */ JEQ(__NR_getrandom, 11, 0),
    /* 9 */ JEQ(__NR_exit_group, 10, 0),
    /* 10 */ JEQ(__NR_exit, 9, 0),
    /* 11 */ JEQ(__NR_write, 2, 0),
    /* 12 */ JEQ(__NR_read, 4, 0),
    /* 13 */ RET(SECCOMP_RET_KILL_PROCESS),
    /* 14 write: */ LOAD(ARG0_LO_OFF),
    /* 15 */ JEQ(1, 4, 0),
    /* 16 */ JEQ(2, 3, 2),
    /* 17 read: */ LOAD(ARG0_LO_OFF),
    /* 18 */ JEQ(0, 1, 0),
    /* 19 */ RET(SECCOMP_RET_KILL_PROCESS),
    /* 20 */ RET(SECCOMP_RET_ALLOW),
};

int wk_spt_seccomp_install(void) {
  struct sock_fprog prog = {
      .len = (unsigned short)(sizeof filter / sizeof filter[0]),
      .filter = (struct sock_filter *)filter,
  };
  long r = wk_sys6(__NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
  if (r < 0) return (int)r;
  r = wk_sys3(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, (long)&prog);
  return r < 0 ? (int)r : 0;
}

_Static_assert(sizeof filter / sizeof filter[0] == 21, "update the jump offsets with the layout");
