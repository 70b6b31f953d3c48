/*
 * platform/spt/memory_spt.c - guard-region linear memory for the spt process.
 *
 * Linear memory gets WK_MEMORY_RESERVE bytes (4 GiB + 2 GiB guard) of address
 * space mapped PROT_NONE and MAP_NORESERVE (it costs neither RAM nor swap);
 * memory.grow makes pages readable and writable with mprotect, which the
 * seccomp filter allows for PROT_READ|PROT_WRITE only. Code compiled for guard
 * memory then needs no bounds check: an access beyond the size lands in the
 * reservation, the kernel sends SIGSEGV, and the handler (on its own stack,
 * so a stack overflow is still reported) asks core whether the address is in
 * the reservation: then it is the out-of-bounds trap, which unwinds to wk_main
 * from the handler (no sigreturn; the process exits right after). Any other
 * fault is a crash: a message on stderr and exit status 139, as on kvm.
 */
#include <linux/mman.h>
#include <stddef.h>
#include <stdint.h>

#include "syscall_spt_x86_64.h"
#include "wk/abi_layout.h"
#include "wk/platform.h"

#define SIGBUS 7
#define SIGSEGV 11
#define SA_SIGINFO 0x4ul
#define SA_ONSTACK 0x08000000ul
#define SA_RESTORER 0x04000000ul
#define SA_NODEFER 0x40000000ul
#define SIGINFO_ADDR 16 /* offsetof(siginfo_t, si_addr) on x86_64 */
#define ALT_STACK_SIZE (64u * 1024u)
#define CRASH_EXIT 139

/* The symbol guard-compiled modules reference (bridge/abi.py GUARD_RUNTIME_SYMBOL). */
const char wk_runtime_memory_guard[] = "spt";

/* The kernel's struct sigaction for rt_sigaction (not glibc's). */
struct kernel_sigaction {
  void (*handler)(int, void *, void *);
  unsigned long flags;
  void (*restorer)(void);
  uint64_t mask;
};

struct kernel_stack {
  void *sp;
  int flags;
  size_t size;
};

void wk_spt_sigreturn(void); /* start_spt_x86_64.S: rt_sigreturn */

/* Mapped before the seccomp filter is installed (mmap is not allowed after),
 * handed out once. */
static void *reservation;

void *wk_plat_memory_reserve(uint64_t size) {
  void *r = reservation;
  if (size > WK_MEMORY_RESERVE) return NULL;
  reservation = NULL;
  return r;
}

int wk_plat_memory_commit(void *addr, uint64_t size) {
  long r = wk_sys3(__NR_mprotect, (long)addr, (long)size, PROT_READ | PROT_WRITE);
  return r < 0 ? (int)r : 0;
}

static void put(const char *s, size_t n) { (void)wk_plat_console_write(2, s, n); }

static void on_fault(int sig, void *info, void *uctx) {
  (void)uctx;
  uintptr_t addr = *(const uintptr_t *)((const char *)info + SIGINFO_ADDR);
  wk_memory_fault(addr); /* returns only when addr is not in linear memory's reservation */
  char msg[80] = "wasmkiln: guest crashed: SIGSEGV at 0x";
  size_t n = 38;
  if (sig == SIGBUS) msg[28] = 'B', msg[29] = 'U', msg[30] = 'S';
  for (int shift = 60; shift >= 0; shift -= 4) msg[n++] = "0123456789abcdef"[(addr >> shift) & 15];
  msg[n++] = '\n';
  put(msg, n);
  wk_plat_exit(CRASH_EXIT);
}

int wk_spt_memory_install(void) {
  long r = wk_sys6(__NR_mmap, 0, (long)WK_MEMORY_RESERVE, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (r < 0 && r > -4096) return (int)r;
  reservation = (void *)r;
  r = wk_sys6(__NR_mmap, 0, ALT_STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
              0);
  if (r < 0 && r > -4096) return (int)r;
  struct kernel_stack ss = {.sp = (void *)r, .flags = 0, .size = ALT_STACK_SIZE};
  r = wk_sys3(__NR_sigaltstack, (long)&ss, 0, 0);
  if (r < 0) return (int)r;
  struct kernel_sigaction sa = {
      .handler = on_fault,
      .flags = SA_SIGINFO | SA_ONSTACK | SA_RESTORER | SA_NODEFER,
      .restorer = wk_spt_sigreturn,
      .mask = 0,
  };
  static const int sigs[] = {SIGSEGV, SIGBUS};
  for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
    r = wk_sys6(__NR_rt_sigaction, sigs[i], (long)&sa, 0, sizeof sa.mask, 0, 0);
    if (r < 0) return (int)r;
  }
  return 0;
}
