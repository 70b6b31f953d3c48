/*
 * wk/wasi.h - the wasi_snapshot_preview1 host functions the runtime provides.
 *
 * Each is bound directly as the import's code address, so it follows the
 * compiled-code calling convention of wk/abi.h: first the guest's wk_vmctx,
 * then the Wasm parameters (i32 -> int32_t, i64 -> int64_t); pointers are
 * guest offsets (i32) and every (pointer, length) goes through wk_guest_ptr.
 * The result is a WASI errno (wk/errno.h), WK_ESUCCESS on success; a bad
 * guest pointer gives WK_EFAULT, never a crash.
 *
 * bridge/hostfuncs.py binds imports with the same table; tests/test_hostfuncs.py
 * parses this file and checks both agree. Signature letters: i=i32 I=i64
 * f=f32 F=f64, results after ':'.
 *
 *   WASI name (wasi_snapshot_preview1)  signature         C symbol
 *   args_get                            ii:i              wk_wasi_args_get
 *   args_sizes_get                      ii:i              wk_wasi_args_sizes_get
 *   environ_get                         ii:i              wk_wasi_environ_get
 *   environ_sizes_get                   ii:i              wk_wasi_environ_sizes_get
 *   clock_res_get                       ii:i              wk_wasi_clock_res_get
 *   clock_time_get                      iIi:i             wk_wasi_clock_time_get
 *   fd_close                            i:i               wk_wasi_fd_close
 *   fd_fdstat_get                       ii:i              wk_wasi_fd_fdstat_get
 *   fd_fdstat_set_flags                 ii:i              wk_wasi_fd_fdstat_set_flags
 *   fd_filestat_get                     ii:i              wk_wasi_fd_filestat_get
 *   fd_prestat_get                      ii:i              wk_wasi_fd_prestat_get
 *   fd_prestat_dir_name                 iii:i             wk_wasi_fd_prestat_dir_name
 *   fd_read                             iiii:i            wk_wasi_fd_read
 *   fd_seek                             iIii:i            wk_wasi_fd_seek
 *   fd_tell                             ii:i              wk_wasi_fd_tell
 *   fd_sync                             i:i               wk_wasi_fd_sync
 *   fd_datasync                         i:i               wk_wasi_fd_datasync
 *   fd_write                            iiii:i            wk_wasi_fd_write
 *   path_open                           iiiiiIIii:i       wk_wasi_path_open
 *   poll_oneoff                         iiii:i            wk_wasi_poll_oneoff
 *   proc_exit                           i:                wk_wasi_proc_exit
 *   random_get                          ii:i              wk_wasi_random_get
 *   sched_yield                         :i                wk_wasi_sched_yield
 *
 * What is not here yet: a file system (no preopens: fd_prestat_get says EBADF,
 * path_open ENOTDIR/EBADF), sockets, and the remaining preview1 calls.
 */
#ifndef WK_WASI_H
#define WK_WASI_H

#include <stdint.h>

#include "wk/abi.h"
#include "wk/errno.h"

/* ---- args and environment ---- */
int32_t wk_wasi_args_get(wk_vmctx *vm, int32_t argv, int32_t argv_buf);
int32_t wk_wasi_args_sizes_get(wk_vmctx *vm, int32_t argc_out, int32_t argv_buf_size_out);
int32_t wk_wasi_environ_get(wk_vmctx *vm, int32_t environ, int32_t environ_buf);
int32_t wk_wasi_environ_sizes_get(wk_vmctx *vm, int32_t count_out, int32_t buf_size_out);

/* ---- clocks (ids: 0 realtime, 1 monotonic, 2 process / 3 thread cputime) ---- */
int32_t wk_wasi_clock_res_get(wk_vmctx *vm, int32_t id, int32_t res_out);
int32_t wk_wasi_clock_time_get(wk_vmctx *vm, int32_t id, int64_t precision, int32_t time_out);

/* ---- file descriptors (only stdio 0, 1, 2 for now) ---- */
int32_t wk_wasi_fd_close(wk_vmctx *vm, int32_t fd);
int32_t wk_wasi_fd_fdstat_get(wk_vmctx *vm, int32_t fd, int32_t fdstat_out);
int32_t wk_wasi_fd_fdstat_set_flags(wk_vmctx *vm, int32_t fd, int32_t flags);
int32_t wk_wasi_fd_filestat_get(wk_vmctx *vm, int32_t fd, int32_t filestat_out);
int32_t wk_wasi_fd_prestat_get(wk_vmctx *vm, int32_t fd, int32_t prestat_out);
int32_t wk_wasi_fd_prestat_dir_name(wk_vmctx *vm, int32_t fd, int32_t path, int32_t path_len);
int32_t wk_wasi_fd_read(wk_vmctx *vm, int32_t fd, int32_t iovs, int32_t iovs_len,
                        int32_t nread_out);
int32_t wk_wasi_fd_seek(wk_vmctx *vm, int32_t fd, int64_t offset, int32_t whence,
                        int32_t newoffset_out);
int32_t wk_wasi_fd_tell(wk_vmctx *vm, int32_t fd, int32_t offset_out);
int32_t wk_wasi_fd_sync(wk_vmctx *vm, int32_t fd);
int32_t wk_wasi_fd_datasync(wk_vmctx *vm, int32_t fd);
int32_t wk_wasi_fd_write(wk_vmctx *vm, int32_t fd, int32_t iovs, int32_t iovs_len,
                         int32_t nwritten_out);

/* ---- paths ---- */
int32_t wk_wasi_path_open(wk_vmctx *vm, int32_t dirfd, int32_t dirflags, int32_t path,
                          int32_t path_len, int32_t oflags, int64_t rights_base,
                          int64_t rights_inheriting, int32_t fdflags, int32_t fd_out);

/* ---- polling, process, randomness ---- */
int32_t wk_wasi_poll_oneoff(wk_vmctx *vm, int32_t in, int32_t out, int32_t nsubscriptions,
                            int32_t nevents_out);
_Noreturn void wk_wasi_proc_exit(wk_vmctx *vm, int32_t code);
int32_t wk_wasi_random_get(wk_vmctx *vm, int32_t buf, int32_t buf_len);
int32_t wk_wasi_sched_yield(wk_vmctx *vm);

#endif /* WK_WASI_H */
