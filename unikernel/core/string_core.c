/*
 * core/string_core.c - memcpy, memmove, memset, memcmp as global symbols.
 *
 * GCC emits calls to these even with -ffreestanding (struct copies, large
 * initialisers, __builtin_mem*). On x86_64 they use `rep movsb/stosb`, which
 * is fast on every CPU with ERMSB; elsewhere plain loops. This file is built
 * with -fno-tree-loop-distribute-patterns so GCC cannot turn the loops back
 * into calls to themselves.
 */
#include <stddef.h>
#include <stdint.h>

#include "wk/core.h"

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

void *memcpy(void *restrict dst, const void *restrict src, size_t n) {
#if defined(__x86_64__)
  void *d = dst;
  __asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
#else
  unsigned char *d = dst;
  const unsigned char *s = src;
  while (n--) *d++ = *s++;
#endif
  return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
  unsigned char *d = dst;
  const unsigned char *s = src;
  if (d == s || n == 0) return dst;
  if (d < s || d >= s + n) return memcpy(dst, src, n); /* forward copy is safe */
#if defined(__x86_64__)
  /* Overlapping, destination above source: copy backwards. */
  const unsigned char *se = s + n - 1;
  unsigned char *de = d + n - 1;
  __asm__ volatile("std\n\trep movsb\n\tcld" : "+D"(de), "+S"(se), "+c"(n) : : "memory");
#else
  while (n--) d[n] = s[n];
#endif
  return dst;
}

void *memset(void *dst, int c, size_t n) {
#if defined(__x86_64__)
  void *d = dst;
  __asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
#else
  unsigned char *d = dst;
  while (n--) *d++ = (unsigned char)c;
#endif
  return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
  const unsigned char *x = a, *y = b;
  for (size_t i = 0; i < n; i++)
    if (x[i] != y[i]) return x[i] < y[i] ? -1 : 1;
  return 0;
}

size_t wk_strlen(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}
