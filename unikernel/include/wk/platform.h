/*
 * wk/platform.h - what a platform (kvm, spt, ...) gives the runtime core.
 *
 * A platform owns the machine: it boots, sets up a stack, gathers the
 * arguments and environment, and then calls wk_main() exactly once. Everything
 * the core and the WASI layer need from the outside world goes through the
 * calls below; nothing else is shared between the layers.
 *
 * Error contract: calls that can fail return a negative WASI-style errno
 * (e.g. -WK_EIO); none of them abort.
 */
#ifndef WK_PLATFORM_H
#define WK_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

/* What the platform hands to the core. All pointers stay valid for the run. */
typedef struct wk_bootinfo {
  int argc; /* guest argv, argv[0] is the program name */
  const char *const *argv;
  int envc; /* "KEY=VALUE" strings */
  const char *const *envp;
  void *mem_base;       /* one zeroed, writable region for the runtime heap and */
  uint64_t mem_size;    /* linear memory; the core carves it up */
  uintptr_t stack_low;  /* lowest address of the stack wk_main runs on */
} wk_bootinfo;

/* Run the image's module; returns the guest's exit code. Provided by core. */
int wk_main(const wk_bootinfo *bi);

/* Console: stream 1 is stdout, 2 is stderr. Writes everything or fails. */
int wk_plat_console_write(int stream, const void *buf, size_t len);
/* stdin: bytes read, 0 at end of input, negative errno on error. */
long wk_plat_console_read(void *buf, size_t len);

/* Clocks, in nanoseconds. */
uint64_t wk_plat_clock_monotonic(void);
uint64_t wk_plat_clock_realtime(void);
uint64_t wk_plat_clock_resolution(void);

/* Fill buf with random bytes from the platform's entropy source; 0 or -errno. */
int wk_plat_entropy(void *buf, size_t len);

/* Stop the machine (or process) with this exit code. */
_Noreturn void wk_plat_exit(int code);

#endif /* WK_PLATFORM_H */
