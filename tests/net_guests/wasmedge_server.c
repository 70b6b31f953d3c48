/*
 * wasmedge_server: a TCP echo server on the WasmEdge socket extension
 * (sock_open, sock_bind, sock_listen, the two-parameter sock_accept), for
 * tests/test_net_wasi.py. Listens on PORT (argv[1]), says "listening" on
 * stderr, serves one connection (echoes until the peer closes), exits 0.
 * Under `wasmkiln run -p HOST:PORT` its bind takes over the preopened
 * listener on PORT (docs/network.md).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <wasi/api.h>

#define WE(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(name)))
WE("sock_open") int32_t we_sock_open(int32_t af, int32_t type, int32_t *fd);
WE("sock_bind") int32_t we_sock_bind(int32_t fd, void *addr, int32_t port);
WE("sock_listen") int32_t we_sock_listen(int32_t fd, int32_t backlog);
WE("sock_accept") int32_t we_sock_accept(int32_t fd, int32_t *conn);

struct we_addr { uint32_t buf, len; };

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 80;
  static uint8_t any[4];
  struct we_addr addr = {(uint32_t)(uintptr_t)any, 4};
  int32_t fd, conn;
  int32_t e = we_sock_open(1, 2, &fd);
  if (!e) e = we_sock_bind(fd, &addr, port);
  if (!e) e = we_sock_listen(fd, 16);
  printf("listen %d\n", e);
  if (e) return 1;
  fprintf(stderr, "listening\n");
  e = we_sock_accept(fd, &conn); /* blocking: the fd was opened without NONBLOCK */
  printf("accept %d\n", e);
  if (e) return 1;
  uint8_t buf[4096];
  size_t total = 0;
  for (;;) {
    __wasi_iovec_t in = {buf, sizeof buf};
    __wasi_size_t n, w;
    if (__wasi_fd_read(conn, &in, 1, &n) != 0 || n == 0) break;
    __wasi_ciovec_t out = {buf, n};
    if (__wasi_fd_write(conn, &out, 1, &w) != 0) break;
    total += n;
  }
  printf("echoed %zu bytes, close %d\n", total, __wasi_fd_close(conn));
  return 0;
}
