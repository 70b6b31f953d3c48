/*
 * wasi/proc_wasi.c - proc_exit, proc_raise, random_get, and the stand-ins for
 * imports nobody provides (--default-values-unknown-imports).
 */
#include "guestmem_wasi.h"
#include "wk/platform.h"
#include "wk/wasi.h"

_Noreturn void wk_wasi_proc_exit(wk_vmctx *vm, int32_t code) { wk_exit(vm, (uint32_t)code); }

/* Raising a signal ends the guest as a trap: there are no handlers to run.
 * (Signal 0 tests nothing and succeeds; an unknown one is EINVAL.) */
int32_t wk_wasi_proc_raise(wk_vmctx *vm, int32_t sig) {
  if (sig == 0) return WK_ESUCCESS;
  if ((uint32_t)sig > 30) return WK_EINVAL;
  wk_log("wasmkiln: the guest raised signal %d\n", (int)sig);
  wk_trap(vm, WK_TRAP_UNREACHABLE);
}

int32_t wk_wasi_random_get(wk_vmctx *vm, int32_t buf, int32_t buf_len) {
  void *p = wk_guest_ptr(vm, (uint32_t)buf, (uint32_t)buf_len);
  if (!p) return WK_EFAULT;
  int r = wk_plat_entropy(p, (uint32_t)buf_len);
  return r < 0 ? -r : WK_ESUCCESS;
}

/* Default-value stand-ins: each ignores its arguments (SysV lets a callee
 * ignore them) and returns zero of its result type. */
void wk_default_import_void(wk_vmctx *vm) { (void)vm; }
int32_t wk_default_import_i32(wk_vmctx *vm) {
  (void)vm;
  return 0;
}
int64_t wk_default_import_i64(wk_vmctx *vm) {
  (void)vm;
  return 0;
}
float wk_default_import_f32(wk_vmctx *vm) {
  (void)vm;
  return 0.0f;
}
double wk_default_import_f64(wk_vmctx *vm) {
  (void)vm;
  return 0.0;
}
void *wk_default_import_ref(wk_vmctx *vm) {
  (void)vm;
  return 0;
}
