/*
 * wk/host.h - embedding compiled modules in a normal Linux process.
 *
 * libwasmkiln-host.so (platform/host) is the runtime core built as a shared
 * library with a libc platform. An embedder (the spec runner, pyhook/spec/hostrt.py
 * through cffi) loads it first (RTLD_GLOBAL), then each module's shared object
 * (RTLD_LOCAL: every one defines its own wk_module_main), and instantiates
 * modules against each other's exports here.
 *
 * Threads: guest code runs on one thread at a time (one guard per process).
 *
 * Error contract: calls that create something return NULL when they cannot,
 * with the reason in wk_host_last_error(); calls that run guest code return
 * 0 when it finished, a WK_TRAP_* code (wk/abi_layout.h) when it trapped, or
 * one of the WK_HOST_* codes below. Nothing here prints or exits.
 *
 *   wk_host_instance *h = wk_host_instantiate(m, imports);
 *   if (!h) fprintf(stderr, "%s\n", wk_host_last_error());
 *   else if (wk_host_initialize(h) == 0) {
 *     uint64_t slots[2] = {7, 0};
 *     uint32_t trap = wk_host_invoke(h, func_index, slots); // slots[0]: result
 *   }
 *   wk_host_instance_free(h);
 */
#ifndef WK_HOST_H
#define WK_HOST_H

#include <stddef.h>
#include <stdint.h>

#include "wk/abi.h"

/* Results of the calls that run guest code, besides 0 and WK_TRAP_*. */
#define WK_HOST_EXITED 0x100u        /* the guest called wk_exit (WASI proc_exit) */
#define WK_HOST_NO_TRAMPOLINE 0x101u /* the module has no trampoline for that type */
#define WK_HOST_BAD_INDEX 0x102u     /* no such function */

/* Stack a guest call may use below the caller's frame (default 4 MiB; it is
 * also kept 256 KiB above the thread's stack end). Deeper recursion traps
 * WK_TRAP_STACK_EXHAUSTED instead of overflowing the process's stack. */
void wk_host_set_stack_depth(uint64_t bytes);

/* The last error message of this library (creation failures, runtime logs). */
const char *wk_host_last_error(void);

/* ---- Instances ------------------------------------------------------------- */

typedef struct wk_host_instance wk_host_instance;

/*
 * Create an instance of `m` in its own mapping (runtime heap + memory 0's
 * maximum, MAP_NORESERVE). `imports` has one entry per import of `m`, in
 * order, as wk_instance_create (wk/core.h) takes them: a wk_funcref *,
 * wk_table *, wk_memory * or wk_global * (the exporter's cell). Segments and
 * the start function have not run yet: see wk_host_initialize.
 */
wk_host_instance *wk_host_instantiate(const wk_module *m, void *const *imports);

/* Apply the active segments, then run the start function, under the guard. */
uint32_t wk_host_initialize(wk_host_instance *h);

/*
 * Call function `func` (index space of the module, imports first) through the
 * module's trampoline for its type: parameters in `slots` (one 8-byte slot
 * each, little-endian bits, references as pointers), results stored over
 * them; `slots` needs max(params, results) entries.
 */
uint32_t wk_host_invoke(wk_host_instance *h, uint32_t func, uint64_t *slots);

/* Unmap the instance. Nothing of it may be used afterwards, including records
 * and tables other instances imported from it. NULL is ignored. */
void wk_host_instance_free(wk_host_instance *h);

/* What an instance has, by index (imports first); NULL when out of range. */
wk_funcref *wk_host_func(wk_host_instance *h, uint32_t index);
wk_memory *wk_host_memory(wk_host_instance *h); /* memory 0, defined or imported */
wk_table *wk_host_table(wk_host_instance *h, uint32_t index);
wk_global *wk_host_global(wk_host_instance *h, uint32_t index); /* the value's cell */

/* ---- Host-made externs (the spec's `spectest` module) ----------------------- */

/* A zeroed memory of min pages that may grow to max (<= 65536). */
wk_memory *wk_host_memory_new(uint32_t min_pages, uint32_t max_pages);
void wk_host_memory_free(wk_memory *mem);

/* A table of min null references that may grow to max; elem_type 0x70 or 0x6F.
 * Growing it from an instance takes the new array from that instance's heap. */
wk_table *wk_host_table_new(uint32_t min, uint32_t max, uint32_t elem_type);
void wk_host_table_free(wk_table *table);

/* A global cell holding `bits` (low bytes for narrow types). */
wk_global *wk_host_global_new(uint64_t bits);
void wk_host_global_free(wk_global *cell);

/* The runtime's id of a function signature ("ii:i", bridge/abi.py's spelling):
 * what a funcref's type_id holds, for an embedder's own host functions. */
uint32_t wk_host_type_id(const char *sig);

/* The record of a `spectest` function (print, print_i32, print_i64, print_f32,
 * print_f64, print_i32_f32, print_f64_f64): they do nothing. NULL if unknown. */
wk_funcref *wk_host_spectest_func(const char *name);

#endif /* WK_HOST_H */
