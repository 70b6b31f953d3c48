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

wk_memory *wk_memory_at(wk_vmctx *vm, uint32_t index) {
  return index < wk_inst(vm)->module->num_memories ? vm->memories[index] : NULL;
}

/* Memory `index`, or the out-of-bounds trap (indices are validated: this is a backstop). */
static wk_memory *memory_or_trap(wk_vmctx *vm, uint32_t index) {
  wk_memory *mem = wk_memory_at(vm, index);
  if (!mem) wk_trap(vm, WK_TRAP_MEM_OOB);
  return mem;
}

uint64_t wk_core_memory_grow(wk_vmctx *vm, uint32_t index, uint64_t delta) {
  wk_memory *mem = wk_memory_at(vm, index);
  if (!mem) return UINT64_MAX;
  uint64_t old = mem->size / WK_PAGE_SIZE;
  if (delta > mem->max_pages - old) return UINT64_MAX;
  /* The kernel heap may have claimed the top of the region (alloc_core.c). */
  if ((uint64_t)(wk_kmem_ceiling(mem) - (uintptr_t)mem->base) / WK_PAGE_SIZE < old + delta)
    return UINT64_MAX;
  /* In a guard reservation the new pages must be made accessible first. */
  struct wk_instance *inst = wk_inst(vm);
  if (inst->memory_guarded && mem == &inst->memories[0] && delta &&
      wk_plat_memory_commit(mem->base + mem->size, delta * WK_PAGE_SIZE) != 0)
    return UINT64_MAX;
  /* The bytes are already reserved and zero: growing only moves the bound. */
  mem->size = (old + delta) * WK_PAGE_SIZE;
  return old;
}

void wk_core_memory_fill(wk_vmctx *vm, uint32_t index, uint64_t dst, uint32_t byte, uint64_t n) {
  wk_memory *mem = memory_or_trap(vm, index);
  if (!in_bounds(mem, dst, n)) wk_trap(vm, WK_TRAP_MEM_OOB);
  __builtin_memset(mem->base + dst, (int)(byte & 0xff), n);
}

void wk_core_memory_copy(wk_vmctx *vm, uint32_t dst_mem, uint32_t src_mem, uint64_t dst,
                         uint64_t src, uint64_t n) {
  wk_memory *d = memory_or_trap(vm, dst_mem), *s = memory_or_trap(vm, src_mem);
  if (!in_bounds(d, dst, n) || !in_bounds(s, src, n)) wk_trap(vm, WK_TRAP_MEM_OOB);
  __builtin_memmove(d->base + dst, s->base + src, n);
}

void wk_core_memory_init(wk_vmctx *vm, uint32_t index, uint32_t seg, uint64_t dst, uint32_t src,
                         uint32_t n) {
  struct wk_instance *inst = wk_inst(vm);
  const wk_module *m = inst->module;
  wk_memory *mem = memory_or_trap(vm, index);
  if (seg >= m->num_data) wk_trap(vm, WK_TRAP_MEM_OOB); /* validated away; be safe */
  uint64_t seg_size = inst->data_dropped[seg] ? 0 : m->data[seg].size;
  if ((uint64_t)src + n > seg_size) wk_trap(vm, WK_TRAP_MEM_OOB);
  if (!in_bounds(mem, dst, n)) wk_trap(vm, WK_TRAP_MEM_OOB);
  __builtin_memcpy(mem->base + dst, m->data[seg].bytes + src, n);
}

void wk_core_data_drop(wk_vmctx *vm, uint32_t seg) {
  struct wk_instance *inst = wk_inst(vm);
  if (seg < inst->module->num_data) inst->data_dropped[seg] = 1;
}
