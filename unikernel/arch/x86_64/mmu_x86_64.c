/*
 * mmu_x86_64.c - the identity map the kvm platform runs on.
 *
 * The boot code maps [0, 4 GiB) with 2 MiB pages through one PML4 entry and
 * four page directories. Here we extend that map over RAM above 4 GiB (1 GiB
 * pages when the CPU has them, else page directories from a static pool) and
 * split 1 GiB and 2 MiB pages into 4 KiB ones to leave single pages unmapped
 * (the null page, the stack guards), below or above 4 GiB. Everything stays
 * inside PML4[0]: 512 GiB.
 */
#include "cpu_x86_64.h"
#include "kvm.h"

#define PTE_P 0x1ull
#define PTE_W 0x2ull
#define PTE_PWT 0x8ull /* with PCD and the default PAT: uncacheable (UC) */
#define PTE_PCD 0x10ull
#define PTE_PS 0x80ull
#define PTE_ADDR 0x000ffffffffff000ull
#define GIB (1ull << 30)
#define MIB2 (1ull << 21)
#define PAGE 4096ull
#define PDPT_ENTRIES 512
#define PD_POOL 12 /* without 1 GiB pages: up to 16 GiB mapped */
#define PT_POOL 4  /* 2 MiB pages that may be split */

extern uint64_t x86_boot_pdpt[PDPT_ENTRIES];

static uint64_t pd_pool[PD_POOL][512] __attribute__((aligned(4096)));
static uint64_t pt_pool[PT_POOL][512] __attribute__((aligned(4096)));
static int pd_used, pt_used;

static int has_1g_pages(void) {
  if (x86_cpuid(0x80000000, 0).eax < 0x80000001) {
    return 0;
  }
  return (x86_cpuid(0x80000001, 0).edx >> 26) & 1;
}

uint64_t x86_mmu_map_identity(uint64_t end) {
  uint64_t max = (uint64_t)PDPT_ENTRIES * GIB;
  if (end > max) {
    end = max;
  }
  uint64_t mapped = 4 * GIB;
  int big = has_1g_pages();
  for (uint64_t i = 4; i * GIB < end; i++) {
    if ((x86_boot_pdpt[i] & PTE_P) == 0) {
      if (big) {
        x86_boot_pdpt[i] = (i * GIB) | PTE_P | PTE_W | PTE_PS;
      } else {
        if (pd_used == PD_POOL) {
          break;
        }
        uint64_t *pd = pd_pool[pd_used++];
        for (uint64_t j = 0; j < 512; j++) {
          pd[j] = (i * GIB + j * MIB2) | PTE_P | PTE_W | PTE_PS;
        }
        x86_boot_pdpt[i] = (uint64_t)(uintptr_t)pd | PTE_P | PTE_W;
      }
    }
    mapped = (i + 1) * GIB;
  }
  return end < mapped ? end : mapped;
}

int x86_mmu_unmap_page(uintptr_t addr) {
  if ((addr & (PAGE - 1)) != 0 || addr >= (uint64_t)PDPT_ENTRIES * GIB) {
    return -1;
  }
  uint64_t *pdpte = &x86_boot_pdpt[addr / GIB];
  if ((*pdpte & PTE_P) == 0) {
    return -1;
  }
  if (*pdpte & PTE_PS) { /* a 1 GiB page above 4 GiB: split into 2 MiB pages first */
    if (pd_used == PD_POOL) {
      return -1;
    }
    uint64_t *pd = pd_pool[pd_used++];
    uint64_t base = *pdpte & PTE_ADDR & ~(GIB - 1);
    for (uint64_t j = 0; j < 512; j++) {
      pd[j] = (base + j * MIB2) | PTE_P | PTE_W | PTE_PS;
    }
    *pdpte = (uint64_t)(uintptr_t)pd | PTE_P | PTE_W;
  }
  uint64_t *pd = (uint64_t *)(uintptr_t)(*pdpte & PTE_ADDR);
  uint64_t *pde = &pd[(addr / MIB2) % 512];
  if (*pde & PTE_PS) {
    if (pt_used == PT_POOL) {
      return -1;
    }
    uint64_t *pt = pt_pool[pt_used++];
    uint64_t base = *pde & PTE_ADDR & ~(MIB2 - 1);
    for (uint64_t j = 0; j < 512; j++) {
      pt[j] = (base + j * PAGE) | PTE_P | PTE_W;
    }
    *pde = (uint64_t)(uintptr_t)pt | PTE_P | PTE_W;
  }
  uint64_t *pt = (uint64_t *)(uintptr_t)(*pde & PTE_ADDR);
  pt[(addr / PAGE) % 512] = 0;
  x86_flush_tlb();
  return 0;
}

int x86_mmu_set_uncached(uintptr_t addr, uint64_t len) {
  if (len == 0 || addr >= 4 * GIB || len > 4 * GIB - addr) {
    return -1;
  }
  uint64_t end = addr + len;
  for (uint64_t a = addr & ~(MIB2 - 1); a < end; a += MIB2) {
    uint64_t *pd = (uint64_t *)(uintptr_t)(x86_boot_pdpt[a / GIB] & PTE_ADDR);
    uint64_t *pde = &pd[(a / MIB2) % 512];
    if (*pde & PTE_PS) {
      *pde |= PTE_PCD | PTE_PWT; /* the whole 2 MiB page: only MMIO lives there */
    } else if (*pde & PTE_P) {
      uint64_t *pt = (uint64_t *)(uintptr_t)(*pde & PTE_ADDR);
      for (uint64_t j = 0; j < 512; j++) {
        uint64_t pa = a + j * PAGE;
        if (pa + PAGE > addr && pa < end && (pt[j] & PTE_P)) {
          pt[j] |= PTE_PCD | PTE_PWT;
        }
      }
    }
  }
  x86_flush_tlb();
  return 0;
}

int kvm_mmu_map_page(uintptr_t virt, uint64_t phys, void *(*alloc_table)(void)) {
  if ((virt & (PAGE - 1)) != 0 || (phys & (PAGE - 1)) != 0 || virt >= PDPT_ENTRIES * GIB) {
    return -1;
  }
  uint64_t *pdpte = &x86_boot_pdpt[virt / GIB];
  if ((*pdpte & PTE_P) == 0) {
    void *pd = alloc_table(); /* zeroed: no entry present */
    if (pd == 0) {
      return -1;
    }
    *pdpte = (uint64_t)(uintptr_t)pd | PTE_P | PTE_W;
  } else if (*pdpte & PTE_PS) {
    return -1; /* a 1 GiB page of the identity map: not ours to change */
  }
  uint64_t *pd = (uint64_t *)(uintptr_t)(*pdpte & PTE_ADDR);
  uint64_t *pde = &pd[(virt / MIB2) % 512];
  if ((*pde & PTE_P) == 0) {
    void *pt = alloc_table();
    if (pt == 0) {
      return -1;
    }
    *pde = (uint64_t)(uintptr_t)pt | PTE_P | PTE_W;
  } else if (*pde & PTE_PS) {
    return -1;
  }
  uint64_t *pt = (uint64_t *)(uintptr_t)(*pde & PTE_ADDR);
  pt[(virt / PAGE) % 512] = phys | PTE_P | PTE_W;
  return 0; /* the entry was not present, so no TLB holds it: no flush */
}

uint64_t kvm_mmu_unmap_mapped(uintptr_t virt) {
  if ((virt & (PAGE - 1)) != 0 || virt >= PDPT_ENTRIES * GIB) {
    return 0;
  }
  uint64_t pdpte = x86_boot_pdpt[virt / GIB];
  if ((pdpte & PTE_P) == 0 || (pdpte & PTE_PS)) {
    return 0;
  }
  uint64_t pde = ((uint64_t *)(uintptr_t)(pdpte & PTE_ADDR))[(virt / MIB2) % 512];
  if ((pde & PTE_P) == 0 || (pde & PTE_PS)) {
    return 0;
  }
  uint64_t *pte = &((uint64_t *)(uintptr_t)(pde & PTE_ADDR))[(virt / PAGE) % 512];
  uint64_t phys = (*pte & PTE_P) ? (*pte & PTE_ADDR) : 0;
  *pte = 0;
  x86_invlpg(virt);
  return phys;
}
