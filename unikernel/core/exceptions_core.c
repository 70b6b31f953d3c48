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
 * none (platform/host), from the instance's runtime heap, and never freed: an
 * exnref may be stored anywhere (locals, globals, tables), and there is no
 * collector to tell when the last one went away.
 */
#include "instance_core.h"

#include "wk/abi.h"
#include "wk/core.h"

static wk_exn *pending_exn; /* the process-wide pending cell (vmctx->exn points here) */

wk_exn **wk_exn_pending_cell(void) { return &pending_exn; }

int wk_exn_take_pending(void) {
  int was = pending_exn != NULL;
  pending_exn = NULL;
  return was;
}

void wk_exn_check_uncaught(wk_vmctx *vm) {
  if (pending_exn) {
    const wk_tag *tag = pending_exn->tag;
    pending_exn = NULL;
    if (!wk_inst(vm)->embed) wk_log("wasmkiln: uncaught exception of tag %u\n", tag->index);
    wk_trap(vm, WK_TRAP_UNCAUGHT_EXCEPTION);
  }
}

wk_exn *wk_core_exn_new(wk_vmctx *vm, uint32_t tag, uint32_t size, const void *payload) {
  uint64_t n = sizeof(wk_exn) + size;
  wk_exn *e = wk_kmem_alloc(n);
  if (!e) e = wk_heap_alloc(wk_inst(vm), n);
  if (!e) wk_trap(vm, WK_TRAP_EXN_OUT_OF_MEMORY);
  e->tag = vm->tags[tag];
  e->size = size;
  if (size) __builtin_memcpy(e->payload, payload, size);
  return e;
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
