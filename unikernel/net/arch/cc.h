/*
 * net/arch/cc.h - lwIP's compiler/platform port for the freestanding
 * unikernel (x86_64, GCC). See lwip/arch.h for what each macro means.
 */
#ifndef WK_LWIP_ARCH_CC_H
#define WK_LWIP_ARCH_CC_H

/* Freestanding: <stdint.h>, <stddef.h> and <limits.h> come from the compiler;
 * nothing from a libc. String functions come from net/libc/ (shims). */
#define LWIP_NO_INTTYPES_H 1
#define LWIP_NO_CTYPE_H 1 /* lwIP's own isdigit & co. */
#define LWIP_NO_UNISTD_H 1

/* printf formats for debug output (LWIP_DEBUG is off; kept for completeness). */
#define X8_F "02x"
#define U16_F "hu"
#define S16_F "hd"
#define X16_F "hx"
#define U32_F "u"
#define S32_F "d"
#define X32_F "x"
#define SZT_F "zu"

#define BYTE_ORDER LITTLE_ENDIAN
/* Byte swaps as single instructions. */
#define lwip_htons(x) ((u16_t)__builtin_bswap16((u16_t)(x)))
#define lwip_htonl(x) ((u32_t)__builtin_bswap32((u32_t)(x)))

/* Diagnostics: no printf here; messages are dropped (LWIP_DEBUG is off).
 * Assertions print the message with file:line on stderr and stop the
 * machine with exit code 134 (as SIGABRT would). */
void wk_lwip_assert_fail(const char *msg, const char *file, int line);
#define LWIP_PLATFORM_DIAG(x) \
  do {                        \
  } while (0)
#define LWIP_PLATFORM_ASSERT(x) wk_lwip_assert_fail((x), __FILE__, __LINE__)

#endif /* WK_LWIP_ARCH_CC_H */
