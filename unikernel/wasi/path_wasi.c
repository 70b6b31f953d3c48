/*
 * wasi/path_wasi.c - preopens and path_open, before there is a file system.
 *
 * No directory is preopened: fd_prestat_get answers EBADF for every fd, which
 * is how wasi-libc's preopen scan knows to stop. path_open on a stdio fd is
 * ENOTDIR (it is not a directory), on anything else EBADF.
 */
#include "internal_wasi.h"
#include "wk/wasi.h"

int32_t wk_wasi_fd_prestat_get(wk_vmctx *vm, int32_t fd, int32_t prestat_out) {
  (void)vm;
  (void)fd;
  (void)prestat_out;
  return WK_EBADF;
}

int32_t wk_wasi_fd_prestat_dir_name(wk_vmctx *vm, int32_t fd, int32_t path, int32_t path_len) {
  (void)vm;
  (void)fd;
  (void)path;
  (void)path_len;
  return WK_EBADF;
}

int32_t wk_wasi_path_open(wk_vmctx *vm, int32_t dirfd, int32_t dirflags, int32_t path,
                          int32_t path_len, int32_t oflags, int64_t rights_base,
                          int64_t rights_inheriting, int32_t fdflags, int32_t fd_out) {
  (void)dirflags;
  (void)oflags;
  (void)rights_base;
  (void)rights_inheriting;
  (void)fdflags;
  (void)fd_out;
  if (!wk_wasi_stdio_open(vm, dirfd)) return WK_EBADF;
  if (!wk_guest_ptr(vm, (uint32_t)path, (uint32_t)path_len)) return WK_EFAULT;
  return WK_ENOTDIR;
}
