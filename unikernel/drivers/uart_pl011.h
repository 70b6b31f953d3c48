/*
 * uart_pl011.h - polled Arm PL011 UART output at an MMIO base (QEMU virt:
 * 0x09000000, mapped as Device memory).
 *
 * No interrupts, no input. Bytes are sent as-is (no LF -> CRLF): the host
 * captures them into files or pipes. Waits on a full FIFO are bounded, so a
 * wedged UART cannot hang the guest.
 */
#ifndef WK_UART_PL011_H
#define WK_UART_PL011_H

#include <stddef.h>
#include <stdint.h>

/* Enable the UART and its transmitter, FIFOs on, 8N1 (QEMU ignores the rate). */
void pl011_init(uintptr_t base);

/* Send len bytes. */
void pl011_write(uintptr_t base, const void *buf, size_t len);

/* Wait until every byte written has left the transmitter (before exit). */
void pl011_flush(uintptr_t base);

#endif /* WK_UART_PL011_H */
