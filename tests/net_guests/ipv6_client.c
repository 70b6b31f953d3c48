/*
 * ipv6_client: AF_INET6 sockets through both socket extensions, for
 * tests/test_net_wasi.py: a TCP echo on WasmEdge's (V2 names, a 16-byte
 * address, then the 128-byte store from sock_getlocaladdr) and a UDP round
 * trip on WAMR's (its IPv6 __wasi_addr_t).
 *
 *   ipv6_client HOST6 TCP_PORT UDP_PORT
 *
 * HOST6 is an IPv6 address in text (the gateway passt maps to the host's ::1).
 * One line per step; exit 0 when every step worked.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

#define IMPORT(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(name)))
struct we_addr { uint32_t buf, len; };
IMPORT("sock_open_v2") int32_t we_open(int32_t af, int32_t type, int32_t *fd);
IMPORT("sock_connect_v2") int32_t we_connect(int32_t fd, struct we_addr *a, int32_t port);
IMPORT("sock_getlocaladdr_v2") int32_t we_local(int32_t fd, struct we_addr *a, uint32_t *port);
IMPORT("sock_getpeeraddr_v2") int32_t we_peer(int32_t fd, struct we_addr *a, uint32_t *port);

typedef struct {
  uint32_t kind; /* 1: IPv6 */
  union {
    struct { uint8_t n[4]; uint16_t port; } ip4;
    struct { uint16_t g[8]; uint16_t port; } ip6;
  } addr;
} wamr_addr;
IMPORT("sock_open") int32_t wamr_open(int32_t poolfd, int32_t af, int32_t type, int32_t *fd);
IMPORT("sock_send_to") int32_t wamr_send_to(int32_t fd, const __wasi_ciovec_t *iov, uint32_t n,
                                            uint16_t flags, const wamr_addr *to, uint32_t *sent);
IMPORT("sock_recv_from") int32_t wamr_recv_from(int32_t fd, __wasi_iovec_t *iov, uint32_t n,
                                                uint16_t flags, wamr_addr *from, uint32_t *got);

static void print6(const char *what, const uint8_t a[16]) {
  char text[INET6_ADDRSTRLEN];
  printf("%s %s\n", what, inet_ntop(AF_INET6, a, text, sizeof text) ? text : "?");
}

int main(int argc, char **argv) {
  uint8_t host[16];
  if (argc != 4 || inet_pton(AF_INET6, argv[1], host) != 1) {
    fprintf(stderr, "usage: ipv6_client HOST6 TCP_PORT UDP_PORT\n");
    return 2;
  }
  int tcp_port = atoi(argv[2]), udp_port = atoi(argv[3]), bad = 0;

  int32_t fd;
  int32_t e = we_open(2, 2, &fd); /* WasmEdge: AF_INET6 2, SOCK_STREAM 2 */
  printf("tcp6 open %d\n", e);
  struct we_addr a = {(uint32_t)(uintptr_t)host, 16};
  e = we_connect(fd, &a, tcp_port);
  printf("tcp6 connect %d\n", e);
  bad |= e;
  const char line[] = "hello over IPv6\n";
  __wasi_ciovec_t out = {(const uint8_t *)line, sizeof line - 1};
  __wasi_size_t n;
  e = __wasi_sock_send(fd, &out, 1, 0, &n);
  char echo[64];
  size_t got = 0;
  while (e == 0 && got < sizeof line - 1) {
    __wasi_iovec_t in = {(uint8_t *)echo + got, sizeof echo - got};
    __wasi_roflags_t fl;
    if ((e = __wasi_sock_recv(fd, &in, 1, 0, &n, &fl)) != 0 || n == 0) break;
    got += n;
  }
  int same = got == sizeof line - 1 && memcmp(echo, line, got) == 0;
  printf("tcp6 echo %s\n", same ? "same" : "DIFFERENT");
  bad |= !same;
  uint8_t store[128];
  struct we_addr sa = {(uint32_t)(uintptr_t)store, sizeof store};
  uint32_t port = 0;
  e = we_peer(fd, &sa, &port);
  printf("tcp6 peer %d family %u port ok %d same host %d\n", e, store[0] | store[1] << 8,
         (int)port == tcp_port, memcmp(store + 2, host, 16) == 0);
  e = we_local(fd, &sa, &port);
  printf("tcp6 local %d family %u\n", e, store[0] | store[1] << 8);
  print6("local address", store + 2);
  printf("tcp6 close %d\n", __wasi_fd_close(fd));

  int32_t u;
  printf("udp6 open %d\n", wamr_open(0, 1, 0, &u)); /* WAMR: INET6 1, DGRAM 0 */
  wamr_addr to = {.kind = 1};
  for (int i = 0; i < 8; i++) to.addr.ip6.g[i] = (uint16_t)(host[2 * i] << 8 | host[2 * i + 1]);
  to.addr.ip6.port = (uint16_t)udp_port;
  const char dgram[] = "an IPv6 datagram";
  __wasi_ciovec_t dout = {(const uint8_t *)dgram, sizeof dgram - 1};
  uint32_t sent = 0;
  e = wamr_send_to(u, &dout, 1, 0, &to, &sent);
  printf("udp6 send_to %d %u\n", e, sent);
  bad |= e;
  wamr_addr from = {0};
  __wasi_iovec_t din = {(uint8_t *)echo, sizeof echo};
  uint32_t dlen = 0;
  e = wamr_recv_from(u, &din, 1, 0, &from, &dlen);
  same = e == 0 && dlen == sizeof dgram - 1 && memcmp(echo, dgram, dlen) == 0;
  printf("udp6 recv_from %d %s kind %u port ok %d\n", e, same ? "same" : "DIFFERENT", from.kind,
         from.addr.ip6.port == udp_port);
  bad |= !same;
  uint8_t fb[16]; /* passt answers from its link-local address, not HOST6 */
  for (int i = 0; i < 8; i++) {
    fb[2 * i] = (uint8_t)(from.addr.ip6.g[i] >> 8);
    fb[2 * i + 1] = (uint8_t)from.addr.ip6.g[i];
  }
  print6("udp6 from", fb);
  printf("udp6 close %d\n", __wasi_fd_close(u));
  return bad ? 1 : 0;
}
