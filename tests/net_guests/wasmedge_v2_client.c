/*
 * wasmedge_v2_client: the WasmEdge socket extension as newer wasmedge_wasi_socket
 * releases import it (V2: the *_v2 names, sock_recv_from with a port out,
 * sock_getlocaladdr without the type out, 128-byte addresses) and
 * sock_getaddrinfo, for tests/test_net_wasi.py.
 *
 *   wasmedge_v2_client HOST_IP TCP_PORT UDP_PORT [NAME [BADNAME...]]
 *
 * Resolves "localhost" and HOST_IP (and NAME, through the run's DNS server,
 * when given; each BADNAME is printed, expected to fail), then echoes a line over TCP to HOST_IP:TCP_PORT and a
 * datagram over UDP to HOST_IP:UDP_PORT. One line per step; exit 0 when every
 * step worked.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

#define WE(name) __attribute__((import_module("wasi_snapshot_preview1"), import_name(name)))
struct we_addr { uint32_t buf, len; }; /* guest pointers are 32-bit */
WE("sock_open_v2") int32_t sock_open_v2(int32_t af, int32_t type, int32_t *fd);
WE("sock_connect_v2") int32_t sock_connect_v2(int32_t fd, struct we_addr *a, int32_t port);
WE("sock_send_v2") int32_t sock_send_v2(int32_t fd, const __wasi_ciovec_t *iov, int32_t n,
                                        int32_t flags, uint32_t *sent);
WE("sock_recv_v2") int32_t sock_recv_v2(int32_t fd, __wasi_iovec_t *iov, int32_t n, int32_t flags,
                                        uint32_t *got, uint16_t *roflags);
WE("sock_getlocaladdr") int32_t sock_getlocaladdr_v2sig(int32_t fd, struct we_addr *a,
                                                       uint32_t *port);
WE("sock_getpeeraddr_v2") int32_t sock_getpeeraddr_v2(int32_t fd, struct we_addr *a,
                                                     uint32_t *port);
WE("sock_send_to_v2") int32_t sock_send_to_v2(int32_t fd, const __wasi_ciovec_t *iov, int32_t n,
                                              struct we_addr *a, int32_t port, int32_t flags,
                                              uint32_t *sent);
WE("sock_recv_from") int32_t sock_recv_from_v2sig(int32_t fd, __wasi_iovec_t *iov, int32_t n,
                                                  struct we_addr *a, int32_t flags,
                                                  uint16_t *port, uint32_t *got,
                                                  uint16_t *roflags);
WE("sock_accept_v2") int32_t sock_accept_v2(int32_t fd, int32_t flags, int32_t *fd_out);

/* WasmEdge's getaddrinfo records (28 and 12 bytes, 4-aligned). */
struct we_addrinfo {
  uint16_t flags;
  uint8_t family, socktype, protocol;
  uint32_t addrlen;
  uint32_t addr;      /* -> struct we_sockaddr */
  uint32_t canonname; /* -> char[] */
  uint32_t canonname_len;
  uint32_t next;      /* -> struct we_addrinfo */
};
struct we_sockaddr {
  uint8_t family;
  uint32_t data_len;
  uint32_t data; /* -> uint8_t[] */
};
_Static_assert(sizeof(struct we_addrinfo) == 28, "WasmEdge addrinfo layout");
_Static_assert(sizeof(struct we_sockaddr) == 12, "WasmEdge sockaddr layout");
WE("sock_getaddrinfo") int32_t sock_getaddrinfo(const char *node, uint32_t node_len,
                                                const char *service, uint32_t service_len,
                                                const struct we_addrinfo *hints, uint32_t *res,
                                                uint32_t max, uint32_t *res_len);

#define MAX_AI 4

/* Look up node/service and print "resolve NAME: ERR COUNT [family type ip port]..." */
static int resolve(const char *node, const char *service, uint8_t socktype, uint8_t out[4]) {
  static struct we_addrinfo ai[MAX_AI];
  static struct we_sockaddr sa[MAX_AI];
  static uint8_t data[MAX_AI][26];
  static char canon[MAX_AI][64];
  for (int i = 0; i < MAX_AI; i++) {
    ai[i] = (struct we_addrinfo){.addr = (uint32_t)(uintptr_t)&sa[i],
                                 .canonname = (uint32_t)(uintptr_t)canon[i],
                                 .canonname_len = sizeof canon[i],
                                 .next = i + 1 < MAX_AI ? (uint32_t)(uintptr_t)&ai[i + 1] : 0};
    sa[i] = (struct we_sockaddr){.data_len = sizeof data[i], .data = (uint32_t)(uintptr_t)data[i]};
  }
  struct we_addrinfo hints = {.flags = 2 /* AI_CANONNAME */, .socktype = socktype};
  uint32_t res = (uint32_t)(uintptr_t)&ai[0], n = 0;
  /* As the crate calls it: lengths that count the terminating NUL. */
  int32_t e = sock_getaddrinfo(node, strlen(node) + 1, service, strlen(service) + 1, &hints, &res,
                               MAX_AI, &n);
  printf("resolve %s: %d %u", node, e, e ? 0 : n);
  for (uint32_t i = 0; e == 0 && i < n; i++) {
    const uint8_t *d = data[i]; /* port, then the address (IPv6: after the flow label) */
    char text[INET6_ADDRSTRLEN];
    inet_ntop(ai[i].family == 2 ? AF_INET6 : AF_INET, ai[i].family == 2 ? d + 6 : d + 2, text,
              sizeof text);
    printf(" [%u %u %s %u]", ai[i].family, ai[i].socktype, text, d[0] << 8 | d[1]);
  }
  if (e == 0 && n > 0) printf(" canon %.*s", (int)ai[0].canonname_len, canon[0]);
  printf("\n");
  if (e == 0 && n > 0) memcpy(out, data[0] + 2, 4);
  return e;
}

/* A 128-byte address store: u16 family (1 IPv4), then the address. */
static struct we_addr store(uint8_t buf[128], const uint8_t ip[4]) {
  memset(buf, 0, 128);
  buf[0] = 1;
  if (ip) memcpy(buf + 2, ip, 4);
  return (struct we_addr){(uint32_t)(uintptr_t)buf, 128};
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: wasmedge_v2_client HOST_IP TCP_PORT UDP_PORT [NAME [BADNAME...]]\n");
    return 2;
  }
  int tcp_port = atoi(argv[2]), udp_port = atoi(argv[3]), bad = 0;
  uint8_t ip[4], lo[4];
  bad |= resolve("localhost", "8080", 2, lo) != 0;
  if (resolve(argv[1], "", 0, ip) != 0) return 1;
  uint8_t named[4];
  if (argc > 4) bad |= resolve(argv[4], "http", 2, named) != 0;
  for (int i = 5; i < argc; i++) resolve(argv[i], "", 2, named); /* names that must fail */
  printf("empty node and service: %d\n", resolve("", "", 0, lo));
  resolve("::1", "443", 1, named);
  resolve("fd00::1:2", "", 2, named);

  uint8_t abuf[128], lbuf[128], pbuf[128];
  int32_t fd;
  printf("tcp open_v2 %d\n", sock_open_v2(1, 2, &fd));
  struct we_addr a = store(abuf, ip);
  int32_t e = sock_connect_v2(fd, &a, tcp_port);
  printf("tcp connect_v2 %d\n", e);
  bad |= e;
  const char line[] = "hello over the v2 names\n";
  __wasi_ciovec_t out = {(const uint8_t *)line, sizeof line - 1};
  uint32_t n = 0;
  e = sock_send_v2(fd, &out, 1, 0, &n);
  printf("tcp send_v2 %d %u\n", e, n);
  char echo[64];
  uint32_t got = 0;
  while (got < sizeof line - 1) {
    __wasi_iovec_t in = {(uint8_t *)echo + got, sizeof echo - got};
    uint16_t fl;
    if ((e = sock_recv_v2(fd, &in, 1, 0, &n, &fl)) != 0 || n == 0) break;
    got += n;
  }
  int same = got == sizeof line - 1 && memcmp(echo, line, got) == 0;
  printf("tcp echo %s\n", same ? "same" : "DIFFERENT");
  bad |= !same;
  struct we_addr la = store(lbuf, 0), pa = store(pbuf, 0), shortaddr = {(uint32_t)(uintptr_t)lbuf, 4};
  uint32_t lport = 0, pport = 0;
  e = sock_getlocaladdr_v2sig(fd, &la, &lport);
  printf("local %d family %u port>0 %d\n", e, lbuf[0] | lbuf[1] << 8, lport > 0);
  e = sock_getpeeraddr_v2(fd, &pa, &pport);
  printf("peer %d %u.%u.%u.%u port ok %d\n", e, pbuf[2], pbuf[3], pbuf[4], pbuf[5],
         (int)pport == tcp_port);
  printf("v2 local with a 4-byte buffer: %d\n", sock_getlocaladdr_v2sig(fd, &shortaddr, &lport));
  int32_t nfd;
  printf("accept_v2 on a connection: %d\n", sock_accept_v2(fd, 0, &nfd));
  printf("tcp close %d\n", __wasi_fd_close(fd));

  int32_t u;
  printf("udp open_v2 %d\n", sock_open_v2(1, 1, &u));
  const char dgram[] = "a v2 datagram";
  __wasi_ciovec_t dout = {(const uint8_t *)dgram, sizeof dgram - 1};
  a = store(abuf, ip);
  e = sock_send_to_v2(u, &dout, 1, &a, udp_port, 0, &n);
  printf("udp send_to_v2 %d %u\n", e, n);
  bad |= e;
  uint8_t from[128];
  struct we_addr fa = {(uint32_t)(uintptr_t)from, sizeof from};
  __wasi_iovec_t din = {(uint8_t *)echo, sizeof echo};
  uint16_t port = 0, rofl = 0;
  got = 0;
  e = sock_recv_from_v2sig(u, &din, 1, &fa, 0, &port, &got, &rofl);
  same = e == 0 && got == sizeof dgram - 1 && memcmp(echo, dgram, got) == 0;
  printf("udp recv_from %d %s from %u.%u.%u.%u port ok %d\n", e, same ? "same" : "DIFFERENT",
         from[2], from[3], from[4], from[5], port == udp_port);
  bad |= !same || port != udp_port;
  printf("udp close %d\n", __wasi_fd_close(u));
  return bad ? 1 : 0;
}
