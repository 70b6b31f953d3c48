/*
 * serial_16550.c - polled 16550 UART output (see serial_16550.h).
 *
 * Register map (offsets from the base port), from the 16550 data sheet:
 *   0 THR (write) / divisor low when LCR.DLAB    1 IER / divisor high
 *   2 FCR (write)   3 LCR   4 MCR   5 LSR (THRE bit 5, TEMT bit 6)
 */
#include "serial_16550.h"

#include "cpu_x86_64.h"

enum {
  REG_THR = 0,
  REG_DLL = 0,
  REG_IER = 1,
  REG_DLH = 1,
  REG_FCR = 2,
  REG_LCR = 3,
  REG_MCR = 4,
  REG_LSR = 5,
  REG_SCR = 7,
};

#define LCR_8N1 0x03
#define LCR_DLAB 0x80
#define FCR_ENABLE_CLEAR 0x07 /* enable FIFOs, clear RX and TX */
#define MCR_DTR_RTS 0x03
#define LSR_THRE 0x20 /* transmit FIFO empty */
#define LSR_TEMT 0x40 /* transmitter completely idle */
#define FIFO_DEPTH 16

/* Status reads to wait before declaring a port dead. QEMU's UART drains
 * instantly unless the host side blocks; this bounds a stuck host. */
#define SPIN_LIMIT 100000000u

void serial_16550_init(uint16_t base) {
  x86_outb(base + REG_IER, 0x00);
  x86_outb(base + REG_LCR, LCR_DLAB);
  x86_outb(base + REG_DLL, 1); /* 115200 baud */
  x86_outb(base + REG_DLH, 0);
  x86_outb(base + REG_LCR, LCR_8N1);
  x86_outb(base + REG_FCR, FCR_ENABLE_CLEAR);
  x86_outb(base + REG_MCR, MCR_DTR_RTS);
}

bool serial_16550_present(uint16_t base) {
  x86_outb(base + REG_SCR, 0x5a);
  if (x86_inb(base + REG_SCR) != 0x5a) {
    return false;
  }
  x86_outb(base + REG_SCR, 0xa5);
  return x86_inb(base + REG_SCR) == 0xa5;
}

static int wait_lsr(uint16_t base, uint8_t mask) {
  for (uint32_t i = 0; i < SPIN_LIMIT; i++) {
    if (x86_inb(base + REG_LSR) & mask) {
      return 0;
    }
    __asm__ volatile("pause");
  }
  return -1;
}

int serial_16550_write(uint16_t base, const void *buf, size_t len) {
  const uint8_t *p = buf;
  while (len > 0) {
    if (wait_lsr(base, LSR_THRE) != 0) {
      return -1;
    }
    size_t n = len < FIFO_DEPTH ? len : FIFO_DEPTH;
    for (size_t i = 0; i < n; i++) {
      x86_outb(base + REG_THR, p[i]);
    }
    p += n;
    len -= n;
  }
  return 0;
}

void serial_16550_flush(uint16_t base) { (void)wait_lsr(base, LSR_TEMT); }
