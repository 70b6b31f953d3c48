/*
 * wasi/sock_wasi.c - the preview1 sock_* calls, until the network layer
 * (wk/net.h) takes them over: they exist so that modules importing them link,
 * and answer as the spec says for what the table holds. A bad fd is EBADF, a
 * file, directory or console ENOTSOCK; a socket entry (none is created yet)
 * ENOTSUP.
 */
#include "internal_wasi.h"
#include "wk/wasi.h"

static int32_t not_a_socket(wk_vmctx *vm, int32_t fd) {
  wk_fd *f = wk_wasi_fd(vm, fd);
  if (!f) return WK_EBADF;
  return f->kind == WK_FD_SOCKET ? WK_ENOTSUP : WK_ENOTSOCK;
}

int32_t wk_wasi_sock_accept(wk_vmctx *vm, int32_t fd, int32_t flags, int32_t fd_out) {
  (void)flags;
  (void)fd_out;
  return not_a_socket(vm, fd);
}

int32_t wk_wasi_sock_recv(wk_vmctx *vm, int32_t fd, int32_t ri_data, int32_t ri_data_len,
                          int32_t ri_flags, int32_t ro_datalen_out, int32_t ro_flags_out) {
  (void)ri_data;
  (void)ri_data_len;
  (void)ri_flags;
  (void)ro_datalen_out;
  (void)ro_flags_out;
  return not_a_socket(vm, fd);
}

int32_t wk_wasi_sock_send(wk_vmctx *vm, int32_t fd, int32_t si_data, int32_t si_data_len,
                          int32_t si_flags, int32_t so_datalen_out) {
  (void)si_data;
  (void)si_data_len;
  (void)si_flags;
  (void)so_datalen_out;
  return not_a_socket(vm, fd);
}

int32_t wk_wasi_sock_shutdown(wk_vmctx *vm, int32_t fd, int32_t how) {
  int32_t err = not_a_socket(vm, fd);
  if (err != WK_ENOTSUP) return err;
  return (uint32_t)how - 1u > 2u ? WK_EINVAL : WK_ENOTSUP; /* sdflags: RD 1, WR 2 */
}
