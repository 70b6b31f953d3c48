/*
 * idle_kvm.c - halting the vCPU when the guest has nothing to do, instead of
 * spinning (x86_64 kvm platform).
 *
 * Why: a spinning vCPU takes a whole host core. Under TCG (tests, CI) that is
 * the core QEMU's I/O thread, passt and the client also need; under KVM it is
 * a core other guests need. A halted vCPU costs nothing until an interrupt.
 *
 * How: a one-shot local APIC timer bounds the halt (apic_x86_64.c), the NIC's
 * interrupt (net_kvm.c) may end it earlier. The timer's rate is measured once
 * against the TSC (clock_kvm.c) on the first halt, over KVM_APIC_CALIB_NS: it
 * is 1 GHz on QEMU and KVM, but nothing promises that. Without a usable local
 * APIC, kvm_halt returns at once and callers spin as before.
 *
 * The measurement is short because it is on the way to a server's first answer
 * (the first halt is the first wait for a connection; under TCG the loop costs
 * its time in CPU too): 250 us, each end read as the narrowest of a few
 * [clock, counter, clock] brackets, so a read that the host delays (a TCG vCPU
 * descheduled, a register access waiting on QEMU's lock) is not taken. Under
 * TCG at load ~10, ten launches measured the rate within 0.05% of each other
 * but one (0.15%); the 2 ms loop before it cost 2 ms of the first answer. A
 * halt's length only bounds a wait whose caller checks the clock anyway.
 */
#include <stdbool.h>

#include "cpu_x86_64.h"
#include "kvm.h"
#include "wk/platform.h"

#define KVM_APIC_CALIB_NS 250000ull   /* 250 us, once (see the top) */
#define KVM_APIC_CALIB_TRIES 4        /* brackets per end of the measurement */
#define KVM_HALT_MAX_NS 1000000000ull /* one halt at most 1 s: callers loop */

static int idle_state;     /* 0 not tried, 1 usable, -1 no APIC timer */
static uint64_t apic_mult; /* timer ticks per ns, 32.32 fixed point */

/* The timer's current count (*count) and the monotonic time it was read at. */
static uint64_t timer_sample(uint32_t *count) {
  return kvm_read_bracketed(wk_plat_clock_monotonic, x86_apic_timer_count, KVM_APIC_CALIB_TRIES,
                            count);
}

static int idle_init(void) {
  if (x86_apic_init() != 0) {
    return -1;
  }
  x86_apic_timer(0xffffffffu); /* masked after the measurement's end */
  uint32_t c0 = 0, c1 = 0;
  uint64_t t0 = timer_sample(&c0), t1 = t0;
  while (wk_plat_clock_monotonic() - t0 < KVM_APIC_CALIB_NS) {
    __builtin_ia32_pause();
  }
  t1 = timer_sample(&c1);
  x86_apic_timer(0);
  if (c1 >= c0 || t1 <= t0) {
    return -1; /* not counting */
  }
  apic_mult = ((uint64_t)(c0 - c1) << 32) / (t1 - t0);
  return apic_mult == 0 ? -1 : 1;
}

bool kvm_halt(uint64_t timeout_ns, uint64_t *seen) {
  *seen = 0;
  if (idle_state == 0) {
    idle_state = idle_init();
  }
  if (idle_state < 0 || timeout_ns == 0) {
    return false;
  }
  if (timeout_ns > KVM_HALT_MAX_NS) {
    timeout_ns = KVM_HALT_MAX_NS;
  }
  unsigned __int128 ticks = ((unsigned __int128)timeout_ns * apic_mult) >> 32;
  x86_apic_timer(ticks == 0 ? 1 : ticks > 0xffffffffu ? 0xffffffffu : (uint32_t)ticks);
  *seen = x86_irq_wait();
  if ((*seen & KVM_IRQ_BIT(X86_IRQ_TIMER)) == 0) {
    x86_apic_timer(0); /* woken by a device: the timer must not fire later */
  }
  return true;
}

void wk_plat_idle(uint64_t timeout_ns) {
  uint64_t seen;
  (void)kvm_halt(timeout_ns, &seen);
}
