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
 * parameters (i32 -> int32_t, i64 -> int64_t, f32 -> float, f64 -> double,
 * v128 -> a 16-byte vector in an SSE register, like __m128i), returning the Wasm result (or
 * void).
 */
#ifndef WK_ABI_H
#define WK_ABI_H

#include <stddef.h>
#include <stdint.h>

#include "wk/abi_layout.h"

typedef struct wk_vmctx wk_vmctx;
struct wk_instance;

/* A linear memory. Shared by reference when imported. */
typedef struct wk_memory {
  uint8_t *base;      /* never moves while the instance lives */
  uint64_t size;      /* accessible bytes, a multiple of WK_PAGE_SIZE */
  uint64_t max_pages; /* growth limit: min(declared max, what the platform reserved) */
} wk_memory;

/* Several memories (WebAssembly 3.0): vmctx->memories[i] for memory index i, imports first;
 * vmctx->memory is memories[0], kept at offset 0 for the common single-memory access. */

/*
 * A function as a value. Every function of an instance has one record
 * (vmctx->funcs[index]); a funcref (ref.func, a table element) is a pointer to
 * a record, or NULL. Calling one means code(vmctx, args...) in the Wasm calling
 * convention (the backend's tail convention: only generated code calls `code`;
 * C goes through a trampoline). A host function is a record with code NULL and
 * `host` set: the importing instance binds it to its adapter (wk_import.adapter),
 * which calls host(vmctx, args...) in the C convention.
 */
typedef struct wk_funcref {
  void *code;
  wk_vmctx *vmctx;  /* the instance the code belongs to (imports: the exporter's) */
  uint32_t type_id; /* runtime-wide signature id, see vmctx->type_ids */
  uint32_t pad;
  void *host; /* a host function's C code, called by the adapter in `code`; else NULL */
} wk_funcref;

/* A table of references (wk_funcref * for funcref tables, opaque for externref). */
typedef struct wk_table {
  void **elems;
  uint32_t size;
  uint32_t max;       /* UINT32_MAX when unbounded */
  uint32_t elem_type; /* 0x70 funcref, 0x6F externref */
  uint32_t pad;
} wk_table;

/* A global's storage: 16 bytes, little-endian, low bytes for narrower types. */
typedef union wk_global {
  uint64_t i64;
  uint32_t i32;
  void *ref;
  union wk_global *cell; /* an imported global: the owner's cell */
  uint64_t v128[2];      /* a v128: low 64 bits first */
  uint8_t bytes[16];
} wk_global;

/*
 * Exception handling (docs/abi.md "Exceptions"). A tag's identity is its
 * wk_tag's address: each instance makes one per defined tag, an imported tag
 * is the exporter's. An exnref is a wk_exn *, or NULL.
 */
typedef struct wk_tag {
  uint32_t type_id; /* runtime-wide signature id of the tag's type */
  uint32_t index;   /* its index in the defining module, for messages */
} wk_tag;

typedef struct wk_exn {
  const wk_tag *tag;
  uint32_t size;      /* payload bytes */
  uint32_t state;     /* the runtime's bookkeeping (exceptions_core.c), 0 when thrown */
  uint64_t payload[]; /* the values, in trampoline slot layout */
} wk_exn;

/* Runtime helpers reached by generated code through vmctx->builtins. */
typedef struct wk_builtins {
  void (*trap)(wk_vmctx *vm, uint32_t code); /* never returns */
  /* Addresses, sizes and counts are u64 (memory64, table64); grow returns UINT64_MAX on
   * failure (generated code truncates it to -1 for a 32-bit memory or table). */
  uint64_t (*memory_grow)(wk_vmctx *vm, uint32_t mem, uint64_t delta_pages);
  void (*memory_fill)(wk_vmctx *vm, uint32_t mem, uint64_t dst, uint32_t byte, uint64_t n);
  void (*memory_copy)(wk_vmctx *vm, uint32_t dst_mem, uint32_t src_mem, uint64_t dst, uint64_t src,
                      uint64_t n);
  void (*memory_init)(wk_vmctx *vm, uint32_t mem, uint32_t seg, uint64_t dst, uint32_t src,
                      uint32_t n);
  void (*data_drop)(wk_vmctx *vm, uint32_t seg);
  uint64_t (*table_grow)(wk_vmctx *vm, uint32_t table, void *init, uint64_t delta);
  void (*table_fill)(wk_vmctx *vm, uint32_t table, uint64_t dst, void *value, uint64_t n);
  void (*table_copy)(wk_vmctx *vm, uint32_t dst_table, uint32_t src_table, uint64_t dst,
                     uint64_t src, uint64_t n);
  void (*table_init)(wk_vmctx *vm, uint32_t table, uint32_t seg, uint64_t dst, uint32_t src,
                     uint32_t n);
  void (*elem_drop)(wk_vmctx *vm, uint32_t seg);
  wk_exn *(*exn_new)(wk_vmctx *vm, uint32_t tag, uint32_t size, const void *payload);
  void (*exn_ref)(wk_vmctx *vm, wk_exn *exn, uint32_t op); /* op: WK_EXN_REF_*; may free */
} wk_builtins;

/* Per-instance context; generated code receives it as its first argument. */
struct wk_vmctx {
  wk_memory *memory;           /* IN: memory 0 (defined or imported), NULL if none */
  wk_funcref *funcs;           /* IN: one record per function index, imports first */
  wk_global *globals;          /* IN/OUT: one cell per global; imported: cell.ref -> owner's cell */
  wk_table **tables;           /* IN: one pointer per table index */
  const uint32_t *type_ids;    /* IN: module type index -> runtime-wide signature id */
  uintptr_t stack_limit;       /* IN: a function entered with sp below this traps */
  const wk_builtins *builtins; /* IN */
  struct wk_instance *instance; /* opaque to generated code */
  wk_memory **memories;         /* IN: one pointer per memory index, imports first */
  wk_tag **tags;                /* IN: one pointer per tag index, imports first */
  wk_exn **exn;                 /* IN: the process-wide pending-exception cell (IN/OUT) */
};

_Static_assert(offsetof(wk_vmctx, memory) == WK_VMCTX_MEMORY, "vmctx layout");
_Static_assert(offsetof(wk_vmctx, funcs) == WK_VMCTX_FUNCS, "vmctx layout");
_Static_assert(offsetof(wk_vmctx, globals) == WK_VMCTX_GLOBALS, "vmctx layout");
_Static_assert(offsetof(wk_vmctx, tables) == WK_VMCTX_TABLES, "vmctx layout");
_Static_assert(offsetof(wk_vmctx, type_ids) == WK_VMCTX_TYPE_IDS, "vmctx layout");
_Static_assert(offsetof(wk_vmctx, stack_limit) == WK_VMCTX_STACK_LIMIT, "vmctx layout");
_Static_assert(offsetof(wk_vmctx, builtins) == WK_VMCTX_BUILTINS, "vmctx layout");
_Static_assert(offsetof(wk_vmctx, instance) == WK_VMCTX_INSTANCE, "vmctx layout");
_Static_assert(offsetof(wk_vmctx, memories) == WK_VMCTX_MEMORIES, "vmctx layout");
_Static_assert(offsetof(wk_vmctx, tags) == WK_VMCTX_TAGS, "vmctx layout");
_Static_assert(offsetof(wk_vmctx, exn) == WK_VMCTX_EXN, "vmctx layout");
_Static_assert(sizeof(wk_vmctx) == WK_VMCTX_SIZE, "vmctx layout");
_Static_assert(offsetof(wk_exn, tag) == WK_EXN_TAG, "exception layout");
_Static_assert(offsetof(wk_exn, size) == WK_EXN_SIZE, "exception layout");
_Static_assert(offsetof(wk_exn, payload) == WK_EXN_PAYLOAD, "exception layout");
_Static_assert(sizeof(wk_tag) == WK_TAG_STRUCT_SIZE, "tag layout");
_Static_assert(offsetof(wk_memory, base) == WK_MEMORY_BASE, "memory layout");
_Static_assert(offsetof(wk_memory, size) == WK_MEMORY_SIZE, "memory layout");
_Static_assert(sizeof(wk_memory) == WK_MEMORY_STRUCT_SIZE, "memory layout");
_Static_assert(sizeof(wk_funcref) == WK_FUNCREF_SIZE, "funcref layout");
_Static_assert(offsetof(wk_funcref, code) == WK_FUNCREF_CODE, "funcref layout");
_Static_assert(offsetof(wk_funcref, vmctx) == WK_FUNCREF_VMCTX, "funcref layout");
_Static_assert(offsetof(wk_funcref, type_id) == WK_FUNCREF_TYPE_ID, "funcref layout");
_Static_assert(offsetof(wk_funcref, host) == WK_FUNCREF_HOST, "funcref layout");
_Static_assert(sizeof(wk_table) == WK_TABLE_STRUCT_SIZE, "table layout");
_Static_assert(offsetof(wk_table, elems) == WK_TABLE_ELEMS, "table layout");
_Static_assert(offsetof(wk_table, size) == WK_TABLE_LEN, "table layout");
_Static_assert(sizeof(wk_global) == WK_GLOBAL_SIZE, "global layout");
_Static_assert(offsetof(wk_builtins, elem_drop) == WK_BUILTIN_ELEM_DROP * sizeof(void *),
               "builtins layout");
_Static_assert(offsetof(wk_builtins, exn_new) == WK_BUILTIN_EXN_NEW * sizeof(void *),
               "builtins layout");
_Static_assert(offsetof(wk_builtins, exn_ref) == WK_BUILTIN_EXN_REF * sizeof(void *),
               "builtins layout");
_Static_assert(sizeof(wk_builtins) == WK_BUILTIN_COUNT * sizeof(void *), "builtins layout");

/* ---- The module descriptor: emitted by bridge as C (the "metadata object"). ---- */

enum {
  WK_EXTERN_FUNC = 0,
  WK_EXTERN_TABLE = 1,
  WK_EXTERN_MEMORY = 2,
  WK_EXTERN_GLOBAL = 3,
  WK_EXTERN_TAG = 4
};

/* A constant expression (global initialisers, segment offsets, element items). One
 * instruction is one wk_const; an extended constant expression (WebAssembly 3.0: i32/i64
 * add, sub, mul over constants and global.get) is WK_CONST_EXPR, whose `index` and `bits`
 * name a slice of wk_module.const_ops evaluated in order on a small stack (at most
 * WK_CONST_STACK values, abi_layout.h; the compiler refuses deeper ones). */
enum {
  WK_CONST_VALUE = 0,
  WK_CONST_GLOBAL_GET = 1,
  WK_CONST_REF_FUNC = 2,
  WK_CONST_REF_NULL = 3,
  WK_CONST_EXPR = 4, /* index: first op in const_ops; bits: how many */
  WK_CONST_I32_ADD = 5,
  WK_CONST_I32_SUB = 6,
  WK_CONST_I32_MUL = 7,
  WK_CONST_I64_ADD = 8,
  WK_CONST_I64_SUB = 9,
  WK_CONST_I64_MUL = 10,
};
typedef struct wk_const {
  uint32_t kind;  /* WK_CONST_* */
  uint32_t index; /* global or function index */
  uint64_t bits;  /* WK_CONST_VALUE: raw bits (a v128: its low 64 bits) */
  uint64_t hi;    /* WK_CONST_VALUE: a v128's high 64 bits, else 0 */
} wk_const;

typedef struct wk_import {
  const char *module;
  const char *name;
  uint32_t kind;     /* WK_EXTERN_* */
  uint32_t type;     /* func, tag: type index; global: valtype | mutable << 8; table: elem type |
                       table64 << 8; memory: memory64 << 8 */
  uint64_t min, max; /* table/memory limits (max UINT64_MAX when absent) */
  void *code;        /* func: host code bound at link time, or NULL (supplied at instantiation) */
  void *adapter;     /* func: this module's wk_hostcall_<index>, the entry for host code */
} wk_import;

typedef struct wk_export {
  const char *name;
  uint32_t kind; /* WK_EXTERN_* */
  uint32_t index;
} wk_export;

typedef struct wk_global_def {
  uint32_t type; /* valtype | mutable << 8 */
  uint32_t pad;
  wk_const init;
} wk_global_def;

typedef struct wk_data_segment {
  const uint8_t *bytes;
  uint32_t size;
  uint32_t passive;
  uint32_t memory; /* active: the memory index */
  uint32_t is64;   /* active: that memory is a memory64 (the offset is an i64) */
  wk_const offset; /* destination in that memory (active segments) */
} wk_data_segment;

enum { WK_ELEM_ACTIVE = 0, WK_ELEM_PASSIVE = 1, WK_ELEM_DECLARATIVE = 2 };
typedef struct wk_elem_segment {
  const wk_const *items; /* ref.func / ref.null / global.get */
  uint32_t count;
  uint32_t table;
  uint32_t mode;   /* WK_ELEM_* */
  uint32_t is64;   /* active: the table is a table64 (the offset is an i64) */
  wk_const offset; /* destination slot (active segments) */
} wk_elem_segment;

typedef struct wk_table_type {
  uint32_t min;
  uint32_t max; /* UINT32_MAX when unbounded */
  uint32_t elem_type;
  uint32_t pad;
  wk_const init; /* every element's initial value (typed tables; else ref.null) */
} wk_table_type;

/* A defined memory's limits, in pages. */
typedef struct wk_memory_type {
  uint64_t min_pages;
  uint64_t max_pages; /* 65536 (memory32) or 2^48 (memory64) when the module gives none */
  uint32_t is64;      /* memory64: i64 addresses */
  uint32_t pad;
} wk_memory_type;

/* Calls `code` with arguments from `args` and stores results over them (one 8-byte
 * slot per value); emitted by the compiler once per function type. */
typedef void (*wk_trampoline)(wk_vmctx *vm, void *code, uint64_t *args_results);

typedef struct wk_module {
  uint32_t abi_version; /* must equal WK_ABI_VERSION */
  uint32_t num_types;
  const char *const
      *type_sigs; /* "params:results" in i/I/f/F/V (v128)/r (funcref)/e (externref)/x (exnref) */
  const wk_trampoline *trampolines; /* per type index; NULL entries where not emitted */
  uint32_t num_imports;
  const wk_import *imports;
  uint32_t num_funcs; /* imports + defined */
  uint32_t num_imported_funcs;
  void *const *func_code;     /* defined functions only */
  const uint32_t *func_types; /* type index of every function */
  uint32_t num_globals;       /* imports + defined */
  uint32_t num_imported_globals;
  const wk_global_def *globals; /* defined globals only */
  uint32_t num_memories;        /* imports + defined */
  uint32_t num_imported_memories;
  const wk_memory_type *memories; /* defined memories only */
  uint32_t num_const_ops;
  const wk_const *const_ops; /* the instructions of extended constant expressions */
  uint32_t num_tables;       /* imports + defined */
  uint32_t num_imported_tables;
  const wk_table_type *tables; /* defined tables only */
  uint32_t num_data;
  const wk_data_segment *data;
  uint32_t num_elems;
  const wk_elem_segment *elems;
  uint32_t num_exports;
  const wk_export *exports;
  int32_t start_func; /* the start section's function, -1 if none */
  int32_t entry_func; /* the `_start` export, -1 if none */
  const char *name;   /* module name, for messages */
  uint32_t num_tags;  /* imports + defined (exception handling) */
  uint32_t num_imported_tags;
  const uint32_t *tag_types; /* type index of every tag, imports first */
} wk_module;

/* The one module an image carries; defined by the generated metadata object. */
extern const wk_module wk_module_main;

/* A reactor's entry (`wasmkiln build --invoke NAME`): defined by the metadata object only
 * then, so core declares it weak. wasmtime's `--invoke` semantics: core calls `init_func`
 * (the `_initialize` export, -1 if none), then `func` through the trampoline of `type`, instead
 * of `_start`; the compiler admits only functions without parameters whose results are i32 or
 * i64, and core prints each result on stdout, one per line, in decimal (signed, as wasmtime). */
typedef struct wk_invoke {
  int32_t init_func; /* IN: `_initialize`, -1 if not exported */
  uint32_t func;     /* IN: the invoked export's function index */
  uint32_t type;     /* IN: its type index (type_sigs[type] says what to print) */
  uint32_t pad;
  const char *name; /* IN: the export's name, for messages */
} wk_invoke;

#endif /* WK_ABI_H */
