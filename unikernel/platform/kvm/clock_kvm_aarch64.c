/*
 * clock_kvm_aarch64.c - clocks, entropy and idling for the aarch64 kvm
 * platform (QEMU virt).
 *
 * Monotonic: the generic timer's virtual count (CNTVCT_EL0) since boot, at
 * CNTFRQ_EL0 (62.5 MHz on QEMU 7.2), converted with a 32.32 fixed-point
 * factor. Nothing to calibrate, unlike x86's TSC. Realtime: the PL031 RTC's
 * seconds (virt: 0x09010000, UTC) read once plus monotonic time since.
 * Entropy: RNDR (FEAT_RNG; QEMU's -cpu max has it), retried 10 times per word;
 * without it -WK_ENOSYS: never fake randomness. Idle: the virtual timer
 * armed for the timeout, then WFI, which its interrupt ends even though the
 * kernel keeps IRQs masked (arch/aarch64/gic_aarch64.c); so a sleeping guest
 * costs the host nothing between wake-ups instead of a spinning core.
 */
#include <stdbool.h>

#include "cpu_aarch64.h"
#include "kvm.h"
#include "wk/errno.h"
#include "wk/platform.h"

#define VIRT_PL031 0x09010000u
#define PL031_DR 0x00
#define NSEC_PER_SEC 1000000000ull
#define RNDR_RETRIES 10
#define IDLE_MAX_NS 1000000000ull /* one wait at most 1 s: callers loop on the clock */
#define CNTV_CTL_ENABLE 1u

static uint64_t cnt_boot;
static uint64_t cnt_hz;
static uint64_t cnt_mult; /* ns per tick, 32.32 fixed point */
static int idle_state;    /* 0 not tried, 1 the timer wakes WFI, -1 no GIC: spin */
static bool rtc_read;
static uint64_t rtc_ns, rtc_mono;

void kvm_clock_init(void) {
  cnt_boot = a64_cntvct();
  uint64_t hz = a64_cntfrq();
  if (hz == 0) {
    static const char msg[] = "wasmkiln: CNTFRQ_EL0 is 0; assuming 62.5 MHz\n";
    (void)wk_plat_console_write(2, msg, sizeof msg - 1);
    hz = 62500000;
  }
  cnt_hz = hz;
  cnt_mult = (NSEC_PER_SEC << 32) / hz;
}

uint64_t wk_plat_clock_monotonic(void) {
  uint64_t delta = a64_cntvct() - cnt_boot;
  return (uint64_t)(((unsigned __int128)delta * cnt_mult) >> 32);
}

uint64_t wk_plat_clock_realtime(void) {
  if (!rtc_read) {
    rtc_ns = (uint64_t)a64_mmio_read32(VIRT_PL031 + PL031_DR) * NSEC_PER_SEC;
    rtc_mono = wk_plat_clock_monotonic();
    rtc_read = true;
  }
  return rtc_ns + (wk_plat_clock_monotonic() - rtc_mono);
}

uint64_t wk_plat_clock_resolution(void) {
  return cnt_mult >> 32 ? cnt_mult >> 32 : 1; /* one tick, 16 ns at 62.5 MHz */
}

/* One RNDR word, RNDR_RETRIES tries (it may fail transiently, as RDRAND can). */
static bool rndr_word(uint64_t *out) {
  for (int i = 0; i < RNDR_RETRIES; i++) {
    if (a64_rndr(out)) {
      return true;
    }
  }
  return false;
}

int wk_plat_entropy(void *buf, size_t len) {
  return a64_has_rndr() ? kvm_entropy_fill(buf, len, rndr_word) : -WK_ENOSYS;
}

bool a64_wait(uint64_t timeout_ns) {
  if (idle_state == 0) {
    idle_state = a64_gic_enable(A64_INTID_VTIMER, false) == 0 ? 1 : -1;
  }
  if (idle_state < 0 || timeout_ns == 0) {
    return false;
  }
  if (timeout_ns > IDLE_MAX_NS) {
    timeout_ns = IDLE_MAX_NS;
  }
  /* kHz, so that 1 s of ticks fits 64 bits (no 128-bit division in a freestanding kernel). */
  uint64_t ticks = timeout_ns * (cnt_hz / 1000) / 1000000;
  __asm__ volatile("msr cntv_tval_el0, %0\n\tmsr cntv_ctl_el0, %1\n\tisb"
                   :
                   : "r"(ticks ? ticks : 1), "r"((uint64_t)CNTV_CTL_ENABLE)
                   : "memory");
  __asm__ volatile("dsb sy\n\twfi" : : : "memory");
  __asm__ volatile("msr cntv_ctl_el0, xzr\n\tisb" : : : "memory");
  return true;
}

void wk_plat_idle(uint64_t timeout_ns) { (void)a64_wait(timeout_ns); }
