/*
 * core/instance_core.c - wk_main: instantiate the image's module and run it.
 *
 * The platform's region (bi->mem_base, bi->mem_size, zeroed) is carved as
 *
 *   [ runtime heap: instance, globals, tables, funcref arrays, drop flags,
 *     WK_HEAP_RESERVE for the layers ][ pad to 64 KiB ][ linear memory ... ]
 *
 * Linear memory, two ways (docs/abi.md "Linear memory"):
 *  - guard reservation: when the platform has paging (wk_plat_memory_reserve),
 *    memory 0 gets WK_MEMORY_RESERVE bytes of address space of its own, only
 *    its size accessible; memory.grow commits pages, and a fault in the rest
 *    is the out-of-bounds trap (wk_memory_fault). Code compiled for guard
 *    memory skips most bounds checks; explicitly checked code runs too.
 *  - in the region (above): generated code compares against memory->size;
 *    memory.grow only raises the size (the bytes beyond are still zero because
 *    the region starts zeroed and memory never shrinks).
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

/* Upper bound of what create() takes from the heap. */
static uint64_t heap_needed(const wk_module *m) {
  uint64_t n = sizeof(struct wk_instance) + 16;
  n += (uint64_t)m->num_types * 4 + 16;
  n += (uint64_t)m->num_funcs * sizeof(wk_funcref) + 16;
  n += (uint64_t)m->num_globals * sizeof(wk_global) + 16;
  n += (uint64_t)m->num_tables * (sizeof(wk_table *) + sizeof(wk_table)) + 32;
  for (uint32_t i = 0; i < m->num_tables - m->num_imported_tables; i++)
    n += (uint64_t)m->tables[i].min * sizeof(void *) + 16;
  n += m->num_data + m->num_elems + 32;
  n += (uint64_t)m->num_memories * (sizeof(wk_memory *) + sizeof(wk_memory)) + 32;
  n += (uint64_t)m->num_tags * (sizeof(wk_tag *) + sizeof(wk_tag) + 16) + 16;
  return n + WK_HEAP_RESERVE;
}

wk_global *wk_global_cell(struct wk_instance *inst, uint32_t index) {
  wk_global *cell = &inst->vm.globals[index];
  return index < inst->module->num_imported_globals ? cell->cell : cell;
}

/* Bind each import to what the embedder supplied, or to host code linked in. */
static int bind_imports(struct wk_instance *inst, void *const *supplied) {
  const wk_module *m = inst->module;
  wk_vmctx *vm = &inst->vm;
  uint32_t f = 0, g = 0, t = 0, mi = 0, tg = 0;
  for (uint32_t i = 0; i < m->num_imports; i++) {
    const wk_import *imp = &m->imports[i];
    void *ext = supplied ? supplied[i] : NULL;
    switch (imp->kind) {
    case WK_EXTERN_FUNC: {
      const wk_funcref *r = ext;
      void *host = r ? r->host : imp->code;
      if (r && r->code) {
        vm->funcs[f] = *r; /* Wasm code of another instance (or its adapted host code) */
      } else if (host) {
        /* Host code: called through this module's adapter, with the importer's vmctx. */
        vm->funcs[f].code = imp->adapter;
        vm->funcs[f].vmctx = vm;
        vm->funcs[f].type_id = r ? r->type_id : inst->type_ids[imp->type];
        vm->funcs[f].host = host;
      } else {
        goto missing;
      }
      f++;
      break;
    }
    case WK_EXTERN_GLOBAL:
      if (!ext) goto missing;
      vm->globals[g++].cell = ext;
      break;
    case WK_EXTERN_TABLE:
      if (!ext) goto missing;
      vm->tables[t++] = ext;
      break;
    case WK_EXTERN_MEMORY:
      if (!ext || mi >= m->num_memories) goto missing;
      vm->memories[mi++] = ext;
      break;
    case WK_EXTERN_TAG:
      if (!ext) goto missing;
      if (imp->type >= m->num_types || ((wk_tag *)ext)->type_id != inst->type_ids[imp->type]) {
        wk_log("wasmkiln: import %s.%s: incompatible import type\n", imp->module, imp->name);
        return -1;
      }
      vm->tags[tg++] = ext;
      break;
    default: goto missing;
    }
    continue;
  missing:
    wk_log("wasmkiln: import %s.%s is not provided\n", imp->module, imp->name);
    return -1;
  }
  return 0;
}

/* Defined (weak, by image.py's metadata) when the module has no explicit bounds checks. */
__attribute__((weak)) extern const char wk_module_memory_guard[];

/* Memory 0 in a guard reservation; 1 done, 0 not available here, -1 failed. */
static int reserve_memory(struct wk_instance *inst) {
  const wk_memory_type *type = &inst->module->memories[0];
  if (!wk_plat_memory_reserve || !wk_plat_memory_commit || inst->embed) return 0;
  uint8_t *base = wk_plat_memory_reserve(WK_MEMORY_RESERVE);
  if (!base) return 0;
  uint64_t size = type->min_pages * WK_PAGE_SIZE;
  if (size && wk_plat_memory_commit(base, size) != 0) {
    wk_log("wasmkiln: memory of %lu pages does not fit in the machine's memory\n",
           (unsigned long)type->min_pages);
    return -1;
  }
  wk_memory *mem = &inst->memories[0];
  mem->base = base;
  mem->size = size;
  mem->max_pages = type->max_pages > 65536 ? 65536 : type->max_pages;
  inst->memory_guarded = 1;
  return 1;
}

/* The most pages a defined memory may take in the region: its maximum, at most 4 GiB for
 * a memory32 (a memory64 is bounded by the region only). */
static uint64_t wanted_pages(const wk_memory_type *t) {
  return !t->is64 && t->max_pages > 65536 ? 65536 : t->max_pages;
}

/*
 * The defined memories, after the heap, 64 KiB aligned, in index order: memory 0 in a
 * guard reservation when the platform has one (a memory32 only), the others in the
 * region. Each region memory gets its maximum when all fit; otherwise the room left is
 * shared evenly among the rest (at least each one's minimum). The last one may grow up
 * to the kernel heap (wk_kmem_below).
 */
static int place_memories(struct wk_instance *inst, uintptr_t from, uintptr_t region_end) {
  const wk_module *m = inst->module;
  uint32_t ndef = m->num_memories - m->num_imported_memories, first = 0;
  if (ndef && !m->num_imported_memories && !m->memories[0].is64) {
    int r = reserve_memory(inst);
    if (r < 0) return -1;
    first = r > 0;
    if (!first && wk_module_memory_guard) {
      wk_log(
          "wasmkiln: the module was compiled for guard-region memory, which this platform "
          "could not reserve\n");
      return -1;
    }
  }
  uint64_t at = align_up(from, WK_PAGE_SIZE), total = 0;
  for (uint32_t i = first; i < ndef; i++) total += wanted_pages(&m->memories[i]);
  for (uint32_t i = first; i < ndef; i++) {
    const wk_memory_type *type = &m->memories[i];
    uint64_t fit = at <= region_end ? (region_end - at) / WK_PAGE_SIZE : 0;
    uint64_t max = wanted_pages(type);
    if (total > fit && max > fit / (ndef - i)) max = fit / (ndef - i);
    if (max < type->min_pages) max = type->min_pages;
    if (max > fit) max = fit;
    if (type->min_pages > max) {
      wk_log("wasmkiln: memory %u of %lu pages does not fit (room for %lu)\n", i,
             (unsigned long)type->min_pages, (unsigned long)fit);
      return -1;
    }
    wk_memory *mem = &inst->memories[i];
    mem->base = (uint8_t *)(uintptr_t)at;
    mem->size = type->min_pages * WK_PAGE_SIZE;
    mem->max_pages = max;
    at += max * WK_PAGE_SIZE;
  }
  return 0;
}

/* The defined memory highest in the region (the kernel heap stays above it), or NULL. */
static const wk_memory *top_memory(const struct wk_instance *inst) {
  const wk_module *m = inst->module;
  uint32_t ndef = m->num_memories - m->num_imported_memories;
  if (ndef <= (inst->memory_guarded ? 1u : 0u)) return NULL;
  return &inst->memories[ndef - 1];
}

struct wk_instance *wk_instance_create(const wk_module *m, void *region, uint64_t size,
                                       const wk_bootinfo *bi, void *const *imports) {
  if (m->abi_version != WK_ABI_VERSION) {
    wk_log("wasmkiln: module ABI version %u, runtime expects %u\n", m->abi_version,
           (unsigned)WK_ABI_VERSION);
    return NULL;
  }
  uintptr_t region_end = (uintptr_t)region + size;
  uintptr_t heap = align_up((uintptr_t)region, 16);
  uint64_t need = heap_needed(m);
  if (heap > region_end || need > region_end - heap) {
    wk_log("wasmkiln: runtime data (%lu bytes) does not fit in %lu bytes\n", (unsigned long)need,
           (unsigned long)size);
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
  vm->stack_limit = bi ? bi->stack_low + STACK_HEADROOM : 0;

  inst->type_ids = wk_heap_alloc(inst, (uint64_t)m->num_types * 4);
  for (uint32_t t = 0; t < m->num_types; t++) {
    inst->type_ids[t] = wk_type_id(m->type_sigs[t]);
    if (inst->type_ids[t] == UINT32_MAX) {
      wk_log("wasmkiln: too many distinct function signatures\n");
      return NULL;
    }
  }
  vm->type_ids = inst->type_ids;
  vm->funcs = wk_heap_alloc(inst, (uint64_t)m->num_funcs * sizeof(wk_funcref));
  vm->globals = wk_heap_alloc(inst, (uint64_t)m->num_globals * sizeof(wk_global));
  vm->tables = wk_heap_alloc(inst, (uint64_t)m->num_tables * sizeof(wk_table *));
  if (m->num_imported_memories > m->num_memories) return NULL;
  vm->memories = wk_heap_alloc(inst, (uint64_t)m->num_memories * sizeof(wk_memory *));
  inst->memories = wk_heap_alloc(
      inst, (uint64_t)(m->num_memories - m->num_imported_memories) * sizeof(wk_memory));
  vm->tags = wk_heap_alloc(inst, (uint64_t)m->num_tags * sizeof(wk_tag *));
  vm->exn = wk_exn_pending_cell();
  if (bind_imports(inst, imports) != 0) return NULL;
  if (wk_tags_create(inst) != 0) {
    wk_log("wasmkiln: malformed tag types\n");
    return NULL;
  }
  for (uint32_t i = m->num_imported_memories; i < m->num_memories; i++)
    vm->memories[i] = &inst->memories[i - m->num_imported_memories];
  vm->memory = m->num_memories ? vm->memories[0] : NULL;

  for (uint32_t i = m->num_imported_funcs; i < m->num_funcs; i++) {
    vm->funcs[i].code = m->func_code[i - m->num_imported_funcs];
    vm->funcs[i].vmctx = vm;
    vm->funcs[i].type_id = inst->type_ids[m->func_types[i]];
  }
  for (uint32_t i = m->num_imported_globals; i < m->num_globals; i++) {
    const wk_const *init = &m->globals[i - m->num_imported_globals].init;
    wk_global *cell = &vm->globals[i];
    if (init->kind == WK_CONST_VALUE) {
      cell->v128[0] = init->bits;
      cell->v128[1] = init->hi;
    } else if (init->kind == WK_CONST_EXPR) {
      cell->i64 = wk_const_bits(inst, init, 1); /* an i32 result has its upper half clear */
    } else if (init->kind == WK_CONST_GLOBAL_GET && init->index < i)
      *cell = *wk_global_cell(inst, init->index);
    else
      cell->ref = wk_const_ref(inst, init);
  }
  for (uint32_t t = m->num_imported_tables; t < m->num_tables; t++) {
    const wk_table_type *type = &m->tables[t - m->num_imported_tables];
    wk_table *tab = wk_heap_alloc(inst, sizeof *tab);
    tab->size = type->min;
    tab->max = type->max;
    tab->elem_type = type->elem_type;
    tab->elems = wk_heap_alloc(inst, (uint64_t)tab->size * sizeof(void *)); /* all null */
    vm->tables[t] = tab;
    void *init = wk_const_ref(inst, &type->init); /* a typed table's initial element */
    for (uint32_t e = 0; init && e < tab->size; e++) tab->elems[e] = init;
  }
  inst->data_dropped = wk_heap_alloc(inst, m->num_data);
  inst->elem_dropped = wk_heap_alloc(inst, m->num_elems);
  if (place_memories(inst, heap + need, region_end) != 0) return NULL;
  return inst;
}

/* Active element and data segments, in order; traps (unwinds) when out of range. */
void wk_instance_init_segments(struct wk_instance *inst) {
  const wk_module *m = inst->module;
  wk_vmctx *vm = &inst->vm;
  for (uint32_t s = 0; s < m->num_elems; s++) {
    const wk_elem_segment *seg = &m->elems[s];
    if (seg->mode == WK_ELEM_ACTIVE)
      wk_core_table_init(vm, seg->table, s, wk_const_bits(inst, &seg->offset, (int)seg->is64), 0,
                         seg->count);
    if (seg->mode != WK_ELEM_PASSIVE) inst->elem_dropped[s] = 1; /* active, declarative: dropped */
  }
  for (uint32_t s = 0; s < m->num_data; s++) {
    const wk_data_segment *seg = &m->data[s];
    if (seg->passive) continue;
    uint64_t at = wk_const_bits(inst, &seg->offset, (int)seg->is64);
    wk_core_memory_init(vm, seg->memory, s, at, 0, seg->size);
    inst->data_dropped[s] = 1; /* an active segment is dropped once applied */
  }
}

void wk_instance_call_entry(struct wk_instance *inst, uint32_t index) {
  const wk_module *m = inst->module;
  wk_funcref *f = &inst->vm.funcs[index];
  uint64_t slot = 0; /* no parameters, no results; a trampoline wants one slot anyway */
  m->trampolines[m->func_types[index]](f->vmctx, f->code, &slot);
}

/* Start and `_start` are [] -> [] functions; C enters Wasm code only through the
 * trampoline of its type, which knows the Wasm calling convention (docs/abi.md). */
static void call_entry(struct wk_instance *inst, int32_t index) {
  wk_instance_call_entry(inst, (uint32_t)index);
  wk_exn_check_uncaught(&inst->vm); /* an exception no handler caught ends the run */
}

/* Defined by the metadata of an image built with --invoke (wk/abi.h). */
__attribute__((weak)) extern const wk_invoke wk_module_invoke;

/* Call the invoked export through its trampoline and print its results on stdout. */
static void call_invoked(struct wk_instance *inst, const wk_invoke *iv) {
  const wk_module *m = inst->module;
  uint64_t slots[16] = {0};
  wk_funcref *f = &inst->vm.funcs[iv->func];
  m->trampolines[iv->type](f->vmctx, f->code, slots);
  const char *sig = m->type_sigs[iv->type];
  while (*sig && *sig != ':') sig++;
  if (*sig == ':') sig++;
  for (unsigned i = 0; sig[i] && i < 16; i++) {
    char line[32];
    int64_t v = sig[i] == 'i' ? (int64_t)(int32_t)slots[i] : (int64_t)slots[i];
    size_t n = wk_fmt(line, sizeof line, "%ld\n", (long)v);
    wk_plat_console_write(1, line, n);
  }
}

static void run_module(struct wk_instance *inst) {
  const wk_module *m = inst->module;
  wk_instance_init_segments(inst);
  if (m->start_func >= 0) call_entry(inst, m->start_func);
  if (&wk_module_invoke) {
    if (wk_module_invoke.init_func >= 0) call_entry(inst, wk_module_invoke.init_func);
    call_invoked(inst, &wk_module_invoke);
    return;
  }
  if (m->entry_func >= 0) call_entry(inst, m->entry_func);
}

/* Run under the unwind point; wk_exit/wk_trap land here with the exit code. */
static __attribute__((noinline)) int run_guarded(struct wk_instance *inst,
                                                 void (*body)(struct wk_instance *)) {
  if (__builtin_setjmp(inst->unwind)) return (int)inst->exit_code;
  body(inst);
  return 0;
}

_Noreturn void wk_unwind(struct wk_instance *inst) {
  if (inst->embed) __builtin_longjmp(inst->embed->unwind, 1);
  __builtin_longjmp(inst->unwind, 1);
}

/* The instance wk_main runs, for wk_memory_fault (a fault handler has no vmctx). */
static struct wk_instance *running;

int wk_main(const wk_bootinfo *bi) {
  const wk_module *m = &wk_module_main;
  if (&wk_module_invoke) {
    const wk_invoke *iv = &wk_module_invoke;
    if (iv->func >= m->num_funcs || iv->type >= m->num_types || !m->trampolines ||
        !m->trampolines[iv->type] ||
        (iv->init_func >= 0 && (uint32_t)iv->init_func >= m->num_funcs)) {
      wk_log("wasmkiln: bad --invoke entry %s\n", iv->name);
      return 1;
    }
  } else if (m->entry_func < 0 || (uint32_t)m->entry_func >= m->num_funcs) {
    wk_log("wasmkiln: module has no _start export (a reactor: build it with --invoke NAME)\n");
    return 1;
  }
  if (m->start_func >= 0 && (uint32_t)m->start_func >= m->num_funcs) {
    wk_log("wasmkiln: bad start function index %d\n", m->start_func);
    return 1;
  }
  /* The kernel heap first, above where the runtime heap will be: a guard reservation
   * (kvm) takes linear memory's pages from it while the instance is created. */
  uintptr_t region = (uintptr_t)bi->mem_base, region_end = region + bi->mem_size;
  wk_kmem_init(align_up(region, 16) + heap_needed(m), region_end, NULL);
  struct wk_instance *inst = wk_instance_create(m, bi->mem_base, bi->mem_size, bi, NULL);
  if (!inst) return 1;
  inst->start_ns = bi->start_ns;
  const wk_memory *top = top_memory(inst);
  if (top) wk_kmem_below(top); /* linear memory in the region: claims stay above it */
  running = inst;
  return run_guarded(inst, run_module);
}

void wk_memory_fault(uintptr_t addr) {
  struct wk_instance *inst = running;
  if (!inst || !inst->memory_guarded) return;
  uintptr_t base = (uintptr_t)inst->memories[0].base;
  if (addr >= base && addr - base < WK_MEMORY_RESERVE) wk_trap(&inst->vm, WK_TRAP_MEM_OOB);
}

/* ---- Accessors for the layers (wk/core.h) ---------------------------------- */

static const wk_bootinfo no_boot;

static const wk_bootinfo *boot_of(wk_vmctx *vm) {
  const wk_bootinfo *bi = wk_inst(vm)->bi;
  return bi ? bi : &no_boot;
}

int wk_instance_argc(wk_vmctx *vm) { return boot_of(vm)->argc; }
const char *const *wk_instance_argv(wk_vmctx *vm) { return boot_of(vm)->argv; }
uint64_t wk_instance_start_ns(wk_vmctx *vm) { return wk_inst(vm)->start_ns; }
int wk_instance_envc(wk_vmctx *vm) { return boot_of(vm)->envc; }
const char *const *wk_instance_envp(wk_vmctx *vm) { return boot_of(vm)->envp; }

void **wk_instance_layer_slot(wk_vmctx *vm, unsigned layer) {
  if (layer >= WK_LAYER_COUNT) return NULL;
  return &wk_inst(vm)->layer[layer];
}

void *wk_instance_alloc(wk_vmctx *vm, size_t size) { return wk_heap_alloc(wk_inst(vm), size); }
