/*
 * core/fmt_core.c - a tiny bounded formatter for runtime messages.
 *
 * Not printf: only what messages need (%s %c %d %u %x, l/z for 64-bit, %p,
 * %%). Output past cap-1 bytes is dropped, and the result is NUL-terminated.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "wk/core.h"
#include "wk/platform.h"

typedef struct {
  char *buf;
  size_t cap; /* > 0 */
  size_t len; /* < cap */
} sink;

static void put(sink *s, char c) {
  if (s->len + 1 < s->cap) s->buf[s->len++] = c;
}

static void put_str(sink *s, const char *str) {
  if (!str) str = "(null)";
  while (*str) put(s, *str++);
}

static void put_uint(sink *s, uint64_t v, unsigned base) {
  char tmp[24]; /* 2^64 has 20 decimal digits */
  size_t n = 0;
  do {
    unsigned d = (unsigned)(v % base);
    tmp[n++] = (char)(d < 10 ? '0' + d : 'a' + d - 10);
    v /= base;
  } while (v && n < sizeof tmp);
  while (n) put(s, tmp[--n]);
}

size_t wk_vfmt(char *buf, size_t cap, const char *fmt, va_list ap) {
  if (cap == 0) return 0;
  sink s = {buf, cap, 0};
  for (; *fmt; fmt++) {
    if (*fmt != '%') {
      put(&s, *fmt);
      continue;
    }
    fmt++;
    int wide = 0;
    while (*fmt == 'l' || *fmt == 'z') {
      wide = 1;
      fmt++;
    }
    switch (*fmt) {
    case 's': put_str(&s, va_arg(ap, const char *)); break;
    case 'c': put(&s, (char)va_arg(ap, int)); break;
    case 'd': {
      int64_t v = wide ? va_arg(ap, long) : va_arg(ap, int);
      if (v < 0) {
        put(&s, '-');
        put_uint(&s, (uint64_t)0 - (uint64_t)v, 10);
      } else {
        put_uint(&s, (uint64_t)v, 10);
      }
      break;
    }
    case 'u': put_uint(&s, wide ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 10); break;
    case 'x': put_uint(&s, wide ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 16); break;
    case 'p':
      put_str(&s, "0x");
      put_uint(&s, (uintptr_t)va_arg(ap, void *), 16);
      break;
    case '%': put(&s, '%'); break;
    case '\0': fmt--; break; /* lone '%' at the end */
    default:
      put(&s, '%');
      put(&s, *fmt);
      break;
    }
  }
  s.buf[s.len] = '\0';
  return s.len;
}

size_t wk_fmt(char *buf, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t n = wk_vfmt(buf, cap, fmt, ap);
  va_end(ap);
  return n;
}

void wk_log(const char *fmt, ...) {
  char buf[256];
  va_list ap;
  va_start(ap, fmt);
  size_t n = wk_vfmt(buf, sizeof buf, fmt, ap);
  va_end(ap);
  wk_plat_console_write(2, buf, n);
}
