/*
 * trap_x86_64.c - GDT TSS, IDT and the CPU exception handler.
 *
 * Compiled Wasm code checks its own bounds, so a CPU exception means a bug in
 * the runtime or the compiler. The handler prints one line on stderr,
 *   wasmkiln: guest crashed: <exception name> (vector N) at rip=0x...
 * a second line with the fault details, and exits with 139 through
 * wk_plat_exit (so the host still gets the control line). Every exception runs
 * on a separate stack (IST1), so a stack overflow into the guard page below
 * the boot stack is still reported.
 */
#include <stdbool.h>

#include "cpu_x86_64.h"
#include "wk/platform.h"

#define GDT_CODE64 0x08
#define GDT_TSS 0x18
#define IDT_VECTORS 32  /* CPU exceptions */
#define IDT_ENTRIES 256 /* the whole table: exceptions, X86_IRQ_* vectors, spurious */
#define TRAP_EXIT_CODE 139
#define IST_STACK_SIZE 16384

typedef struct x86_trap_frame {
  uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
  uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
  uint64_t vector, error;
  uint64_t rip, cs, rflags, rsp, ss; /* pushed by the CPU */
} x86_trap_frame;

typedef struct __attribute__((packed)) x86_tss {
  uint32_t reserved0;
  uint64_t rsp[3];
  uint64_t reserved1;
  uint64_t ist[7];
  uint64_t reserved2;
  uint16_t reserved3;
  uint16_t iomap_base;
} x86_tss;
_Static_assert(sizeof(x86_tss) == 104, "64-bit TSS is 104 bytes");

typedef struct x86_idt_entry {
  uint16_t offset_lo;
  uint16_t selector;
  uint8_t ist;
  uint8_t type_attr;
  uint16_t offset_mid;
  uint32_t offset_hi;
  uint32_t reserved;
} x86_idt_entry;
_Static_assert(sizeof(x86_idt_entry) == 16, "64-bit IDT entry is 16 bytes");

typedef struct __attribute__((packed)) x86_table_ptr {
  uint16_t limit;
  uint64_t base;
} x86_table_ptr;

extern uint64_t x86_boot_gdt[];
extern const uint64_t x86_trap_stubs[IDT_VECTORS];
extern const uint64_t x86_irq_stubs[X86_IRQ_COUNT];
extern char x86_irq_spurious[];
void x86_trap_handler(x86_trap_frame *f);

static x86_tss tss;
static x86_idt_entry idt[IDT_ENTRIES]; /* unused vectors stay not-present (#GP if raised) */
static uint8_t ist_stack[IST_STACK_SIZE] __attribute__((aligned(16)));

static const char *const exception_names[IDT_VECTORS] = {
    "divide error",
    "debug",
    "non-maskable interrupt",
    "breakpoint",
    "overflow",
    "bound range exceeded",
    "invalid opcode",
    "device not available",
    "double fault",
    "coprocessor segment overrun",
    "invalid TSS",
    "segment not present",
    "stack-segment fault",
    "general protection fault",
    "page fault",
    "reserved (15)",
    "x87 floating-point error",
    "alignment check",
    "machine check",
    "SIMD floating-point exception",
    "virtualization exception",
    "control protection exception",
    "reserved (22)",
    "reserved (23)",
    "reserved (24)",
    "reserved (25)",
    "reserved (26)",
    "reserved (27)",
    "hypervisor injection exception",
    "VMM communication exception",
    "security exception",
    "reserved (31)",
};

static void set_gate(int v, uint64_t off, uint8_t ist) {
  idt[v].offset_lo = (uint16_t)off;
  idt[v].selector = GDT_CODE64;
  idt[v].ist = ist;
  idt[v].type_attr = 0x8e; /* present, DPL 0, 64-bit interrupt gate (clears IF) */
  idt[v].offset_mid = (uint16_t)(off >> 16);
  idt[v].offset_hi = (uint32_t)(off >> 32);
  idt[v].reserved = 0;
}

void x86_trap_init(void) {
  tss.ist[0] = (uint64_t)(uintptr_t)(ist_stack + IST_STACK_SIZE);
  tss.iomap_base = sizeof tss; /* no I/O permission bitmap */

  /* 64-bit TSS descriptor: limit, base split over 16 bytes, type 9, present. */
  uint64_t base = (uint64_t)(uintptr_t)&tss;
  uint64_t limit = sizeof tss - 1;
  x86_boot_gdt[GDT_TSS / 8] = (limit & 0xffff) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
                              ((limit >> 16 & 0xf) << 48) | ((base >> 24 & 0xff) << 56);
  x86_boot_gdt[GDT_TSS / 8 + 1] = base >> 32;
  __asm__ volatile("ltr %w0" : : "r"((uint16_t)GDT_TSS) : "memory");

  for (int v = 0; v < IDT_VECTORS; v++) {
    set_gate(v, x86_trap_stubs[v], 1);
  }
  /* Device interrupts arrive only inside x86_irq_wait's `sti; hlt`, on the
   * kernel's stack: no IST (an exception in between keeps its own). */
  for (int k = 0; k < X86_IRQ_COUNT; k++) {
    set_gate(X86_IRQ_BASE + k, x86_irq_stubs[k], 0);
  }
  set_gate(X86_IRQ_SPURIOUS, (uint64_t)(uintptr_t)x86_irq_spurious, 0);
  x86_table_ptr p = {.limit = sizeof idt - 1, .base = (uint64_t)(uintptr_t)idt};
  __asm__ volatile("lidt %0" : : "m"(p) : "memory");
}

/* ---- message formatting into a bounded buffer -------------------------------- */

typedef struct msgbuf {
  char text[256];
  size_t len;
} msgbuf;

static void put_str(msgbuf *m, const char *s) {
  while (*s != '\0' && m->len < sizeof m->text) {
    m->text[m->len++] = *s++;
  }
}

static void put_hex(msgbuf *m, uint64_t v) {
  char d[16];
  int n = 0;
  do {
    d[n++] = "0123456789abcdef"[v & 0xf];
    v >>= 4;
  } while (v != 0);
  put_str(m, "0x");
  while (n > 0 && m->len < sizeof m->text) {
    m->text[m->len++] = d[--n];
  }
}

static void put_dec(msgbuf *m, uint64_t v) {
  char d[20];
  int n = 0;
  do {
    d[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0 && m->len < sizeof m->text) {
    m->text[m->len++] = d[--n];
  }
}

/* Core's (wk/platform.h); weak so that the platform also links alone (tests/kvm_platform). */
__attribute__((weak)) void wk_memory_fault(uintptr_t addr);

void x86_trap_handler(x86_trap_frame *f) {
  static bool in_trap;
  if (in_trap) {
    wk_plat_exit(TRAP_EXIT_CODE); /* a fault while reporting: just leave */
  }
  uint64_t cr2 = x86_read_cr2();
  if (f->vector == 14 && wk_memory_fault) {
    wk_memory_fault(cr2); /* in linear memory's guard reservation: the OOB trap, no return */
  }
  in_trap = true;

  msgbuf m = {.len = 0};
  put_str(&m, "wasmkiln: guest crashed: ");
  put_str(&m, f->vector < IDT_VECTORS ? exception_names[f->vector] : "unknown exception");
  put_str(&m, " (vector ");
  put_dec(&m, f->vector);
  put_str(&m, ") at rip=");
  put_hex(&m, f->rip);
  put_str(&m, "\n");
  (void)wk_plat_console_write(2, m.text, m.len);

  m.len = 0;
  put_str(&m, "wasmkiln:   error=");
  put_hex(&m, f->error);
  if (f->vector == 14) {
    put_str(&m, " addr=");
    put_hex(&m, cr2);
  }
  put_str(&m, " rsp=");
  put_hex(&m, f->rsp);
  put_str(&m, " rflags=");
  put_hex(&m, f->rflags);
  put_str(&m, "\n");
  (void)wk_plat_console_write(2, m.text, m.len);
  wk_plat_exit(TRAP_EXIT_CODE);
}
