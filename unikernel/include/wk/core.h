/*
 * wk/core.h - what the runtime core offers the layers above it (WASI, fs, net).
 *
 * The core owns the one instance of the image's module (struct wk_instance,
 * opaque outside core/). Host functions receive the guest's wk_vmctx and reach
 * everything through it: guest memory, arguments, environment, exit and trap.
 * There are no globals shared between layers; a layer that needs per-instance
 * state keeps it in its slot (wk_instance_layer_slot) and allocates it with
 * wk_instance_alloc.
 *
 * Error contract: accessors that can fail return NULL (or a negative WASI
 * errno, see wk/errno.h); wk_exit and wk_trap never return.
 */
#ifndef WK_CORE_H
#define WK_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "wk/abi.h"
#include "wk/platform.h"

/* ---- Guest memory ---------------------------------------------------------- */

/*
 * THE checked accessor: every (pointer, length) pair that comes from the guest
 * goes through here. Returns a host pointer to guest bytes [ptr, ptr + len) of
 * memory 0, or NULL when the range is not wholly inside the current memory
 * size (64-bit arithmetic: no overflow) or the module has no memory. A zero
 * length at ptr == mem_size is valid (returns mem_base + ptr).
 *
 *   uint8_t *p = wk_guest_ptr(vm, buf, len);
 *   if (!p) return WK_EFAULT;
 */
void *wk_guest_ptr(wk_vmctx *vm, uint32_t ptr, uint64_t len);

/* Little-endian stores/loads at a guest address; 0 or -WK_EFAULT (loads: 0 on fault). */
int wk_guest_store_u8(wk_vmctx *vm, uint32_t ptr, uint8_t v);
int wk_guest_store_u16(wk_vmctx *vm, uint32_t ptr, uint16_t v);
int wk_guest_store_u32(wk_vmctx *vm, uint32_t ptr, uint32_t v);
int wk_guest_store_u64(wk_vmctx *vm, uint32_t ptr, uint64_t v);
int wk_guest_load_u32(wk_vmctx *vm, uint32_t ptr, uint32_t *out);
int wk_guest_load_u64(wk_vmctx *vm, uint32_t ptr, uint64_t *out);

/* ---- The instance ---------------------------------------------------------- */

/* Guest argv / environ ("KEY=VALUE"), as the platform gave them. */
int wk_instance_argc(wk_vmctx *vm);
const char *const *wk_instance_argv(wk_vmctx *vm);
int wk_instance_envc(wk_vmctx *vm);
const char *const *wk_instance_envp(wk_vmctx *vm);

/* Monotonic clock (ns) when wk_main began: the zero of process CPU-time clocks. */
uint64_t wk_instance_start_ns(wk_vmctx *vm);

/* Per-layer state slots, NULL until the layer sets them. */
enum { WK_LAYER_WASI = 0, WK_LAYER_FS = 1, WK_LAYER_NET = 2, WK_LAYER_COUNT = 4 };
void **wk_instance_layer_slot(wk_vmctx *vm, unsigned layer);

/* Zeroed, 16-byte aligned memory from the runtime heap (never freed); NULL when full. */
void *wk_instance_alloc(wk_vmctx *vm, size_t size);

/* Bytes the runtime heap keeps for wk_instance_alloc after instantiation. */
#define WK_HEAP_RESERVE (256u * 1024u)

/* ---- Kernel heap (core/alloc_core.c) ----------------------------------------
 * Memory that can be freed, for the layers' variable-size state (files of the
 * writable fs layer, lwIP's heap and pools). It is taken on demand from the
 * top of the platform's region while linear memory grows from the bottom, so
 * what is available scales with the machine's memory; when the two meet,
 * allocation returns NULL (and memory.grow -1). Blocks are zeroed, 16-byte
 * aligned. An embedder's instances (platform/host) have no kernel heap: NULL.
 *
 *   char *buf = wk_kmem_alloc(n);  ...  wk_kmem_free(buf, n);   // caller keeps n
 *   void *q = wk_malloc(n);        ...  wk_free(q);             // size in a header
 */
void *wk_kmem_alloc(size_t size);
void wk_kmem_free(void *p, size_t size); /* size as allocated; NULL is ignored */
void *wk_malloc(size_t size);
void *wk_calloc(size_t n, size_t size);
void wk_free(void *p);

/* ---- Embedding --------------------------------------------------------------- */

/*
 * Create an instance of `m` in [region, region + size) (zeroed memory: the
 * runtime heap, then memory 0 if the module defines one). `imports` has one
 * entry per import of the module, in order: a wk_funcref *, wk_table *,
 * wk_memory * or wk_global * (the exporter's cell); NULL for a function means
 * the host code bound at link time. `bi` may be NULL (no args, no stack limit).
 * Returns NULL (after a message on stderr) when it cannot be instantiated.
 * Segments and the start function run later, under the caller's guard.
 */
struct wk_instance *wk_instance_create(const wk_module *m, void *region, uint64_t size,
                                       const wk_bootinfo *bi, void *const *imports);

/* ---- Leaving the guest ----------------------------------------------------- */

/* End the run with this exit code (WASI proc_exit): unwinds to wk_main. */
_Noreturn void wk_exit(wk_vmctx *vm, uint32_t code);

/* Print "wasm trap: <message>" on stderr and end the run with WK_TRAP_EXIT_CODE. */
_Noreturn void wk_trap(wk_vmctx *vm, uint32_t code);
#define WK_TRAP_EXIT_CODE 134

/* Bind an import the runtime does not provide to this: calling it traps
 * WK_TRAP_UNKNOWN_IMPORT (it ignores any further arguments). */
_Noreturn void wk_unknown_import(wk_vmctx *vm);

/* ---- Messages -------------------------------------------------------------- */

/*
 * A tiny bounded formatter (no printf in the kernel). Conversions: %s %c %d %u
 * %x (32-bit), %ld %lu %lx (64-bit), %p, %%. Always NUL-terminates when cap > 0;
 * returns the length written (truncated output is cut, never overflowed).
 *
 *   char b[64]; size_t n = wk_fmt(b, sizeof b, "pages %u of %u", cur, max);
 */
size_t wk_fmt(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
size_t wk_vfmt(char *buf, size_t cap, const char *fmt, va_list ap);

/* Format into a 256-byte buffer and write it on stderr (stream 2). */
void wk_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Freestanding string helpers (memcpy & co. are also exported under their C names). */
size_t wk_strlen(const char *s);

#endif /* WK_CORE_H */
