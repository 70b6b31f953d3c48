/*
 * core/memory_core.c - linear memory: the checked guest accessor and the
 * memory builtins generated code calls (grow, fill, copy, init, data.drop).
 *
 * Subtle: every range check is done in 64-bit arithmetic on (offset + length)
 * so a 32-bit wrap can never pass. A zero-length access exactly at the end is
 * in bounds (the spec allows it); one past the end is not.
 */
#include "instance_core.h"

#include "wk/abi.h"
#include "wk/core.h"
#include "wk/errno.h"

static int in_bounds(const wk_memory *mem, uint64_t off, uint64_t len) {
  return mem && off <= mem->size && len <= mem->size - off;
}

void *wk_guest_ptr(wk_vmctx *vm, uint32_t ptr, uint64_t len) {
  if (!in_bounds(vm->memory, ptr, len)) return NULL;
  return vm->memory->base + ptr;
}

#define DEFINE_STORE(name, type)                         \
  int name(wk_vmctx *vm, uint32_t ptr, type v) {         \
    uint8_t *p = wk_guest_ptr(vm, ptr, sizeof(type));    \
    if (!p) return -WK_EFAULT;                           \
    __builtin_memcpy(p, &v, sizeof(type)); /* LE host */ \
    return 0;                                            \
  }
DEFINE_STORE(wk_guest_store_u8, uint8_t)
DEFINE_STORE(wk_guest_store_u16, uint16_t)
DEFINE_STORE(wk_guest_store_u32, uint32_t)
DEFINE_STORE(wk_guest_store_u64, uint64_t)

#define DEFINE_LOAD(name, type)                       \
  int name(wk_vmctx *vm, uint32_t ptr, type *out) {   \
    uint8_t *p = wk_guest_ptr(vm, ptr, sizeof(type)); \
    if (!p) {                                         \
      *out = 0;                                       \
      return -WK_EFAULT;                              \
    }                                                 \
    __builtin_memcpy(out, p, sizeof(type));           \
    return 0;                                         \
  }
DEFINE_LOAD(wk_guest_load_u32, uint32_t)
DEFINE_LOAD(wk_guest_load_u64, uint64_t)

/* ---- Builtins (wk_builtins slots, table in builtins_core.c) ---------------- */

uint32_t wk_core_memory_grow(wk_vmctx *vm, uint32_t delta) {
  wk_memory *mem = vm->memory;
  if (!mem) return UINT32_MAX;
  uint64_t old = mem->size / WK_PAGE_SIZE;
  if (delta > mem->max_pages - old) return UINT32_MAX;
  /* The kernel heap may have claimed the top of the region (alloc_core.c). */
  if ((uint64_t)(wk_kmem_ceiling(mem) - (uintptr_t)mem->base) < (old + delta) * WK_PAGE_SIZE)
    return UINT32_MAX;
  /* In a guard reservation the new pages must be made accessible first. */
  struct wk_instance *inst = wk_inst(vm);
  if (inst->memory_guarded && mem == &inst->memory && delta &&
      wk_plat_memory_commit(mem->base + mem->size, (uint64_t)delta * WK_PAGE_SIZE) != 0)
    return UINT32_MAX;
  /* The bytes are already reserved and zero: growing only moves the bound. */
  mem->size = (old + delta) * WK_PAGE_SIZE;
  return (uint32_t)old;
}

void wk_core_memory_fill(wk_vmctx *vm, uint32_t dst, uint32_t byte, uint32_t n) {
  if (!in_bounds(vm->memory, dst, n)) wk_trap(vm, WK_TRAP_MEM_OOB);
  __builtin_memset(vm->memory->base + dst, (int)(byte & 0xff), n);
}

void wk_core_memory_copy(wk_vmctx *vm, uint32_t dst, uint32_t src, uint32_t n) {
  if (!in_bounds(vm->memory, dst, n) || !in_bounds(vm->memory, src, n))
    wk_trap(vm, WK_TRAP_MEM_OOB);
  __builtin_memmove(vm->memory->base + dst, vm->memory->base + src, n);
}

void wk_core_memory_init(wk_vmctx *vm, uint32_t seg, uint32_t dst, uint32_t src, uint32_t n) {
  struct wk_instance *inst = wk_inst(vm);
  const wk_module *m = inst->module;
  if (seg >= m->num_data) wk_trap(vm, WK_TRAP_MEM_OOB); /* validated away; be safe */
  uint64_t seg_size = inst->data_dropped[seg] ? 0 : m->data[seg].size;
  if ((uint64_t)src + n > seg_size) wk_trap(vm, WK_TRAP_MEM_OOB);
  if (!in_bounds(vm->memory, dst, n)) wk_trap(vm, WK_TRAP_MEM_OOB);
  __builtin_memcpy(vm->memory->base + dst, m->data[seg].bytes + src, n);
}

void wk_core_data_drop(wk_vmctx *vm, uint32_t seg) {
  struct wk_instance *inst = wk_inst(vm);
  if (seg < inst->module->num_data) inst->data_dropped[seg] = 1;
}
