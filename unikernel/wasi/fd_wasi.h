/*
 * wasi/fd_wasi.h - private to wasi/: the filestat encoding fd_wasi.c and
 * path_wasi.c share (fd_filestat_get, path_filestat_get, both previews).
 */
#ifndef WK_FD_WASI_H
#define WK_FD_WASI_H

#include <stdint.h>

#include "witx_wasi.h"
#include "wk/core.h"
#include "wk/fs.h"

/* Write st as a WASI filestat at the guest's out: preview 1's layout, or (preview0)
 * wasi_unstable's (witx_wasi.h WK_FILESTAT_P0_SIZE). WK_EFAULT when out of bounds. */
int32_t wk_wasi_put_filestat(wk_vmctx *vm, const wk_fs_stat *st, int32_t out, int preview0);

#endif /* WK_FD_WASI_H */
