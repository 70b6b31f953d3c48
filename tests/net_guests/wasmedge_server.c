/*
 * wasmedge_server: a TCP server on the WasmEdge socket extension (sock_open,
 * sock_bind, sock_listen, the two-parameter sock_accept), for
 * tests/test_net_wasi.py. Listens on PORT (argv[1]) and says "listening" on
 * stderr. Then:
 * - with no COUNT: serves one connection (echoes until the peer closes) and
 *   exits 0. Under `wasmkiln run -p HOST:PORT` its bind takes over the
 *   preopened listener on PORT (docs/network.md).
 * - with COUNT (argv[2]): for each of COUNT connections reads one path (up to
 *   '\n'), writes the file's bytes (or "missing\n") and closes; exits 0.
 *   Files are opened with wasi-libc's fopen, which finds them through libc's
 *   scan of the preopened directories: under `-p HOST:PORT --dir D::/`, a
 *   listener preopened before the directories would end that scan.
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

static int send_all(int32_t fd, const void *p, size_t n) {
  while (n > 0) {
    __wasi_ciovec_t out = {p, n};
    __wasi_size_t w;
    if (__wasi_fd_write(fd, &out, 1, &w) != 0) return -1;
    p = (const char *)p + w;
    n -= w;
  }
  return 0;
}

static void echo(int32_t conn) {
  uint8_t buf[4096];
  size_t total = 0;
  for (;;) {
    __wasi_iovec_t in = {buf, sizeof buf};
    __wasi_size_t n;
    if (__wasi_fd_read(conn, &in, 1, &n) != 0 || n == 0) break;
    if (send_all(conn, buf, n) != 0) break;
    total += n;
  }
  printf("echoed %zu bytes, close %d\n", total, __wasi_fd_close(conn));
}

static void send_file(int32_t conn) {
  char path[256];
  size_t len = 0;
  while (len < sizeof path - 1) {
    __wasi_iovec_t in = {(uint8_t *)path + len, 1};
    __wasi_size_t n;
    if (__wasi_fd_read(conn, &in, 1, &n) != 0 || n == 0 || path[len] == '\n') break;
    len++;
  }
  path[len] = 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    (void)send_all(conn, "missing\n", 8);
  } else {
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0 && send_all(conn, buf, n) == 0) {
    }
    fclose(f);
  }
  (void)__wasi_fd_close(conn);
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 80;
  int count = argc > 2 ? atoi(argv[2]) : 0;
  static uint8_t any[4];
  struct we_addr addr = {(uint32_t)(uintptr_t)any, 4};
  int32_t fd, conn;
  int32_t e = we_sock_open(1, 2, &fd);
  if (!e) e = we_sock_bind(fd, &addr, port);
  if (!e) e = we_sock_listen(fd, 16);
  if (count == 0) printf("listen %d\n", e);
  if (e) return 1;
  fprintf(stderr, "listening\n");
  for (int i = 0; i < (count ? count : 1); i++) {
    e = we_sock_accept(fd, &conn); /* blocking: the fd was opened without NONBLOCK */
    if (count == 0) printf("accept %d\n", e);
    if (e) return 1;
    if (count == 0) {
      echo(conn);
    } else {
      send_file(conn);
    }
  }
  return 0;
}
