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

uint64_t wk_const_bits(struct wk_instance *inst, const wk_const *c, int is64) {
  uint64_t mask = is64 ? UINT64_MAX : UINT32_MAX;
  if (c->kind == WK_CONST_VALUE) return c->bits & mask;
  if (c->kind == WK_CONST_GLOBAL_GET) return wk_global_cell(inst, c->index)->i64 & mask;
  if (c->kind != WK_CONST_EXPR) return 0;
  const wk_module *m = inst->module;
  uint64_t stack[WK_CONST_STACK];
  uint32_t depth = 0;
  if (c->index > m->num_const_ops || c->bits > m->num_const_ops - c->index) return 0;
  for (uint64_t i = 0; i < c->bits; i++) {
    const wk_const *op = &m->const_ops[c->index + i];
    if (op->kind == WK_CONST_VALUE || op->kind == WK_CONST_GLOBAL_GET) {
      if (depth == WK_CONST_STACK) return 0; /* the compiler refuses deeper expressions */
      stack[depth++] = wk_const_bits(inst, op, 1);
      continue;
    }
    if (depth < 2) return 0; /* validated away */
    uint64_t b = stack[--depth], a = stack[depth - 1], r;
    switch (op->kind) {
    case WK_CONST_I32_ADD:
    case WK_CONST_I64_ADD: r = a + b; break;
    case WK_CONST_I32_SUB:
    case WK_CONST_I64_SUB: r = a - b; break;
    default: r = a * b; break; /* WK_CONST_I32_MUL, WK_CONST_I64_MUL */
    }
    /* i32 results wrap at 32 bits; the low 32 bits of add/sub/mul need only the operands'. */
    stack[depth - 1] = op->kind <= WK_CONST_I32_MUL ? (uint32_t)r : r;
  }
  return depth ? stack[depth - 1] & mask : 0;
}

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

uint64_t wk_core_table_grow(wk_vmctx *vm, uint32_t t, void *init, uint64_t delta) {
  wk_table *tab = table_at(vm, t);
  uint32_t old = tab->size;
  if (delta > (uint64_t)(tab->max - old)) return UINT64_MAX;
  uint64_t size = (uint64_t)old + delta;
  if (size > WK_TABLE_MAX_ELEMS) return UINT64_MAX;
  if (delta) {
    /* The heap never frees: a grown table moves to a new array. */
    void **elems = wk_heap_alloc(wk_inst(vm), size * sizeof(void *));
    if (!elems) return UINT64_MAX;
    for (uint32_t i = 0; i < old; i++) elems[i] = tab->elems[i];
    for (uint64_t i = old; i < size; i++) elems[i] = init;
    tab->elems = elems;
    tab->size = (uint32_t)size;
  }
  return old;
}

/* [at, at + n) lies within `size` elements (64-bit: no sum can wrap past a u32 size). */
static int range_ok(uint64_t at, uint64_t n, uint64_t size) { return at <= size && n <= size - at; }

void wk_core_table_fill(wk_vmctx *vm, uint32_t t, uint64_t dst, void *value, uint64_t n) {
  wk_table *tab = table_at(vm, t);
  if (!range_ok(dst, n, tab->size)) wk_trap(vm, WK_TRAP_TABLE_OOB);
  for (uint64_t i = 0; i < n; i++) tab->elems[dst + i] = value;
}

void wk_core_table_copy(wk_vmctx *vm, uint32_t dt, uint32_t st, uint64_t dst, uint64_t src,
                        uint64_t n) {
  wk_table *d = table_at(vm, dt), *s = table_at(vm, st);
  if (!range_ok(dst, n, d->size) || !range_ok(src, n, s->size)) wk_trap(vm, WK_TRAP_TABLE_OOB);
  __builtin_memmove(d->elems + dst, s->elems + src, (size_t)n * sizeof(void *));
}

void wk_core_table_init(wk_vmctx *vm, uint32_t t, uint32_t seg, uint64_t dst, uint32_t src,
                        uint32_t n) {
  struct wk_instance *inst = wk_inst(vm);
  const wk_module *m = inst->module;
  wk_table *tab = table_at(vm, t);
  if (seg >= m->num_elems) wk_trap(vm, WK_TRAP_TABLE_OOB); /* validated away; be safe */
  uint64_t count = inst->elem_dropped[seg] ? 0 : m->elems[seg].count;
  if ((uint64_t)src + n > count || !range_ok(dst, n, tab->size)) wk_trap(vm, WK_TRAP_TABLE_OOB);
  for (uint32_t i = 0; i < n; i++)
    tab->elems[dst + i] = wk_const_ref(inst, &m->elems[seg].items[src + i]);
}

void wk_core_elem_drop(wk_vmctx *vm, uint32_t seg) {
  struct wk_instance *inst = wk_inst(vm);
  if (seg < inst->module->num_elems) inst->elem_dropped[seg] = 1;
}
