/*
 * wamr_client: a TCP and a UDP client on WAMR's socket extension (the imports
 * wasm-micro-runtime's lib-socket makes, declared here by hand with their
 * names and signatures), for tests/test_net_wasi.py.
 *
 *   wamr_client HOST_IP TCP_PORT UDP_PORT
 *
 * Resolves "localhost" and HOST_IP with sock_addr_resolve, connects to the
 * echo server at HOST_IP:TCP_PORT (options set before and after), echoes a
 * line, then a datagram through HOST_IP:UDP_PORT. One line per step; exit 0
 * when every step worked.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

#define WAMR(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(name)))

/* WAMR's layouts: a 24-byte address, a 28-byte resolver entry, 12-byte hints. */
typedef struct {
  uint32_t kind; /* 0 IPv4, 1 IPv6 */
  union {
    struct { uint8_t n[4]; uint16_t port; } ip4;
    struct { uint16_t g[8]; uint16_t port; } ip6;
  } addr;
} wamr_addr;
typedef struct {
  wamr_addr addr;
  int32_t type; /* 0 datagram, 1 stream */
} wamr_addr_info;
typedef struct {
  int32_t type;   /* -1 any, 0 datagram, 1 stream */
  int32_t family; /* 0 INET4, 1 INET6, 2 UNSPEC */
  uint8_t enabled;
} wamr_hints;
_Static_assert(sizeof(wamr_addr) == 24, "WAMR __wasi_addr_t");
_Static_assert(sizeof(wamr_addr_info) == 28, "WAMR __wasi_addr_info_t");
_Static_assert(sizeof(wamr_hints) == 12, "WAMR __wasi_addr_info_hints_t");

WAMR("sock_open") int32_t sock_open(int32_t poolfd, int32_t af, int32_t type, int32_t *fd);
WAMR("sock_connect") int32_t sock_connect(int32_t fd, wamr_addr *addr);
WAMR("sock_addr_local") int32_t sock_addr_local(int32_t fd, wamr_addr *addr);
WAMR("sock_addr_remote") int32_t sock_addr_remote(int32_t fd, wamr_addr *addr);
WAMR("sock_addr_resolve") int32_t sock_addr_resolve(const char *host, const char *service,
                                                    wamr_hints *hints, wamr_addr_info *out,
                                                    uint32_t out_len, uint32_t *total);
WAMR("sock_send_to") int32_t sock_send_to(int32_t fd, const __wasi_ciovec_t *iov, uint32_t n,
                                          uint16_t flags, const wamr_addr *to, uint32_t *sent);
WAMR("sock_recv_from") int32_t sock_recv_from(int32_t fd, __wasi_iovec_t *iov, uint32_t n,
                                              uint16_t flags, wamr_addr *from, uint32_t *got);
WAMR("sock_close") int32_t sock_close(int32_t fd);
WAMR("sock_set_tcp_no_delay") int32_t sock_set_tcp_no_delay(int32_t fd, bool on);
WAMR("sock_get_tcp_no_delay") int32_t sock_get_tcp_no_delay(int32_t fd, bool *on);
WAMR("sock_set_keep_alive") int32_t sock_set_keep_alive(int32_t fd, bool on);
WAMR("sock_get_keep_alive") int32_t sock_get_keep_alive(int32_t fd, bool *on);
WAMR("sock_set_reuse_addr") int32_t sock_set_reuse_addr(int32_t fd, bool on);
WAMR("sock_get_reuse_addr") int32_t sock_get_reuse_addr(int32_t fd, bool *on);
WAMR("sock_get_recv_buf_size") int32_t sock_get_recv_buf_size(int32_t fd, uint32_t *size);
WAMR("sock_get_send_buf_size") int32_t sock_get_send_buf_size(int32_t fd, uint32_t *size);
WAMR("sock_set_broadcast") int32_t sock_set_broadcast(int32_t fd, bool on);
WAMR("sock_get_broadcast") int32_t sock_get_broadcast(int32_t fd, bool *on);
WAMR("sock_set_recv_timeout") int32_t sock_set_recv_timeout(int32_t fd, uint64_t us);
WAMR("sock_set_linger") int32_t sock_set_linger(int32_t fd, bool on, int32_t s);

static int parse_ip(const char *s, uint8_t ip[4]) {
  unsigned a, b, c, d;
  if (sscanf(s, "%u.%u.%u.%u", &a, &b, &c, &d) != 4 || (a | b | c | d) > 255) return -1;
  ip[0] = (uint8_t)a, ip[1] = (uint8_t)b, ip[2] = (uint8_t)c, ip[3] = (uint8_t)d;
  return 0;
}

static void resolve(const char *host, const char *service, wamr_hints *hints) {
  wamr_addr_info info[4];
  uint32_t total = 0;
  int32_t e = sock_addr_resolve(host, service, hints, info, 4, &total);
  printf("resolve %s: %d %u", host, e, e ? 0 : total);
  for (uint32_t i = 0; e == 0 && i < total && i < 4; i++) {
    const wamr_addr *a = &info[i].addr;
    if (a->kind == 0) {
      printf(" [0 %d %u.%u.%u.%u %u]", info[i].type, a->addr.ip4.n[0], a->addr.ip4.n[1],
             a->addr.ip4.n[2], a->addr.ip4.n[3], a->addr.ip4.port);
      continue;
    }
    printf(" [%u %d", a->kind, info[i].type);
    for (int g = 0; g < 8; g++) printf("%c%x", g ? ':' : ' ', a->addr.ip6.g[g]);
    printf(" %u]", a->addr.ip6.port);
  }
  printf("\n");
}

int main(int argc, char **argv) {
  uint8_t ip[4];
  if (argc != 4 || parse_ip(argv[1], ip) != 0) {
    fprintf(stderr, "usage: wamr_client HOST_IP TCP_PORT UDP_PORT\n");
    return 2;
  }
  int tcp_port = atoi(argv[2]), udp_port = atoi(argv[3]), bad = 0;
  wamr_hints off = {0}, tcp4 = {.type = 1, .family = 0, .enabled = 1};
  resolve("localhost", "", &off);
  resolve(argv[1], "7", &tcp4);
  wamr_hints dgram6 = {.type = 0, .family = 1, .enabled = 1};
  resolve("fe80::1", "53", &dgram6);
  resolve("localhost", "", &dgram6);
  resolve(argv[1], "", &dgram6); /* an IPv4 address is no IPv6 one */

  int32_t fd;
  int32_t e = sock_open(0, 0, 1, &fd);
  printf("tcp open %d\n", e);
  bool on = false;
  uint32_t rcv = 0, snd = 0;
  printf("nodelay off %d", sock_set_tcp_no_delay(fd, false));
  printf(" get %d %d\n", sock_get_tcp_no_delay(fd, &on), on);
  printf("keepalive on %d", sock_set_keep_alive(fd, true));
  printf(" get %d %d\n", sock_get_keep_alive(fd, &on), on);
  printf("reuse_addr on %d", sock_set_reuse_addr(fd, true));
  printf(" get %d %d\n", sock_get_reuse_addr(fd, &on), on);
  printf("buffers %d %d %d\n", sock_get_recv_buf_size(fd, &rcv), sock_get_send_buf_size(fd, &snd),
         rcv > 0 && snd > 0);
  printf("recv_timeout %d linger %d\n", sock_set_recv_timeout(fd, 1000000),
         sock_set_linger(fd, true, 1));
  wamr_addr to = {.kind = 0};
  memcpy(to.addr.ip4.n, ip, 4);
  to.addr.ip4.port = (uint16_t)tcp_port;
  e = sock_connect(fd, &to);
  printf("tcp connect %d\n", e);
  bad |= e;
  printf("nodelay on %d", sock_set_tcp_no_delay(fd, true));
  printf(" get %d %d\n", sock_get_tcp_no_delay(fd, &on), on);
  const char line[] = "hello from a wamr socket\n";
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
  wamr_addr local = {0}, peer = {0};
  e = sock_addr_local(fd, &local);
  printf("local %d kind %u port>0 %d\n", e, local.kind, local.addr.ip4.port > 0);
  e = sock_addr_remote(fd, &peer);
  printf("peer %d %u.%u.%u.%u port ok %d\n", e, peer.addr.ip4.n[0], peer.addr.ip4.n[1],
         peer.addr.ip4.n[2], peer.addr.ip4.n[3], peer.addr.ip4.port == tcp_port);
  printf("tcp close %d\n", sock_close(fd));

  int32_t u;
  printf("udp open %d\n", sock_open(0, 0, 0, &u));
  printf("broadcast %d", sock_set_broadcast(u, true));
  printf(" get %d %d\n", sock_get_broadcast(u, &on), on);
  printf("udp nodelay %d\n", sock_set_tcp_no_delay(u, true));
  const char dgram[] = "a wamr datagram";
  __wasi_ciovec_t dout = {(const uint8_t *)dgram, sizeof dgram - 1};
  to.addr.ip4.port = (uint16_t)udp_port;
  uint32_t sent = 0;
  e = sock_send_to(u, &dout, 1, 0, &to, &sent);
  printf("udp send_to %d %u\n", e, sent);
  bad |= e;
  wamr_addr from = {0};
  __wasi_iovec_t din = {(uint8_t *)echo, sizeof echo};
  uint32_t dlen = 0;
  e = sock_recv_from(u, &din, 1, 0, &from, &dlen);
  same = e == 0 && dlen == sizeof dgram - 1 && memcmp(echo, dgram, dlen) == 0;
  printf("udp recv_from %d %s from %u.%u.%u.%u port ok %d\n", e, same ? "same" : "DIFFERENT",
         from.addr.ip4.n[0], from.addr.ip4.n[1], from.addr.ip4.n[2], from.addr.ip4.n[3],
         from.addr.ip4.port == udp_port);
  bad |= !same;
  printf("udp close %d\n", sock_close(u));
  return bad ? 1 : 0;
}
