/*
 * wk/abi.h - the contract between compiled Wasm modules and the runtime.
 *
 * Generated code (bridge/, both backends) and the C runtime (unikernel/core)
 * meet here and nowhere else. Offsets that generated code hard-codes come from
 * wk/abi_layout.h, which bridge/abi.py generates; every one is checked below
 * with _Static_assert. docs/abi.md is the prose version of this file.
 *
 * Bump WK_ABI_VERSION (in bridge/abi.py) when any layout, builtin slot or trap
 * code changes meaning; wk_module.abi_version must equal it or the runtime
 * refuses the module.
 *
 * Calling convention: every Wasm function, defined or imported, is a SysV
 * function whose first argument is the wk_vmctx pointer, followed by the Wasm
 * parameters (i32 -> int32_t, i64 -> int64_t, f32 -> float, f64 -> double),
 * returning the Wasm result (or void).
 */
#ifndef WK_ABI_H
#define WK_ABI_H

#include <stddef.h>
#include <stdint.h>

#include "wk/abi_layout.h"

typedef struct wk_vmctx wk_vmctx;
struct wk_instance;

/* A table slot. IN (runtime-written), read by call_indirect. */
typedef struct wk_funcref {
  void *func;       /* code address, NULL for a null reference */
  uint32_t type_id; /* canonical type id (wk_module.func_type_ids), WK_NULL_TYPE_ID if null */
  uint32_t pad;
} wk_funcref;

typedef struct wk_table {
  wk_funcref *elems; /* size entries */
  uint32_t size;
  uint32_t max; /* UINT32_MAX when unbounded */
} wk_table;

/* Runtime helpers reached by generated code through vmctx->builtins. */
typedef struct wk_builtins {
  void (*trap)(wk_vmctx *vm, uint32_t code); /* never returns */
  uint32_t (*memory_grow)(wk_vmctx *vm, uint32_t delta_pages);
  void (*memory_fill)(wk_vmctx *vm, uint32_t dst, uint32_t byte, uint32_t n);
  void (*memory_copy)(wk_vmctx *vm, uint32_t dst, uint32_t src, uint32_t n);
  void (*memory_init)(wk_vmctx *vm, uint32_t seg, uint32_t dst, uint32_t src, uint32_t n);
  void (*data_drop)(wk_vmctx *vm, uint32_t seg);
} wk_builtins;

/* Per-instance context; generated code receives it as its first argument. */
struct wk_vmctx {
  uint8_t *mem_base;            /* IN: linear memory 0 */
  uint64_t mem_size;            /* IN: accessible bytes of memory 0 */
  void *const *funcs;           /* IN: imports first, then defined functions */
  uint64_t *globals;            /* IN/OUT: one 8-byte slot per global (raw bits) */
  wk_table *tables;             /* IN/OUT */
  uintptr_t stack_limit;        /* IN: a function entered with sp below this traps */
  const wk_builtins *builtins;  /* IN */
  struct wk_instance *instance; /* opaque to generated code */
};

_Static_assert(offsetof(wk_vmctx, mem_base) == WK_VMCTX_MEM_BASE, "vmctx layout");
_Static_assert(offsetof(wk_vmctx, mem_size) == WK_VMCTX_MEM_SIZE, "vmctx layout");
_Static_assert(offsetof(wk_vmctx, funcs) == WK_VMCTX_FUNCS, "vmctx layout");
_Static_assert(offsetof(wk_vmctx, globals) == WK_VMCTX_GLOBALS, "vmctx layout");
_Static_assert(offsetof(wk_vmctx, tables) == WK_VMCTX_TABLES, "vmctx layout");
_Static_assert(offsetof(wk_vmctx, stack_limit) == WK_VMCTX_STACK_LIMIT, "vmctx layout");
_Static_assert(offsetof(wk_vmctx, builtins) == WK_VMCTX_BUILTINS, "vmctx layout");
_Static_assert(offsetof(wk_vmctx, instance) == WK_VMCTX_INSTANCE, "vmctx layout");
_Static_assert(sizeof(wk_vmctx) == WK_VMCTX_SIZE, "vmctx layout");
_Static_assert(sizeof(wk_funcref) == WK_FUNCREF_SIZE, "funcref layout");
_Static_assert(offsetof(wk_funcref, func) == WK_FUNCREF_FUNC, "funcref layout");
_Static_assert(offsetof(wk_funcref, type_id) == WK_FUNCREF_TYPE_ID, "funcref layout");
_Static_assert(sizeof(wk_table) == WK_TABLE_SIZE, "table layout");
_Static_assert(offsetof(wk_table, elems) == WK_TABLE_ELEMS, "table layout");
_Static_assert(offsetof(wk_table, size) == WK_TABLE_LEN, "table layout");
_Static_assert(offsetof(wk_builtins, data_drop) == WK_BUILTIN_DATA_DROP * sizeof(void *),
               "builtins layout");
_Static_assert(sizeof(wk_builtins) == WK_BUILTIN_COUNT * sizeof(void *), "builtins layout");

/* ---- The module descriptor: emitted by bridge as C (the "metadata object"). ---- */

enum { WK_EXTERN_FUNC = 0, WK_EXTERN_TABLE = 1, WK_EXTERN_MEMORY = 2, WK_EXTERN_GLOBAL = 3 };

typedef struct wk_export {
  const char *name;
  uint32_t kind; /* WK_EXTERN_* */
  uint32_t index;
} wk_export;

typedef struct wk_data_segment {
  const uint8_t *bytes;
  uint32_t size;
  uint32_t offset; /* destination in memory 0 (active segments) */
  uint32_t passive;
} wk_data_segment;

typedef struct wk_elem_segment {
  const uint32_t *funcs; /* function indices; UINT32_MAX is ref.null */
  uint32_t count;
  uint32_t table;
  uint32_t offset; /* destination slot (active segments) */
  uint32_t passive;
} wk_elem_segment;

typedef struct wk_table_type {
  uint32_t min;
  uint32_t max; /* UINT32_MAX when unbounded */
} wk_table_type;

typedef struct wk_module {
  uint32_t abi_version; /* must equal WK_ABI_VERSION */
  uint32_t num_funcs;   /* imports + defined */
  void *const *funcs;
  const uint32_t *func_type_ids; /* canonical signature id of each function */
  uint32_t num_globals;
  const uint64_t *global_inits; /* raw bits */
  uint32_t has_memory;
  uint32_t mem_min_pages;
  uint32_t mem_max_pages; /* 65536 when the module gives no maximum */
  uint32_t num_tables;
  const wk_table_type *tables;
  uint32_t num_data;
  const wk_data_segment *data;
  uint32_t num_elems;
  const wk_elem_segment *elems;
  uint32_t num_exports;
  const wk_export *exports;
  int32_t start_func; /* the start section's function, -1 if none */
  int32_t entry_func; /* the `_start` export, -1 if none */
  const char *name;   /* module name, for messages */
} wk_module;

/* The one module an image carries; defined by the generated metadata object. */
extern const wk_module wk_module_main;

#endif /* WK_ABI_H */
