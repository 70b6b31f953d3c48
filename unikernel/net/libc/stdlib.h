/*
 * net/libc/stdlib.h - the <stdlib.h> lwIP's sources see: only atoi (used by
 * netif_find), mapped to a private function in net/libc_lwip.c.
 */
#ifndef WK_NET_LIBC_STDLIB_H
#define WK_NET_LIBC_STDLIB_H

#include <stddef.h>

int wk_lwip_atoi(const char *s);
#define atoi wk_lwip_atoi

#endif /* WK_NET_LIBC_STDLIB_H */
