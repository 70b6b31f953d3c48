/*
 * bench/native/close_server.c - the ceiling for bench/spt_wait.py: a native
 * Linux server doing what examples/http-static does per connection, with
 * nothing else: one thread, non-blocking sockets, one ppoll per round over the
 * listener and the open connections, accept4 until EAGAIN, one read, one
 * writev of head and body, close. It answers every request with a fixed body
 * and closes the connection (wrk's "Connection: close" load).
 *
 * SPIN_US > 0 makes each wait ask again with a zero timeout for up to that
 * long before it sleeps (as the spt runtime's host-socket wait does), so the
 * same program measures both ways of waiting.
 *
 * usage: close_server PORT SPIN_US BODY_BYTES   (listens on 127.0.0.1:PORT)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 256

static long now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1000000L + t.tv_nsec / 1000;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: close_server PORT SPIN_US BODY_BYTES\n");
    return 2;
  }
  int port = atoi(argv[1]), body_len = atoi(argv[3]);
  long spin_us = atol(argv[2]);
  if (port <= 0 || port > 65535 || spin_us < 0 || body_len < 0 || body_len > (1 << 24)) {
    fprintf(stderr, "close_server: bad argument\n");
    return 2;
  }
  int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(l, (struct sockaddr *)&a, sizeof a) != 0 || listen(l, SOMAXCONN) != 0) {
    perror("close_server: listen");
    return 1;
  }
  setsockopt(l, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); /* accepted sockets inherit it */
  char *body = malloc((size_t)body_len + 1);
  if (!body) return 1;
  memset(body, 'x', (size_t)body_len);
  char head[128];
  int head_len = snprintf(head, sizeof head,
                          "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
                          body_len);
  fprintf(stderr, "close_server: serving on 127.0.0.1:%d, spin %ld us\n", port, spin_us);
  static struct pollfd p[MAX_CONNS + 1];
  static int conns[MAX_CONNS];
  static char buf[8192];
  int nconns = 0;
  for (;;) {
    int n = 0;
    p[n++] = (struct pollfd){.fd = l, .events = POLLIN};
    for (int i = 0; i < nconns; i++) p[n++] = (struct pollfd){.fd = conns[i], .events = POLLIN};
    struct timespec zero = {0, 0}, second = {1, 0};
    int r = ppoll(p, (nfds_t)n, &zero, NULL);
    for (long t0 = now_us(); r == 0 && spin_us > 0 && now_us() - t0 < spin_us;)
      r = ppoll(p, (nfds_t)n, &zero, NULL);
    if (r == 0) r = ppoll(p, (nfds_t)n, &second, NULL);
    if (r <= 0) continue;
    for (int i = 1; i < n; i++) {
      if (!p[i].revents) continue;
      if (read(p[i].fd, buf, sizeof buf) > 0) {
        struct iovec iov[2] = {{head, (size_t)head_len}, {body, (size_t)body_len}};
        (void)!writev(p[i].fd, iov, 2);
      }
      close(p[i].fd);
      for (int j = 0; j < nconns; j++) {
        if (conns[j] == p[i].fd) {
          conns[j] = conns[--nconns];
          break;
        }
      }
    }
    while (p[0].revents && nconns < MAX_CONNS) {
      int fd = accept4(l, NULL, NULL, SOCK_NONBLOCK);
      if (fd < 0) break;
      conns[nconns++] = fd;
    }
  }
}
