/*
 * wasi/clock_wasi.c - clock_time_get, clock_res_get, sched_yield
 * (poll_oneoff's clock subscriptions: poll_wasi.c).
 *
 * Process and thread CPU-time clocks are approximated by monotonic time since
 * wk_main began (one guest, one thread, nothing else runs).
 */
#include "guestmem_wasi.h"
#include "wk/platform.h"
#include "wk/wasi.h"

/* Current value of a WASI clock; WK_EINVAL for an unknown id. */
static int32_t clock_now(wk_vmctx *vm, uint32_t id, uint64_t *out) {
  switch (id) {
  case WK_CLOCK_REALTIME: *out = wk_plat_clock_realtime(); return WK_ESUCCESS;
  case WK_CLOCK_MONOTONIC: *out = wk_plat_clock_monotonic(); return WK_ESUCCESS;
  case WK_CLOCK_PROCESS_CPUTIME:
  case WK_CLOCK_THREAD_CPUTIME:
    *out = wk_plat_clock_monotonic() - wk_instance_start_ns(vm);
    return WK_ESUCCESS;
  default: return WK_EINVAL;
  }
}

int32_t wk_wasi_clock_time_get(wk_vmctx *vm, int32_t id, int64_t precision, int32_t time_out) {
  (void)precision;
  uint64_t now;
  int32_t err = clock_now(vm, (uint32_t)id, &now);
  return err ? err : wk_wasi_put(vm, time_out, &now, 8);
}

int32_t wk_wasi_clock_res_get(wk_vmctx *vm, int32_t id, int32_t res_out) {
  if ((uint32_t)id > WK_CLOCK_THREAD_CPUTIME) return WK_EINVAL;
  uint64_t res = wk_plat_clock_resolution();
  return wk_wasi_put(vm, res_out, &res, 8);
}

int32_t wk_wasi_sched_yield(wk_vmctx *vm) {
  (void)vm;
  return WK_ESUCCESS;
}
