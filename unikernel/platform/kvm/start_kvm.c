/*
 * start_kvm.c - from the PVH entry to wk_main (x86_64 kvm platform).
 *
 * boot_pvh_x86_64.S calls kvm_start in long mode on the 64 KiB boot stack with
 * the first 4 GiB identity-mapped. Here: consoles, exception table, command
 * line, the memory region for the core, clocks, guard pages; then wk_main once,
 * on an 8 MiB stack taken from RAM, and wk_plat_exit with its result.
 *
 * Memory: the largest usable RAM range of the PVH memory map above the image
 * (64 KiB aligned at both ends). Its first STACK_SIZE bytes are the run's
 * stack (the lowest page unmapped as a guard); the rest goes to the core.
 * Everything needed from start_info is copied before wk_main, so the loader's
 * structures may lie inside it. The region is
 * handed over without clearing: on QEMU, Firecracker and Cloud Hypervisor,
 * guest RAM above the loaded image is fresh, zero-filled host memory that no
 * firmware touches (README.md "Memory"); clearing it under TCG costs more than
 * the whole boot. Build with -DWK_KVM_CLEAR_MEM=1 to clear it anyway.
 */
#include <stdbool.h>

#include "cpu_x86_64.h"
#include "kvm.h"
#include "pvh_x86_64.h"
#include "wk/bootmark.h"
#include "wk/net.h"

extern void wk_net_drain(uint64_t timeout_ns) __attribute__((weak));
#include "wk/platform.h"

#ifndef WK_KVM_CLEAR_MEM
#define WK_KVM_CLEAR_MEM 0
#endif

#define MEM_ALIGN 0x10000ull /* 64 KiB */
#define PAGE 4096ull
#define STACK_SIZE (8ull << 20) /* the run's stack, guard page included */
#define REGION_MIN (1ull << 20) /* below this the core cannot even instantiate hello */

void kvm_start(uint32_t start_info_paddr);

/* The run's packed file system (`wasmkiln run IMAGE --dir`) is the first PVH
 * boot module, which QEMU's -initrd loads near the top of RAM: kvm_fs_module
 * (shared_kvm.c). Its pages are kept out of the runtime's memory and read in place. */

/* The largest usable range above the image and outside the boot module:
 * [*base, *base + return). */
static uint64_t find_memory(const pvh_start_info *si, uint64_t *base) {
  if (si->version < 1 || si->memmap_paddr == 0 || si->memmap_entries == 0) {
    kvm_fatal("the PVH loader gave no memory map (start_info version 0)");
  }
  const pvh_memmap_entry *map = (const pvh_memmap_entry *)(uintptr_t)si->memmap_paddr;
  uint64_t floor = kvm_align_up((uint64_t)(uintptr_t)_end, MEM_ALIGN);
  uint64_t best_base = 0, best_size = 0;
  for (uint32_t i = 0; i < si->memmap_entries && i < 128; i++) {
    if (map[i].type != PVH_MEMMAP_RAM || map[i].size == 0) {
      continue;
    }
    uint64_t start = map[i].addr;
    uint64_t end = map[i].addr + map[i].size;
    if (end < start) {
      end = UINT64_MAX; /* overflowing entry: clamp */
    }
    if (start < floor) {
      start = floor;
    }
    kvm_avoid_fs_module(&start, &end, MEM_ALIGN);
    start = kvm_align_up(start, MEM_ALIGN);
    end = kvm_align_down(end, MEM_ALIGN);
    if (end > start && end - start > best_size) {
      best_base = start;
      best_size = end - start;
    }
  }
  *base = best_base;
  return best_size;
}

static void clear_memory(void *p, uint64_t n) {
  /* rep stosq, not a loop: GCC would turn a loop into a call to memset. */
  uint64_t words = n / 8;
  __asm__ volatile("rep stosq" : "+D"(p), "+c"(words) : "a"(0ull) : "memory");
}

/* Weak: the platform also links without the net layer (tests/kvm_platform). */
__attribute__((weak)) void wk_net_drain(uint64_t timeout_ns);

static void run(void *bi) {
  int code = wk_main(bi);
  if (wk_net_drain) {
    /* The guest's last TCP bytes leave before the machine stops. Weak: test
     * kernels link this platform without the network layer. */
    if (wk_net_drain) wk_net_drain(WK_NET_DRAIN_NS);
  }
  wk_plat_exit(code);
}

void kvm_start(uint32_t start_info_paddr) {
  kvm_console_init();
  WK_BOOT_MARK("entry");
  x86_trap_init();

  const pvh_start_info *si = (const pvh_start_info *)(uintptr_t)start_info_paddr;
  if (si->magic != PVH_START_MAGIC) {
    kvm_fatal("bad PVH start_info magic");
  }

  /* urunc's command-line forms become wasmkiln's tokens first (urunc_kvm.c). */
  static char cmdline[KVM_CMDLINE_MAX + 1];
  kvm_cmdline cl;
  const char *err =
      kvm_urunc_translate(si->cmdline_paddr ? (const char *)(uintptr_t)si->cmdline_paddr : NULL,
                          cmdline, sizeof cmdline);
  if (err == NULL) {
    err = kvm_cmdline_parse(cmdline, &cl);
  }
  if (err == NULL) {
    err = kvm_net_parse(kvm_cmdline_raw());
  }
  if (err != NULL) {
    kvm_fatal(err);
  }

  if (si->nr_modules > 0 && si->modlist_paddr != 0) {
    const pvh_module *m = (const pvh_module *)(uintptr_t)si->modlist_paddr;
    kvm_fs_module.base = m->paddr;
    kvm_fs_module.size = m->size;
  }
  uint64_t mem_base = 0;
  uint64_t mem_size = find_memory(si, &mem_base);
  if (mem_size < STACK_SIZE + REGION_MIN) {
    kvm_fatal(
        "not enough memory: the guest needs 8 MiB for its stack and at least 1 MiB "
        "for the runtime above the image (give the VM more, e.g. -m 16)");
  }
  uint64_t map_end = mem_base + mem_size;
  if (kvm_fs_module.size && kvm_fs_module.base + kvm_fs_module.size > map_end) {
    map_end = kvm_fs_module.base + kvm_fs_module.size;
  }
  uint64_t mapped = x86_mmu_map_identity(map_end);
  if (mapped < mem_base + mem_size) {
    mem_size = mapped > mem_base ? kvm_align_down(mapped - mem_base, MEM_ALIGN) : 0;
    if (mem_size == 0) {
      kvm_fatal("cannot map the RAM above 4 GiB");
    }
  }
  if (kvm_fs_module.size && mapped < kvm_fs_module.base + kvm_fs_module.size) {
    kvm_fatal("cannot map the file system boot module (-initrd)");
  }
  /* si and the command line may lie in [mem_base, +mem_size): no use after here. */
  si = NULL;

  kvm_clock_init();

  /* The run's stack: the bottom of the region, with a guard page under it
   * (and one under the boot stack, and the null page). */
  (void)x86_mmu_unmap_page(0);
  (void)x86_mmu_unmap_page((uintptr_t)x86_boot_stack_low);
  uintptr_t stack_low = (uintptr_t)mem_base;
  uintptr_t stack_top = stack_low + STACK_SIZE;
  if (x86_mmu_unmap_page(stack_low) == 0) {
    stack_low += PAGE;
  }
  mem_base += STACK_SIZE;
  mem_size -= STACK_SIZE;

  if (WK_KVM_CLEAR_MEM) {
    clear_memory((void *)(uintptr_t)mem_base, mem_size);
  }

  /* Static: it outlives this frame (the core keeps a pointer). */
  static wk_bootinfo bi;
  bi = (wk_bootinfo){
      .argc = cl.argc,
      .argv = cl.argv,
      .envc = cl.envc,
      .envp = cl.envp,
      .mem_base = (void *)(uintptr_t)mem_base,
      .mem_size = mem_size,
      .stack_low = stack_low,
      .start_ns = 0, /* the monotonic clock counts from kvm_clock_init */
  };
  WK_BOOT_MARK("main");
  x86_run_on_stack((void *)stack_top, run, &bi);
}
