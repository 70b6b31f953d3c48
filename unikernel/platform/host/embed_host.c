/*
 * platform/host/embed_host.c - wk/host.h: instances in a normal process.
 *
 * The host platform is an embedder of the core, like wk_main is for an image:
 * it creates instances (wk_instance_create), then runs segments, the start
 * function and calls under its own guard. That is why it includes core's
 * private header: it plays wk_main's part, for many instances at once.
 *
 * One guard for the whole process (guest code runs on one thread at a time):
 * every instance points its `embed` at it, so a trap in any instance, also
 * one reached through a cross-instance call, lands in the guard of the call
 * that entered guest code. Likewise every live instance gets the same stack
 * limit before each entry, computed from the caller's stack pointer.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "instance_core.h"
#include "internal_host.h"
#include "wk/abi.h"
#include "wk/core.h"
#include "wk/host.h"

/* wk_main (never called here) names the image's module; each module's own
 * shared object defines the real one, found through its own handle. */
__attribute__((weak)) const wk_module wk_module_main = {0};

#define STACK_HEADROOM (256u * 1024u) /* kept above the stack's end: trap path, host calls */

struct wk_host_instance {
  struct wk_instance *inst;
  void *region;
  size_t region_size;
  wk_host_instance *prev, *next; /* the live instances */
};

static wk_embed guard;
static wk_host_instance *live;
static uint64_t stack_depth = 4u * 1024u * 1024u;

static void set_error(const char *msg) { wk_host_set_error(msg, strlen(msg)); }

void wk_host_set_stack_depth(uint64_t bytes) { stack_depth = bytes; }

/* Lowest address guest code may reach on this thread (0 when unknown). */
static uintptr_t stack_floor(void) {
  static _Thread_local uintptr_t floor_cache;
  static _Thread_local int known;
  if (!known) {
    pthread_attr_t attr;
    void *low = NULL;
    size_t size = 0;
    if (pthread_getattr_np(pthread_self(), &attr) == 0) {
      if (pthread_attr_getstack(&attr, &low, &size) == 0)
        floor_cache = (uintptr_t)low + STACK_HEADROOM;
      pthread_attr_destroy(&attr);
    }
    known = 1;
  }
  return floor_cache;
}

static void set_stack_limits(void) {
  uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
  uintptr_t limit = sp > stack_depth ? sp - stack_depth : 0;
  uintptr_t floor = stack_floor();
  if (limit < floor) limit = floor;
  for (wk_host_instance *h = live; h; h = h->next) h->inst->vm.stack_limit = limit;
}

/* Run body(arg) under the guard: 0, the trap code, or WK_HOST_EXITED. */
static __attribute__((noinline)) uint32_t run_guarded(void (*body)(void *), void *arg) {
  guard.trap = 0;
  guard.exited = 0;
  set_stack_limits();
  wk_exn_take_pending(); /* a trap may have left one behind */
  if (__builtin_setjmp(guard.unwind)) return guard.trap ? guard.trap : WK_HOST_EXITED;
  body(arg);
  /* An exception that no handler caught reached the embedder: the results are not set. */
  return wk_exn_take_pending() ? WK_TRAP_UNCAUGHT_EXCEPTION : 0;
}

/* ---- Instances --------------------------------------------------------------- */

static uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) & ~(a - 1); }

/* At least what wk_instance_create takes from the heap (instance_core.c). */
static uint64_t heap_bound(const wk_module *m) {
  uint64_t n = (1u << 20) + WK_HEAP_RESERVE; /* the instance, alignment, the layers */
  n += (uint64_t)m->num_types * 4 + (uint64_t)m->num_funcs * sizeof(wk_funcref);
  n += (uint64_t)m->num_globals * sizeof(wk_global);
  n += (uint64_t)m->num_tables * (sizeof(wk_table *) + sizeof(wk_table) + 32);
  for (uint32_t i = 0; i < m->num_tables - m->num_imported_tables; i++)
    n += (uint64_t)m->tables[i].min * sizeof(void *) + 16;
  n += (uint64_t)m->num_data + m->num_elems;
  n += (uint64_t)m->num_tags * (sizeof(wk_tag *) + sizeof(wk_tag) + 32);
  return align_up(n, WK_PAGE_SIZE);
}

wk_host_instance *wk_host_instantiate(const wk_module *m, void *const *imports) {
  if (m->num_imported_tables > m->num_tables || m->num_imported_memories > m->num_memories) {
    set_error("wasmkiln: malformed module descriptor");
    return NULL;
  }
  uint64_t size = heap_bound(m);
  for (uint32_t i = 0; i < m->num_memories - m->num_imported_memories; i++) {
    const wk_memory_type *t = &m->memories[i];
    uint64_t cap = t->is64 ? WK_HOST_MEMORY64_PAGES : 65536;
    size += (t->max_pages > cap ? cap : t->max_pages) * WK_PAGE_SIZE;
  }
  void *region =
      mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (region == MAP_FAILED) {
    set_error("wasmkiln: cannot map the instance's memory");
    return NULL;
  }
  wk_host_instance *h = calloc(1, sizeof *h);
  struct wk_instance *inst = h ? wk_instance_create(m, region, size, NULL, imports) : NULL;
  if (!inst) { /* wk_instance_create said why, through wk_log */
    if (!h) set_error("wasmkiln: out of memory");
    free(h);
    munmap(region, size);
    return NULL;
  }
  inst->embed = &guard;
  h->inst = inst;
  h->region = region;
  h->region_size = size;
  h->next = live;
  if (live) live->prev = h;
  live = h;
  return h;
}

static void initialize_body(void *arg) {
  struct wk_instance *inst = arg;
  const wk_module *m = inst->module;
  wk_instance_init_segments(inst);
  if (m->start_func >= 0 && (uint32_t)m->start_func < m->num_funcs) {
    wk_instance_call_entry(inst, (uint32_t)m->start_func);
  }
}

uint32_t wk_host_initialize(wk_host_instance *h) { return run_guarded(initialize_body, h->inst); }

typedef struct {
  wk_trampoline tramp;
  wk_funcref *record;
  uint64_t *slots;
} host_call;

static void invoke_body(void *arg) {
  host_call *c = arg;
  c->tramp(c->record->vmctx, c->record->code, c->slots);
}

uint32_t wk_host_invoke(wk_host_instance *h, uint32_t func, uint64_t *slots) {
  const wk_module *m = h->inst->module;
  if (func >= m->num_funcs) return WK_HOST_BAD_INDEX;
  uint32_t type = m->func_types[func];
  if (type >= m->num_types || !m->trampolines || !m->trampolines[type])
    return WK_HOST_NO_TRAMPOLINE;
  host_call c = {m->trampolines[type], &h->inst->vm.funcs[func], slots};
  return run_guarded(invoke_body, &c);
}

void wk_host_instance_free(wk_host_instance *h) {
  if (!h) return;
  if (h->prev)
    h->prev->next = h->next;
  else
    live = h->next;
  if (h->next) h->next->prev = h->prev;
  munmap(h->region, h->region_size);
  free(h);
}

wk_funcref *wk_host_func(wk_host_instance *h, uint32_t index) {
  return index < h->inst->module->num_funcs ? &h->inst->vm.funcs[index] : NULL;
}

wk_memory *wk_host_memory(wk_host_instance *h, uint32_t index) {
  return index < h->inst->module->num_memories ? h->inst->vm.memories[index] : NULL;
}

wk_table *wk_host_table(wk_host_instance *h, uint32_t index) {
  return index < h->inst->module->num_tables ? h->inst->vm.tables[index] : NULL;
}

wk_tag *wk_host_tag(wk_host_instance *h, uint32_t index) {
  return index < h->inst->module->num_tags ? h->inst->vm.tags[index] : NULL;
}

wk_global *wk_host_global(wk_host_instance *h, uint32_t index) {
  return index < h->inst->module->num_globals ? wk_global_cell(h->inst, index) : NULL;
}

/* ---- Host-made externs ----------------------------------------------------------- */

typedef struct {
  wk_memory mem; /* first: the wk_memory * handed out is this struct's address */
  size_t map_size;
} host_memory;

wk_memory *wk_host_memory_new(uint64_t min_pages, uint64_t max_pages, uint32_t is64) {
  uint64_t cap = is64 ? WK_HOST_MEMORY64_PAGES : 65536;
  if (max_pages > cap) max_pages = cap;
  if (min_pages > max_pages) {
    set_error("wasmkiln: memory minimum above its maximum");
    return NULL;
  }
  host_memory *hm = calloc(1, sizeof *hm);
  if (!hm) return NULL;
  hm->map_size = max_pages ? (size_t)max_pages * WK_PAGE_SIZE : WK_PAGE_SIZE;
  void *base = mmap(NULL, hm->map_size, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (base == MAP_FAILED) {
    free(hm);
    set_error("wasmkiln: cannot map a memory");
    return NULL;
  }
  hm->mem.base = base;
  hm->mem.size = (uint64_t)min_pages * WK_PAGE_SIZE;
  hm->mem.max_pages = max_pages;
  return &hm->mem;
}

void wk_host_memory_free(wk_memory *mem) {
  if (!mem) return;
  host_memory *hm = (host_memory *)mem;
  munmap(hm->mem.base, hm->map_size);
  free(hm);
}

typedef struct {
  wk_table table; /* first, as above */
  void **own;     /* the array allocated here (growing replaces table.elems) */
} host_table;

wk_table *wk_host_table_new(uint32_t min, uint32_t max, uint32_t elem_type) {
  if (min > max || min > WK_TABLE_MAX_ELEMS) {
    set_error("wasmkiln: bad table limits");
    return NULL;
  }
  host_table *ht = calloc(1, sizeof *ht);
  void **elems = calloc(min ? min : 1, sizeof(void *));
  if (!ht || !elems) {
    free(ht);
    free(elems);
    set_error("wasmkiln: out of memory");
    return NULL;
  }
  ht->own = elems;
  ht->table.elems = elems;
  ht->table.size = min;
  ht->table.max = max;
  ht->table.elem_type = elem_type;
  return &ht->table;
}

void wk_host_table_free(wk_table *table) {
  if (!table) return;
  host_table *ht = (host_table *)table;
  free(ht->own);
  free(ht);
}

wk_global *wk_host_global_new(uint64_t bits) {
  wk_global *cell = calloc(1, sizeof *cell);
  if (cell) cell->i64 = bits;
  return cell;
}

void wk_host_global_free(wk_global *cell) { free(cell); }

uint32_t wk_host_type_id(const char *sig) { return wk_type_id(sig); }
