/*
 * core/table_core.c - tables: element segments and the table builtins
 * (grow, fill, copy, init, elem.drop). table.get/set/size are inline in
 * generated code.
 *
 * Elements are pointer-size references: a wk_funcref * for funcref tables
 * (NULL is ref.null), an opaque host value for externref tables.
 */
#include "instance_core.h"

#include "wk/abi.h"
#include "wk/core.h"

void *wk_const_ref(struct wk_instance *inst, const wk_const *c) {
  switch (c->kind) {
  case WK_CONST_REF_FUNC:
    return c->index < inst->module->num_funcs ? &inst->vm.funcs[c->index] : NULL;
  case WK_CONST_GLOBAL_GET: return wk_global_cell(inst, c->index)->ref;
  default: return NULL;
  }
}

static wk_table *table_at(wk_vmctx *vm, uint32_t t) {
  if (t >= wk_inst(vm)->module->num_tables) wk_trap(vm, WK_TRAP_TABLE_OOB); /* validated */
  return vm->tables[t];
}

uint32_t wk_core_table_grow(wk_vmctx *vm, uint32_t t, void *init, uint32_t delta) {
  wk_table *tab = table_at(vm, t);
  uint32_t old = tab->size;
  if (delta > tab->max - old) return UINT32_MAX;
  uint64_t size = (uint64_t)old + delta;
  if (size > WK_TABLE_MAX_ELEMS) return UINT32_MAX;
  if (delta) {
    /* The heap never frees: a grown table moves to a new array. */
    void **elems = wk_heap_alloc(wk_inst(vm), size * sizeof(void *));
    if (!elems) return UINT32_MAX;
    for (uint32_t i = 0; i < old; i++) elems[i] = tab->elems[i];
    for (uint64_t i = old; i < size; i++) elems[i] = init;
    tab->elems = elems;
    tab->size = (uint32_t)size;
  }
  return old;
}

void wk_core_table_fill(wk_vmctx *vm, uint32_t t, uint32_t dst, void *value, uint32_t n) {
  wk_table *tab = table_at(vm, t);
  if ((uint64_t)dst + n > tab->size) wk_trap(vm, WK_TRAP_TABLE_OOB);
  for (uint32_t i = 0; i < n; i++) tab->elems[dst + i] = value;
}

void wk_core_table_copy(wk_vmctx *vm, uint32_t dt, uint32_t st, uint32_t dst, uint32_t src,
                        uint32_t n) {
  wk_table *d = table_at(vm, dt), *s = table_at(vm, st);
  if ((uint64_t)dst + n > d->size || (uint64_t)src + n > s->size) wk_trap(vm, WK_TRAP_TABLE_OOB);
  __builtin_memmove(d->elems + dst, s->elems + src, (size_t)n * sizeof(void *));
}

void wk_core_table_init(wk_vmctx *vm, uint32_t t, uint32_t seg, uint32_t dst, uint32_t src,
                        uint32_t n) {
  struct wk_instance *inst = wk_inst(vm);
  const wk_module *m = inst->module;
  wk_table *tab = table_at(vm, t);
  if (seg >= m->num_elems) wk_trap(vm, WK_TRAP_TABLE_OOB); /* validated away; be safe */
  uint64_t count = inst->elem_dropped[seg] ? 0 : m->elems[seg].count;
  if ((uint64_t)src + n > count || (uint64_t)dst + n > tab->size) wk_trap(vm, WK_TRAP_TABLE_OOB);
  for (uint32_t i = 0; i < n; i++)
    tab->elems[dst + i] = wk_const_ref(inst, &m->elems[seg].items[src + i]);
}

void wk_core_elem_drop(wk_vmctx *vm, uint32_t seg) {
  struct wk_instance *inst = wk_inst(vm);
  if (seg < inst->module->num_elems) inst->elem_dropped[seg] = 1;
}
