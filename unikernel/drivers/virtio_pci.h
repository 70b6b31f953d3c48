/*
 * drivers/virtio_pci.h - the modern virtio-pci transport (virtio spec v1.2,
 * 4.1), over PCI configuration mechanism #1 (ports 0xcf8/0xcfc), bus 0.
 *
 * Devices are found by scanning bus 0 (QEMU q35 puts `-device virtio-net-pci`
 * there). Only the modern interface is driven: the vendor capabilities that
 * locate the common, notify, ISR and device configuration windows in memory
 * BARs; a legacy-only device (no such capabilities) is not. The BARs are the
 * ones the firmware assigned (SeaBIOS runs before a PVH kernel on q35); they
 * must lie in the 32-bit MMIO hole, [3 GiB, 4 GiB), where the identity map
 * can make them uncached.
 *
 * Interrupts: MSI-X only (virtio_pci_msix), one message for every queue; no
 * INTx (its routing through the chipset's PIRQ registers is the firmware's
 * business, and MSI-X needs no IOAPIC and no ISR read to acknowledge).
 */
#ifndef WK_VIRTIO_PCI_H
#define WK_VIRTIO_PCI_H

#include <stdint.h>

#include "virtio.h"

#define VIRTIO_PCI_NO_VECTOR 0xffff
#define VIRTIO_PCI_SLOTS 32 /* devices on bus 0 */

/* What is at a PCI function of bus 0. */
typedef enum virtio_pci_probe_result {
  VIRTIO_PCI_NONE = 0, /* nothing, or not a virtio device */
  VIRTIO_PCI_LEGACY,   /* a virtio device without the modern capabilities */
  VIRTIO_PCI_BAD_BAR,  /* modern, but a window lies outside [3 GiB, 4 GiB) */
  VIRTIO_PCI_MODERN,   /* d is ready for virtio_negotiate */
} virtio_pci_probe_result;

/* Look at bus 0, device slot, function 0. Unless VIRTIO_PCI_NONE, d->device_id
 * is the virtio device id; on VIRTIO_PCI_MODERN, d is filled in (ops, windows)
 * and the function's memory decoding and bus mastering are on. */
virtio_pci_probe_result virtio_pci_probe(uint8_t slot, virtio_dev *d);

/* Make every queue of d signal the MSI message (addr, data) through MSI-X
 * table entry 0 (call before the driver sets up its queues). 0, or -1 when
 * the function has no usable MSI-X capability (then no interrupts). */
int virtio_pci_msix(uint8_t slot, virtio_dev *d, uint64_t addr, uint32_t data);

#endif /* WK_VIRTIO_PCI_H */
