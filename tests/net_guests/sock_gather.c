/*
 * sock_gather: sock_send with many iovecs and with large ones, blocking and
 * not, and sock_recv right after a short read, with every result printed so
 * runtimes can be compared line by line (tests/test_net_wasi.py runs it under
 * wasmkiln and wasmtime 36). It covers the gather write (one writev per
 * sock_send on spt's host sockets, up to 16 iovecs at a time) and the read
 * that answers EAGAIN itself after a short read.
 *
 * The stream the guest sends is pat[] from offset 0 each time (pieces are
 * consecutive slices of it), so the peer (the test) checks every byte. The
 * peer connects once "waiting" is on stderr, sends "go", then:
 *   reads the 40-iovec send, then (after a pause, so the socket fills) the
 *   4 MiB one, then (after a pause) 2 x PAT_LEN of the non-blocking one;
 *   sends "abc", reads "ok\n", pauses, sends "def" (the guest spins on a
 *   non-blocking sock_recv, no poll: it must get it);
 *   reads "ok2\n", sends "ghi", reads "ok3\n", pauses, sends "jkl" and
 *   shuts its side down (blocking reads: "jkl", then the end of the stream).
 */
#include <stdio.h>
#include <string.h>
#include <wasi/api.h>

#define PAT_LEN (8u << 20)
static uint8_t pat[PAT_LEN + 4096];

static __wasi_errno_t wait_for(__wasi_fd_t fd, uint8_t tag) {
  __wasi_subscription_t s;
  memset(&s, 0, sizeof s);
  s.u.tag = tag;
  s.u.u.fd_read.file_descriptor = fd; /* fd_write has the same layout */
  __wasi_event_t ev;
  __wasi_size_t n;
  return __wasi_poll_oneoff(&s, &ev, 1, &n);
}

static void say(__wasi_fd_t c, const char *text) {
  __wasi_ciovec_t v = {(const uint8_t *)text, strlen(text)};
  __wasi_size_t w;
  (void)__wasi_sock_send(c, &v, 1, 0, &w);
}

/* One sock_recv into a 64-byte buffer, printed. */
static void recv_one(__wasi_fd_t c, const char *what) {
  uint8_t buf[64];
  __wasi_iovec_t iov = {buf, sizeof buf};
  __wasi_size_t r = 0;
  __wasi_roflags_t fl;
  __wasi_errno_t e = __wasi_sock_recv(c, &iov, 1, 0, &r, &fl);
  printf("%s %d \"%.*s\"\n", what, e, (int)r, (const char *)buf);
}

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0); /* each line as it happens: a failed run shows where */
  for (size_t i = 0; i < sizeof pat; i++) pat[i] = (uint8_t)(i * 131 + (i >> 8));
  fprintf(stderr, "waiting\n");
  if (wait_for(3, __WASI_EVENTTYPE_FD_READ) != 0) return 1;
  __wasi_fd_t c;
  printf("accept %d\n", __wasi_sock_accept(3, 0, &c)); /* a blocking connection */
  /* The peer speaks first: through passt (kvm), a server's first bytes to a client that
   * has sent nothing yet never arrive: passt completes the handshake with the client's first
   * data (docs/network.md, "a server that speaks first"). */
  recv_one(c, "hello");

  /* 40 iovecs, lengths 0..99 (several empty): more than one gather batch. */
  __wasi_ciovec_t v[40];
  size_t off = 0;
  for (int i = 0; i < 40; i++) {
    size_t len = (size_t)(i * 37 % 100);
    v[i] = (__wasi_ciovec_t){pat + off, len};
    off += len;
  }
  __wasi_size_t w = 0;
  __wasi_errno_t e = __wasi_sock_send(c, v, 40, 0, &w);
  printf("gather40 %d %lu of %lu\n", e, (unsigned long)w, (unsigned long)off);

  /* Blocking, 4 MiB + 101 bytes in three pieces while the peer does not read yet: the
   * socket fills, writes come back short and resume inside a piece. */
  __wasi_ciovec_t big[3] = {{pat, 100}, {pat + 100, 4u << 20}, {pat + 100 + (4u << 20), 1}};
  e = __wasi_sock_send(c, big, 3, 0, &w);
  printf("big %d %lu\n", e, (unsigned long)w);

  /* Non-blocking, 2 x 8 MiB: more than any send buffer takes at once. */
  printf("set nonblock %d\n", __wasi_fd_fdstat_set_flags(c, __WASI_FDFLAGS_NONBLOCK));
  __wasi_ciovec_t two[2] = {{pat, PAT_LEN}, {pat, PAT_LEN}};
  size_t total = 0;
  int first = 1, rounds = 0;
  wait_for(c, __WASI_EVENTTYPE_FD_WRITE); /* room for the first send (lwIP's buffer is small) */
  while (total < 2 * (size_t)PAT_LEN) {
    __wasi_ciovec_t rest[2];
    int n = 0;
    for (int i = 0, skip = (int)(total >= PAT_LEN); i < 2; i++) {
      if (i < skip) continue;
      size_t done = total - (size_t)i * PAT_LEN;
      rest[n++] = (__wasi_ciovec_t){two[i].buf + (i == skip ? done : 0),
                                    two[i].buf_len - (i == skip ? done : 0)};
    }
    e = __wasi_sock_send(c, rest, (size_t)n, 0, &w);
    if (first) printf("nonblock first %d short %d\n", e, e == 0 && w > 0 && w < 2 * PAT_LEN);
    first = 0;
    if (e == __WASI_ERRNO_AGAIN) {
      rounds++;
      if (wait_for(c, __WASI_EVENTTYPE_FD_WRITE) != 0) break;
      continue;
    }
    if (e != 0) break;
    total += w;
  }
  printf("nonblock all %d %lu (waited: %d)\n", e, (unsigned long)total, rounds > 0);

  /* A short read, then reads without a poll between them until the data sent after it
   * comes: an EAGAIN that a runtime answers itself must not repeat forever. */
  if (wait_for(c, __WASI_EVENTTYPE_FD_READ) != 0) return 1;
  recv_one(c, "read");
  say(c, "ok\n");
  uint8_t buf[64];
  __wasi_size_t r = 0;
  __wasi_roflags_t fl;
  long spins = 0;
  do {
    __wasi_iovec_t iov = {buf, sizeof buf};
    e = __wasi_sock_recv(c, &iov, 1, 0, &r, &fl);
  } while (e == __WASI_ERRNO_AGAIN && ++spins < 100000000L);
  printf("spin %d \"%.*s\"\n", e, (int)r, (const char *)buf);

  /* Blocking reads right after a short one: the data that comes later, then the end. */
  printf("set blocking %d\n", __wasi_fd_fdstat_set_flags(c, 0));
  say(c, "ok2\n");
  recv_one(c, "blocking");
  say(c, "ok3\n");
  recv_one(c, "blocking");
  recv_one(c, "at the end");
  printf("close %d\n", __wasi_fd_close(c));
  return 0;
}
