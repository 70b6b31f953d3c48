/*
 * cpu_x86_64.h - arch-private x86_64 helpers for the kvm platform.
 *
 * Port I/O, CPUID, TSC, RDRAND, MSR and control-register access as inline
 * functions, plus the arch services implemented in arch/x86_64:
 * the exception table (trap_x86_64.c), the identity map (mmu_x86_64.c) and
 * the interrupt controllers (apic_x86_64.c).
 * Only platform/kvm and drivers/ include this header.
 */
#ifndef WK_CPU_X86_64_H
#define WK_CPU_X86_64_H

#include <stdbool.h>
#include <stdint.h>

/* ---- port I/O ----------------------------------------------------------- */
static inline void x86_outb(uint16_t port, uint8_t v) {
  __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void x86_outl(uint16_t port, uint32_t v) {
  __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline void x86_outw(uint16_t port, uint16_t v) {
  __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t x86_inb(uint16_t port) {
  uint8_t v;
  __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}
static inline uint32_t x86_inl(uint16_t port) {
  uint32_t v;
  __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
  return v;
}

/* ---- CPU identification and state --------------------------------------- */
typedef struct x86_cpuid_regs {
  uint32_t eax, ebx, ecx, edx;
} x86_cpuid_regs;

static inline x86_cpuid_regs x86_cpuid(uint32_t leaf, uint32_t subleaf) {
  x86_cpuid_regs r;
  __asm__ volatile("cpuid"
                   : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
                   : "a"(leaf), "c"(subleaf));
  return r;
}

static inline uint64_t x86_rdtsc(void) {
  uint32_t lo, hi;
  __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

/* One RDRAND attempt: true and *out set on success (CF=1). */
static inline bool x86_rdrand64(uint64_t *out) {
  uint64_t v;
  uint8_t ok;
  __asm__ volatile("rdrand %0; setc %1" : "=r"(v), "=qm"(ok) : : "cc");
  *out = v;
  return ok != 0;
}

static inline uint64_t x86_rdmsr(uint32_t msr) {
  uint32_t lo, hi;
  __asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
  return ((uint64_t)hi << 32) | lo;
}

static inline void x86_wrmsr(uint32_t msr, uint64_t v) {
  __asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

static inline uint64_t x86_read_cr2(void) {
  uint64_t v;
  __asm__ volatile("mov %%cr2, %0" : "=r"(v));
  return v;
}

static inline void x86_invlpg(uintptr_t addr) {
  __asm__ volatile("invlpg (%0)" : : "r"(addr) : "memory");
}

static inline void x86_flush_tlb(void) {
  uint64_t cr3;
  __asm__ volatile("mov %%cr3, %0; mov %0, %%cr3" : "=r"(cr3) : : "memory");
}

_Noreturn static inline void x86_halt_forever(void) {
  for (;;) {
    __asm__ volatile("cli; hlt");
  }
}

/* ---- arch services ------------------------------------------------------- */

/* Install the GDT's TSS (with a separate stack for double faults, NMIs and
 * machine checks) and the IDT for the 32 CPU exception vectors. Any exception
 * prints "wasmkiln: guest crashed: ..." on stderr and exits with 139. */
void x86_trap_init(void);

/* Identity-map [0, end) (the boot code maps the first 4 GiB). Returns the end
 * actually mapped, which is smaller if the page-table pool runs out. */
uint64_t x86_mmu_map_identity(uint64_t end);

/* Make the 4 KiB page at addr (page-aligned, below 4 GiB) not present:
 * used for the null page and the guard page under the stack. 0 or -1. */
int x86_mmu_unmap_page(uintptr_t addr);

/* kvm_mmu_map_page, kvm_mmu_unmap_mapped: platform/kvm/kvm.h. */

/* Make [addr, addr + len) (below 4 GiB) uncacheable, for device registers
 * (virtio-mmio). Works on whole 2 MiB pages unless they were split: callers
 * pass MMIO windows, which share no 2 MiB page with RAM. 0 or -1. */
int x86_mmu_set_uncached(uintptr_t addr, uint64_t len);

/* ---- interrupts (apic_x86_64.c) ---------------------------------------------
 * The kernel runs with IF=0. A waiter that has nothing to do arms a one-shot
 * local APIC timer and/or a device interrupt, then x86_irq_wait enables
 * interrupts only across `sti; hlt`. The handlers (trap_x86_64.S) just note
 * the vector in a pending mask and send EOI; nothing runs asynchronously.
 * xAPIC (MMIO at the address IA32_APIC_BASE gives), not x2APIC: QEMU's TCG
 * has no x2APIC and no TSC-deadline mode, so the timer is one-shot. */
#define X86_IRQ_BASE 32      /* first device/timer vector */
#define X86_IRQ_COUNT 8      /* vectors 32..39 have handlers */
#define X86_IRQ_SPURIOUS 255 /* the local APIC's spurious vector */
#define X86_IRQ_TIMER 32     /* the local APIC timer's vector */

/* Enable the local APIC (timer masked, LINT0/LINT1 masked) and mask the
 * legacy 8259 PICs, whose IRQ 0 (the PIT) would otherwise arrive through
 * LINT0 as vector 8. 0, or -1 without a usable local APIC. */
int x86_apic_init(void);
/* Start the one-shot timer: X86_IRQ_TIMER after `count` ticks (divide by 1;
 * the rate is the caller's to calibrate). 0 stops it. */
void x86_apic_timer(uint32_t count);
/* The timer's current count (0 when expired or stopped). */
uint32_t x86_apic_timer_count(void);
/* Route global system interrupt gsi (IOAPIC pin; microvm's second IOAPIC at
 * 0xfec10000 takes the GSIs after the first one's pins) to vector on this CPU,
 * edge-triggered, active high. 0, or -1 when no IOAPIC has that pin. */
int x86_ioapic_route(uint32_t gsi, uint8_t vector);
/* The MSI message that raises vector on this CPU (fixed delivery, edge, physical
 * destination = this local APIC's ID): for a device's MSI-X table entry. */
void x86_msi_message(uint8_t vector, uint64_t *addr, uint32_t *data);
/* Halt with interrupts enabled until one arrives (IF=0 again on return), and
 * take the mask of vectors seen since the last call: bit (v - X86_IRQ_BASE).
 * An interrupt that arrived while IF=0 is still pending in the local APIC and
 * ends the halt at once, so a wake-up armed before the call is never lost. */
uint64_t x86_irq_wait(void);

/* Switch to the stack ending at top (16-byte aligned) and call fn(arg) there;
 * never returns (fn must not return either). boot_pvh_x86_64.S. */
_Noreturn void x86_run_on_stack(void *top, void (*fn)(void *), void *arg);

/* Symbols from boot_pvh_x86_64.S and link.ld. */
extern char x86_boot_stack_low[];
extern char __image_start[], _end[];

#endif /* WK_CPU_X86_64_H */
