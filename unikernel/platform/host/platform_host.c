/*
 * platform/host/platform_host.c - wk/platform.h for a normal Linux process,
 * over libc: console write(2)/read(2), clock_gettime, getrandom, exit.
 *
 * The host library is embedded (in Python, through cffi), so what the core
 * writes on stderr (wk_log: "import not provided", "does not fit", ...) is not
 * printed: it becomes the last error message (wk_host_last_error), which the
 * embedder turns into an exception. Stdout goes to fd 1.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "internal_host.h"
#include "wk/errno.h"
#include "wk/host.h"
#include "wk/platform.h"

#define ERROR_CAP 512

static char last_error[ERROR_CAP];

void wk_host_set_error(const char *msg, size_t len) {
  if (len >= ERROR_CAP) len = ERROR_CAP - 1;
  memcpy(last_error, msg, len);
  while (len && last_error[len - 1] == '\n') len--; /* one line, no newline */
  last_error[len] = '\0';
}

const char *wk_host_last_error(void) { return last_error; }

static int wasi_errno(int e) {
  switch (e) {
  case EBADF: return WK_EBADF;
  case EPIPE: return WK_EPIPE;
  case EAGAIN: return WK_EAGAIN;
  case EFAULT: return WK_EFAULT;
  case ENOSPC: return WK_ENOSPC;
  default: return WK_EIO;
  }
}

int wk_plat_console_write(int stream, const void *buf, size_t len) {
  if (stream == 2) {
    wk_host_set_error(buf, len);
    return 0;
  }
  const char *p = buf;
  while (len) {
    ssize_t r = write(stream, p, len);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -wasi_errno(errno);
    p += r;
    len -= (size_t)r;
  }
  return 0;
}

long wk_plat_console_read(void *buf, size_t len) {
  for (;;) {
    ssize_t r = read(0, buf, len);
    if (r < 0 && errno == EINTR) continue;
    return r < 0 ? -wasi_errno(errno) : (long)r;
  }
}

static uint64_t clock_ns(clockid_t id) {
  struct timespec ts = {0, 0};
  clock_gettime(id, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t wk_plat_clock_monotonic(void) { return clock_ns(CLOCK_MONOTONIC); }
uint64_t wk_plat_clock_realtime(void) { return clock_ns(CLOCK_REALTIME); }

uint64_t wk_plat_clock_resolution(void) {
  struct timespec ts = {0, 0};
  if (clock_getres(CLOCK_MONOTONIC, &ts) != 0) return 1000;
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int wk_plat_entropy(void *buf, size_t len) {
  char *p = buf;
  while (len) {
    ssize_t r = getrandom(p, len, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -WK_EIO;
    p += r;
    len -= (size_t)r;
  }
  return 0;
}

_Noreturn void wk_plat_exit(int code) { exit(code); }
