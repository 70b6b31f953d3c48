/*
 * cpu_aarch64.h - arch-private AArch64 helpers for the kvm platform.
 *
 * System-register access and barriers as inline functions, plus the arch
 * services implemented in arch/aarch64: the exception vectors
 * (trap_aarch64.c), the page tables (mmu_aarch64.c) and the boot code
 * (boot_aarch64.S). Only platform/kvm and drivers/ include this header.
 */
#ifndef WK_CPU_AARCH64_H
#define WK_CPU_AARCH64_H

#include <stdbool.h>
#include <stdint.h>

#define A64_READ_SYSREG(name)                      \
  ({                                               \
    uint64_t v_;                                   \
    __asm__ volatile("mrs %0, " #name : "=r"(v_)); \
    v_;                                            \
  })

static inline uint64_t a64_cntvct(void) {
  uint64_t v;
  __asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(v) : : "memory");
  return v;
}

static inline uint64_t a64_cntfrq(void) { return A64_READ_SYSREG(cntfrq_el0); }

/* One RNDR attempt (FEAT_RNG): true and *out set on success (NZCV.Z = 0). */
static inline bool a64_rndr(uint64_t *out) {
  uint64_t v, nzcv;
  __asm__ volatile("mrs %0, s3_3_c2_c4_0\n\tmrs %1, nzcv" : "=r"(v), "=r"(nzcv) : : "cc");
  *out = v;
  return (nzcv & (1ull << 30)) == 0;
}

static inline bool a64_has_rndr(void) { return (A64_READ_SYSREG(id_aa64isar0_el1) >> 60) != 0; }

static inline uint32_t a64_mmio_read32(uintptr_t addr) {
  uint32_t v;
  __asm__ volatile("ldr %w0, [%1]" : "=r"(v) : "r"(addr) : "memory");
  return v;
}

static inline void a64_mmio_write32(uintptr_t addr, uint32_t v) {
  __asm__ volatile("str %w0, [%1]" : : "r"(v), "r"(addr) : "memory");
}

_Noreturn static inline void a64_halt_forever(void) {
  for (;;) {
    __asm__ volatile("msr daifset, #0xf\n\twfi");
  }
}

/* PSCI SYSTEM_OFF by HVC (QEMU implements PSCI itself for a kernel it boots at
 * EL1); halts if that returns. */
_Noreturn static inline void a64_power_off(void) {
  register uint64_t x0 __asm__("x0") = 0x84000008u;
  __asm__ volatile("hvc #0" : "+r"(x0) : : "memory");
  a64_halt_forever();
}

/* ---- arch services -------------------------------------------------------- */

/* Identity-map RAM [4 GiB, end) (the boot code maps up to 4 GiB) with 1 GiB
 * blocks. Returns the end actually mapped. */
uint64_t a64_mmu_map_identity(uint64_t end);

/* Make the 4 KiB page at addr (page-aligned, in the boot map's RAM) not
 * present, splitting blocks as needed: the stack guard pages. 0 or -1. */
int a64_mmu_unmap_page(uintptr_t addr);

/* Forward interrupt intid (a PPI, or an SPI to this CPU, edge- or level-triggered)
 * from the GICv2 to this CPU, which keeps it masked: it only ends a WFI
 * (gic_aarch64.c). 0, or -1 for an intid the GIC cannot have. */
int a64_gic_enable(uint32_t intid, bool edge);
/* Whether intid is pending; clear an edge-triggered one's pending state. */
bool a64_gic_pending(uint32_t intid);
void a64_gic_clear(uint32_t intid);
#define A64_INTID_VTIMER 27          /* the virtual timer's PPI (virt's device tree: PPI 11) */
#define A64_INTID_SPI(n) (32u + (n)) /* device tree <0 n flags>: SPI n */

/* Wait in WFI for at most timeout_ns (capped at 1 s) or until an enabled
 * interrupt is pending; false at once when there is no GIC to wake us
 * (clock_kvm_aarch64.c). */
bool a64_wait(uint64_t timeout_ns);

/* Switch to the stack ending at top (16-byte aligned) and call fn(arg) there;
 * never returns. boot_aarch64.S. */
_Noreturn void a64_run_on_stack(void *top, void (*fn)(void *), void *arg);

/* The trap reporting of trap_aarch64.c needs to know the run's stack guard. */
void a64_trap_set_stack_guard(uintptr_t guard_page);

/* Symbols from boot_aarch64.S and link_aarch64.ld. */
extern char a64_boot_stack_low[];
extern char __image_start[], _end[];

#endif /* WK_CPU_AARCH64_H */
