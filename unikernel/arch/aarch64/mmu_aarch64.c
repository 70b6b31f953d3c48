/*
 * mmu_aarch64.c - the stage-1 translation tables the aarch64 kvm platform
 * runs on (4 KiB granule, 48-bit VA, TTBR0 only).
 *
 * boot_aarch64.S maps devices [128 MiB, 1 GiB) and RAM [1 GiB, 4 GiB) with
 * blocks, identity. Here: RAM above 4 GiB (1 GiB blocks), single 4 KiB pages
 * left unmapped (the stack guards: a block is split into a table of the same
 * mappings), and the 4 KiB pages of linear memory's guard reservation
 * (kvm_mmu_map_page, for platform/kvm/memory_kvm.c), far above RAM.
 *
 * Splitting a live block replaces one valid descriptor by a table that maps
 * the same addresses with the same attributes, without break-before-make:
 * fine on QEMU (TCG), and allowed on CPUs with FEAT_BBM level 2; other
 * hardware may report a TLB conflict abort (README.md "aarch64").
 */
#include "cpu_aarch64.h"
#include "kvm.h"

#define GIB (1ull << 30)
#define MIB2 (1ull << 21)
#define PAGE 4096ull
#define ENTRIES 512
#define DESC_VALID 0x1ull
#define DESC_TABLE 0x3ull /* table (L0-L2) or page (L3) */
#define DESC_ADDR 0x0000fffffffff000ull
#define ATTR_NORMAL 0x704ull /* AttrIndx 1, inner shareable, AF */
#define ATTR_XN (3ull << 53) /* PXN, UXN */
#define L2_POOL 4
#define L3_POOL 4

extern uint64_t a64_boot_l1[ENTRIES];

static uint64_t l2_pool[L2_POOL][ENTRIES] __attribute__((aligned(4096)));
static uint64_t l3_pool[L3_POOL][ENTRIES] __attribute__((aligned(4096)));
static int l2_used, l3_used;

static void tlb_flush_all(void) {
  __asm__ volatile("dsb ishst\n\ttlbi vmalle1\n\tdsb ish\n\tisb" : : : "memory");
}

static void tlb_flush_page(uintptr_t va) {
  __asm__ volatile("dsb ishst\n\ttlbi vaae1, %0\n\tdsb ish\n\tisb" : : "r"(va >> 12) : "memory");
}

static void table_published(void) { __asm__ volatile("dsb ishst\n\tisb" : : : "memory"); }

uint64_t a64_mmu_map_identity(uint64_t end) {
  uint64_t max = (uint64_t)ENTRIES * GIB;
  if (end > max) {
    end = max;
  }
  uint64_t i = 4;
  for (; i * GIB < end && i < 256; i++) { /* below the guard reservation (256 GiB) */
    if ((a64_boot_l1[i] & DESC_VALID) == 0) {
      a64_boot_l1[i] = (i * GIB) | ATTR_NORMAL | DESC_VALID;
    }
  }
  table_published();
  uint64_t mapped = i * GIB;
  return end < mapped ? end : mapped;
}

/* Replace the block at *entry (of size `size`) by a table of `size / ENTRIES` pieces. */
static uint64_t *split(uint64_t *entry, uint64_t size, uint64_t (*pool)[ENTRIES], int *used,
                       int cap) {
  if (*used == cap) {
    return 0;
  }
  uint64_t *t = pool[(*used)++];
  uint64_t base = *entry & DESC_ADDR & ~(size - 1);
  uint64_t attrs = *entry & ~DESC_ADDR & ~3ull;
  uint64_t step = size / ENTRIES;
  uint64_t kind = step == PAGE ? DESC_TABLE : DESC_VALID; /* L3 pages, else blocks */
  for (uint64_t j = 0; j < ENTRIES; j++) {
    t[j] = (base + j * step) | attrs | kind;
  }
  table_published();
  *entry = (uint64_t)(uintptr_t)t | DESC_TABLE;
  tlb_flush_all();
  return t;
}

int a64_mmu_unmap_page(uintptr_t addr) {
  if ((addr & (PAGE - 1)) != 0 || addr < GIB || addr >= 256 * GIB) {
    return -1;
  }
  uint64_t *l1e = &a64_boot_l1[addr / GIB];
  if ((*l1e & DESC_VALID) == 0) {
    return -1;
  }
  uint64_t *l2 = (*l1e & 3) == DESC_TABLE ? (uint64_t *)(uintptr_t)(*l1e & DESC_ADDR)
                                          : split(l1e, GIB, l2_pool, &l2_used, L2_POOL);
  if (l2 == 0) {
    return -1;
  }
  uint64_t *l2e = &l2[(addr / MIB2) % ENTRIES];
  uint64_t *l3 = (*l2e & 3) == DESC_TABLE ? (uint64_t *)(uintptr_t)(*l2e & DESC_ADDR)
                                          : split(l2e, MIB2, l3_pool, &l3_used, L3_POOL);
  if (l3 == 0) {
    return -1;
  }
  l3[(addr / PAGE) % ENTRIES] = 0;
  tlb_flush_page(addr);
  return 0;
}

/* The table an invalid entry should point to, from alloc (zeroed); NULL when out. */
static uint64_t *next_table(uint64_t *entry, void *(*alloc_table)(void)) {
  if ((*entry & DESC_VALID) == 0) {
    uint64_t *t = alloc_table();
    if (t == 0) {
      return 0;
    }
    table_published();
    *entry = (uint64_t)(uintptr_t)t | DESC_TABLE;
    return t;
  }
  if ((*entry & 3) != DESC_TABLE) {
    return 0; /* a block of the identity map: not ours to change */
  }
  return (uint64_t *)(uintptr_t)(*entry & DESC_ADDR);
}

int kvm_mmu_map_page(uintptr_t virt, uint64_t phys, void *(*alloc_table)(void)) {
  if ((virt & (PAGE - 1)) != 0 || (phys & (PAGE - 1)) != 0 || virt >= ENTRIES * GIB) {
    return -1;
  }
  uint64_t *l2 = next_table(&a64_boot_l1[virt / GIB], alloc_table);
  if (l2 == 0) {
    return -1;
  }
  uint64_t *l3 = next_table(&l2[(virt / MIB2) % ENTRIES], alloc_table);
  if (l3 == 0) {
    return -1;
  }
  l3[(virt / PAGE) % ENTRIES] = phys | ATTR_NORMAL | ATTR_XN | DESC_TABLE;
  table_published(); /* the entry was invalid, so no TLB holds it: no TLBI */
  return 0;
}

uint64_t kvm_mmu_unmap_mapped(uintptr_t virt) {
  if ((virt & (PAGE - 1)) != 0 || virt >= ENTRIES * GIB) {
    return 0;
  }
  uint64_t l1e = a64_boot_l1[virt / GIB];
  if ((l1e & 3) != DESC_TABLE) {
    return 0;
  }
  uint64_t l2e = ((uint64_t *)(uintptr_t)(l1e & DESC_ADDR))[(virt / MIB2) % ENTRIES];
  if ((l2e & 3) != DESC_TABLE) {
    return 0;
  }
  uint64_t *pte = &((uint64_t *)(uintptr_t)(l2e & DESC_ADDR))[(virt / PAGE) % ENTRIES];
  uint64_t phys = (*pte & DESC_VALID) ? (*pte & DESC_ADDR) : 0;
  *pte = 0;
  tlb_flush_page(virt);
  return phys;
}
