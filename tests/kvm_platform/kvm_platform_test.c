/*
 * kvm_platform_test.c - a stand-in wk_main to check the x86_64 kvm platform
 * alone (no runtime core): prints argv and env on stdout, one line on stderr,
 * reads the clocks, draws 16 random bytes, checks the memory region, and
 * returns argc + 40. run_kvm_platform_test.py boots it and checks the output.
 *
 * With argv[1] == "wait" it first busy-waits 300 ms of monotonic time.
 * With argv[1] == "idle" it first rests 1 s in wk_plat_idle (the vCPU halts
 * on a local APIC timer) and prints "idle ok" and the number of halts.
 * With argv[1] == "crash" it reads the guard page below stack_low instead, to
 * exercise the exception handler (expected exit 139).
 */
#include <stddef.h>
#include <stdint.h>

#include "wk/platform.h"

static size_t slen(const char *s) {
  size_t n = 0;
  while (s[n] != '\0') {
    n++;
  }
  return n;
}

static void out(int stream, const char *s) {
  (void)wk_plat_console_write(stream, s, slen(s));
}

static void out_u64(int stream, uint64_t v) {
  char d[21];
  int n = 20;
  d[n] = '\0';
  do {
    d[--n] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  out(stream, d + n);
}

static int streq(const char *a, const char *b) {
  while (*a != '\0' && *a == *b) {
    a++;
    b++;
  }
  return *a == *b;
}

int wk_main(const wk_bootinfo *bi) {
  for (int i = 0; i < bi->argc; i++) {
    out(1, "arg ");
    out(1, bi->argv[i]);
    out(1, "\n");
  }
  for (int i = 0; i < bi->envc; i++) {
    out(1, "env ");
    out(1, bi->envp[i]);
    out(1, "\n");
  }
  out(2, "hello from stderr\n");

  if (bi->argc > 1 && streq(bi->argv[1], "wait")) {
    /* 300 ms by the monotonic clock; the runner compares with host time. The
     * clock re-measures its rate at 64 ms (clock_kvm.c): no read may be below
     * the last. */
    uint64_t w0 = wk_plat_clock_monotonic(), last = w0, now = w0;
    int steady = 1;
    while (now - w0 < 300000000u) {
      now = wk_plat_clock_monotonic();
      steady &= now >= last;
      last = now;
    }
    out(1, steady ? "monotonic steady\n" : "monotonic went back\n");
  }
  if (bi->argc > 1 && streq(bi->argv[1], "idle")) {
    /* 1 s, as a clock-only poll_oneoff waits: idle, then look at the clock. */
    uint64_t w0 = wk_plat_clock_monotonic(), now = w0, halts = 0;
    while (now - w0 < 1000000000u) {
      wk_plat_idle(1000000000u - (now - w0));
      halts++;
      now = wk_plat_clock_monotonic();
    }
    out(1, "idle ok after ");
    out_u64(1, halts);
    out(1, " halts\n");
  }
  if (bi->argc > 1 && streq(bi->argv[1], "crash")) {
    /* Just below stack_low: the guard page. */
    volatile uint64_t *bad = (volatile uint64_t *)(bi->stack_low - 8);
    out_u64(1, *bad);
  }

  /* Memory: aligned, above the image, zero (sampled every 4 KiB), writable. */
  uintptr_t base = (uintptr_t)bi->mem_base;
  int mem_ok = (base & 0xffff) == 0 && (bi->mem_size & 0xffff) == 0 &&
               bi->mem_size > 0 && base > bi->stack_low;
  volatile uint8_t *mem = bi->mem_base;
  for (uint64_t off = 0; mem_ok && off < bi->mem_size; off += 4096) {
    if (mem[off] != 0) {
      mem_ok = 0;
    }
  }
  mem[0] = 0xaa;
  mem[bi->mem_size - 1] = 0x55;
  mem_ok = mem_ok && mem[0] == 0xaa && mem[bi->mem_size - 1] == 0x55;
  out(1, mem_ok ? "mem ok " : "mem BAD ");
  out_u64(1, bi->mem_size >> 20);
  out(1, " MiB\n");

  /* Clocks: monotonic advances; a 2 ms busy wait reads as 2..50 ms. */
  uint64_t t0 = wk_plat_clock_monotonic();
  while (wk_plat_clock_monotonic() - t0 < 2000000) {
  }
  uint64_t t1 = wk_plat_clock_monotonic();
  out(1, t1 > t0 ? "monotonic ok\n" : "monotonic BAD\n");
  uint64_t rt = wk_plat_clock_realtime();
  out(1, "realtime ");
  out_u64(1, rt / 1000000000u);
  out(1, "\nresolution ");
  out_u64(1, wk_plat_clock_resolution());
  out(1, "\nuptime_us ");
  out_u64(1, t1 / 1000);
  out(1, "\n");

  uint8_t rnd[16] = {0};
  int rc = wk_plat_entropy(rnd, sizeof rnd);
  int nonzero = 0;
  for (size_t i = 0; i < sizeof rnd; i++) {
    nonzero |= rnd[i];
  }
  out(1, rc == 0 && nonzero ? "entropy ok\n" : "entropy BAD\n");

  uint8_t c;
  out(1, wk_plat_console_read(&c, 1) == 0 ? "stdin eof\n" : "stdin BAD\n");
  return bi->argc + 40;
}
