/*
 * gic_aarch64.c - just enough GICv2 (QEMU virt's default: distributor at
 * 0x08000000, CPU interface at 0x08010000) for an idle vCPU to wait.
 *
 * The kernel runs with IRQs masked (PSTATE.I = 1) and never takes an
 * interrupt: WFI wakes on a pending IRQ even while it is masked, so a waiter
 * arms the virtual timer, waits, and disarms it (the timer's output is a
 * level: disarming it drops the pending state, nothing to acknowledge). The
 * GIC only has to forward that level to the CPU: the distributor and the CPU
 * interface enabled, the interrupt enabled with a priority above the mask.
 * GIC Architecture Specification v2, sections 4.3 (GICD) and 4.4 (GICC).
 */
#include "cpu_aarch64.h"

#define GICD_BASE 0x08000000u
#define GICC_BASE 0x08010000u
#define GICD_CTLR 0x000
#define GICD_ISENABLER 0x100
#define GICD_IPRIORITYR 0x400
#define GICC_CTLR 0x000
#define GICC_PMR 0x004
#define IRQ_PRIORITY 0x80u
#define PRIORITY_MASK 0xf0u /* lets IRQ_PRIORITY through */

int a64_gic_enable(uint32_t intid) {
  if (intid >= 32) {
    return -1; /* SGIs and PPIs only: enough for the timer */
  }
  uintptr_t prio = GICD_BASE + GICD_IPRIORITYR + (intid & ~3u);
  uint32_t shift = 8 * (intid & 3);
  uint32_t v = a64_mmio_read32(prio);
  a64_mmio_write32(prio, (v & ~(0xffu << shift)) | IRQ_PRIORITY << shift);
  a64_mmio_write32(GICD_BASE + GICD_ISENABLER, 1u << intid);
  a64_mmio_write32(GICD_BASE + GICD_CTLR, 1);
  a64_mmio_write32(GICC_BASE + GICC_PMR, PRIORITY_MASK);
  a64_mmio_write32(GICC_BASE + GICC_CTLR, 1);
  return 0;
}
