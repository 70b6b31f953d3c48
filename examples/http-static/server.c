/*
 * http-static: a static-file HTTP/1.1 server for WASI preview1.
 *
 *   wasmkiln run -p 8080:80 --dir site::/ server.wasm
 *   wasmtime run -S preview2=n -S tcplisten=127.0.0.1:8080 --dir site::/ server.wasm
 *
 * It serves GET and HEAD (keep-alive, pipelining, single Range requests,
 * content types by extension, 404/405/416) from the first preopened
 * directory, over the first preopened listening socket.
 *
 * Why raw WASI calls instead of open()/accept(): under wasmtime's tcplisten
 * the listener is fd 3, before the directories, and fd_prestat_get on it says
 * EBADF, which ends wasi-libc's preopen scan; so libc's path functions see no
 * directory. The server finds both itself: it looks at fds 3.. for a socket
 * (fd_fdstat_get) and a preopened directory (fd_prestat_get), and opens files
 * relative to that directory with path_open. wasmkiln lays fds out the same way.
 *
 * One thread, all sockets non-blocking, one poll_oneoff per round over the
 * listener, every connection and an idle-timeout clock. Bodies go out in
 * BODY_CHUNK pieces read with fd_pread, so a large file never sits in memory.
 *
 * Options: -v logs each request to stderr; a first non-option argument names
 * the preopen to serve (its guest path, e.g. "/"), else the first one.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wasi/api.h>

#define MAX_CONNS 128
#define REQ_MAX 8192          /* request head, bytes */
#define HEAD_MAX 1024         /* response head, bytes */
#define BODY_CHUNK 65536      /* file bytes read and sent per step */
#define PATH_MAX_LEN 1024
#define IDLE_NS 30000000000ull /* keep-alive connections idle this long are closed */
#define FD_SCAN_MAX 64         /* preopens are looked for among fds 3..3+FD_SCAN_MAX */

typedef struct conn {
  int used;
  __wasi_fd_t fd;
  uint64_t last_ns;           /* last progress, for the idle timeout */
  char req[REQ_MAX];
  size_t req_len;
  char head[HEAD_MAX];        /* response head being sent */
  size_t head_len, head_off;
  __wasi_fd_t file;           /* body source, or (uint32_t)-1 */
  uint64_t body_off, body_left;
  char *buf;                  /* BODY_CHUNK, allocated on first body */
  size_t buf_len, buf_off;
  int keep_alive;             /* after this response */
  int sending;                /* a response is in flight */
} conn;

static conn conns[MAX_CONNS];
static __wasi_fd_t listener, docroot;
static int verbose;

static uint64_t now_ns(void) {
  __wasi_timestamp_t t = 0;
  (void)__wasi_clock_time_get(__WASI_CLOCKID_MONOTONIC, 1000, &t);
  return t;
}

/* ---- finding the preopens ------------------------------------------------------ */

static int find_preopens(const char *want_dir) {
  int have_listener = 0, have_dir = 0;
  for (__wasi_fd_t fd = 3; fd < 3 + FD_SCAN_MAX; fd++) {
    __wasi_fdstat_t st;
    if (__wasi_fd_fdstat_get(fd, &st) != 0) continue;
    if (st.fs_filetype == __WASI_FILETYPE_SOCKET_STREAM && !have_listener) {
      listener = fd;
      have_listener = 1;
      continue;
    }
    __wasi_prestat_t pre;
    if (have_dir || __wasi_fd_prestat_get(fd, &pre) != 0 || pre.tag != __WASI_PREOPENTYPE_DIR)
      continue;
    char name[PATH_MAX_LEN];
    size_t n = pre.u.dir.pr_name_len;
    if (n >= sizeof name || __wasi_fd_prestat_dir_name(fd, (uint8_t *)name, n) != 0) continue;
    name[n] = '\0';
    if (want_dir && strcmp(name, want_dir) != 0) continue;
    docroot = fd;
    have_dir = 1;
  }
  if (!have_listener) {
    fprintf(stderr, "http-static: no listening socket (wasmkiln run -p 8080:80, or "
                    "wasmtime run -S tcplisten=ADDR:PORT)\n");
    return -1;
  }
  if (!have_dir) {
    fprintf(stderr, "http-static: no preopened directory%s%s (give --dir)\n",
            want_dir ? " named " : "", want_dir ? want_dir : "");
    return -1;
  }
  return 0;
}

/* ---- requests ------------------------------------------------------------------ */

static const char *content_type(const char *path) {
  static const struct { const char *ext, *type; } types[] = {
      {".html", "text/html; charset=utf-8"}, {".htm", "text/html; charset=utf-8"},
      {".css", "text/css"}, {".js", "text/javascript"}, {".json", "application/json"},
      {".txt", "text/plain; charset=utf-8"}, {".svg", "image/svg+xml"}, {".png", "image/png"},
      {".jpg", "image/jpeg"}, {".jpeg", "image/jpeg"}, {".gif", "image/gif"},
      {".ico", "image/x-icon"}, {".wasm", "application/wasm"}, {".pdf", "application/pdf"},
      {".xml", "application/xml"}, {".woff2", "font/woff2"},
  };
  const char *dot = strrchr(path, '.');
  if (dot && !strchr(dot, '/'))
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
      if (strcasecmp(dot, types[i].ext) == 0) return types[i].type;
  return "application/octet-stream";
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Request target -> path relative to the docroot: %-decoded, query cut, no
 * "." / ".." segments, no empty segments. 0, or -1 when it is refused. */
static int clean_path(const char *target, size_t len, char *out, size_t cap) {
  size_t o = 0;
  if (len == 0 || target[0] != '/') return -1;
  for (size_t i = 1; i < len && target[i] != '?' && target[i] != '#'; i++) {
    char c = target[i];
    if (c == '%') {
      if (i + 2 >= len || hexval(target[i + 1]) < 0 || hexval(target[i + 2]) < 0) return -1;
      c = (char)(hexval(target[i + 1]) << 4 | hexval(target[i + 2]));
      i += 2;
      if (c == '\0') return -1;
    }
    if (o + 1 >= cap) return -1;
    if (c == '/' && (o == 0 || out[o - 1] == '/')) continue; /* empty segment */
    out[o++] = c;
  }
  out[o] = '\0';
  /* Refuse dot segments: the WASI runtime would refuse an escape anyway,
   * but "a/../b" is not worth supporting. */
  for (char *seg = out; *seg;) {
    char *end = strchr(seg, '/');
    size_t n = end ? (size_t)(end - seg) : strlen(seg);
    if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.')) return -1;
    seg += n + (end != NULL);
  }
  if (o > 0 && out[o - 1] == '/') out[--o] = '\0';
  return 0;
}

/* Open path under the docroot; a directory serves its index.html. */
static __wasi_errno_t open_file(char *path, size_t cap, __wasi_fd_t *fd, uint64_t *size) {
  for (int attempt = 0; attempt < 2; attempt++) {
    const char *p = path[0] ? path : ".";
    __wasi_errno_t e = __wasi_path_open(docroot, __WASI_LOOKUPFLAGS_SYMLINK_FOLLOW, p, 0,
                                        __WASI_RIGHTS_FD_READ | __WASI_RIGHTS_FD_FILESTAT_GET, 0,
                                        0, fd);
    if (e != 0) return e;
    __wasi_filestat_t st;
    e = __wasi_fd_filestat_get(*fd, &st);
    if (e != 0) {
      (void)__wasi_fd_close(*fd);
      return e;
    }
    if (st.filetype == __WASI_FILETYPE_REGULAR_FILE) {
      *size = st.size;
      return 0;
    }
    (void)__wasi_fd_close(*fd);
    if (st.filetype != __WASI_FILETYPE_DIRECTORY || attempt > 0) return __WASI_ERRNO_NOENT;
    size_t n = strlen(path);
    const char *idx = n ? "/index.html" : "index.html";
    if (n + strlen(idx) + 1 > cap) return __WASI_ERRNO_NAMETOOLONG;
    strcpy(path + n, idx);
  }
  return __WASI_ERRNO_NOENT;
}

/* The value of header `name` (case-insensitive) in head, or NULL; *len its length. */
static const char *header(const char *head, size_t head_len, const char *name, size_t *len) {
  size_t nl = strlen(name);
  const char *end = head + head_len;
  const char *line = memchr(head, '\n', head_len);
  while (line && line + 1 < end) {
    line++;
    const char *eol = memchr(line, '\n', (size_t)(end - line));
    if (!eol) break;
    if ((size_t)(eol - line) > nl && strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
      const char *v = line + nl + 1;
      while (v < eol && (*v == ' ' || *v == '\t')) v++;
      const char *ve = eol;
      while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t')) ve--;
      *len = (size_t)(ve - v);
      return v;
    }
    line = eol;
  }
  return NULL;
}

static int has_token(const char *v, size_t len, const char *tok) {
  size_t tl = strlen(tok);
  for (size_t i = 0; i + tl <= len; i++)
    if (strncasecmp(v + i, tok, tl) == 0) return 1;
  return 0;
}

/* Parse "bytes=A-B" / "bytes=A-" / "bytes=-N" against size. 1 a range
 * (*first, *last), 0 ignore the header (absent, malformed, several ranges),
 * -1 unsatisfiable. */
static int parse_range(const char *v, size_t len, uint64_t size, uint64_t *first,
                       uint64_t *last) {
  if (len < 7 || strncmp(v, "bytes=", 6) != 0 || memchr(v, ',', len)) return 0;
  size_t i = 6;
  uint64_t a = 0, b = 0;
  int have_a = 0, have_b = 0;
  for (; i < len && v[i] >= '0' && v[i] <= '9'; i++, have_a = 1) {
    if (a > (UINT64_MAX - 9) / 10) return 0;
    a = a * 10 + (uint64_t)(v[i] - '0');
  }
  if (i >= len || v[i] != '-') return 0;
  for (i++; i < len && v[i] >= '0' && v[i] <= '9'; i++, have_b = 1) {
    if (b > (UINT64_MAX - 9) / 10) return 0;
    b = b * 10 + (uint64_t)(v[i] - '0');
  }
  if (i != len || (!have_a && !have_b)) return 0;
  if (!have_a) { /* suffix: the last b bytes */
    if (b == 0 || size == 0) return -1;
    *first = b >= size ? 0 : size - b;
    *last = size - 1;
    return 1;
  }
  if (a >= size) return -1;
  if (have_b && b < a) return 0;
  *first = a;
  *last = !have_b || b >= size ? size - 1 : b;
  return 1;
}

static void set_head(conn *c, int status, const char *reason, const char *type, uint64_t length,
                     const char *extra) {
  int n = snprintf(c->head, sizeof c->head,
                   "HTTP/1.1 %d %s\r\nServer: http-static\r\nContent-Type: %s\r\n"
                   "Content-Length: %llu\r\nAccept-Ranges: bytes\r\n%s%s\r\n",
                   status, reason, type, (unsigned long long)length, extra,
                   c->keep_alive ? "" : "Connection: close\r\n");
  c->head_len = n < 0 ? 0 : (size_t)n >= sizeof c->head ? sizeof c->head - 1 : (size_t)n;
  c->head_off = 0;
}

/* A short text response whose body fits in the head buffer. */
static void simple_response(conn *c, int status, const char *reason, int head_only,
                            const char *extra) {
  char body[128];
  int bn = snprintf(body, sizeof body, "%d %s\n", status, reason);
  set_head(c, status, reason, "text/plain; charset=utf-8", (uint64_t)bn, extra);
  if (!head_only && c->head_len + (size_t)bn < sizeof c->head) {
    memcpy(c->head + c->head_len, body, (size_t)bn);
    c->head_len += (size_t)bn;
  }
}

/* Handle the request whose head is c->req[0..head_len). */
static void handle_request(conn *c, size_t head_len) {
  const char *r = c->req;
  const char *sp1 = memchr(r, ' ', head_len);
  const char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(r + head_len - sp1 - 1)) : NULL;
  const char *eol = memchr(r, '\r', head_len);
  c->file = (__wasi_fd_t)-1;
  c->body_left = 0;
  c->sending = 1;
  if (!sp1 || !sp2 || !eol || sp2 > eol) {
    c->keep_alive = 0;
    simple_response(c, 400, "Bad Request", 0, "");
    return;
  }
  int http10 = (size_t)(eol - sp2 - 1) == 8 && strncmp(sp2 + 1, "HTTP/1.0", 8) == 0;
  size_t cl;
  const char *conn_hdr = header(r, head_len, "Connection", &cl);
  if (http10)
    c->keep_alive = conn_hdr && has_token(conn_hdr, cl, "keep-alive");
  else
    c->keep_alive = !(conn_hdr && has_token(conn_hdr, cl, "close"));
  size_t ml = (size_t)(sp1 - r);
  int head_only = ml == 4 && strncmp(r, "HEAD", 4) == 0;
  if (!head_only && !(ml == 3 && strncmp(r, "GET", 3) == 0)) {
    simple_response(c, 405, "Method Not Allowed", 0, "Allow: GET, HEAD\r\n");
    return;
  }
  char path[PATH_MAX_LEN];
  if (clean_path(sp1 + 1, (size_t)(sp2 - sp1 - 1), path, sizeof path - 16) != 0) {
    simple_response(c, 400, "Bad Request", head_only, "");
    return;
  }
  __wasi_fd_t fd;
  uint64_t size;
  __wasi_errno_t e = open_file(path, sizeof path, &fd, &size);
  if (e != 0) {
    if (e == __WASI_ERRNO_NOENT || e == __WASI_ERRNO_NOTDIR || e == __WASI_ERRNO_NAMETOOLONG)
      simple_response(c, 404, "Not Found", head_only, "");
    else if (e == __WASI_ERRNO_ACCES || e == __WASI_ERRNO_NOTCAPABLE || e == __WASI_ERRNO_PERM)
      simple_response(c, 403, "Forbidden", head_only, "");
    else
      simple_response(c, 500, "Internal Server Error", head_only, "");
    return;
  }
  uint64_t first = 0, last = size ? size - 1 : 0;
  size_t rl;
  const char *range = header(r, head_len, "Range", &rl);
  int rr = range ? parse_range(range, rl, size, &first, &last) : 0;
  char extra[128];
  if (rr < 0) {
    (void)__wasi_fd_close(fd);
    snprintf(extra, sizeof extra, "Content-Range: bytes */%llu\r\n", (unsigned long long)size);
    simple_response(c, 416, "Range Not Satisfiable", head_only, extra);
    return;
  }
  uint64_t length = size == 0 ? 0 : last - first + 1;
  if (rr > 0) {
    snprintf(extra, sizeof extra, "Content-Range: bytes %llu-%llu/%llu\r\n",
             (unsigned long long)first, (unsigned long long)last, (unsigned long long)size);
    set_head(c, 206, "Partial Content", content_type(path), length, extra);
  } else {
    set_head(c, 200, "OK", content_type(path), length, "");
  }
  if (head_only || length == 0) {
    (void)__wasi_fd_close(fd);
    return;
  }
  c->file = fd;
  c->body_off = first;
  c->body_left = length;
  c->buf_len = c->buf_off = 0;
}

/* ---- connections ---------------------------------------------------------------- */

static void conn_close(conn *c) {
  if (c->file != (__wasi_fd_t)-1) (void)__wasi_fd_close(c->file);
  (void)__wasi_fd_close(c->fd);
  free(c->buf);
  memset(c, 0, sizeof *c);
}

static void log_request(const conn *c) {
  if (!verbose) return;
  const char *eol = memchr(c->req, '\r', c->req_len);
  fprintf(stderr, "http-static: fd %u %.*s\n", c->fd, eol ? (int)(eol - c->req) : 0, c->req);
}

/* If a full request head is buffered, start its response. */
static void maybe_start(conn *c) {
  if (c->sending || c->req_len < 4) return;
  for (size_t i = 3; i < c->req_len; i++) {
    if (c->req[i] == '\n' && c->req[i - 1] == '\r' && c->req[i - 2] == '\n' &&
        c->req[i - 3] == '\r') {
      log_request(c);
      handle_request(c, i + 1);
      memmove(c->req, c->req + i + 1, c->req_len - i - 1); /* pipelined requests stay */
      c->req_len -= i + 1;
      return;
    }
  }
  if (c->req_len == sizeof c->req) {
    c->keep_alive = 0;
    c->file = (__wasi_fd_t)-1;
    c->sending = 1;
    c->req_len = 0;
    simple_response(c, 431, "Request Header Fields Too Large", 0, "");
  }
}

/* Read what the client sent. 0 ok, -1 the connection is done. */
static int conn_read(conn *c) {
  while (c->req_len < sizeof c->req) {
    __wasi_iovec_t iov = {(uint8_t *)c->req + c->req_len, sizeof c->req - c->req_len};
    __wasi_size_t n;
    __wasi_roflags_t fl;
    __wasi_errno_t e = __wasi_sock_recv(c->fd, &iov, 1, 0, &n, &fl);
    if (e == __WASI_ERRNO_AGAIN) break;
    if (e != 0 || n == 0) return -1; /* reset, or the client closed */
    c->req_len += n;
    c->last_ns = now_ns();
  }
  maybe_start(c);
  return 0;
}

/* Refill the body buffer from the file when it is empty. 0 ok, -1 error. */
static int refill(conn *c) {
  if (c->buf_off < c->buf_len || c->body_left == 0) return 0;
  if (!c->buf && !(c->buf = malloc(BODY_CHUNK))) return -1;
  size_t want = c->body_left < BODY_CHUNK ? (size_t)c->body_left : BODY_CHUNK;
  __wasi_iovec_t iov = {(uint8_t *)c->buf, want};
  __wasi_size_t n;
  if (__wasi_fd_pread(c->file, &iov, 1, c->body_off, &n) != 0 || n == 0) return -1;
  c->buf_len = n;
  c->buf_off = 0;
  c->body_off += n;
  c->body_left -= n;
  return 0;
}

/* Send as much of the response as the socket takes. 0 ok, -1 close.
 * The head and the first body bytes leave in one sock_send: sent apart, the
 * body of a small file would wait in Nagle's algorithm for the ACK of the
 * head, which the client delays (40 ms on Linux), and preview1 has no
 * TCP_NODELAY to ask for. */
static int conn_write(conn *c) {
  while (c->sending) {
    if (refill(c) != 0) return -1;
    __wasi_ciovec_t iov[2];
    int n_iov = 0;
    if (c->head_off < c->head_len)
      iov[n_iov++] = (__wasi_ciovec_t){(const uint8_t *)c->head + c->head_off,
                                       c->head_len - c->head_off};
    if (c->buf_off < c->buf_len)
      iov[n_iov++] = (__wasi_ciovec_t){(const uint8_t *)c->buf + c->buf_off,
                                       c->buf_len - c->buf_off};
    if (n_iov > 0) {
      __wasi_size_t n;
      __wasi_errno_t e = __wasi_sock_send(c->fd, iov, (size_t)n_iov, 0, &n);
      if (e == __WASI_ERRNO_AGAIN) return 0;
      if (e != 0) return -1;
      size_t h = c->head_len - c->head_off;
      if (n <= h) {
        c->head_off += n;
      } else {
        c->head_off = c->head_len;
        c->buf_off += n - h;
      }
      c->last_ns = now_ns();
      continue;
    }
    /* Response complete. */
    if (c->file != (__wasi_fd_t)-1) {
      (void)__wasi_fd_close(c->file);
      c->file = (__wasi_fd_t)-1;
    }
    c->sending = 0;
    c->buf_len = c->buf_off = 0;
    if (!c->keep_alive) return -1;
    maybe_start(c); /* a pipelined request may be waiting */
  }
  return 0;
}

static void accept_all(void) {
  for (;;) {
    conn *c = NULL;
    for (int i = 0; i < MAX_CONNS && !c; i++)
      if (!conns[i].used) c = &conns[i];
    if (!c) return; /* full: the rest wait in the backlog */
    __wasi_fd_t fd;
    if (__wasi_sock_accept(listener, __WASI_FDFLAGS_NONBLOCK, &fd) != 0) return;
    memset(c, 0, sizeof *c);
    c->used = 1;
    c->fd = fd;
    c->file = (__wasi_fd_t)-1;
    c->last_ns = now_ns();
  }
}

int main(int argc, char **argv) {
  const char *want_dir = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-v") == 0)
      verbose = 1;
    else
      want_dir = argv[i];
  }
  if (find_preopens(want_dir) != 0) return 1;
  fprintf(stderr, "http-static: serving on fd %u from fd %u\n", listener, docroot);

  static __wasi_subscription_t subs[MAX_CONNS + 2];
  static __wasi_event_t events[MAX_CONNS + 2];
  for (;;) {
    size_t ns = 0;
    int free_slot = 0;
    for (int i = 0; i < MAX_CONNS; i++) {
      conn *c = &conns[i];
      if (!c->used) {
        free_slot = 1;
        continue;
      }
      __wasi_subscription_t *s = &subs[ns++];
      memset(s, 0, sizeof *s);
      s->userdata = (uint64_t)i;
      s->u.tag = c->sending ? __WASI_EVENTTYPE_FD_WRITE : __WASI_EVENTTYPE_FD_READ;
      s->u.u.fd_read.file_descriptor = c->fd; /* fd_write has the same layout */
    }
    if (free_slot) {
      __wasi_subscription_t *s = &subs[ns++];
      memset(s, 0, sizeof *s);
      s->userdata = UINT64_MAX;
      s->u.tag = __WASI_EVENTTYPE_FD_READ;
      s->u.u.fd_read.file_descriptor = listener;
    }
    __wasi_subscription_t *t = &subs[ns++]; /* the idle sweep */
    memset(t, 0, sizeof *t);
    t->userdata = UINT64_MAX - 1;
    t->u.tag = __WASI_EVENTTYPE_CLOCK;
    t->u.u.clock.id = __WASI_CLOCKID_MONOTONIC;
    t->u.u.clock.timeout = IDLE_NS / 4;
    __wasi_size_t nev = 0;
    if (__wasi_poll_oneoff(subs, events, ns, &nev) != 0) {
      fprintf(stderr, "http-static: poll_oneoff failed\n");
      return 1;
    }
    for (__wasi_size_t k = 0; k < nev; k++) {
      uint64_t u = events[k].userdata;
      if (u == UINT64_MAX) {
        accept_all();
      } else if (u < MAX_CONNS) {
        conn *c = &conns[u];
        if (!c->used) continue;
        int rc = c->sending ? conn_write(c) : conn_read(c);
        if (rc == 0 && c->sending) rc = conn_write(c); /* a request just completed */
        if (rc != 0) conn_close(c);
      }
    }
    uint64_t now = now_ns();
    for (int i = 0; i < MAX_CONNS; i++)
      if (conns[i].used && now - conns[i].last_ns > IDLE_NS) conn_close(&conns[i]);
  }
}
