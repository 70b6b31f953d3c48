/*
 * sock_probe: the preview1 socket calls on a preopened listener, step by step,
 * with every result printed, so runtimes can be compared line by line
 * (tests/test_net_wasi.py runs it under wasmkiln and under wasmtime 36).
 *
 * The peer (the test) connects once "waiting" is on stderr, sends "ping\n",
 * reads "pong\nmore\n", sends "bye\n", shuts its side down and reads to EOF.
 */
#include <stdio.h>
#include <string.h>
#include <wasi/api.h>

static __wasi_errno_t poll2(__wasi_fd_t fd, uint64_t timeout_ns, __wasi_event_t *ev,
                            __wasi_size_t *n) {
  __wasi_subscription_t s[2];
  memset(s, 0, sizeof s);
  s[0].userdata = 1;
  s[0].u.tag = __WASI_EVENTTYPE_FD_READ;
  s[0].u.u.fd_read.file_descriptor = fd;
  s[1].userdata = 2;
  s[1].u.tag = __WASI_EVENTTYPE_CLOCK;
  s[1].u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
  s[1].u.u.clock.timeout = timeout_ns;
  return __wasi_poll_oneoff(s, ev, timeout_ns ? 2 : 1, n);
}

static void show(const char *what, const uint8_t *buf, size_t n) {
  printf("%s \"", what);
  for (size_t i = 0; i < n; i++) printf(buf[i] == '\n' ? "\\n" : "%c", buf[i]);
  printf("\"\n");
}

int main(void) {
  __wasi_fdstat_t st;
  __wasi_prestat_t pre;
  printf("fdstat(3) %d type %d nonblock %d\n", __wasi_fd_fdstat_get(3, &st), st.fs_filetype,
         !!(st.fs_flags & __WASI_FDFLAGS_NONBLOCK));
  printf("prestat(3) %d\n", __wasi_fd_prestat_get(3, &pre));
  __wasi_fd_t c = 0;
  printf("accept, nobody waiting: %d\n", __wasi_sock_accept(3, 0, &c));
  __wasi_event_t ev[2];
  __wasi_size_t n = 0;
  __wasi_errno_t e = poll2(3, 20000000, ev, &n);
  printf("poll(listener, 20 ms) %d: %lu event(s), first userdata %llu type %d\n", e, n,
         (unsigned long long)ev[0].userdata, ev[0].type);
  fprintf(stderr, "waiting\n");
  e = poll2(3, 0, ev, &n);
  printf("poll(listener) %d: %lu event(s), userdata %llu type %d error %d\n", e, n,
         (unsigned long long)ev[0].userdata, ev[0].type, ev[0].error);
  printf("accept %d\n", __wasi_sock_accept(3, 0, &c));
  printf("fdstat(conn) %d type %d nonblock %d\n", __wasi_fd_fdstat_get(c, &st),
         st.fs_filetype, !!(st.fs_flags & __WASI_FDFLAGS_NONBLOCK));

  uint8_t buf[64];
  size_t got = 0;
  while (got < 5) { /* blocking fd_read: returns what has arrived */
    __wasi_iovec_t iov = {buf + got, sizeof buf - got};
    __wasi_size_t r;
    if ((e = __wasi_fd_read(c, &iov, 1, &r)) != 0 || r == 0) break;
    got += r;
  }
  show("fd_read", buf, got);
  __wasi_ciovec_t out = {(const uint8_t *)"pong\n", 5};
  __wasi_size_t w = 0;
  e = __wasi_fd_write(c, &out, 1, &w);
  printf("fd_write %d %lu\n", e, w);
  out.buf = (const uint8_t *)"more\n";
  e = __wasi_sock_send(c, &out, 1, 0, &w);
  printf("sock_send %d %lu\n", e, w);
  printf("set nonblock %d\n", __wasi_fd_fdstat_set_flags(c, __WASI_FDFLAGS_NONBLOCK));

  /* Read "bye\n" and then the end of the stream, waiting in poll_oneoff. */
  got = 0;
  int eof = 0, rounds = 0;
  while (!eof && rounds++ < 100) {
    e = poll2(c, 10000000000ull, ev, &n);
    if (e != 0 || n == 0 || ev[0].userdata != 1) {
      printf("poll(conn) %d n %lu userdata %llu\n", e, n, (unsigned long long)ev[0].userdata);
      break;
    }
    for (;;) {
      __wasi_iovec_t iov = {buf + got, sizeof buf - got};
      __wasi_size_t r;
      __wasi_roflags_t fl;
      e = __wasi_sock_recv(c, &iov, 1, 0, &r, &fl);
      if (e == __WASI_ERRNO_AGAIN) break;
      if (e != 0 || r == 0) {
        eof = e == 0;
        break;
      }
      got += r;
    }
  }
  show("sock_recv until EOF", buf, got);
  printf("eof %d\n", eof);
  printf("shutdown(conn, WR) %d\n", __wasi_sock_shutdown(c, __WASI_SDFLAGS_WR));
  printf("sock_accept(stdout) %d\n", __wasi_sock_accept(1, 0, &c));
  printf("sock_recv(99) %d\n", __wasi_sock_recv(99, 0, 0, 0, (__wasi_size_t *)buf,
                                                 (__wasi_roflags_t *)(buf + 8)));
  printf("close %d\n", __wasi_fd_close(c));
  printf("close again %d\n", __wasi_fd_close(c));
  return 0;
}
