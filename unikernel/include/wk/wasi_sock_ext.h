/*
 * wk/wasi_sock_ext.h - the WasmEdge socket extension to wasi_snapshot_preview1
 * (unikernel/wasi/sock_wasmedge_wasi.c): sockets the guest creates itself, as
 * `wasmedge_wasi_socket`, `tokio_wasi` and Mewz use them.
 *
 * These share names with preview1 (sock_accept) and with WAMR's extension
 * (sock_open, sock_bind, ...) but not signatures, so the compiler binds them
 * by module, name AND signature (bridge/hostfuncs.py SOCKET_EXTENSION_FUNCS,
 * checked against this header by tests/test_net_wasi.py). The table:
 *
 *   name                 signature      symbol
 *   sock_open            iii:i          wk_wasmedge_sock_open
 *   sock_bind            iii:i          wk_wasmedge_sock_bind
 *   sock_listen          ii:i           wk_wasmedge_sock_listen
 *   sock_accept          ii:i           wk_wasmedge_sock_accept
 *   sock_connect         iii:i          wk_wasmedge_sock_connect
 *   sock_getlocaladdr    iiii:i         wk_wasmedge_sock_getlocaladdr
 *   sock_getpeeraddr     iiii:i         wk_wasmedge_sock_getpeeraddr
 *   sock_setsockopt      iiiii:i        wk_wasmedge_sock_setsockopt
 *   sock_getsockopt      iiiii:i        wk_wasmedge_sock_getsockopt
 *   sock_send_to         iiiiiii:i      wk_wasmedge_sock_send_to
 *   sock_recv_from       iiiiiii:i      wk_wasmedge_sock_recv_from
 *
 * Addresses: a guest pointer to {u32 buf, u32 buf_len}; buf holds the address
 * bytes, 4 of them for IPv4 (16, IPv6, is EAFNOSUPPORT), or a 128-byte form
 * that starts with a u16 family (1 IPv4, 2 IPv6) followed by the address.
 * Families: 1 IPv4, 2 IPv6; types: 1 datagram, 2 stream. Every result is a
 * WASI errno.
 */
#ifndef WK_WASI_SOCK_EXT_H
#define WK_WASI_SOCK_EXT_H

#include <stdint.h>

#include "wk/abi.h"

int32_t wk_wasmedge_sock_open(wk_vmctx *vm, int32_t af, int32_t type, int32_t fd_out);
int32_t wk_wasmedge_sock_bind(wk_vmctx *vm, int32_t fd, int32_t addr, int32_t port);
int32_t wk_wasmedge_sock_listen(wk_vmctx *vm, int32_t fd, int32_t backlog);
int32_t wk_wasmedge_sock_accept(wk_vmctx *vm, int32_t fd, int32_t fd_out);
int32_t wk_wasmedge_sock_connect(wk_vmctx *vm, int32_t fd, int32_t addr, int32_t port);
int32_t wk_wasmedge_sock_getlocaladdr(wk_vmctx *vm, int32_t fd, int32_t addr, int32_t type_out,
                                      int32_t port_out);
int32_t wk_wasmedge_sock_getpeeraddr(wk_vmctx *vm, int32_t fd, int32_t addr, int32_t type_out,
                                     int32_t port_out);
int32_t wk_wasmedge_sock_setsockopt(wk_vmctx *vm, int32_t fd, int32_t level, int32_t name,
                                    int32_t value, int32_t value_len);
int32_t wk_wasmedge_sock_getsockopt(wk_vmctx *vm, int32_t fd, int32_t level, int32_t name,
                                    int32_t value, int32_t value_len_ptr);
int32_t wk_wasmedge_sock_send_to(wk_vmctx *vm, int32_t fd, int32_t si_data, int32_t si_data_len,
                                 int32_t addr, int32_t port, int32_t si_flags,
                                 int32_t so_datalen_out);
int32_t wk_wasmedge_sock_recv_from(wk_vmctx *vm, int32_t fd, int32_t ri_data,
                                   int32_t ri_data_len, int32_t addr, int32_t ri_flags,
                                   int32_t ro_datalen_out, int32_t ro_flags_out);

#endif /* WK_WASI_SOCK_EXT_H */
