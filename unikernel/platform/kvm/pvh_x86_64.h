/*
 * pvh_x86_64.h - the PVH boot protocol's start_info, as the loader leaves it.
 *
 * Layout from the public Xen PVH specification ("hvm_start_info", version 1):
 * all fields are OUT (written by the loader, read by us), little-endian,
 * addresses are guest-physical. Version 0 lacks the memory map; we require 1.
 */
#ifndef WK_PVH_X86_64_H
#define WK_PVH_X86_64_H

#include <stddef.h>
#include <stdint.h>

#define PVH_START_MAGIC 0x336ec578u
#define PVH_MEMMAP_RAM 1u /* E820 type 1: usable RAM */

typedef struct pvh_start_info {
  uint32_t magic;   /* PVH_START_MAGIC */
  uint32_t version; /* 0 or 1 */
  uint32_t flags;
  uint32_t nr_modules;
  uint64_t modlist_paddr;
  uint64_t cmdline_paddr; /* NUL-terminated, 0 if none */
  uint64_t rsdp_paddr;
  uint64_t memmap_paddr; /* version >= 1: pvh_memmap_entry[memmap_entries] */
  uint32_t memmap_entries;
  uint32_t reserved;
} pvh_start_info;

typedef struct pvh_memmap_entry {
  uint64_t addr;
  uint64_t size;
  uint32_t type;
  uint32_t reserved;
} pvh_memmap_entry;

/* A boot module (QEMU -initrd): start_info.modlist_paddr holds nr_modules. */
typedef struct pvh_module {
  uint64_t paddr;
  uint64_t size;
  uint64_t cmdline_paddr;
  uint64_t reserved;
} pvh_module;

_Static_assert(sizeof(pvh_start_info) == 56, "hvm_start_info v1 is 56 bytes");
_Static_assert(offsetof(pvh_start_info, cmdline_paddr) == 24, "cmdline_paddr");
_Static_assert(offsetof(pvh_start_info, memmap_paddr) == 40, "memmap_paddr");
_Static_assert(sizeof(pvh_memmap_entry) == 24, "hvm_memmap_table_entry");
_Static_assert(sizeof(pvh_module) == 32, "hvm_modlist_entry");

#endif /* WK_PVH_X86_64_H */
