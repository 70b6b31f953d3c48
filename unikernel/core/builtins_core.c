/*
 * core/builtins_core.c - the table of runtime helpers generated code calls
 * through vmctx->builtins (slot order: WK_BUILTIN_* in wk/abi_layout.h).
 */
#include "instance_core.h"

#include "wk/abi.h"
#include "wk/core.h"

static void builtin_trap(wk_vmctx *vm, uint32_t code) { wk_trap(vm, code); }

const wk_builtins wk_core_builtins = {
    .trap = builtin_trap,
    .memory_grow = wk_core_memory_grow,
    .memory_fill = wk_core_memory_fill,
    .memory_copy = wk_core_memory_copy,
    .memory_init = wk_core_memory_init,
    .data_drop = wk_core_data_drop,
    .table_grow = wk_core_table_grow,
    .table_fill = wk_core_table_fill,
    .table_copy = wk_core_table_copy,
    .table_init = wk_core_table_init,
    .elem_drop = wk_core_elem_drop,
    .exn_new = wk_core_exn_new,
    .exn_ref = wk_core_exn_ref,
};
