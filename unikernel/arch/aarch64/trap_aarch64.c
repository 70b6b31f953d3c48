/*
 * trap_aarch64.c - what the exception vectors (boot_aarch64.S) do.
 *
 * A data abort inside linear memory's guard reservation (KVM_GUARD_VBASE,
 * memory_kvm.c) is a Wasm out-of-bounds access: the handler rewrites the
 * saved frame so that the eret resumes in a64_fault_resume at EL1 on the
 * kernel's own stack (SP_EL0), which hands the address to core
 * (wk_memory_fault); core raises the Wasm trap there and unwinds to wk_main.
 * Unwinding from the exception stack itself would leave SP_EL1 pointing into
 * the kernel stack. Generated code has no trap instructions (docs/abi.md,
 * "AArch64"), so anything else -- another abort, BRK, UDF, an SError, an
 * interrupt nobody asked for -- is a bug in the runtime or the compiler: the
 * handler prints
 *   wasmkiln: guest crashed: <class> (ESR 0x...) at pc=0x...
 *   wasmkiln:   far=0x... sp=0x... spsr=0x...
 * on stderr and exits with 139, as the x86_64 kvm platform does.
 */
#include <stdbool.h>

#include "cpu_aarch64.h"
#include "kvm.h"
#include "wk/abi_layout.h"
#include "wk/core.h"
#include "wk/platform.h"

#define TRAP_EXIT_CODE 139
#define EC_DATA_ABORT_SAME_EL 0x25
#define SPSR_EL1T_MASKED 0x3c4 /* EL1 on SP_EL0, D/A/I/F masked */

typedef struct a64_frame {
  uint64_t x[31];
  uint64_t sp_el0, elr, spsr, esr, far;
} a64_frame;
_Static_assert(sizeof(a64_frame) == 288, "boot_aarch64.S FRAME_SIZE");

void a64_trap_handler(a64_frame *f, uint64_t kind);
_Noreturn void a64_fault_resume(uint64_t far, uint64_t esr, uint64_t pc);

/* Core's (wk/platform.h): the aarch64 platform always links with core (its
 * messages use wk_fmt, wk/core.h), unlike x86_64's stand-alone test kernel. */

static const char *class_name(uint64_t esr, uint64_t kind) {
  switch (kind & 3) {
  case 1: return "unexpected IRQ";
  case 2: return "unexpected FIQ";
  case 3: return "SError";
  default: break;
  }
  switch ((esr >> 26) & 0x3f) {
  case 0x00: return "undefined instruction";
  case 0x07: return "FP/SIMD access trap";
  case 0x0e: return "illegal execution state";
  case 0x15: return "SVC";
  case 0x18: return "system register trap";
  case 0x20:
  case 0x21: return "instruction abort";
  case 0x22: return "PC alignment fault";
  case 0x24:
  case 0x25: return "data abort";
  case 0x26: return "SP alignment fault";
  case 0x2c: return "floating-point exception";
  case 0x3c: return "breakpoint (BRK)";
  default: return "exception";
  }
}

_Noreturn static void report(uint64_t esr, uint64_t kind, uint64_t pc, uint64_t far, uint64_t sp,
                             uint64_t spsr) {
  static bool in_trap;
  if (in_trap) {
    wk_plat_exit(TRAP_EXIT_CODE); /* a fault while reporting: just leave */
  }
  in_trap = true;
  char m[256];
  size_t n = wk_fmt(m, sizeof m, "wasmkiln: guest crashed: %s (ESR 0x%lx) at pc=0x%lx\n",
                    class_name(esr, kind), (unsigned long)esr, (unsigned long)pc);
  (void)wk_plat_console_write(2, m, n);
  n = wk_fmt(m, sizeof m, "wasmkiln:   far=0x%lx sp=0x%lx spsr=0x%lx\n", (unsigned long)far,
             (unsigned long)sp, (unsigned long)spsr);
  (void)wk_plat_console_write(2, m, n);
  wk_plat_exit(TRAP_EXIT_CODE);
}

void a64_trap_handler(a64_frame *f, uint64_t kind) {
  if (kind >= 4 && kind < 8) {
    a64_power_off(); /* an exception inside a handler (on SP_EL1): no report can be trusted */
  }
  bool data_abort = kind == 0 && ((f->esr >> 26) & 0x3f) == EC_DATA_ABORT_SAME_EL;
  if (data_abort && f->far >= KVM_GUARD_VBASE && f->far - KVM_GUARD_VBASE < WK_MEMORY_RESERVE) {
    f->x[0] = f->far;
    f->x[1] = f->esr;
    f->x[2] = f->elr;
    f->elr = (uint64_t)(uintptr_t)a64_fault_resume;
    f->spsr = SPSR_EL1T_MASKED;
    return;
  }
  report(f->esr, kind, f->elr, f->far, f->sp_el0, f->spsr);
}

/* Entered by eret from a64_trap_handler, on the stack the fault happened on. */
_Noreturn void a64_fault_resume(uint64_t far, uint64_t esr, uint64_t pc) {
  wk_memory_fault((uintptr_t)far); /* the out-of-bounds trap: does not return */
  uint64_t sp;
  __asm__ volatile("mov %0, sp" : "=r"(sp));
  report(esr, 0, pc, far, sp, SPSR_EL1T_MASKED);
}
