/*
 * kvm.h - private interfaces between the files of the x86_64 kvm platform.
 *
 * Boot order (start_kvm.c): console -> traps -> command line -> memory ->
 * clocks -> wk_main -> wk_plat_exit.
 */
#ifndef WK_KVM_H
#define WK_KVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit code when the platform itself cannot start the guest (bad command
 * line, no memory map, ...). Documented in README.md. */
#define KVM_EXIT_BOOT_ERROR 125
/* Exit code after a CPU exception (as a shell reports SIGSEGV). */
#define KVM_EXIT_CRASH 139

/* ---- console_kvm.c (console_kvm_aarch64.c) ---------------------------------- */
void kvm_console_init(void);

/* ---- shared_kvm.c (both architectures) ---------------------------------------- */
typedef struct kvm_range {
  uint64_t base, size;
} kvm_range;
/* The run's packed file system (`wasmkiln run IMAGE --dir`), read in place:
 * the PVH boot module (x86_64) or the device tree's initrd (aarch64); the
 * start code sets it, wk_plat_fs_image hands it to the core. size 0: none. */
extern kvm_range kvm_fs_module;
/* Shrink the RAM range [*start, *end) to the larger side around kvm_fs_module
 * (its pages, align-rounded, are read in place and must stay out of the
 * runtime's memory); unchanged when there is none or it lies outside. */
void kvm_avoid_fs_module(uint64_t *start, uint64_t *end, uint64_t align);

/* Fill buf from word, a hardware source of random 64-bit words (RDRAND, RNDR)
 * that retries transient failures itself. 0, or -WK_EIO when word failed. */
int kvm_entropy_fill(void *buf, size_t len, bool (*word)(uint64_t *out));

static inline uint64_t kvm_align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

static inline uint64_t kvm_align_down(uint64_t v, uint64_t a) { return v & ~(a - 1); }

#define KVM_EXIT_LINE_MAX 24
/* Write "exit <code>\n" (decimal, may be negative) into line; its length. */
size_t kvm_exit_line(char line[KVM_EXIT_LINE_MAX], int code);
/* Print "wasmkiln: <msg>\n" on stderr and exit with KVM_EXIT_BOOT_ERROR. */
_Noreturn void kvm_fatal(const char *msg);

/* ---- cmdline_kvm.c --------------------------------------------------------- */
/* Limits on what the command line may carry (README.md "Command line"). */
#define KVM_CMDLINE_MAX 16384 /* bytes, without the NUL */
#define KVM_ARGS_MAX 256
#define KVM_ENVS_MAX 256

typedef struct kvm_cmdline {
  int argc;
  const char *const *argv; /* argv[argc] == NULL */
  int envc;
  const char *const *envp; /* envp[envc] == NULL */
} kvm_cmdline;

/* Copy the NUL-terminated command line at raw (may be NULL: no arguments)
 * into private storage and decode it. Returns NULL, or a static message
 * describing why the command line was refused. */
const char *kvm_cmdline_parse(const char *raw, kvm_cmdline *out);
/* The raw command line as copied by kvm_cmdline_parse (never NULL). */
const char *kvm_cmdline_raw(void);

/* ---- urunc_kvm.c ----------------------------------------------------------- */
/* Rewrite urunc's mewz- and unikraft-style command lines (ip=, gateway=,
 * netdev.ip=, env.vars=[ ], `APP ... -- args`) into wasmkiln's tokens, into
 * out (cap bytes, NUL included); other tokens pass through. NULL, or a static
 * message saying why the command line was refused. */
const char *kvm_urunc_translate(const char *raw, char *out, size_t cap);
/* The exit devices of urunc's monitors, tried after the runner's
 * isa-debug-exit: port 0x501 (urunc's QEMU line), then an i8042 reset
 * (Firecracker). Returns if none of them stopped the VM. */
void kvm_vmm_exit(int code);

/* ---- net_kvm.c ------------------------------------------------------------- */
/* Read the net.* and virtio_mmio.device= tokens (README.md "Network").
 * NULL, or a static message saying why the command line was refused. */
const char *kvm_net_parse(const char *raw);
/* The listeners an image records (`wasmkiln build -p/--listen`): net.listen=/
 * net.publish= tokens the image's generated C may define (pyhook/image.py).
 * Used when the command line names no listener of its own, as under urunc,
 * which passes none. */
extern const char wk_image_net_tokens[] __attribute__((weak));

/* ---- idle_kvm.c ------------------------------------------------------------ */
#define KVM_IRQ_NIC 33 /* the virtio-net interrupt's vector (X86_IRQ_BASE + 1) */
#define KVM_IRQ_BIT(vector) (1ull << ((vector)-32))

/* Halt the vCPU for at most timeout_ns (capped at 1 s) or until an interrupt
 * that was armed before the call (the NIC's, net_kvm.c). *seen gets the
 * vectors that fired (KVM_IRQ_BIT). False, at once, when the platform cannot
 * halt (no local APIC timer) or timeout_ns is 0: the caller then spins. */
bool kvm_halt(uint64_t timeout_ns, uint64_t *seen);

/* ---- clock_kvm.c ----------------------------------------------------------- */
/* Note the TSC at boot (monotonic time counts from here); calibration and the
 * RTC read happen on the first clock read (clock_kvm.c "Lazy"). */
void kvm_clock_init(void);

/* A device counter read between two clock reads, the host's delays left out:
 * of `tries` reads of read(), the one whose [now() before, now() after] is
 * narrowest; *value gets it and the result is that bracket's middle. (A port
 * or register access may wait on the hypervisor's device lock, a TCG vCPU may
 * be descheduled between two instructions.) The PIT's calibration reads and
 * the APIC timer's (idle_kvm.c) share it. */
uint64_t kvm_read_bracketed(uint64_t (*now)(void), uint32_t (*read)(void), int tries,
                            uint32_t *value);

/* ---- fdt_kvm.c (aarch64) ---------------------------------------------------- */
/* What the platform takes from QEMU's device tree. */
typedef struct kvm_fdt_info {
  uint64_t mem_base, mem_size;       /* the first /memory range */
  const char *bootargs;              /* /chosen/bootargs inside the tree, or NULL */
  uint64_t initrd_start, initrd_end; /* /chosen/linux,initrd-*; equal when none */
} kvm_fdt_info;
/* Read the tree at dtb. NULL, or a static message saying why it was refused. */
const char *kvm_fdt_read(const void *dtb, kvm_fdt_info *out);

/* ---- arch/<arch>/mmu_<arch>.c: linear memory's guard reservation -------------
 * memory_kvm.c reserves WK_MEMORY_RESERVE bytes of address space at
 * KVM_GUARD_VBASE (never RAM or a device on any machine here) and maps 4 KiB
 * pages into it on memory.grow; a fault there is the Wasm out-of-bounds trap. */
#define KVM_GUARD_VBASE (256ull << 30)

/* Map the 4 KiB page at virt (page-aligned, outside the identity map's blocks,
 * below 512 GiB) to phys, read-write (aarch64: never executable); missing page-table pages
 * come from alloc_table (zeroed, 4 KiB aligned, NULL when out of memory). 0 or -1. */
int kvm_mmu_map_page(uintptr_t virt, uint64_t phys, void *(*alloc_table)(void));
/* Undo kvm_mmu_map_page: the physical page virt was mapped to (0 if none). */
uint64_t kvm_mmu_unmap_mapped(uintptr_t virt);

#endif /* WK_KVM_H */
