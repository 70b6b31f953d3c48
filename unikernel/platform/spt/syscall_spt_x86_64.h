/*
 * platform/spt/syscall_spt_x86_64.h - raw Linux x86_64 system calls (no libc).
 *
 * Numbers and constants come from the kernel's UAPI headers. After the seccomp
 * filter is installed only the calls listed in seccomp_spt.c are allowed.
 */
#ifndef WK_SYSCALL_SPT_X86_64_H
#define WK_SYSCALL_SPT_X86_64_H

#include <asm/unistd.h>
#include <stdint.h>

static inline long wk_sys6(long nr, long a, long b, long c, long d, long e, long f) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  register long r9 __asm__("r9") = f;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                   : "rcx", "r11", "memory");
  return ret;
}

static inline long wk_sys3(long nr, long a, long b, long c) {
  return wk_sys6(nr, a, b, c, 0, 0, 0);
}

#endif /* WK_SYSCALL_SPT_X86_64_H */
