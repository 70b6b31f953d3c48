/*
 * serial_16550.h - polled 16550 UART output on an x86 I/O port base.
 *
 * No interrupts, no input. Output waits for the transmit FIFO to drain (with
 * a bounded spin, so a missing or wedged port cannot hang the guest), then
 * writes up to 16 bytes at a time: one status read per 16 bytes keeps the
 * number of I/O exits low under a hypervisor. Bytes are sent as-is (no LF ->
 * CRLF translation): the host captures them into files or pipes.
 */
#ifndef WK_SERIAL_16550_H
#define WK_SERIAL_16550_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SERIAL_COM1 0x3f8
#define SERIAL_COM2 0x2f8
#define SERIAL_COM3 0x3e8

/* Program 8N1, 115200 baud, FIFOs on, interrupts off. */
void serial_16550_init(uint16_t base);

/* Is there a UART at base? Its scratch register keeps what is written; a port
 * with no device reads back 0xff. */
bool serial_16550_present(uint16_t base);

/* Send len bytes; returns 0, or -1 if the port stopped draining. */
int serial_16550_write(uint16_t base, const void *buf, size_t len);

/* Wait until every byte written has left the transmitter (before exit). */
void serial_16550_flush(uint16_t base);

#endif /* WK_SERIAL_16550_H */
