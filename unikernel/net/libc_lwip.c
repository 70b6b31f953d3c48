/*
 * net/libc_lwip.c - the few C library string functions lwIP calls, under
 * private names (net/libc/string.h maps strlen -> wk_lwip_strlen, ...).
 */
#include <stdint.h>
#include <stdlib.h> /* net/libc/stdlib.h */
#include <string.h> /* net/libc/string.h */

size_t wk_lwip_strlen(const char *s) {
  size_t n = 0;
  while (s[n] != '\0') {
    n++;
  }
  return n;
}

int wk_lwip_strncmp(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
    if (x != y) {
      return x < y ? -1 : 1;
    }
    if (x == '\0') {
      return 0;
    }
  }
  return 0;
}

int wk_lwip_strcmp(const char *a, const char *b) { return wk_lwip_strncmp(a, b, (size_t)-1); }

char *wk_lwip_strstr(const char *hay, const char *needle) {
  size_t n = wk_lwip_strlen(needle);
  for (; *hay != '\0'; hay++) {
    if (wk_lwip_strncmp(hay, needle, n) == 0) {
      return (char *)(uintptr_t)hay;
    }
  }
  return n == 0 ? (char *)(uintptr_t)hay : NULL;
}

int wk_lwip_atoi(const char *s) {
  int v = 0;
  int neg = 0;
  if (*s == '-' || *s == '+') {
    neg = *s == '-';
    s++;
  }
  while (*s >= '0' && *s <= '9' && v < 100000000) {
    v = v * 10 + (*s - '0');
    s++;
  }
  return neg ? -v : v;
}
