/*
 * wk/wasi.h - the WASI host functions the runtime provides: all 46 of
 * wasi_snapshot_preview1, and wasi_unstable (preview 0) through the same
 * functions plus four adapters where preview 0 differs (fd_seek's whence
 * numbering, the filestat layout, the clock subscription layout).
 *
 * Each is bound directly as the import's code address, so it follows the
 * compiled-code calling convention of wk/abi.h: first the guest's wk_vmctx,
 * then the Wasm parameters (i32 -> int32_t, i64 -> int64_t); pointers are
 * guest offsets (i32) and every (pointer, length) goes through wk_guest_ptr.
 * The result is a WASI errno (wk/errno.h), WK_ESUCCESS on success; a bad
 * guest pointer gives WK_EFAULT, never a crash. docs/wasi.md says what each
 * call does here (files: wk/fs.h; sockets: wk/net.h, preopened listeners;
 * the WasmEdge socket extension is in wk/wasi_sock_ext.h).
 *
 * bridge/hostfuncs.py binds imports with the same table; tests/test_hostfuncs.py
 * parses this file and checks both agree. Signature letters: i=i32 I=i64
 * f=f32 F=f64, results after ':'. Every wasi_unstable function not listed is
 * bound to the wasi_snapshot_preview1 symbol of the same name.
 *
 *   module                  name                     signature    C symbol
 *   wasi_snapshot_preview1  args_get                 ii:i         wk_wasi_args_get
 *   wasi_snapshot_preview1  args_sizes_get           ii:i         wk_wasi_args_sizes_get
 *   wasi_snapshot_preview1  environ_get              ii:i         wk_wasi_environ_get
 *   wasi_snapshot_preview1  environ_sizes_get        ii:i         wk_wasi_environ_sizes_get
 *   wasi_snapshot_preview1  clock_res_get            ii:i         wk_wasi_clock_res_get
 *   wasi_snapshot_preview1  clock_time_get           iIi:i        wk_wasi_clock_time_get
 *   wasi_snapshot_preview1  fd_advise                iIIi:i       wk_wasi_fd_advise
 *   wasi_snapshot_preview1  fd_allocate              iII:i        wk_wasi_fd_allocate
 *   wasi_snapshot_preview1  fd_close                 i:i          wk_wasi_fd_close
 *   wasi_snapshot_preview1  fd_datasync              i:i          wk_wasi_fd_datasync
 *   wasi_snapshot_preview1  fd_fdstat_get            ii:i         wk_wasi_fd_fdstat_get
 *   wasi_snapshot_preview1  fd_fdstat_set_flags      ii:i         wk_wasi_fd_fdstat_set_flags
 *   wasi_snapshot_preview1  fd_fdstat_set_rights     iII:i        wk_wasi_fd_fdstat_set_rights
 *   wasi_snapshot_preview1  fd_filestat_get          ii:i         wk_wasi_fd_filestat_get
 *   wasi_snapshot_preview1  fd_filestat_set_size     iI:i         wk_wasi_fd_filestat_set_size
 *   wasi_snapshot_preview1  fd_filestat_set_times    iIIi:i       wk_wasi_fd_filestat_set_times
 *   wasi_snapshot_preview1  fd_pread                 iiiIi:i      wk_wasi_fd_pread
 *   wasi_snapshot_preview1  fd_prestat_get           ii:i         wk_wasi_fd_prestat_get
 *   wasi_snapshot_preview1  fd_prestat_dir_name      iii:i        wk_wasi_fd_prestat_dir_name
 *   wasi_snapshot_preview1  fd_pwrite                iiiIi:i      wk_wasi_fd_pwrite
 *   wasi_snapshot_preview1  fd_read                  iiii:i       wk_wasi_fd_read
 *   wasi_snapshot_preview1  fd_readdir               iiiIi:i      wk_wasi_fd_readdir
 *   wasi_snapshot_preview1  fd_renumber              ii:i         wk_wasi_fd_renumber
 *   wasi_snapshot_preview1  fd_seek                  iIii:i       wk_wasi_fd_seek
 *   wasi_snapshot_preview1  fd_sync                  i:i          wk_wasi_fd_sync
 *   wasi_snapshot_preview1  fd_tell                  ii:i         wk_wasi_fd_tell
 *   wasi_snapshot_preview1  fd_write                 iiii:i       wk_wasi_fd_write
 *   wasi_snapshot_preview1  path_create_directory    iii:i        wk_wasi_path_create_directory
 *   wasi_snapshot_preview1  path_filestat_get        iiiii:i      wk_wasi_path_filestat_get
 *   wasi_snapshot_preview1  path_filestat_set_times  iiiiIIi:i    wk_wasi_path_filestat_set_times
 *   wasi_snapshot_preview1  path_link                iiiiiii:i    wk_wasi_path_link
 *   wasi_snapshot_preview1  path_open                iiiiiIIii:i  wk_wasi_path_open
 *   wasi_snapshot_preview1  path_readlink            iiiiii:i     wk_wasi_path_readlink
 *   wasi_snapshot_preview1  path_remove_directory    iii:i        wk_wasi_path_remove_directory
 *   wasi_snapshot_preview1  path_rename              iiiiii:i     wk_wasi_path_rename
 *   wasi_snapshot_preview1  path_symlink             iiiii:i      wk_wasi_path_symlink
 *   wasi_snapshot_preview1  path_unlink_file         iii:i        wk_wasi_path_unlink_file
 *   wasi_snapshot_preview1  poll_oneoff              iiii:i       wk_wasi_poll_oneoff
 *   wasi_snapshot_preview1  proc_exit                i:           wk_wasi_proc_exit
 *   wasi_snapshot_preview1  proc_raise               i:i          wk_wasi_proc_raise
 *   wasi_snapshot_preview1  random_get               ii:i         wk_wasi_random_get
 *   wasi_snapshot_preview1  sched_yield              :i           wk_wasi_sched_yield
 *   wasi_snapshot_preview1  sock_accept              iii:i        wk_wasi_sock_accept
 *   wasi_snapshot_preview1  sock_recv                iiiiii:i     wk_wasi_sock_recv
 *   wasi_snapshot_preview1  sock_send                iiiii:i      wk_wasi_sock_send
 *   wasi_snapshot_preview1  sock_shutdown            ii:i         wk_wasi_sock_shutdown
 *   wasi_unstable           fd_filestat_get          ii:i         wk_wasi_unstable_fd_filestat_get
 *   wasi_unstable           fd_seek                  iIii:i       wk_wasi_unstable_fd_seek
 *   wasi_unstable           path_filestat_get        iiiii:i wk_wasi_unstable_path_filestat_get
 *   wasi_unstable           poll_oneoff              iiii:i       wk_wasi_unstable_poll_oneoff
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

/*
 * Arguments and environment baked into an image (`wasmkiln build --arg A
 * --env K=V`): an optional symbol the image's generated C defines
 * (pyhook/image/pack.py). The guest's argv is the run's argv[0], the baked args,
 * then the run's arguments; its environment is the baked pairs, except those
 * whose KEY the run sets, then the run's pairs.
 */
typedef struct wk_wasi_baked {
  int argc;
  const char *const *argv;
  int envc;
  const char *const *envp; /* "KEY=VALUE" */
} wk_wasi_baked;

/* ---- clocks (ids: 0 realtime, 1 monotonic, 2 process / 3 thread cputime) ---- */
int32_t wk_wasi_clock_res_get(wk_vmctx *vm, int32_t id, int32_t res_out);
int32_t wk_wasi_clock_time_get(wk_vmctx *vm, int32_t id, int64_t precision, int32_t time_out);

/* ---- file descriptors ---- */
int32_t wk_wasi_fd_advise(wk_vmctx *vm, int32_t fd, int64_t offset, int64_t len, int32_t advice);
int32_t wk_wasi_fd_allocate(wk_vmctx *vm, int32_t fd, int64_t offset, int64_t len);
int32_t wk_wasi_fd_close(wk_vmctx *vm, int32_t fd);
int32_t wk_wasi_fd_datasync(wk_vmctx *vm, int32_t fd);
int32_t wk_wasi_fd_fdstat_get(wk_vmctx *vm, int32_t fd, int32_t fdstat_out);
int32_t wk_wasi_fd_fdstat_set_flags(wk_vmctx *vm, int32_t fd, int32_t flags);
int32_t wk_wasi_fd_fdstat_set_rights(wk_vmctx *vm, int32_t fd, int64_t base, int64_t inheriting);
int32_t wk_wasi_fd_filestat_get(wk_vmctx *vm, int32_t fd, int32_t filestat_out);
int32_t wk_wasi_fd_filestat_set_size(wk_vmctx *vm, int32_t fd, int64_t size);
int32_t wk_wasi_fd_filestat_set_times(wk_vmctx *vm, int32_t fd, int64_t atim, int64_t mtim,
                                      int32_t fst_flags);
int32_t wk_wasi_fd_pread(wk_vmctx *vm, int32_t fd, int32_t iovs, int32_t iovs_len, int64_t offset,
                         int32_t nread_out);
int32_t wk_wasi_fd_prestat_get(wk_vmctx *vm, int32_t fd, int32_t prestat_out);
int32_t wk_wasi_fd_prestat_dir_name(wk_vmctx *vm, int32_t fd, int32_t path, int32_t path_len);
int32_t wk_wasi_fd_pwrite(wk_vmctx *vm, int32_t fd, int32_t iovs, int32_t iovs_len, int64_t offset,
                          int32_t nwritten_out);
int32_t wk_wasi_fd_read(wk_vmctx *vm, int32_t fd, int32_t iovs, int32_t iovs_len,
                        int32_t nread_out);
int32_t wk_wasi_fd_readdir(wk_vmctx *vm, int32_t fd, int32_t buf, int32_t buf_len, int64_t cookie,
                           int32_t bufused_out);
int32_t wk_wasi_fd_renumber(wk_vmctx *vm, int32_t fd, int32_t to);
int32_t wk_wasi_fd_seek(wk_vmctx *vm, int32_t fd, int64_t offset, int32_t whence,
                        int32_t newoffset_out);
int32_t wk_wasi_fd_sync(wk_vmctx *vm, int32_t fd);
int32_t wk_wasi_fd_tell(wk_vmctx *vm, int32_t fd, int32_t offset_out);
int32_t wk_wasi_fd_write(wk_vmctx *vm, int32_t fd, int32_t iovs, int32_t iovs_len,
                         int32_t nwritten_out);

/* ---- paths ---- */
int32_t wk_wasi_path_create_directory(wk_vmctx *vm, int32_t fd, int32_t path, int32_t path_len);
int32_t wk_wasi_path_filestat_get(wk_vmctx *vm, int32_t fd, int32_t flags, int32_t path,
                                  int32_t path_len, int32_t filestat_out);
int32_t wk_wasi_path_filestat_set_times(wk_vmctx *vm, int32_t fd, int32_t flags, int32_t path,
                                        int32_t path_len, int64_t atim, int64_t mtim,
                                        int32_t fst_flags);
int32_t wk_wasi_path_link(wk_vmctx *vm, int32_t old_fd, int32_t old_flags, int32_t old_path,
                          int32_t old_len, int32_t new_fd, int32_t new_path, int32_t new_len);
int32_t wk_wasi_path_open(wk_vmctx *vm, int32_t dirfd, int32_t dirflags, int32_t path,
                          int32_t path_len, int32_t oflags, int64_t rights_base,
                          int64_t rights_inheriting, int32_t fdflags, int32_t fd_out);
int32_t wk_wasi_path_readlink(wk_vmctx *vm, int32_t fd, int32_t path, int32_t path_len, int32_t buf,
                              int32_t buf_len, int32_t bufused_out);
int32_t wk_wasi_path_remove_directory(wk_vmctx *vm, int32_t fd, int32_t path, int32_t path_len);
int32_t wk_wasi_path_rename(wk_vmctx *vm, int32_t old_fd, int32_t old_path, int32_t old_len,
                            int32_t new_fd, int32_t new_path, int32_t new_len);
int32_t wk_wasi_path_symlink(wk_vmctx *vm, int32_t old_path, int32_t old_len, int32_t fd,
                             int32_t new_path, int32_t new_len);
int32_t wk_wasi_path_unlink_file(wk_vmctx *vm, int32_t fd, int32_t path, int32_t path_len);

/* ---- polling, process, randomness ---- */
int32_t wk_wasi_poll_oneoff(wk_vmctx *vm, int32_t in, int32_t out, int32_t nsubscriptions,
                            int32_t nevents_out);
_Noreturn void wk_wasi_proc_exit(wk_vmctx *vm, int32_t code);
int32_t wk_wasi_proc_raise(wk_vmctx *vm, int32_t sig); /* traps for any real signal */
int32_t wk_wasi_random_get(wk_vmctx *vm, int32_t buf, int32_t buf_len);
int32_t wk_wasi_sched_yield(wk_vmctx *vm);

/* ---- sockets (sock_wasi.c, over wk/net.h) ---- */
int32_t wk_wasi_sock_accept(wk_vmctx *vm, int32_t fd, int32_t flags, int32_t fd_out);
int32_t wk_wasi_sock_recv(wk_vmctx *vm, int32_t fd, int32_t ri_data, int32_t ri_data_len,
                          int32_t ri_flags, int32_t ro_datalen_out, int32_t ro_flags_out);
int32_t wk_wasi_sock_send(wk_vmctx *vm, int32_t fd, int32_t si_data, int32_t si_data_len,
                          int32_t si_flags, int32_t so_datalen_out);
int32_t wk_wasi_sock_shutdown(wk_vmctx *vm, int32_t fd, int32_t how);

/* ---- preview 0 (wasi_unstable) adapters ---- */
int32_t wk_wasi_unstable_fd_filestat_get(wk_vmctx *vm, int32_t fd, int32_t filestat_out);
int32_t wk_wasi_unstable_fd_seek(wk_vmctx *vm, int32_t fd, int64_t offset, int32_t whence,
                                 int32_t newoffset_out);
int32_t wk_wasi_unstable_path_filestat_get(wk_vmctx *vm, int32_t fd, int32_t flags, int32_t path,
                                           int32_t path_len, int32_t filestat_out);
int32_t wk_wasi_unstable_poll_oneoff(wk_vmctx *vm, int32_t in, int32_t out, int32_t nsubscriptions,
                                     int32_t nevents_out);

/*
 * Stand-ins for imports nothing provides, under --default-values-unknown-imports:
 * one per result type, each ignoring its arguments and returning zero (or
 * nothing). bridge/hostfuncs.py picks one by the import's result type.
 */
void wk_default_import_void(wk_vmctx *vm);
int32_t wk_default_import_i32(wk_vmctx *vm);
int64_t wk_default_import_i64(wk_vmctx *vm);
float wk_default_import_f32(wk_vmctx *vm);
double wk_default_import_f64(wk_vmctx *vm);
void *wk_default_import_ref(wk_vmctx *vm);

#endif /* WK_WASI_H */
