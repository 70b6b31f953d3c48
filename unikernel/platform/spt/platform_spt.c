/*
 * platform/spt/platform_spt.c - the wk/platform.h calls for a Linux process:
 * console on fds 0/1/2, getrandom, exit_group (the clocks: clock_spt.c). Each
 * is one of the system calls the seccomp filter allows.
 */

#include "syscall_spt_x86_64.h"
#include "wk/errno.h"
#include "wk/platform.h"

#define LINUX_EINTR 4
#define LINUX_EAGAIN 11

/* Linux errno -> WASI errno, for the few a console can give. */
static int wasi_errno(long linux_err) {
  switch (linux_err) {
  case 9: return WK_EBADF;
  case 32: return WK_EPIPE;
  case LINUX_EAGAIN: return WK_EAGAIN;
  case 14: return WK_EFAULT;
  case 28: return WK_ENOSPC;
  default: return WK_EIO;
  }
}

int wk_plat_console_write(int stream, const void *buf, size_t len) {
  const char *p = buf;
  while (len) {
    long r = wk_sys3(__NR_write, stream, (long)p, (long)len);
    if (r == -LINUX_EINTR) continue;
    if (r < 0) return -wasi_errno(-r);
    p += r;
    len -= (size_t)r;
  }
  return 0;
}

long wk_plat_console_read(void *buf, size_t len) {
  for (;;) {
    long r = wk_sys3(__NR_read, 0, (long)buf, (long)len);
    if (r == -LINUX_EINTR) continue;
    return r < 0 ? -wasi_errno(-r) : r;
  }
}

/* The clocks are in clock_spt.c (through the vDSO). */

int wk_plat_entropy(void *buf, size_t len) {
  char *p = buf;
  while (len) {
    long r = wk_sys3(__NR_getrandom, (long)p, (long)len, 0);
    if (r == -LINUX_EINTR) continue;
    if (r < 0) return -WK_EIO;
    p += r;
    len -= (size_t)r;
  }
  return 0;
}

void wk_plat_idle(uint64_t timeout_ns) {
  (void)timeout_ns; /* no sleeping call in the filter: the caller spins */
}

_Noreturn void wk_plat_exit(int code) {
  for (;;) wk_sys3(__NR_exit_group, code, 0, 0);
}
