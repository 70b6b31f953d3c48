/*
 * wasmedge_client: a TCP and a UDP client on the WasmEdge socket extension
 * (imports keyed by name AND signature: sock_open/sock_connect/sock_send_to/
 * sock_recv_from/sock_getlocaladdr/sock_getpeeraddr/sock_getsockopt), for
 * tests/test_net_wasi.py.
 *
 *   wasmedge_client HOST_IP TCP_PORT UDP_PORT
 *
 * Connects to an echo server at HOST_IP:TCP_PORT, sends a line, reads it back;
 * then sends a datagram to HOST_IP:UDP_PORT and reads the echo. Prints what
 * happened, one line per step; exit 0 when every step worked.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

#define WE(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(name)))
WE("sock_open") int32_t we_sock_open(int32_t af, int32_t type, int32_t *fd);
WE("sock_connect") int32_t we_sock_connect(int32_t fd, void *addr, int32_t port);
WE("sock_getlocaladdr") int32_t we_sock_getlocaladdr(int32_t fd, void *addr, uint32_t *type,
                                                     uint32_t *port);
WE("sock_getpeeraddr") int32_t we_sock_getpeeraddr(int32_t fd, void *addr, uint32_t *type,
                                                   uint32_t *port);
WE("sock_getsockopt") int32_t we_sock_getsockopt(int32_t fd, int32_t level, int32_t name,
                                                 int32_t *value, int32_t *len);
WE("sock_send_to") int32_t we_sock_send_to(int32_t fd, const __wasi_ciovec_t *iov,
                                           int32_t iov_len, void *addr, int32_t port,
                                           int32_t flags, uint32_t *sent);
WE("sock_recv_from") int32_t we_sock_recv_from(int32_t fd, __wasi_iovec_t *iov, int32_t iov_len,
                                               void *addr, int32_t flags, uint32_t *got,
                                               uint16_t *roflags);

struct we_addr { uint32_t buf, len; }; /* guest pointers are 32-bit */

static int parse_ip(const char *s, uint8_t ip[4]) {
  unsigned a, b, c, d;
  if (sscanf(s, "%u.%u.%u.%u", &a, &b, &c, &d) != 4 || (a | b | c | d) > 255) return -1;
  ip[0] = (uint8_t)a, ip[1] = (uint8_t)b, ip[2] = (uint8_t)c, ip[3] = (uint8_t)d;
  return 0;
}

int main(int argc, char **argv) {
  uint8_t ip[4];
  if (argc != 4 || parse_ip(argv[1], ip) != 0) {
    fprintf(stderr, "usage: wasmedge_client HOST_IP TCP_PORT UDP_PORT\n");
    return 2;
  }
  int tcp_port = atoi(argv[2]), udp_port = atoi(argv[3]), bad = 0;
  struct we_addr addr = {(uint32_t)(uintptr_t)ip, 4};

  int32_t fd;
  int32_t e = we_sock_open(1, 2, &fd);
  printf("tcp open %d\n", e);
  e = we_sock_connect(fd, &addr, tcp_port);
  printf("tcp connect %d\n", e);
  bad |= e;
  const char line[] = "hello from a wasmedge socket\n";
  __wasi_ciovec_t out = {(const uint8_t *)line, sizeof line - 1};
  __wasi_size_t n;
  e = __wasi_sock_send(fd, &out, 1, 0, &n);
  printf("tcp send %d %lu\n", e, (unsigned long)n);
  char echo[64];
  size_t got = 0;
  while (got < sizeof line - 1) {
    __wasi_iovec_t in = {(uint8_t *)echo + got, sizeof echo - got};
    __wasi_roflags_t fl;
    if ((e = __wasi_sock_recv(fd, &in, 1, 0, &n, &fl)) != 0 || n == 0) break;
    got += n;
  }
  int same = got == sizeof line - 1 && memcmp(echo, line, got) == 0;
  printf("tcp echo %s\n", same ? "same" : "DIFFERENT");
  bad |= !same;
  uint8_t local[4], peer[4];
  struct we_addr la = {(uint32_t)(uintptr_t)local, 4}, pa = {(uint32_t)(uintptr_t)peer, 4};
  uint32_t type, lport, pport;
  e = we_sock_getlocaladdr(fd, &la, &type, &lport);
  printf("local %d type %u port>0 %d\n", e, type, lport > 0);
  e = we_sock_getpeeraddr(fd, &pa, &type, &pport);
  printf("peer %d %u.%u.%u.%u port ok %d\n", e, peer[0], peer[1], peer[2], peer[3],
         (int)pport == tcp_port);
  printf("tcp close %d\n", __wasi_fd_close(fd));

  int32_t u;
  printf("udp open %d\n", we_sock_open(1, 1, &u));
  int32_t so_type = 0, so_len = 4;
  printf("udp SO_TYPE %d %d\n", we_sock_getsockopt(u, 0, 1, &so_type, &so_len), so_type);
  const char dgram[] = "a datagram";
  __wasi_ciovec_t dout = {(const uint8_t *)dgram, sizeof dgram - 1};
  uint32_t sent = 0;
  e = we_sock_send_to(u, &dout, 1, &addr, udp_port, 0, &sent);
  printf("udp send_to %d %u\n", e, sent);
  bad |= e;
  uint8_t from[128];
  struct we_addr fa = {(uint32_t)(uintptr_t)from, sizeof from};
  __wasi_iovec_t din = {(uint8_t *)echo, sizeof echo};
  uint32_t dlen = 0;
  uint16_t rofl = 0;
  e = we_sock_recv_from(u, &din, 1, &fa, 0, &dlen, &rofl);
  same = e == 0 && dlen == sizeof dgram - 1 && memcmp(echo, dgram, dlen) == 0;
  printf("udp recv_from %d %s family %u from %u.%u.%u.%u\n", e, same ? "same" : "DIFFERENT",
         from[0] | from[1] << 8, from[2], from[3], from[4], from[5]);
  bad |= !same;
  printf("udp close %d\n", __wasi_fd_close(u));
  return bad ? 1 : 0;
}
