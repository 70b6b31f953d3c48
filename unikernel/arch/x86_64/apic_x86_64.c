/*
 * apic_x86_64.c - local APIC (xAPIC), IOAPIC and the legacy PIC, just enough
 * to halt until a timer or a device interrupt (cpu_x86_64.h, "interrupts").
 *
 * Every register access here is an MMIO exit under a hypervisor (25-80 us on
 * these machines' PVM), so callers touch them only on the way into and out of
 * a halt, never while busy.
 */
#include "cpu_x86_64.h"

#define MSR_APIC_BASE 0x1b
#define APIC_BASE_ENABLE (1u << 11)
#define APIC_BASE_ADDR 0xfffff000ull
#define CPUID1_EDX_APIC (1u << 9)

enum {
  LAPIC_ID = 0x020,
  LAPIC_TPR = 0x080,
  LAPIC_EOI = 0x0b0,
  LAPIC_SVR = 0x0f0,
  LAPIC_LVT_TIMER = 0x320,
  LAPIC_LVT_LINT0 = 0x350,
  LAPIC_LVT_LINT1 = 0x360,
  LAPIC_LVT_ERROR = 0x370,
  LAPIC_TIMER_INIT = 0x380,
  LAPIC_TIMER_CUR = 0x390,
  LAPIC_TIMER_DIV = 0x3e0,
};
#define LVT_MASKED (1u << 16)
#define SVR_ENABLE (1u << 8)
#define TIMER_DIV_1 0xb

#define IOAPIC_BASE 0xfec00000u  /* the first IOAPIC (every PC-style VMM) */
#define IOAPIC2_BASE 0xfec10000u /* QEMU microvm's second one (ioapic2=on, with ACPI) */
#define IOAPIC_IOWIN 0x10
#define IOAPIC_REG_VER 0x01
#define IOAPIC_REG_REDTBL 0x10
#define IOAPIC_PINS_MAX 240

#define PIC1_DATA 0x21
#define PIC2_DATA 0xa1

/* Read by the interrupt stubs (trap_x86_64.S): set once here, before any
 * interrupt can be delivered. */
volatile uint64_t x86_irq_pending;
volatile uint32_t *x86_lapic_eoi;

static uintptr_t lapic; /* 0 until x86_apic_init succeeds */

static inline uint32_t lapic_rd(uint32_t reg) { return *(volatile uint32_t *)(lapic + reg); }

static inline void lapic_wr(uint32_t reg, uint32_t v) { *(volatile uint32_t *)(lapic + reg) = v; }

int x86_apic_init(void) {
  if (lapic != 0) {
    return 0;
  }
  if ((x86_cpuid(1, 0).edx & CPUID1_EDX_APIC) == 0) {
    return -1;
  }
  uint64_t msr = x86_rdmsr(MSR_APIC_BASE);
  uintptr_t base = (uintptr_t)(msr & APIC_BASE_ADDR);
  if (base < 0xc0000000u || base >= 0x100000000ull || x86_mmu_set_uncached(base, 4096) != 0) {
    return -1; /* not in the MMIO hole under 4 GiB: not ours to map uncached */
  }
  if ((msr & APIC_BASE_ENABLE) == 0) {
    x86_wrmsr(MSR_APIC_BASE, msr | APIC_BASE_ENABLE);
  }
  /* The 8259s: all lines masked (QEMU resets them unmasked with vector base 0,
   * and the PIT's channel 0 runs from reset). */
  x86_outb(PIC1_DATA, 0xff);
  x86_outb(PIC2_DATA, 0xff);
  lapic = base;
  x86_lapic_eoi = (volatile uint32_t *)(base + LAPIC_EOI);
  lapic_wr(LAPIC_LVT_LINT0, LVT_MASKED); /* QEMU resets LINT0 to ExtINT: the PIC's wire */
  lapic_wr(LAPIC_LVT_LINT1, LVT_MASKED);
  lapic_wr(LAPIC_LVT_ERROR, LVT_MASKED);
  lapic_wr(LAPIC_LVT_TIMER, LVT_MASKED);
  lapic_wr(LAPIC_TIMER_DIV, TIMER_DIV_1);
  lapic_wr(LAPIC_TPR, 0);
  lapic_wr(LAPIC_SVR, SVR_ENABLE | X86_IRQ_SPURIOUS);
  return 0;
}

void x86_apic_timer(uint32_t count) {
  if (lapic == 0) {
    return;
  }
  if (count != 0) {
    lapic_wr(LAPIC_LVT_TIMER, X86_IRQ_TIMER); /* one-shot, unmasked */
  }
  lapic_wr(LAPIC_TIMER_INIT, count); /* 0 stops it */
}

uint32_t x86_apic_timer_count(void) { return lapic == 0 ? 0 : lapic_rd(LAPIC_TIMER_CUR); }

static uint32_t ioapic_rd(uintptr_t base, uint32_t reg) {
  *(volatile uint32_t *)base = reg;
  return *(volatile uint32_t *)(base + IOAPIC_IOWIN);
}

static void ioapic_wr(uintptr_t base, uint32_t reg, uint32_t v) {
  *(volatile uint32_t *)base = reg;
  *(volatile uint32_t *)(base + IOAPIC_IOWIN) = v;
}

/* Pins of the IOAPIC at base, 0 when none answers there (version 0x11..0x2f). */
static uint32_t ioapic_pins(uintptr_t base) {
  if (x86_mmu_set_uncached(base, 4096) != 0) {
    return 0;
  }
  uint32_t ver = ioapic_rd(base, IOAPIC_REG_VER);
  uint32_t pins = ((ver >> 16) & 0xff) + 1;
  if ((ver & 0xff) < 0x11 || (ver & 0xff) > 0x2f || pins > IOAPIC_PINS_MAX) {
    return 0;
  }
  return pins;
}

int x86_ioapic_route(uint32_t gsi, uint8_t vector) {
  if (lapic == 0) {
    return -1;
  }
  uintptr_t base = IOAPIC_BASE;
  uint32_t pins = ioapic_pins(base);
  if (pins == 0) {
    return -1;
  }
  if (gsi >= pins) {
    gsi -= pins;
    base = IOAPIC2_BASE;
    pins = ioapic_pins(base);
    if (gsi >= pins) {
      return -1;
    }
  }
  uint32_t dest = lapic_rd(LAPIC_ID) >> 24;
  /* Fixed delivery, physical destination, active high, edge, unmasked. */
  ioapic_wr(base, IOAPIC_REG_REDTBL + 2 * gsi + 1, dest << 24);
  ioapic_wr(base, IOAPIC_REG_REDTBL + 2 * gsi, vector);
  return 0;
}

void x86_msi_message(uint8_t vector, uint64_t *addr, uint32_t *data) {
  uint32_t dest = lapic == 0 ? 0 : lapic_rd(LAPIC_ID) >> 24;
  *addr = 0xfee00000u | dest << 12; /* the MSI window; RH = DM = 0 */
  *data = vector;                   /* fixed, edge */
}

uint64_t x86_irq_wait(void) {
  /* sti's one-instruction shadow: nothing is delivered before hlt starts, and
   * whatever is pending ends the hlt at once. */
  __asm__ volatile("sti; hlt; cli" : : : "memory");
  return __atomic_exchange_n(&x86_irq_pending, 0, __ATOMIC_SEQ_CST);
}
