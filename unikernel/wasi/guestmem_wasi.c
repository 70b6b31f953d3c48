/*
 * wasi/guestmem_wasi.c - the guest-memory arguments of the WASI calls
 * (guestmem_wasi.h): path strings and iovec arrays, checked once here.
 */
#include "guestmem_wasi.h"

int32_t wk_wasi_path_arg(wk_vmctx *vm, int32_t ptr, int32_t len, const char **out) {
  const char *p = wk_guest_ptr(vm, (uint32_t)ptr, (uint32_t)len);
  if (!p) return WK_EFAULT;
  *out = p;
  return WK_ESUCCESS;
}

/*
 * Check the iovec array and every buffer in it before any I/O, so a bad
 * pointer is EFAULT with nothing done. Returns the host pointer of the array.
 */
int32_t wk_wasi_check_iovs(wk_vmctx *vm, int32_t iovs, int32_t iovs_len, const uint8_t **out) {
  uint64_t bytes = (uint64_t)(uint32_t)iovs_len * WK_IOVEC_SIZE;
  const uint8_t *arr = wk_guest_ptr(vm, (uint32_t)iovs, bytes);
  if (!arr) return WK_EFAULT;
  for (uint32_t i = 0; i < (uint32_t)iovs_len; i++) {
    uint32_t buf, len;
    __builtin_memcpy(&buf, arr + i * WK_IOVEC_SIZE, 4);
    __builtin_memcpy(&len, arr + i * WK_IOVEC_SIZE + 4, 4);
    if (!wk_guest_ptr(vm, buf, len)) return WK_EFAULT;
  }
  *out = arr;
  return WK_ESUCCESS;
}

void wk_wasi_iov_at(wk_vmctx *vm, const uint8_t *arr, uint32_t i, uint8_t **buf, uint32_t *len) {
  uint32_t off;
  __builtin_memcpy(&off, arr + i * WK_IOVEC_SIZE, 4);
  __builtin_memcpy(len, arr + i * WK_IOVEC_SIZE + 4, 4);
  *buf = wk_guest_ptr(vm, off, *len); /* checked by check_iovs */
}
