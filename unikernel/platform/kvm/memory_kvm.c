/*
 * platform/kvm/memory_kvm.c - guard-region linear memory for the kvm image.
 *
 * Linear memory gets WK_MEMORY_RESERVE bytes (4 GiB + 2 GiB guard + 64 KiB) of
 * virtual address space at KVM_GUARD_VBASE, far above the identity map of RAM. Only
 * committed pages are mapped: memory.grow takes 64 KiB of zeroed RAM per Wasm
 * page from the core's kernel heap (wk_kmem_alloc: the top of the RAM region,
 * shared with files and lwIP) and maps it with 4 KiB entries (page-table pages
 * come from the same heap). Code compiled for guard memory then needs no bounds
 * check: an access past the size hits a not-present entry, the #PF handler
 * (arch/<arch>/trap_<arch>.c) hands the address to core, and core raises the
 * out-of-bounds trap when it lies in the reservation.
 */
#include <stddef.h>
#include <stdint.h>

#include "kvm.h"
#include "wk/abi_layout.h"
#include "wk/core.h"
#include "wk/errno.h"
#include "wk/platform.h"

#define PAGE 4096u

/* Weak: the platform library also links without the core (tests/kvm_platform, net_kvm);
 * there commit simply fails. */
__attribute__((weak)) void *wk_kmem_alloc(size_t size);
__attribute__((weak)) void wk_kmem_free(void *p, size_t size);

/* The symbol guard-compiled modules reference (bridge/abi.py GUARD_RUNTIME_SYMBOL). */
const char wk_runtime_memory_guard[] = "kvm";

static int reserved; /* one reservation: memory 0 of the one instance */
/* Bytes of linear memory taken from the kernel heap so far (never given back: a Wasm
 * memory does not shrink). For diagnosis: bench/soak.py reads it from a running guest to
 * tell the kernel heap's own use from linear memory's. */
static volatile uint64_t linear_committed; /* volatile: only read from outside */

void *wk_plat_memory_reserve(uint64_t size) {
  if (reserved || size > WK_MEMORY_RESERVE) {
    return 0;
  }
  reserved = 1;
  return (void *)(uintptr_t)KVM_GUARD_VBASE;
}

static void *table_page(void) {
  return wk_kmem_alloc(PAGE); /* zeroed, and 4 KiB aligned: buddy blocks are size-aligned */
}

/* Unmap one Wasm page at virt (its first 4 KiB page may already be gone) and free ram,
 * the 64 KiB block behind it. Page-table pages stay: a later grow reuses them. */
static void release(uintptr_t virt, uint8_t *ram) {
  for (uint32_t p = 0; p < WK_PAGE_SIZE; p += PAGE) {
    (void)kvm_mmu_unmap_mapped(virt + p);
  }
  if (ram != 0) {
    wk_kmem_free(ram, WK_PAGE_SIZE);
  }
}

int wk_plat_memory_commit(void *addr, uint64_t size) {
  uintptr_t virt = (uintptr_t)addr;
  if (virt < KVM_GUARD_VBASE || virt - KVM_GUARD_VBASE + size > WK_MEMORY_RESERVE ||
      virt % WK_PAGE_SIZE != 0 || size % WK_PAGE_SIZE != 0) {
    return -WK_EINVAL;
  }
  if (!wk_kmem_alloc || !wk_kmem_free) {
    return -WK_ENOMEM;
  }
  for (uint64_t off = 0; off < size; off += WK_PAGE_SIZE) {
    uint8_t *ram = wk_kmem_alloc(WK_PAGE_SIZE);
    int ok = ram != 0;
    for (uint32_t p = 0; ok && p < WK_PAGE_SIZE; p += PAGE) {
      ok = kvm_mmu_map_page(virt + off + p, (uint64_t)(uintptr_t)(ram + p), table_page) == 0;
    }
    if (!ok) { /* give back what this call took: the memory.grow fails as a whole */
      if (ram != 0) {
        release(virt + off, ram);
      }
      for (uint64_t back = 0; back < off; back += WK_PAGE_SIZE) {
        release(virt + back, (uint8_t *)(uintptr_t)kvm_mmu_unmap_mapped(virt + back));
      }
      return -WK_ENOMEM;
    }
  }
  linear_committed += size;
  return 0;
}
