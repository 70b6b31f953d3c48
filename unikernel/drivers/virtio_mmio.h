/*
 * drivers/virtio_mmio.h - the virtio-mmio transport (virtio spec v1.2, 4.2),
 * version 2 (modern) register layout only.
 *
 * Devices are found by the platform: from `virtio_mmio.device=` kernel
 * command-line tokens (QEMU microvm's auto-kernel-cmdline, Firecracker) or by
 * probing a known window (microvm: 0xfeb00000, 512-byte slots). A legacy
 * (version 1) device is reported as such and not driven: QEMU needs
 * `-global virtio-mmio.force-legacy=false` to offer a modern one.
 */
#ifndef WK_VIRTIO_MMIO_H
#define WK_VIRTIO_MMIO_H

#include <stdint.h>

#include "virtio.h"

#define VIRTIO_MMIO_MAGIC 0x74726976u /* "virt" */
#define VIRTIO_MMIO_SLOT_SIZE 0x200u  /* registers + device config */

/* What is at an MMIO window. */
typedef enum virtio_mmio_probe_result {
  VIRTIO_MMIO_NONE = 0, /* no virtio-mmio registers (bad magic) */
  VIRTIO_MMIO_EMPTY,    /* a transport with no device behind it (device id 0) */
  VIRTIO_MMIO_LEGACY,   /* a version-1 device: not supported */
  VIRTIO_MMIO_MODERN,   /* a version-2 device: d is filled in */
} virtio_mmio_probe_result;

/* Look at the registers at base (mapped, uncached). On VIRTIO_MMIO_MODERN, d
 * is ready for virtio_negotiate (ops, base, device_id). */
virtio_mmio_probe_result virtio_mmio_probe(uintptr_t base, virtio_dev *d);

/* Write a 32-bit field of the device's configuration space (offset off). */
void virtio_mmio_config_write32(virtio_dev *d, uint32_t off, uint32_t v);

#endif /* WK_VIRTIO_MMIO_H */
