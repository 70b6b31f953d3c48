/*
 * core/instance_core.c - wk_main: instantiate the image's module and run it.
 *
 * The platform's region (bi->mem_base, bi->mem_size, zeroed) is carved as
 *
 *   [ runtime heap: instance, globals, tables, funcref arrays, drop flags,
 *     WK_HEAP_RESERVE for the layers ][ pad to 64 KiB ][ linear memory ... ]
 *
 * Linear memory uses explicit bounds checks: generated code compares against
 * vmctx->mem_size, memory.grow only raises mem_size (the bytes beyond are
 * still zero because the region starts zeroed and memory never shrinks).
 *
 * Instantiation order follows the Wasm 2.0 spec: globals, tables, active
 * element segments, active data segments (each bounds-checked; a failure is a
 * trap), then the start function, then `_start`.
 */
#include "instance_core.h"

#include "wk/abi.h"
#include "wk/core.h"
#include "wk/platform.h"

#define STACK_HEADROOM (128u * 1024u) /* below stack_limit: room for host calls and trap */

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

void *wk_heap_alloc(struct wk_instance *inst, uint64_t size) {
  uintptr_t p = align_up((uintptr_t)inst->heap_cur, 16);
  if (p > (uintptr_t)inst->heap_end || size > (uintptr_t)inst->heap_end - p) return NULL;
  inst->heap_cur = (uint8_t *)(p + size);
  return (void *)p; /* the region is zeroed by the platform and never reused */
}

/* Upper bound of what instantiate() takes from the heap. */
static uint64_t heap_needed(const wk_module *m) {
  uint64_t n = sizeof(struct wk_instance) + 16;
  n += (uint64_t)m->num_globals * 8 + 16;
  n += (uint64_t)m->num_tables * sizeof(wk_table) + 16;
  for (uint32_t i = 0; i < m->num_tables; i++)
    n += (uint64_t)m->tables[i].min * sizeof(wk_funcref) + 16;
  n += m->num_data + 16;
  return n + WK_HEAP_RESERVE;
}

/* Set up the heap, instance, memory and vmctx; no guest code runs. NULL on failure (logged). */
static struct wk_instance *create(const wk_bootinfo *bi, const wk_module *m) {
  uintptr_t region = (uintptr_t)bi->mem_base;
  uintptr_t region_end = region + bi->mem_size;
  uintptr_t heap = align_up(region, 16);
  uint64_t need = heap_needed(m);
  if (heap > region_end || need > region_end - heap) {
    wk_log("wasmkiln: runtime data (%lu bytes) does not fit in %lu bytes\n",
           (unsigned long)need, (unsigned long)bi->mem_size);
    return NULL;
  }
  struct wk_instance boot = {.heap_cur = (uint8_t *)heap, .heap_end = (uint8_t *)(heap + need)};
  struct wk_instance *inst = wk_heap_alloc(&boot, sizeof *inst);
  *inst = boot; /* carries the advanced heap cursor */
  inst->module = m;
  inst->bi = bi;

  wk_vmctx *vm = &inst->vm;
  vm->instance = inst;
  vm->builtins = &wk_core_builtins;
  vm->funcs = m->funcs;
  vm->stack_limit = bi->stack_low + STACK_HEADROOM;

  /* Linear memory: after the heap, 64 KiB aligned. */
  if (m->has_memory) {
    uint64_t mem = align_up(heap + need, WK_PAGE_SIZE);
    uint64_t fit = mem <= region_end ? (region_end - mem) / WK_PAGE_SIZE : 0;
    uint64_t max = m->mem_max_pages;
    if (max > 65536) max = 65536;
    if (max > fit) max = fit;
    if (m->mem_min_pages > max) {
      wk_log("wasmkiln: memory of %u pages does not fit (room for %lu)\n", m->mem_min_pages,
             (unsigned long)fit);
      return NULL;
    }
    vm->mem_base = (uint8_t *)(uintptr_t)mem;
    vm->mem_size = (uint64_t)m->mem_min_pages * WK_PAGE_SIZE;
    inst->mem_max_pages = (uint32_t)max;
  }

  vm->globals = wk_heap_alloc(inst, (uint64_t)m->num_globals * 8);
  for (uint32_t i = 0; i < m->num_globals; i++) vm->globals[i] = m->global_inits[i];

  vm->tables = wk_heap_alloc(inst, (uint64_t)m->num_tables * sizeof(wk_table));
  for (uint32_t t = 0; t < m->num_tables; t++) {
    wk_table *tab = &vm->tables[t];
    tab->size = m->tables[t].min;
    tab->max = m->tables[t].max;
    tab->elems = wk_heap_alloc(inst, (uint64_t)tab->size * sizeof(wk_funcref));
    for (uint32_t i = 0; i < tab->size; i++) {
      tab->elems[i].func = NULL;
      tab->elems[i].type_id = WK_NULL_TYPE_ID; /* zero is a real type id */
    }
  }
  inst->data_dropped = wk_heap_alloc(inst, m->num_data);
  return inst;
}

/* Active element and data segments; traps (unwinds) on an out-of-range segment. */
static void init_segments(struct wk_instance *inst) {
  const wk_module *m = inst->module;
  wk_vmctx *vm = &inst->vm;
  for (uint32_t s = 0; s < m->num_elems; s++) {
    const wk_elem_segment *seg = &m->elems[s];
    if (seg->passive) continue;
    if (seg->table >= m->num_tables) wk_trap(vm, WK_TRAP_TABLE_OOB);
    wk_table *tab = &vm->tables[seg->table];
    if ((uint64_t)seg->offset + seg->count > tab->size) wk_trap(vm, WK_TRAP_TABLE_OOB);
    for (uint32_t i = 0; i < seg->count; i++) {
      wk_funcref *e = &tab->elems[seg->offset + i];
      uint32_t f = seg->funcs[i];
      if (f == UINT32_MAX || f >= m->num_funcs) {
        e->func = NULL;
        e->type_id = WK_NULL_TYPE_ID;
      } else {
        e->func = m->funcs[f];
        e->type_id = m->func_type_ids[f];
      }
    }
  }
  for (uint32_t s = 0; s < m->num_data; s++) {
    const wk_data_segment *seg = &m->data[s];
    if (seg->passive) continue;
    uint8_t *dst = wk_guest_ptr(vm, seg->offset, seg->size);
    if (!dst) wk_trap(vm, WK_TRAP_MEM_OOB);
    __builtin_memcpy(dst, seg->bytes, seg->size);
    inst->data_dropped[s] = 1; /* an active segment is dropped once applied */
  }
}

typedef void (*wk_entry_fn)(wk_vmctx *vm);

static void run_module(struct wk_instance *inst) {
  const wk_module *m = inst->module;
  init_segments(inst);
  if (m->start_func >= 0) ((wk_entry_fn)m->funcs[m->start_func])(&inst->vm);
  ((wk_entry_fn)m->funcs[m->entry_func])(&inst->vm);
}

/* Run the module under the unwind point; wk_exit/wk_trap land here. */
static __attribute__((noinline)) int run_guarded(struct wk_instance *inst) {
  if (__builtin_setjmp(inst->unwind)) return (int)inst->exit_code;
  run_module(inst);
  return 0;
}

_Noreturn void wk_unwind(struct wk_instance *inst) {
  __builtin_longjmp(inst->unwind, 1);
}

int wk_main(const wk_bootinfo *bi) {
  const wk_module *m = &wk_module_main;
  if (m->abi_version != WK_ABI_VERSION) {
    wk_log("wasmkiln: module ABI version %u, runtime expects %u\n", m->abi_version,
           (unsigned)WK_ABI_VERSION);
    return 1;
  }
  if (m->entry_func < 0 || (uint32_t)m->entry_func >= m->num_funcs) {
    wk_log("wasmkiln: module has no _start export\n");
    return 1;
  }
  if (m->start_func >= 0 && (uint32_t)m->start_func >= m->num_funcs) {
    wk_log("wasmkiln: bad start function index %d\n", m->start_func);
    return 1;
  }
  uint64_t start_ns = wk_plat_clock_monotonic();
  struct wk_instance *inst = create(bi, m);
  if (!inst) return 1;
  inst->start_ns = start_ns;
  return run_guarded(inst);
}

/* ---- Accessors for the layers (wk/core.h) ---------------------------------- */

int wk_instance_argc(wk_vmctx *vm) { return wk_inst(vm)->bi->argc; }
const char *const *wk_instance_argv(wk_vmctx *vm) { return wk_inst(vm)->bi->argv; }
uint64_t wk_instance_start_ns(wk_vmctx *vm) { return wk_inst(vm)->start_ns; }
int wk_instance_envc(wk_vmctx *vm) { return wk_inst(vm)->bi->envc; }
const char *const *wk_instance_envp(wk_vmctx *vm) { return wk_inst(vm)->bi->envp; }

void **wk_instance_layer_slot(wk_vmctx *vm, unsigned layer) {
  if (layer >= WK_LAYER_COUNT) return NULL;
  return &wk_inst(vm)->layer[layer];
}

void *wk_instance_alloc(wk_vmctx *vm, size_t size) { return wk_heap_alloc(wk_inst(vm), size); }
