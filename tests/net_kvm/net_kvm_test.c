/*
 * net_kvm_test.c - a stand-in wk_main that serves HTTP over wk/net.h, to check
 * the kvm platform's virtio-net driver and the lwIP network layer alone (no
 * runtime core, no WASI). tests/test_net_kvm.py boots it under QEMU with a
 * slirp hostfwd port and fetches from it.
 *
 * argv: prog [SECONDS]   serve for at most SECONDS (default 120), then exit 3.
 * Requests (HTTP/1.1, keep-alive, up to CONNS_MAX connections at once):
 *   GET /N      200, a body of N bytes (N <= 1 GiB): byte i is i % 251
 *   GET /exit   200 "bye", then the kernel prints its counters and exits 0
 *   anything else: 400 and the connection is closed.
 * UDP port 7: every datagram is sent back to its sender (echo).
 * stdout: "net up ip=A.B.C.D/N" when the address is configured, then
 * "listening port 80"; at exit "served R requests, B body bytes".
 */
#include <stddef.h>
#include <stdint.h>

#include "instance_core.h" /* wk_kmem_init: lwIP's memory is the core's kernel heap */
#include "wk/errno.h"
#include "wk/net.h"
#include "wk/platform.h"

#define CONNS_MAX 64
#define REQ_MAX 2048
#define PAT_MOD 251
#define CHUNK 65536
#define BODY_MAX (1ull << 30)

static uint8_t pattern[CHUNK + PAT_MOD];

typedef struct conn {
  int s; /* -1: slot free */
  char req[REQ_MAX];
  size_t req_len;
  char hdr[128];
  size_t hdr_len, hdr_sent;
  uint64_t body_len, body_sent;
  int sending, closing_after;
} conn;

static conn conns[CONNS_MAX];
static uint64_t served, body_bytes;
static int exit_requested;

/* ---- tiny helpers ---------------------------------------------------------------- */

static size_t slen(const char *s) {
  size_t n = 0;
  while (s[n] != '\0') {
    n++;
  }
  return n;
}

static void out(const char *s) {
  (void)wk_plat_console_write(1, s, slen(s));
}

static char *fmt_u64(char *p, uint64_t v) {
  char d[21];
  int n = 0;
  do {
    d[n++] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (n > 0) {
    *p++ = d[--n];
  }
  return p;
}

static char *fmt_str(char *p, const char *s) {
  while (*s != '\0') {
    *p++ = *s++;
  }
  return p;
}

static void out_u64(uint64_t v) {
  char b[24];
  *fmt_u64(b, v) = '\0';
  out(b);
}

static int starts(const char *s, size_t n, const char *p) {
  size_t i = 0;
  for (; p[i] != '\0'; i++) {
    if (i >= n || s[i] != p[i]) {
      return 0;
    }
  }
  return 1;
}

/* ---- HTTP ---------------------------------------------------------------------------- */

static void conn_close(conn *c) {
  (void)wk_net_close(c->s);
  c->s = -1;
}

/* A complete request head is in c->req[0..end): set up the response. */
static void start_response(conn *c, size_t end) {
  const char *r = c->req;
  uint64_t n = 0;
  int ok = 0;
  const char *body_hint = "";
  if (starts(r, end, "GET /exit ")) {
    exit_requested = 1;
    ok = 1;
    n = 3;
    body_hint = "bye";
  } else if (starts(r, end, "GET /")) {
    size_t i = 5;
    while (i < end && r[i] >= '0' && r[i] <= '9' && n <= BODY_MAX) {
      n = n * 10 + (uint64_t)(r[i] - '0');
      i++;
    }
    ok = i > 5 && i < end && r[i] == ' ' && n <= BODY_MAX;
  }
  char *p = c->hdr;
  if (ok) {
    p = fmt_str(p, "HTTP/1.1 200 OK\r\nContent-Length: ");
    p = fmt_u64(p, n);
    p = fmt_str(p, "\r\nContent-Type: application/octet-stream\r\n\r\n");
    c->body_len = n;
    c->closing_after = 0;
  } else {
    p = fmt_str(p, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    c->body_len = 0;
    c->closing_after = 1;
  }
  if (body_hint[0] != '\0') {
    p = fmt_str(p, body_hint);
    c->body_len = 0;
  }
  c->hdr_len = (size_t)(p - c->hdr);
  c->hdr_sent = 0;
  c->body_sent = 0;
  c->sending = 1;
  served++;
  /* Drop the request head; keep any pipelined bytes after it. */
  for (size_t i = end; i < c->req_len; i++) {
    c->req[i - end] = c->req[i];
  }
  c->req_len -= end;
}

/* Find "\r\n\r\n" in the request buffer: the end of the head, or 0. */
static size_t head_end(const conn *c) {
  for (size_t i = 3; i < c->req_len; i++) {
    if (c->req[i - 3] == '\r' && c->req[i - 2] == '\n' && c->req[i - 1] == '\r' &&
        c->req[i] == '\n') {
      return i + 1;
    }
  }
  return 0;
}

/* Move one connection forward; returns 1 if it did anything. */
static int conn_step(conn *c) {
  int progress = 0;
  if (c->sending) {
    while (c->hdr_sent < c->hdr_len) {
      long n = wk_net_send(c->s, c->hdr + c->hdr_sent, c->hdr_len - c->hdr_sent);
      if (n == -WK_EAGAIN) {
        return progress;
      }
      if (n < 0) {
        conn_close(c);
        return 1;
      }
      c->hdr_sent += (size_t)n;
      progress = 1;
    }
    while (c->body_sent < c->body_len) {
      uint64_t left = c->body_len - c->body_sent;
      size_t want = left < CHUNK ? (size_t)left : CHUNK;
      long n = wk_net_send(c->s, pattern + c->body_sent % PAT_MOD, want);
      if (n == -WK_EAGAIN) {
        return progress;
      }
      if (n < 0) {
        conn_close(c);
        return 1;
      }
      c->body_sent += (uint64_t)n;
      body_bytes += (uint64_t)n;
      progress = 1;
    }
    c->sending = 0;
    if (c->closing_after) {
      conn_close(c);
      return 1;
    }
  }
  for (;;) {
    size_t end = head_end(c);
    if (end != 0) {
      start_response(c, end);
      return 1;
    }
    if (c->req_len == REQ_MAX) {
      c->req_len = 0;
      start_response(c, 0); /* too long: 400 */
      return 1;
    }
    long n = wk_net_recv(c->s, c->req + c->req_len, REQ_MAX - c->req_len);
    if (n == -WK_EAGAIN) {
      return progress;
    }
    if (n <= 0) {
      conn_close(c); /* EOF or error */
      return 1;
    }
    c->req_len += (size_t)n;
    progress = 1;
  }
}

/* ---- main -------------------------------------------------------------------------- */

int wk_main(const wk_bootinfo *bi) {
  uint64_t seconds = 120;
  if (bi->argc > 1) {
    seconds = 0;
    for (const char *p = bi->argv[1]; *p >= '0' && *p <= '9'; p++) {
      seconds = seconds * 10 + (uint64_t)(*p - '0');
    }
  }
  for (size_t i = 0; i < sizeof pattern; i++) {
    pattern[i] = (uint8_t)(i % PAT_MOD);
  }
  wk_kmem_init((uintptr_t)bi->mem_base, (uintptr_t)bi->mem_base + bi->mem_size, NULL);
  for (int i = 0; i < CONNS_MAX; i++) {
    conns[i].s = -1;
  }

  int rc = wk_net_init();
  if (rc < 0) {
    out("net init failed: -");
    out_u64((uint64_t)-rc);
    out("\n");
    return 1;
  }
  if (wk_net_wait_ready(10000000000ull) < 0) {
    out("no address after 10 s\n");
    return 2;
  }
  wk_net_addr ip;
  unsigned prefix = 0;
  (void)wk_net_ready(&ip, &prefix);
  char line[64];
  char *p = fmt_str(line, "net up ip=");
  for (int i = 0; i < 4; i++) {
    p = fmt_u64(p, ip.addr[i]);
    *p++ = i < 3 ? '.' : '/';
  }
  p = fmt_u64(p, prefix);
  p = fmt_str(p, "\n");
  *p = '\0';
  out(line);

  wk_net_addr any = {.family = WK_NET_AF_INET, .port = 80};
  int ls = wk_net_tcp_listen(&any, WK_NET_BACKLOG_MAX);
  if (ls < 0) {
    out("listen failed\n");
    return 1;
  }
  wk_net_addr echo_addr = {.family = WK_NET_AF_INET, .port = 7};
  int us = wk_net_udp_open(&echo_addr);
  if (us < 0) {
    out("udp open failed\n");
    return 1;
  }
  out("listening port 80\n");

  uint64_t deadline = wk_plat_clock_monotonic() + seconds * 1000000000ull;
  int busy = 1;
  while (!exit_requested) {
    if (wk_plat_clock_monotonic() > deadline) {
      out("time limit reached\n");
      return 3;
    }
    /* As a server should: poll while there is work, wait (the vCPU halts until
     * the NIC's interrupt or a timer) when the last round did nothing. */
    if (busy) {
      (void)wk_net_poll();
    } else {
      (void)wk_net_wait(WK_NET_IDLE_WAIT_NS);
    }
    busy = 0;
    for (int k = 0; k < 16; k++) {
      static uint8_t dgram[9000]; /* a jumbo frame's datagram (test_jumbo_frames_through_passt) */
      wk_net_addr from;
      long n = wk_net_udp_recvfrom(us, dgram, sizeof dgram, &from);
      if (n < 0) {
        break;
      }
      (void)wk_net_udp_sendto(us, dgram, n < (long)sizeof dgram ? (size_t)n : sizeof dgram, &from);
      busy = 1;
    }
    for (;;) {
      int s = wk_net_tcp_accept(ls, NULL);
      if (s < 0) {
        break;
      }
      busy = 1;
      int slot = -1;
      for (int i = 0; i < CONNS_MAX && slot < 0; i++) {
        if (conns[i].s < 0) {
          slot = i;
        }
      }
      if (slot < 0) {
        (void)wk_net_close(s);
        continue;
      }
      conns[slot].s = s;
      conns[slot].req_len = 0;
      conns[slot].sending = 0;
    }
    for (int i = 0; i < CONNS_MAX; i++) {
      if (conns[i].s >= 0 && conn_step(&conns[i])) {
        busy = 1;
      }
    }
  }
  /* Let the "bye" response and FINs go out before stopping the machine. */
  for (int i = 0; i < CONNS_MAX; i++) {
    if (conns[i].s >= 0) {
      for (int k = 0; k < 1000 && conns[i].sending; k++) {
        (void)wk_net_poll();
        (void)conn_step(&conns[i]);
      }
      conn_close(&conns[i]);
    }
  }
  uint64_t t0 = wk_plat_clock_monotonic();
  while (wk_plat_clock_monotonic() - t0 < 200000000ull) {
    (void)wk_net_poll();
  }
  out("served ");
  out_u64(served);
  out(" requests, ");
  out_u64(body_bytes);
  out(" body bytes\n");
  return 0;
}
