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

struct wk_instance {
  const wk_module *module;
  const wk_bootinfo *bi;
  wk_vmctx vm;             /* what generated code receives */
  uint32_t mem_max_pages;  /* min(module max, what fits in the region) */
  uint8_t *data_dropped;   /* num_data flags: 1 once dropped (or active, after init) */
  uint8_t *heap_cur;       /* bump heap for runtime data */
  uint8_t *heap_end;
  void *layer[WK_LAYER_COUNT];
  void *unwind[5];         /* __builtin_setjmp buffer (5 words, GCC's contract) */
  uint32_t exit_code;      /* set before unwinding */
  uint64_t start_ns;       /* wk_plat_clock_monotonic() at wk_main */
};

static inline struct wk_instance *wk_inst(wk_vmctx *vm) { return vm->instance; }

/* Bump allocation from the runtime heap (zeroed, 16-byte aligned); NULL when full. */
void *wk_heap_alloc(struct wk_instance *inst, uint64_t size);

/* Unwind to wk_main; exit_code must be set. */
_Noreturn void wk_unwind(struct wk_instance *inst);

extern const wk_builtins wk_core_builtins;

#endif /* WK_INSTANCE_CORE_H */
