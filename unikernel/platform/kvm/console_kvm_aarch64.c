/*
 * console_kvm_aarch64.c - console streams and exit for the aarch64 kvm
 * platform (QEMU virt).
 *
 *   stdout (stream 1)  the PL011 UART at 0x09000000 (virt's only UART)
 *   stderr (stream 2)  a virtio console on virt's last virtio-mmio transport
 *                      (31, at 0x0a003e00)
 *   control            a virtio console on transport 30: wk_plat_exit writes
 *                      "exit <code>\n" there, as x86_64 does on COM3
 * then PSCI SYSTEM_OFF (an HVC: QEMU implements PSCI itself when it boots a
 * kernel at EL1) stops the machine; halting is the fallback. virt has one
 * UART and no exit device, hence the consoles; the runner places them on those
 * transports (bus=virtio-mmio-bus.31/30, README.md "aarch64"). Without them
 * stderr goes to the PL011 too and the exit code is lost (QEMU exits 0).
 * stdin is not supported yet (always end of input).
 */
#include <stdbool.h>

#include "cpu_aarch64.h"
#include "kvm.h"
#include "uart_pl011.h"
#include "virtio_console.h"
#include "virtio_mmio.h"
#include "wk/errno.h"
#include "wk/platform.h"

#define VIRT_PL011 0x09000000u
#define VIRT_MMIO_BASE 0x0a000000u
#define CONSOLE_SLOT_STDERR 31
#define CONSOLE_SLOT_CONTROL 30

static virtio_dev err_console, ctl_console;
static bool have_err, have_ctl;

static bool console_at(uint32_t slot, virtio_dev *d) {
  virtio_mmio_probe_result r = virtio_mmio_probe(VIRT_MMIO_BASE + slot * VIRTIO_MMIO_SLOT_SIZE, d);
  return r == VIRTIO_MMIO_MODERN && d->device_id == VIRTIO_ID_CONSOLE &&
         virtio_console_init(d) == 0;
}

void kvm_console_init(void) {
  pl011_init(VIRT_PL011);
  have_err = console_at(CONSOLE_SLOT_STDERR, &err_console);
  have_ctl = console_at(CONSOLE_SLOT_CONTROL, &ctl_console);
}

int wk_plat_console_write(int stream, const void *buf, size_t len) {
  switch (stream) {
  case 1: pl011_write(VIRT_PL011, buf, len); return 0;
  case 2:
    if (have_err) {
      virtio_console_write(&err_console, buf, len);
    } else {
      pl011_write(VIRT_PL011, buf, len);
    }
    return 0;
  default: return -WK_EBADF;
  }
}

long wk_plat_console_read(void *buf, size_t len) {
  (void)buf;
  (void)len;
  return 0;
}

_Noreturn void wk_plat_exit(int code) {
  static bool exiting; /* re-entry (a fault while exiting) goes straight to PSCI */
  if (!exiting) {
    exiting = true;
    pl011_flush(VIRT_PL011);
    if (have_ctl) {
      char line[KVM_EXIT_LINE_MAX];
      virtio_console_write(&ctl_console, line, kvm_exit_line(line, code));
    }
  }
  a64_power_off(); /* without PSCI it halts: the runner's timeout stops us */
}
