/*
 * console_kvm.c - console streams and exit for the x86_64 kvm platform.
 *
 * Three 16550 UARTs, one per stream, so the host can separate them without
 * any framing inside the guest:
 *   COM1 0x3f8  stdout (stream 1)
 *   COM2 0x2f8  stderr (stream 2)
 *   COM3 0x3e8  control: wk_plat_exit writes "exit <code>\n" here
 * then isa-debug-exit (port 0xf4) stops QEMU; urunc's monitors get their own
 * exit devices next (urunc_kvm.c); halting is the last fallback. Without a
 * COM2 (urunc), stderr shares COM1 with stdout. stdin is not supported yet (always end of input).
 */
#include <stdbool.h>

#include "cpu_x86_64.h"
#include "kvm.h"
#include "serial_16550.h"
#include "wk/errno.h"
#include "wk/platform.h"

#define DEBUG_EXIT_PORT 0xf4

/* Where stderr goes: COM2, or COM1 on a machine that has no COM2 (urunc's
 * QEMU and Firecracker give the guest one UART: the container's log). */
static uint16_t stderr_port = SERIAL_COM2;

void kvm_console_init(void) {
  serial_16550_init(SERIAL_COM1);
  serial_16550_init(SERIAL_COM2);
  serial_16550_init(SERIAL_COM3);
  if (!serial_16550_present(SERIAL_COM2)) {
    stderr_port = SERIAL_COM1;
  }
}

int wk_plat_console_write(int stream, const void *buf, size_t len) {
  uint16_t port;
  switch (stream) {
  case 1: port = SERIAL_COM1; break;
  case 2: port = stderr_port; break;
  default: return -WK_EBADF;
  }
  return serial_16550_write(port, buf, len) == 0 ? 0 : -WK_EIO;
}

long wk_plat_console_read(void *buf, size_t len) {
  (void)buf;
  (void)len;
  return 0;
}

_Noreturn void wk_plat_exit(int code) {
  /* Re-entry (a fault while exiting) goes straight to the device. */
  static bool exiting;
  if (!exiting) {
    exiting = true;
    char line[KVM_EXIT_LINE_MAX];
    size_t n = kvm_exit_line(line, code);
    serial_16550_flush(SERIAL_COM1);
    serial_16550_flush(stderr_port);
    (void)serial_16550_write(SERIAL_COM3, line, n);
    serial_16550_flush(SERIAL_COM3);
  }
  /* QEMU exits with status (value << 1) | 1; the control line is exact. */
  x86_outl(DEBUG_EXIT_PORT, (uint32_t)code);
  kvm_vmm_exit(code); /* urunc's QEMU (port 0x501), Firecracker (i8042 reset) */
  x86_halt_forever();
}
