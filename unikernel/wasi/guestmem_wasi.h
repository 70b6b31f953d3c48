/*
 * wasi/guestmem_wasi.h - private to wasi/: the guest-memory arguments of the
 * WASI calls (guestmem_wasi.c). Every (pointer, length) pair a call takes from
 * the guest (path strings, iovec arrays, out-parameters) goes through one of
 * these, so the bounds check is written once (wk_guest_ptr underneath).
 */
#ifndef WK_GUESTMEM_WASI_H
#define WK_GUESTMEM_WASI_H

#include <stdint.h>

#include "witx_wasi.h"
#include "wk/core.h"
#include "wk/errno.h"

/* Guest path argument -> host pointer; WK_EFAULT when out of bounds. */
int32_t wk_wasi_path_arg(wk_vmctx *vm, int32_t ptr, int32_t len, const char **out);

/* Check an iovec array and every buffer in it (EFAULT, nothing done, if one is
 * out of bounds); *out gets the array's host pointer. */
int32_t wk_wasi_check_iovs(wk_vmctx *vm, int32_t iovs, int32_t iovs_len, const uint8_t **out);
/* Buffer i of a checked iovec array. */
void wk_wasi_iov_at(wk_vmctx *vm, const uint8_t *arr, uint32_t i, uint8_t **buf, uint32_t *len);

/* Write `*val` of `size` bytes at a guest offset; WK_ESUCCESS or WK_EFAULT. */
static inline int32_t wk_wasi_put(wk_vmctx *vm, int32_t ptr, const void *val, uint32_t size) {
  void *p = wk_guest_ptr(vm, (uint32_t)ptr, size);
  if (!p) return WK_EFAULT;
  __builtin_memcpy(p, val, size);
  return WK_ESUCCESS;
}

#endif /* WK_GUESTMEM_WASI_H */
