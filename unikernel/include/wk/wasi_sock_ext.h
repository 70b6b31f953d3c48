/*
 * wk/wasi_sock_ext.h - the socket extensions to wasi_snapshot_preview1: sockets
 * the guest creates itself, as WasmEdge's (`wasmedge_wasi_socket`, `tokio_wasi`,
 * Mewz) and WAMR's (wasm-micro-runtime's lib-socket) modules use them.
 * Implemented by unikernel/wasi/sock_wasmedge_wasi.c and sock_wamr_wasi.c over
 * the shared sock_ext_wasi.c.
 *
 * The two extensions share names with preview1 (sock_accept) and with each
 * other (sock_open, sock_bind, ...) but not signatures, so the compiler binds
 * them by module, name AND signature (bridge/hostfuncs.py
 * SOCKET_EXTENSION_FUNCS, checked against these tables by
 * tests/test_net_wasi.py). A symbol declared in wk/wasi.h (wk_wasi_*) is
 * preview1's function under another name.
 *
 * WasmEdge, V1 and V2 (V2 under the plain names too, told apart by signature):
 *
 *   name                            signature     symbol
 *   sock_open                       iii:i         wk_wasmedge_sock_open
 *   sock_open_v2                    iii:i         wk_wasmedge_sock_open
 *   sock_bind                       iii:i         wk_wasmedge_sock_bind
 *   sock_bind_v2                    iii:i         wk_wasmedge_sock_bind
 *   sock_listen                     ii:i          wk_wasmedge_sock_listen
 *   sock_listen_v2                  ii:i          wk_wasmedge_sock_listen
 *   sock_accept                     ii:i          wk_wasmedge_sock_accept
 *   sock_accept_v2                  iii:i         wk_wasi_sock_accept
 *   sock_connect                    iii:i         wk_wasmedge_sock_connect
 *   sock_connect_v2                 iii:i         wk_wasmedge_sock_connect
 *   sock_recv_v2                    iiiiii:i      wk_wasi_sock_recv
 *   sock_send_v2                    iiiii:i       wk_wasi_sock_send
 *   sock_getlocaladdr               iiii:i        wk_wasmedge_sock_getlocaladdr
 *   sock_getlocaladdr               iii:i         wk_wasmedge_sock_getlocaladdr_v2
 *   sock_getlocaladdr_v2            iii:i         wk_wasmedge_sock_getlocaladdr_v2
 *   sock_getpeeraddr                iiii:i        wk_wasmedge_sock_getpeeraddr
 *   sock_getpeeraddr                iii:i         wk_wasmedge_sock_getpeeraddr_v2
 *   sock_getpeeraddr_v2             iii:i         wk_wasmedge_sock_getpeeraddr_v2
 *   sock_setsockopt                 iiiii:i       wk_wasmedge_sock_setsockopt
 *   sock_getsockopt                 iiiii:i       wk_wasmedge_sock_getsockopt
 *   sock_send_to                    iiiiiii:i     wk_wasmedge_sock_send_to
 *   sock_send_to_v2                 iiiiiii:i     wk_wasmedge_sock_send_to
 *   sock_recv_from                  iiiiiii:i     wk_wasmedge_sock_recv_from
 *   sock_recv_from                  iiiiiiii:i    wk_wasmedge_sock_recv_from_v2
 *   sock_recv_from_v2               iiiiiiii:i    wk_wasmedge_sock_recv_from_v2
 *   sock_getaddrinfo                iiiiiiii:i    wk_wasmedge_sock_getaddrinfo
 *
 * Addresses: a guest pointer to {u32 buf, u32 buf_len}; buf holds the address
 * bytes, 4 of them for IPv4, 16 for IPv6 (EAFNOSUPPORT in a stack built
 * without it), or a 128-byte store that starts with a u16 family (1 IPv4,
 * 2 IPv6) followed by the address (V2's getlocaladdr/getpeeraddr want that
 * form). Families: 1 IPv4,
 * 2 IPv6; types: 1 datagram, 2 stream. sock_getaddrinfo fills the caller's
 * chain of 28-byte addrinfo records (sock_wasmedge_wasi.c has the layout) and
 * answers numeric IPv4 hosts, "localhost" and DNS names; its errors are
 * WasmEdge's EAI_* numbers (78..87) after WASI's errno values.
 *
 * WAMR:
 *
 *   name                            signature     symbol
 *   sock_open                       iiii:i        wk_wamr_sock_open
 *   sock_bind                       ii:i          wk_wamr_sock_bind
 *   sock_listen                     ii:i          wk_wasmedge_sock_listen
 *   sock_accept                     ii:i          wk_wasmedge_sock_accept
 *   sock_connect                    ii:i          wk_wamr_sock_connect
 *   sock_addr_local                 ii:i          wk_wamr_sock_addr_local
 *   sock_addr_remote                ii:i          wk_wamr_sock_addr_remote
 *   sock_addr_resolve               iiiiii:i      wk_wamr_sock_addr_resolve
 *   sock_send_to                    iiiiii:i      wk_wamr_sock_send_to
 *   sock_recv_from                  iiiiii:i      wk_wamr_sock_recv_from
 *   sock_close                      i:i           wk_wasi_fd_close
 *   sock_set_reuse_addr             ii:i          wk_wamr_sock_set_reuse_addr
 *   sock_get_reuse_addr             ii:i          wk_wamr_sock_get_reuse_addr
 *   sock_set_keep_alive             ii:i          wk_wamr_sock_set_keep_alive
 *   sock_get_keep_alive             ii:i          wk_wamr_sock_get_keep_alive
 *   sock_set_tcp_no_delay           ii:i          wk_wamr_sock_set_tcp_no_delay
 *   sock_get_tcp_no_delay           ii:i          wk_wamr_sock_get_tcp_no_delay
 *   sock_set_broadcast              ii:i          wk_wamr_sock_set_broadcast
 *   sock_get_broadcast              ii:i          wk_wamr_sock_get_broadcast
 *   sock_set_recv_buf_size          ii:i          wk_wamr_sock_set_recv_buf_size
 *   sock_get_recv_buf_size          ii:i          wk_wamr_sock_get_recv_buf_size
 *   sock_set_send_buf_size          ii:i          wk_wamr_sock_set_send_buf_size
 *   sock_get_send_buf_size          ii:i          wk_wamr_sock_get_send_buf_size
 *   sock_set_reuse_port             ii:i          wk_wamr_sock_unsupported_ii
 *   sock_get_reuse_port             ii:i          wk_wamr_sock_unsupported_ii
 *   sock_get_recv_timeout           ii:i          wk_wamr_sock_unsupported_ii
 *   sock_set_recv_timeout           iI:i          wk_wamr_sock_unsupported_iI
 *   sock_get_send_timeout           ii:i          wk_wamr_sock_unsupported_ii
 *   sock_set_send_timeout           iI:i          wk_wamr_sock_unsupported_iI
 *   sock_set_linger                 iii:i         wk_wamr_sock_unsupported_iii
 *   sock_get_linger                 iii:i         wk_wamr_sock_unsupported_iii
 *   sock_set_linger                 ii:i          wk_wamr_sock_unsupported_ii
 *   sock_get_linger                 ii:i          wk_wamr_sock_unsupported_ii
 *   sock_set_tcp_keep_idle          ii:i          wk_wamr_sock_unsupported_ii
 *   sock_get_tcp_keep_idle          ii:i          wk_wamr_sock_unsupported_ii
 *   sock_set_tcp_keep_intvl         ii:i          wk_wamr_sock_unsupported_ii
 *   sock_get_tcp_keep_intvl         ii:i          wk_wamr_sock_unsupported_ii
 *   sock_set_tcp_fastopen_connect   ii:i          wk_wamr_sock_unsupported_ii
 *   sock_get_tcp_fastopen_connect   ii:i          wk_wamr_sock_unsupported_ii
 *   sock_set_tcp_quick_ack          ii:i          wk_wamr_sock_unsupported_ii
 *   sock_get_tcp_quick_ack          ii:i          wk_wamr_sock_unsupported_ii
 *   sock_set_ip_multicast_loop      iii:i         wk_wamr_sock_unsupported_iii
 *   sock_get_ip_multicast_loop      iii:i         wk_wamr_sock_unsupported_iii
 *   sock_set_ip_multicast_loop      ii:i          wk_wamr_sock_unsupported_ii
 *   sock_get_ip_multicast_loop      ii:i          wk_wamr_sock_unsupported_ii
 *   sock_set_ip_multicast_ttl       ii:i          wk_wamr_sock_unsupported_ii
 *   sock_get_ip_multicast_ttl       ii:i          wk_wamr_sock_unsupported_ii
 *   sock_set_ip_add_membership      iii:i         wk_wamr_sock_unsupported_iii
 *   sock_set_ip_drop_membership     iii:i         wk_wamr_sock_unsupported_iii
 *   sock_set_ip_add_membership      ii:i          wk_wamr_sock_unsupported_ii
 *   sock_set_ip_drop_membership     ii:i          wk_wamr_sock_unsupported_ii
 *   sock_set_ip_ttl                 ii:i          wk_wamr_sock_unsupported_ii
 *   sock_get_ip_ttl                 ii:i          wk_wamr_sock_unsupported_ii
 *   sock_set_ipv6_only              ii:i          wk_wamr_sock_unsupported_ii
 *   sock_get_ipv6_only              ii:i          wk_wamr_sock_unsupported_ii
 *
 * Addresses: a guest pointer to a 24-byte __wasi_addr_t (u32 kind 0 IPv4 /
 * 1 IPv6, then the address and a u16 port, both in host order; see
 * sock_wamr_wasi.c). sock_open's first argument (WAMR's address pool) is
 * ignored. Every result is a WASI errno.
 */
#ifndef WK_WASI_SOCK_EXT_H
#define WK_WASI_SOCK_EXT_H

#include <stdint.h>

#include "wk/abi.h"

/* ---- WasmEdge ---- */
int32_t wk_wasmedge_sock_open(wk_vmctx *vm, int32_t af, int32_t type, int32_t fd_out);
int32_t wk_wasmedge_sock_bind(wk_vmctx *vm, int32_t fd, int32_t addr, int32_t port);
int32_t wk_wasmedge_sock_listen(wk_vmctx *vm, int32_t fd, int32_t backlog);
int32_t wk_wasmedge_sock_accept(wk_vmctx *vm, int32_t fd, int32_t fd_out);
int32_t wk_wasmedge_sock_connect(wk_vmctx *vm, int32_t fd, int32_t addr, int32_t port);
int32_t wk_wasmedge_sock_getlocaladdr(wk_vmctx *vm, int32_t fd, int32_t addr, int32_t type_out,
                                      int32_t port_out);
int32_t wk_wasmedge_sock_getpeeraddr(wk_vmctx *vm, int32_t fd, int32_t addr, int32_t type_out,
                                     int32_t port_out);
int32_t wk_wasmedge_sock_getlocaladdr_v2(wk_vmctx *vm, int32_t fd, int32_t addr, int32_t port_out);
int32_t wk_wasmedge_sock_getpeeraddr_v2(wk_vmctx *vm, int32_t fd, int32_t addr, int32_t port_out);
int32_t wk_wasmedge_sock_setsockopt(wk_vmctx *vm, int32_t fd, int32_t level, int32_t name,
                                    int32_t value, int32_t value_len);
int32_t wk_wasmedge_sock_getsockopt(wk_vmctx *vm, int32_t fd, int32_t level, int32_t name,
                                    int32_t value, int32_t value_len_ptr);
int32_t wk_wasmedge_sock_send_to(wk_vmctx *vm, int32_t fd, int32_t si_data, int32_t si_data_len,
                                 int32_t addr, int32_t port, int32_t si_flags,
                                 int32_t so_datalen_out);
int32_t wk_wasmedge_sock_recv_from(wk_vmctx *vm, int32_t fd, int32_t ri_data, int32_t ri_data_len,
                                   int32_t addr, int32_t ri_flags, int32_t ro_datalen_out,
                                   int32_t ro_flags_out);
int32_t wk_wasmedge_sock_recv_from_v2(wk_vmctx *vm, int32_t fd, int32_t ri_data,
                                      int32_t ri_data_len, int32_t addr, int32_t ri_flags,
                                      int32_t port_out, int32_t ro_datalen_out,
                                      int32_t ro_flags_out);
int32_t wk_wasmedge_sock_getaddrinfo(wk_vmctx *vm, int32_t node, int32_t node_len, int32_t service,
                                     int32_t service_len, int32_t hints, int32_t res,
                                     int32_t max_res, int32_t res_len_out);

/* ---- WAMR ---- */
int32_t wk_wamr_sock_open(wk_vmctx *vm, int32_t poolfd, int32_t af, int32_t type, int32_t fd_out);
int32_t wk_wamr_sock_bind(wk_vmctx *vm, int32_t fd, int32_t addr);
int32_t wk_wamr_sock_connect(wk_vmctx *vm, int32_t fd, int32_t addr);
int32_t wk_wamr_sock_addr_local(wk_vmctx *vm, int32_t fd, int32_t addr);
int32_t wk_wamr_sock_addr_remote(wk_vmctx *vm, int32_t fd, int32_t addr);
int32_t wk_wamr_sock_addr_resolve(wk_vmctx *vm, int32_t host, int32_t service, int32_t hints,
                                  int32_t addr_info, int32_t addr_info_size, int32_t max_info_out);
int32_t wk_wamr_sock_send_to(wk_vmctx *vm, int32_t fd, int32_t si_data, int32_t si_data_len,
                             int32_t si_flags, int32_t addr, int32_t so_datalen_out);
int32_t wk_wamr_sock_recv_from(wk_vmctx *vm, int32_t fd, int32_t ri_data, int32_t ri_data_len,
                               int32_t ri_flags, int32_t addr, int32_t ro_datalen_out);
/* Options: set takes the value (a bool, or a size), get writes a u8 bool or a u32 size. */
int32_t wk_wamr_sock_set_reuse_addr(wk_vmctx *vm, int32_t fd, int32_t value);
int32_t wk_wamr_sock_get_reuse_addr(wk_vmctx *vm, int32_t fd, int32_t out);
int32_t wk_wamr_sock_set_keep_alive(wk_vmctx *vm, int32_t fd, int32_t value);
int32_t wk_wamr_sock_get_keep_alive(wk_vmctx *vm, int32_t fd, int32_t out);
int32_t wk_wamr_sock_set_tcp_no_delay(wk_vmctx *vm, int32_t fd, int32_t value);
int32_t wk_wamr_sock_get_tcp_no_delay(wk_vmctx *vm, int32_t fd, int32_t out);
int32_t wk_wamr_sock_set_broadcast(wk_vmctx *vm, int32_t fd, int32_t value);
int32_t wk_wamr_sock_get_broadcast(wk_vmctx *vm, int32_t fd, int32_t out);
int32_t wk_wamr_sock_set_recv_buf_size(wk_vmctx *vm, int32_t fd, int32_t value);
int32_t wk_wamr_sock_get_recv_buf_size(wk_vmctx *vm, int32_t fd, int32_t out);
int32_t wk_wamr_sock_set_send_buf_size(wk_vmctx *vm, int32_t fd, int32_t value);
int32_t wk_wamr_sock_get_send_buf_size(wk_vmctx *vm, int32_t fd, int32_t out);
/* ENOTSUP (EBADF/ENOTSOCK for a descriptor that is not a socket), one per signature. */
int32_t wk_wamr_sock_unsupported_ii(wk_vmctx *vm, int32_t fd, int32_t a);
int32_t wk_wamr_sock_unsupported_iI(wk_vmctx *vm, int32_t fd, int64_t a);
int32_t wk_wamr_sock_unsupported_iii(wk_vmctx *vm, int32_t fd, int32_t a, int32_t b);

#endif /* WK_WASI_SOCK_EXT_H */
