/*
 * uart_pl011.c - polled PL011 output (uart_pl011.h). Registers from the Arm
 * PrimeCell UART (PL011) Technical Reference Manual, r1p5, section 3.
 */
#include "uart_pl011.h"

#define PL011_DR 0x00
#define PL011_FR 0x18
#define PL011_LCR_H 0x2c
#define PL011_CR 0x30
#define FR_BUSY (1u << 3)
#define FR_TXFF (1u << 5)
#define LCR_H_FEN (1u << 4)
#define LCR_H_WLEN8 (3u << 5)
#define CR_UARTEN (1u << 0)
#define CR_TXE (1u << 8)
#define SPIN_MAX 1000000u /* bounded waits */

static uint32_t rd(uintptr_t base, uint32_t reg) { return *(volatile uint32_t *)(base + reg); }

static void wr(uintptr_t base, uint32_t reg, uint32_t v) { *(volatile uint32_t *)(base + reg) = v; }

void pl011_init(uintptr_t base) {
  wr(base, PL011_LCR_H, LCR_H_FEN | LCR_H_WLEN8);
  wr(base, PL011_CR, CR_UARTEN | CR_TXE);
}

void pl011_write(uintptr_t base, const void *buf, size_t len) {
  const uint8_t *p = buf;
  for (size_t i = 0; i < len; i++) {
    for (uint32_t n = 0; (rd(base, PL011_FR) & FR_TXFF) && n < SPIN_MAX; n++) {
    }
    wr(base, PL011_DR, p[i]);
  }
}

void pl011_flush(uintptr_t base) {
  for (uint32_t n = 0; (rd(base, PL011_FR) & FR_BUSY) && n < SPIN_MAX; n++) {
  }
}
