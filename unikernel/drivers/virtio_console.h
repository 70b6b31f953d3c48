/*
 * drivers/virtio_console.h - output on a virtio console (virtio spec v1.2,
 * 5.3) through its emergency-write register: one configuration write per byte,
 * no virtqueue, no interrupt.
 *
 * Why that and not the transmit queue: the users are the aarch64 kvm
 * platform's stderr and control channel (platform/kvm/console_kvm_aarch64.c),
 * a few short lines per run; the register keeps the driver a dozen lines and
 * usable from a fault handler. QEMU offers VIRTIO_CONSOLE_F_EMERG_WRITE by
 * default (virtio-serial-device, property emergency-write) and writes each
 * byte to port 0 (the virtconsole with nr=0).
 */
#ifndef WK_VIRTIO_CONSOLE_H
#define WK_VIRTIO_CONSOLE_H

#include <stddef.h>

#include "virtio.h"

#define VIRTIO_ID_CONSOLE 3

/* Negotiate emergency writes on the (virtio-mmio) console d and set DRIVER_OK.
 * 0, or -WK_ENOTSUP when the device does not offer them, or -WK_EIO. */
int virtio_console_init(virtio_dev *d);

/* Send len bytes to port 0. */
void virtio_console_write(virtio_dev *d, const void *buf, size_t len);

#endif /* WK_VIRTIO_CONSOLE_H */
