/*
 * core/exceptions_core.c - Wasm exceptions: the pending cell, tags, exn_new.
 *
 * Generated code raises an exception without any unwinder (docs/abi.md
 * "Exceptions"): inside a handler of the same function it jumps there; else it
 * stores the wk_exn * in the pending cell and returns, and every caller in a
 * module that uses exceptions tests the cell after each call. The cell is one
 * per process (guest code runs on one thread at a time), so an exception
 * crosses instances (an import that throws) like a return value. What reaches
 * an entry point (wk_main, an embedder's guard) with the cell set is uncaught.
 *
 * Exceptions are allocated from the kernel heap (images) or, where there is
 * none (platform/host), from the thrower's runtime heap (then behind a
 * heap_exn header naming that instance, whose free list reuses them).
 *
 * Freeing without a collector (docs/abi.md "Exceptions"): an exception that
 * became a Wasm value (catch_ref, catch_all_ref: it may be stored anywhere) is
 * marked ESCAPED and never freed. Any other is reachable only from the
 * pending cell, a dispatch block's parameter and legacy catch arms (for
 * `rethrow`), which generated code counts in HOLDS. It is freed when a handler
 * that keeps no reference takes its payload (DROP) or the last arm holding it
 * ends normally (DROP_HOLD), and then only when no arm holds it. An arm left
 * any other way (a raise, br_if, br_table) never frees: at worst a leak, never
 * a dangling exnref.
 */
#include "instance_core.h"

#include "wk/abi.h"
#include "wk/core.h"

static wk_exn *pending_exn; /* the process-wide pending cell (vmctx->exn points here) */

wk_exn **wk_exn_pending_cell(void) { return &pending_exn; }

int wk_exn_take_pending(void) {
  wk_exn *e = pending_exn;
  pending_exn = NULL;
  if (e) wk_core_exn_ref(NULL, e, WK_EXN_REF_DROP); /* the embedder keeps no reference */
  return e != NULL;
}

void wk_exn_check_uncaught(wk_vmctx *vm) {
  if (pending_exn) {
    const wk_tag *tag = pending_exn->tag;
    pending_exn = NULL;
    if (!wk_inst(vm)->embed) wk_log("wasmkiln: uncaught exception of tag %u\n", tag->index);
    wk_trap(vm, WK_TRAP_UNCAUGHT_EXCEPTION);
  }
}

/* wk_exn.state: */
#define ESCAPED 0x80000000u /* a Wasm value (catch_ref, catch_all_ref): never freed */
#define ON_HEAP 0x40000000u /* from an instance's runtime heap: a heap_exn */
#define HOLDS 0x3fffffffu   /* legacy catch arms holding it */

/* An exception from an instance's runtime heap (no kernel heap: platform/host). */
typedef struct heap_exn {
  struct wk_instance *owner; /* whose heap, and free list */
  struct heap_exn *next;     /* in owner->exn_free, while free */
  uint64_t cap;              /* payload bytes it has room for */
  uint64_t pad;
  wk_exn exn;
} heap_exn;

static wk_exn *heap_exn_new(struct wk_instance *inst, uint32_t size) {
  for (heap_exn **at = (heap_exn **)&inst->exn_free; *at; at = &(*at)->next) {
    heap_exn *h = *at;
    if (h->cap >= size) {
      *at = h->next;
      return &h->exn;
    }
  }
  heap_exn *h = wk_heap_alloc(inst, sizeof(heap_exn) + size);
  if (!h) return NULL;
  h->owner = inst;
  h->cap = size;
  return &h->exn;
}

wk_exn *wk_core_exn_new(wk_vmctx *vm, uint32_t tag, uint32_t size, const void *payload) {
  uint32_t state = 0;
  wk_exn *e = wk_kmem_alloc(sizeof(wk_exn) + size);
  if (!e) {
    e = heap_exn_new(wk_inst(vm), size);
    state = ON_HEAP;
  }
  if (!e) wk_trap(vm, WK_TRAP_EXN_OUT_OF_MEMORY);
  e->tag = vm->tags[tag];
  e->size = size;
  e->state = state;
  if (size) __builtin_memcpy(e->payload, payload, size);
  return e;
}

/* No one can reach `e` any more (nothing holds it, it never escaped). */
static void exn_free(wk_exn *e) {
  e->tag = NULL; /* a use after free (a bug) then matches no tag */
  if (e->state & ON_HEAP) {
    heap_exn *h = (heap_exn *)((uint8_t *)e - __builtin_offsetof(heap_exn, exn));
    h->next = h->owner->exn_free;
    h->owner->exn_free = h;
  } else {
    wk_kmem_free(e, sizeof(wk_exn) + e->size);
  }
}

void wk_core_exn_ref(wk_vmctx *vm, wk_exn *e, uint32_t op) {
  (void)vm;
  if (!e || (e->state & ESCAPED)) return;
  uint32_t holds = e->state & HOLDS;
  switch (op) {
  case WK_EXN_REF_ESCAPE: e->state |= ESCAPED; return;
  case WK_EXN_REF_HOLD: /* arms nest at most as deep as the code: saturate, never wrap */
    e->state = holds == HOLDS ? e->state | ESCAPED : e->state + 1;
    return;
  case WK_EXN_REF_UNHOLD:
    if (holds) e->state--;
    return;
  case WK_EXN_REF_DROP_HOLD:
    if (!holds) return;
    e->state--;
    if (holds == 1) exn_free(e);
    return;
  case WK_EXN_REF_DROP:
    if (!holds) exn_free(e);
    return;
  default: return;
  }
}

int wk_tags_create(struct wk_instance *inst) {
  const wk_module *m = inst->module;
  wk_vmctx *vm = &inst->vm;
  for (uint32_t t = m->num_imported_tags; t < m->num_tags; t++) {
    wk_tag *tag = wk_heap_alloc(inst, sizeof *tag);
    if (!tag || m->tag_types[t] >= m->num_types) return -1;
    tag->type_id = inst->type_ids[m->tag_types[t]];
    tag->index = t;
    vm->tags[t] = tag;
  }
  return 0;
}
