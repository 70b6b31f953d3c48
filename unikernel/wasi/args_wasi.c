/*
 * wasi/args_wasi.c - args_* and environ_*: copy the platform's argv and
 * environment ("KEY=VALUE") into guest memory, NUL-terminated, pointers first.
 * The lists are the image's baked ones merged with the run's (fdtable_wasi.c).
 */
#include "internal_wasi.h"
#include "wk/wasi.h"

/* Sizes of a string list as the guest sees it: count, and bytes with NULs. */
static void list_sizes(int n, const char *const *list, uint32_t *count, uint64_t *bytes) {
  uint64_t total = 0;
  for (int i = 0; i < n; i++) total += wk_strlen(list[i]) + 1;
  *count = (uint32_t)n;
  *bytes = total;
}

static int32_t list_sizes_get(wk_vmctx *vm, int n, const char *const *list, int32_t count_out,
                              int32_t size_out) {
  uint32_t count;
  uint64_t bytes;
  list_sizes(n, list, &count, &bytes);
  if (bytes > UINT32_MAX) return WK_EOVERFLOW;
  uint32_t size = (uint32_t)bytes;
  int32_t err = wk_wasi_put(vm, count_out, &count, 4);
  return err ? err : wk_wasi_put(vm, size_out, &size, 4);
}

/* Pointers into ptrs[] (u32 each), strings packed into buf. All-or-nothing. */
static int32_t list_get(wk_vmctx *vm, int n, const char *const *list, int32_t ptrs, int32_t buf) {
  uint32_t count;
  uint64_t bytes;
  list_sizes(n, list, &count, &bytes);
  uint8_t *p = wk_guest_ptr(vm, (uint32_t)ptrs, (uint64_t)count * 4);
  uint8_t *b = wk_guest_ptr(vm, (uint32_t)buf, bytes);
  if (!p || !b) return WK_EFAULT;
  uint32_t at = (uint32_t)buf;
  for (uint32_t i = 0; i < count; i++) {
    size_t len = wk_strlen(list[i]) + 1;
    __builtin_memcpy(p + 4 * i, &at, 4);
    __builtin_memcpy(b, list[i], len);
    b += len;
    at += (uint32_t)len;
  }
  return WK_ESUCCESS;
}

typedef struct {
  int argc, envc;
  const char *const *argv, *const *envp;
} lists;

static lists get_lists(wk_vmctx *vm) {
  lists l;
  wk_wasi_args_env(vm, &l.argc, &l.argv, &l.envc, &l.envp);
  return l;
}

int32_t wk_wasi_args_sizes_get(wk_vmctx *vm, int32_t argc_out, int32_t argv_buf_size_out) {
  lists l = get_lists(vm);
  return list_sizes_get(vm, l.argc, l.argv, argc_out, argv_buf_size_out);
}

int32_t wk_wasi_args_get(wk_vmctx *vm, int32_t argv, int32_t argv_buf) {
  lists l = get_lists(vm);
  return list_get(vm, l.argc, l.argv, argv, argv_buf);
}

int32_t wk_wasi_environ_sizes_get(wk_vmctx *vm, int32_t count_out, int32_t buf_size_out) {
  lists l = get_lists(vm);
  return list_sizes_get(vm, l.envc, l.envp, count_out, buf_size_out);
}

int32_t wk_wasi_environ_get(wk_vmctx *vm, int32_t environ, int32_t environ_buf) {
  lists l = get_lists(vm);
  return list_get(vm, l.envc, l.envp, environ, environ_buf);
}
