/*
 * core/trap_core.c - leaving the guest: traps, proc_exit, missing imports.
 *
 * Both paths record an exit code in the instance and unwind to wk_main with
 * __builtin_longjmp (GCC's builtin, no libc needed). Unwinding skips every
 * guest and host frame in between; nothing there holds resources. Under an
 * embedder (inst->embed, platform/host) they unwind to the embedder's guard
 * instead, and a trap is recorded there, not printed.
 */
#include "instance_core.h"

#include "wk/abi.h"
#include "wk/core.h"
#include "wk/platform.h"

static const char *const trap_messages[WK_TRAP_COUNT] = WK_TRAP_MESSAGES;

_Noreturn void wk_exit(wk_vmctx *vm, uint32_t code) {
  struct wk_instance *inst = wk_inst(vm);
  inst->exit_code = code;
  if (inst->embed) {
    inst->embed->exit_code = code;
    inst->embed->exited = 1;
  }
  wk_unwind(inst);
}

_Noreturn void wk_trap(wk_vmctx *vm, uint32_t code) {
  struct wk_instance *inst = wk_inst(vm);
  if (inst->embed) { /* embedded: the embedder reports it, nothing is printed */
    inst->embed->trap = code ? code : WK_TRAP_COUNT; /* never 0: 0 means "no trap" */
    wk_unwind(inst);
  }
  if (code > 0 && code < WK_TRAP_COUNT)
    wk_log("wasm trap: %s\n", trap_messages[code]);
  else
    wk_log("wasm trap: unknown trap code %u\n", code);
  inst->exit_code = WK_TRAP_EXIT_CODE;
  wk_unwind(inst);
}

_Noreturn void wk_unknown_import(wk_vmctx *vm) { wk_trap(vm, WK_TRAP_UNKNOWN_IMPORT); }
