/*
 * net/libc/string.h - the <string.h> that lwIP's sources see (and only they,
 * plus the net layer): no libc exists in the unikernel.
 *
 * mem* are the global ones from core/string_core.c (the compiler emits calls
 * to them anyway). The str* functions lwIP uses are mapped to private
 * wk_lwip_* versions (net/libc_lwip.c), so no new global libc symbol appears.
 */
#ifndef WK_NET_LIBC_STRING_H
#define WK_NET_LIBC_STRING_H

#include <stddef.h>

void *memcpy(void *restrict dst, const void *restrict src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);

size_t wk_lwip_strlen(const char *s);
int wk_lwip_strcmp(const char *a, const char *b);
int wk_lwip_strncmp(const char *a, const char *b, size_t n);
char *wk_lwip_strstr(const char *hay, const char *needle);

#define strlen wk_lwip_strlen
#define strcmp wk_lwip_strcmp
#define strncmp wk_lwip_strncmp
#define strstr wk_lwip_strstr

#endif /* WK_NET_LIBC_STRING_H */
