/*
 * gic_aarch64.c - just enough GICv2 (QEMU virt's default: distributor at
 * 0x08000000, CPU interface at 0x08010000) for an idle vCPU to wait.
 *
 * The kernel runs with IRQs masked (PSTATE.I = 1) and never takes an
 * interrupt: WFI wakes on a pending IRQ even while it is masked, so a waiter
 * arms the virtual timer, waits, and disarms it (the timer's output is a
 * level: disarming it drops the pending state, nothing to acknowledge). An
 * edge-triggered SPI (virtio-mmio's) stays pending until cleared
 * (a64_gic_clear), or the next WFI would end at once. The
 * GIC only has to forward that level to the CPU: the distributor and the CPU
 * interface enabled, the interrupt enabled with a priority above the mask.
 * GIC Architecture Specification v2, sections 4.3 (GICD) and 4.4 (GICC).
 */
#include <stdbool.h>

#include "cpu_aarch64.h"

#define GICD_BASE 0x08000000u
#define GICC_BASE 0x08010000u
#define GICD_CTLR 0x000
#define GICD_ISENABLER 0x100
#define GICD_ISPENDR 0x200
#define GICD_ICPENDR 0x280
#define GICD_IPRIORITYR 0x400
#define GICD_ITARGETSR 0x800
#define GICD_ICFGR 0xc00
#define GIC_MAX_INTID 1020
#define GICC_CTLR 0x000
#define GICC_PMR 0x004
#define IRQ_PRIORITY 0x80u
#define PRIORITY_MASK 0xf0u /* lets IRQ_PRIORITY through */

/* Set byte intid of the byte-per-interrupt register array at reg. */
static void set_byte(uint32_t reg, uint32_t intid, uint32_t value) {
  uintptr_t at = GICD_BASE + reg + (intid & ~3u);
  uint32_t shift = 8 * (intid & 3);
  uint32_t v = a64_mmio_read32(at);
  a64_mmio_write32(at, (v & ~(0xffu << shift)) | value << shift);
}

int a64_gic_enable(uint32_t intid, bool edge) {
  if (intid >= GIC_MAX_INTID) {
    return -1;
  }
  set_byte(GICD_IPRIORITYR, intid, IRQ_PRIORITY);
  if (intid >= 32) { /* an SPI: to CPU 0, with its trigger */
    set_byte(GICD_ITARGETSR, intid, 0x01);
    uintptr_t cfg = GICD_BASE + GICD_ICFGR + 4 * (intid / 16);
    uint32_t bit = 2u << (2 * (intid % 16));
    uint32_t v = a64_mmio_read32(cfg);
    a64_mmio_write32(cfg, edge ? v | bit : v & ~bit);
  }
  a64_mmio_write32(GICD_BASE + GICD_ISENABLER + 4 * (intid / 32), 1u << (intid % 32));
  a64_mmio_write32(GICD_BASE + GICD_CTLR, 1);
  a64_mmio_write32(GICC_BASE + GICC_PMR, PRIORITY_MASK);
  a64_mmio_write32(GICC_BASE + GICC_CTLR, 1);
  return 0;
}

bool a64_gic_pending(uint32_t intid) {
  return intid < GIC_MAX_INTID &&
         (a64_mmio_read32(GICD_BASE + GICD_ISPENDR + 4 * (intid / 32)) >> (intid % 32)) & 1;
}

void a64_gic_clear(uint32_t intid) {
  if (intid < GIC_MAX_INTID) {
    a64_mmio_write32(GICD_BASE + GICD_ICPENDR + 4 * (intid / 32), 1u << (intid % 32));
  }
}
