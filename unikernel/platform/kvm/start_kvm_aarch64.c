/*
 * start_kvm_aarch64.c - from the arm64 Image entry to wk_main (aarch64 kvm
 * platform, QEMU virt).
 *
 * boot_aarch64.S calls kvm_start(dtb) at EL1 with the MMU on (RAM below 4 GiB
 * identity-mapped) on the 64 KiB boot stack. Here: the device tree (RAM,
 * /chosen bootargs and initrd), the command line (net.* tokens included), the memory region for the
 * core, guard pages; then wk_main once, on an 8 MiB stack taken from RAM, and
 * wk_plat_exit with its result -- the same steps as start_kvm.c on x86_64.
 *
 * Memory: the RAM range of the device tree above the image, without the
 * initrd (the run's packed file system, read in place: the larger side of RAM
 * around it is kept), 64 KiB aligned. QEMU puts the device tree itself in RAM
 * too; everything needed from it is copied before the region is used. Not
 * cleared: QEMU's guest RAM is fresh zero memory (README.md "Memory").
 */
#include <stdbool.h>

#include "cpu_aarch64.h"
#include "kvm.h"
#include "wk/net.h"
#include "wk/platform.h"

#define MEM_ALIGN 0x10000ull /* 64 KiB */
#define PAGE 4096ull
#define STACK_SIZE (8ull << 20) /* the run's stack, guard page included */
#define REGION_MIN (1ull << 20)

void kvm_start(const void *dtb);

/* Weak: the platform also links without the net layer. */
__attribute__((weak)) void wk_net_drain(uint64_t timeout_ns);

static void run(void *bi) {
  int code = wk_main(bi);
  if (wk_net_drain) {
    wk_net_drain(WK_NET_DRAIN_NS);
  }
  wk_plat_exit(code);
}

void kvm_start(const void *dtb) {
  kvm_console_init();
  kvm_fdt_info fdt;
  const char *err = kvm_fdt_read(dtb, &fdt);
  kvm_cmdline cl;
  if (err == NULL) {
    err = kvm_cmdline_parse(fdt.bootargs, &cl);
  }
  if (err == NULL) {
    err = kvm_net_parse(kvm_cmdline_raw());
  }
  if (err != NULL) {
    kvm_fatal(err);
  }
  kvm_fs_module.base = fdt.initrd_start;
  kvm_fs_module.size = fdt.initrd_end - fdt.initrd_start;

  uint64_t start = kvm_align_up((uint64_t)(uintptr_t)_end, MEM_ALIGN);
  uint64_t end = fdt.mem_base + fdt.mem_size;
  if (end < fdt.mem_base || start < fdt.mem_base) {
    kvm_fatal("the device tree's memory does not hold the image");
  }
  kvm_avoid_fs_module(&start, &end, MEM_ALIGN); /* the initrd: the larger side of RAM */
  end = kvm_align_down(end, MEM_ALIGN);
  uint64_t mapped = a64_mmu_map_identity(end);
  if (mapped < end) {
    end = kvm_align_down(mapped, MEM_ALIGN);
  }
  if (end <= start || end - start < STACK_SIZE + REGION_MIN) {
    kvm_fatal(
        "not enough memory: the guest needs 8 MiB for its stack and at least 1 MiB "
        "for the runtime above the image (give the VM more, e.g. -m 16)");
  }
  kvm_clock_init();

  /* The run's stack: the bottom of the region, a guard page under it (and
   * one under the boot stack). */
  (void)a64_mmu_unmap_page((uintptr_t)a64_boot_stack_low);
  uintptr_t stack_low = (uintptr_t)start;
  uintptr_t stack_top = stack_low + STACK_SIZE;
  if (a64_mmu_unmap_page(stack_low) == 0) {
    stack_low += PAGE;
  }
  static wk_bootinfo bi;
  bi = (wk_bootinfo){
      .argc = cl.argc,
      .argv = cl.argv,
      .envc = cl.envc,
      .envp = cl.envp,
      .mem_base = (void *)(uintptr_t)(start + STACK_SIZE),
      .mem_size = end - start - STACK_SIZE,
      .stack_low = stack_low,
      .start_ns = 0, /* the monotonic clock counts from kvm_clock_init */
  };
  a64_run_on_stack((void *)stack_top, run, &bi);
}
