/*
 * wasi/proc_wasi.c - proc_exit and random_get.
 */
#include "internal_wasi.h"
#include "wk/platform.h"
#include "wk/wasi.h"

_Noreturn void wk_wasi_proc_exit(wk_vmctx *vm, int32_t code) { wk_exit(vm, (uint32_t)code); }

int32_t wk_wasi_random_get(wk_vmctx *vm, int32_t buf, int32_t buf_len) {
  void *p = wk_guest_ptr(vm, (uint32_t)buf, (uint32_t)buf_len);
  if (!p) return WK_EFAULT;
  int r = wk_plat_entropy(p, (uint32_t)buf_len);
  return r < 0 ? -r : WK_ESUCCESS;
}
