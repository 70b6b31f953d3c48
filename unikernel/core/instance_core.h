/*
 * core/instance_core.h - the instance, private to core/.
 *
 * Other layers see struct wk_instance only through wk/core.h accessors.
 */
#ifndef WK_INSTANCE_CORE_H
#define WK_INSTANCE_CORE_H

#include <stdint.h>

#include "wk/abi.h"
#include "wk/core.h"
#include "wk/platform.h"

/*
 * An embedder's guard (platform/host, the spec runner): guest code runs under
 * the embedder's __builtin_setjmp instead of wk_main's. When an instance's
 * `embed` is set, wk_trap prints nothing: it records the code in `trap` and
 * unwinds to `unwind`; wk_exit records `exit_code`, sets `exited` and unwinds
 * there too. Several instances may share one (cross-instance calls trap into
 * the guard of whoever called in). NULL in an image: behaviour unchanged.
 */
typedef struct wk_embed {
  void *unwind[5];    /* __builtin_setjmp buffer of the embedder's guard */
  uint32_t trap;      /* OUT: WK_TRAP_* code of the trap, 0 when none */
  uint32_t exit_code; /* OUT: wk_exit's code, when `exited` */
  uint32_t exited;
  uint32_t pad;
} wk_embed;

struct wk_instance {
  const wk_module *module;
  const wk_bootinfo *bi;
  wk_vmctx vm;           /* what generated code receives */
  wk_memory *memories;   /* the memories this module defines (after the imported ones) */
  uint32_t *type_ids;    /* per type index: runtime-wide signature id */
  uint8_t *data_dropped; /* num_data flags: 1 once dropped (or active, after init) */
  uint8_t *elem_dropped; /* num_elems flags, likewise */
  uint8_t *heap_cur;     /* bump heap for runtime data */
  uint8_t *heap_end;
  void *layer[WK_LAYER_COUNT];
  void *unwind[5];    /* __builtin_setjmp buffer (5 words, GCC's contract) */
  uint32_t exit_code; /* set before unwinding */
  uint64_t start_ns;  /* wk_plat_clock_monotonic() at wk_main */
  wk_embed *embed;    /* set by an embedder; NULL in an image (see wk_embed) */
  int memory_guarded; /* memory 0 (defined, memory32) lives in a guard reservation */
  void *exn_free;     /* freed exceptions from this heap (no kernel heap), for reuse */
};

static inline struct wk_instance *wk_inst(wk_vmctx *vm) { return vm->instance; }

/* Guard-region memory calls (wk/platform.h), weak: platforms without paging (and
 * the host library) do not define them, and core then keeps memory in its region. */
__attribute__((weak)) void *wk_plat_memory_reserve(uint64_t size);
__attribute__((weak)) int wk_plat_memory_commit(void *addr, uint64_t size);

/* Bump allocation from the runtime heap (zeroed, 16-byte aligned); NULL when full. */
void *wk_heap_alloc(struct wk_instance *inst, uint64_t size);

/* The kernel heap (alloc_core.c) over [floor, top) of the region, above the
 * linear memory `mem` (may be NULL); wk_kmem_ceiling(mem) is where that memory
 * may grow to (UINTPTR_MAX for any other memory). */
void wk_kmem_init(uintptr_t floor, uintptr_t top, const wk_memory *mem);
void wk_kmem_below(const wk_memory *mem); /* set `mem` later (it is placed after init) */
uintptr_t wk_kmem_ceiling(const wk_memory *mem);

/* Unwind to the guard in wk_main (or the embedder's); exit_code must be set. */
_Noreturn void wk_unwind(struct wk_instance *inst);

/* Apply the active element and data segments in order (an embedder calls this
 * under its guard, before the start function): a segment out of range traps. */
void wk_instance_init_segments(struct wk_instance *inst);

/* Call function `index` (type [] -> []: the start function, `_start`) through the
 * module's trampoline for its type: only generated code knows the Wasm calling convention. */
void wk_instance_call_entry(struct wk_instance *inst, uint32_t index);

/* The cell holding global `index`'s value (an imported global's lives elsewhere). */
wk_global *wk_global_cell(struct wk_instance *inst, uint32_t index);

/* The reference a constant expression denotes (ref.func, ref.null, global.get). */
void *wk_const_ref(struct wk_instance *inst, const wk_const *c);

/* The bits of a numeric constant expression (a value, global.get, or WK_CONST_EXPR:
 * extended constants); an i32 result has its upper 32 bits clear only when `is64` is 0. */
uint64_t wk_const_bits(struct wk_instance *inst, const wk_const *c, int is64);

/* Memory `index` of the instance (NULL past the end): a checked accessor for the builtins. */
wk_memory *wk_memory_at(wk_vmctx *vm, uint32_t index);

/* Runtime-wide id of a signature string; UINT32_MAX when the registry is full. */
uint32_t wk_type_id(const char *sig);

/* Largest table the runtime grows to (the heap holds it). */
#define WK_TABLE_MAX_ELEMS (1u << 20)

/* Builtins, one per wk_builtins slot (builtins_core.c holds the table). */
uint64_t wk_core_memory_grow(wk_vmctx *vm, uint32_t mem, uint64_t delta);
void wk_core_memory_fill(wk_vmctx *vm, uint32_t mem, uint64_t dst, uint32_t byte, uint64_t n);
void wk_core_memory_copy(wk_vmctx *vm, uint32_t dst_mem, uint32_t src_mem, uint64_t dst,
                         uint64_t src, uint64_t n);
void wk_core_memory_init(wk_vmctx *vm, uint32_t mem, uint32_t seg, uint64_t dst, uint32_t src,
                         uint32_t n);
void wk_core_data_drop(wk_vmctx *vm, uint32_t seg);
uint64_t wk_core_table_grow(wk_vmctx *vm, uint32_t t, void *init, uint64_t delta);
void wk_core_table_fill(wk_vmctx *vm, uint32_t t, uint64_t dst, void *value, uint64_t n);
void wk_core_table_copy(wk_vmctx *vm, uint32_t dt, uint32_t st, uint64_t dst, uint64_t src,
                        uint64_t n);
void wk_core_table_init(wk_vmctx *vm, uint32_t t, uint32_t seg, uint64_t dst, uint32_t src,
                        uint32_t n);
void wk_core_elem_drop(wk_vmctx *vm, uint32_t seg);

wk_exn *wk_core_exn_new(wk_vmctx *vm, uint32_t tag, uint32_t size, const void *payload);
void wk_core_exn_ref(wk_vmctx *vm, wk_exn *exn, uint32_t op);

/* Exceptions (exceptions_core.c): the process-wide pending cell; clear it and say
 * whether it was set; trap UNCAUGHT_EXCEPTION when it is set (an entry point's check);
 * make the defined tags of an instance (its type ids set), -1 when that fails. */
wk_exn **wk_exn_pending_cell(void);
int wk_exn_take_pending(void);
void wk_exn_check_uncaught(wk_vmctx *vm);
int wk_tags_create(struct wk_instance *inst);

extern const wk_builtins wk_core_builtins;

#endif /* WK_INSTANCE_CORE_H */
