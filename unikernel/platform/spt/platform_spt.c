/*
 * platform/spt/platform_spt.c - the wk/platform.h calls for a Linux process:
 * console on fds 0/1/2, clock_gettime, getrandom, exit_group. Each is one of
 * the system calls the seccomp filter allows.
 */
#include <linux/time.h>
#include <linux/time_types.h>

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

static uint64_t clock_ns(int id) {
  struct __kernel_timespec ts = {0, 0};
  wk_sys3(__NR_clock_gettime, id, (long)&ts, 0);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t wk_plat_clock_monotonic(void) { return clock_ns(CLOCK_MONOTONIC); }
uint64_t wk_plat_clock_realtime(void) { return clock_ns(CLOCK_REALTIME); }

uint64_t wk_plat_clock_resolution(void) {
  struct __kernel_timespec ts = {0, 0};
  if (wk_sys3(__NR_clock_getres, CLOCK_MONOTONIC, (long)&ts, 0) < 0) return 1000;
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

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

_Noreturn void wk_plat_exit(int code) {
  for (;;) wk_sys3(__NR_exit_group, code, 0, 0);
}
