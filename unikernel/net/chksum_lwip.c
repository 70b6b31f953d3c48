/*
 * net/chksum_lwip.c - the Internet checksum and data copies for lwIP
 * (LWIP_CHKSUM, LWIP_CHKSUM_COPY and MEMCPY in lwipopts.h).
 *
 * Eight bytes per load and store: under QEMU TCG (the test and CI setup)
 * every guest memory access is an emulated TLB lookup and `rep movsb` runs
 * byte by byte, so word loops are several times faster there; on hardware
 * they are within a few ns of `rep movsb` for frame-sized copies.
 *
 * Checksum (RFC 1071): the ones-complement sum is independent of byte order,
 * so native little-endian 64-bit words are added with end-around carry
 * (2^64 = 1 mod 0xffff) and folded to 16 bits at the end. The result is what
 * lwip_standard_chksum returns: the sum (not inverted), in the byte order it
 * is stored in a header. A trailing odd byte is the low byte of its 16-bit
 * word on a little-endian machine.
 *
 * Built with -fno-tree-loop-distribute-patterns: GCC must not turn the copy
 * loops back into memcpy calls.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lwip/arch.h"

u16_t wk_lwip_chksum(const void *data, int len);
u16_t wk_lwip_chksum_copy(void *dst, const void *src, u16_t len);
void *wk_lwip_memcpy(void *dst, const void *src, size_t len);

static inline uint64_t load64(const uint8_t *p) {
  uint64_t v;
  __builtin_memcpy(&v, p, 8); /* one unaligned mov */
  return v;
}

static inline void store64(uint8_t *p, uint64_t v) { __builtin_memcpy(p, &v, 8); }

static inline uint64_t add_carry(uint64_t acc, uint64_t v) {
  uint64_t r;
  return acc + v + (uint64_t)__builtin_add_overflow(acc, v, &r);
}

static inline u16_t fold(uint64_t acc) {
  acc = (acc & 0xffffffffu) + (acc >> 32);
  acc = (acc & 0xffffffffu) + (acc >> 32);
  acc = (acc & 0xffffu) + (acc >> 16);
  acc = (acc & 0xffffu) + (acc >> 16);
  acc = (acc & 0xffffu) + (acc >> 16);
  return (u16_t)acc;
}

/* The sum of the last len (< 8) bytes at p, as the low lanes of a word. */
static inline uint64_t tail_word(const uint8_t *p, size_t len) {
  uint64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    v |= (uint64_t)p[i] << (8 * i);
  }
  return v;
}

u16_t wk_lwip_chksum(const void *data, int len) {
  const uint8_t *p = data;
  size_t n = len > 0 ? (size_t)len : 0;
  uint64_t acc = 0;
  for (; n >= 32; p += 32, n -= 32) {
    acc = add_carry(acc, load64(p));
    acc = add_carry(acc, load64(p + 8));
    acc = add_carry(acc, load64(p + 16));
    acc = add_carry(acc, load64(p + 24));
  }
  for (; n >= 8; p += 8, n -= 8) {
    acc = add_carry(acc, load64(p));
  }
  acc = add_carry(acc, tail_word(p, n));
  return fold(acc);
}

u16_t wk_lwip_chksum_copy(void *dst, const void *src, u16_t len) {
  uint8_t *d = dst;
  const uint8_t *s = src;
  size_t n = len;
  uint64_t acc = 0;
  for (; n >= 32; d += 32, s += 32, n -= 32) {
    uint64_t a = load64(s), b = load64(s + 8), c = load64(s + 16), e = load64(s + 24);
    store64(d, a);
    store64(d + 8, b);
    store64(d + 16, c);
    store64(d + 24, e);
    acc = add_carry(acc, a);
    acc = add_carry(acc, b);
    acc = add_carry(acc, c);
    acc = add_carry(acc, e);
  }
  for (; n >= 8; d += 8, s += 8, n -= 8) {
    uint64_t a = load64(s);
    store64(d, a);
    acc = add_carry(acc, a);
  }
  acc = add_carry(acc, tail_word(s, n));
  for (size_t i = 0; i < n; i++) {
    d[i] = s[i];
  }
  return fold(acc);
}

void *wk_lwip_memcpy(void *dst, const void *src, size_t len) {
  uint8_t *d = dst;
  const uint8_t *s = src;
  size_t n = len;
  for (; n >= 32; d += 32, s += 32, n -= 32) {
    uint64_t a = load64(s), b = load64(s + 8), c = load64(s + 16), e = load64(s + 24);
    store64(d, a);
    store64(d + 8, b);
    store64(d + 16, c);
    store64(d + 24, e);
  }
  for (; n >= 8; d += 8, s += 8, n -= 8) {
    store64(d, load64(s));
  }
  for (size_t i = 0; i < n; i++) {
    d[i] = s[i];
  }
  return dst;
}
