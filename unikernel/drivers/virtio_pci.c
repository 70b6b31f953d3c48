/*
 * drivers/virtio_pci.c - the modern virtio-pci transport (virtio spec v1.2,
 * 4.1.4 and 4.1.5). See virtio_pci.h for what is supported.
 *
 * Configuration space goes through ports 0xcf8/0xcfc (one exit per access
 * under a hypervisor), so everything read there is read once at probe time;
 * the data path only touches the memory windows (a notify write, when the
 * device asks for one).
 */
#include "virtio_pci.h"

#include "cpu_x86_64.h"
#include "wk/errno.h"

#define PCI_ADDR_PORT 0xcf8
#define PCI_DATA_PORT 0xcfc
#define PCI_VENDOR_VIRTIO 0x1af4
#define PCI_DEVICE_MODERN_BASE 0x1040 /* 0x1040 + virtio device id */
#define PCI_DEVICE_TRANSITIONAL_MIN 0x1000
#define PCI_DEVICE_TRANSITIONAL_MAX 0x103f

enum {
  CFG_ID = 0x00,
  CFG_COMMAND = 0x04,
  CFG_STATUS = 0x06,
  CFG_BAR0 = 0x10,
  CFG_SUBSYSTEM = 0x2c,
  CFG_CAP_PTR = 0x34,
};
#define CMD_MEMORY (1u << 1)
#define CMD_BUS_MASTER (1u << 2)
#define STATUS_CAP_LIST (1u << 4)
#define CAP_ID_MSIX 0x11
#define CAP_ID_VENDOR 0x09
#define CAPS_MAX 48 /* bound on the capability walk (a loop in the list) */

/* virtio_pci_cap.cfg_type (4.1.4) */
enum { CAP_COMMON = 1, CAP_NOTIFY = 2, CAP_ISR = 3, CAP_DEVICE = 4 };

/* The common configuration structure (4.1.4.3). */
enum {
  COMMON_DFSELECT = 0x00,
  COMMON_DF = 0x04,
  COMMON_GFSELECT = 0x08,
  COMMON_GF = 0x0c,
  COMMON_MSIX_CONFIG = 0x10,
  COMMON_STATUS = 0x14,
  COMMON_CFGGENERATION = 0x15,
  COMMON_Q_SELECT = 0x16,
  COMMON_Q_SIZE = 0x18,
  COMMON_Q_MSIX = 0x1a,
  COMMON_Q_ENABLE = 0x1c,
  COMMON_Q_NOFF = 0x1e,
  COMMON_Q_DESC = 0x20,
  COMMON_Q_DRIVER = 0x28,
  COMMON_Q_DEVICE = 0x30,
};

#define MMIO_HOLE_START 0xc0000000ull /* as net_kvm.c: no RAM there */
#define MMIO_HOLE_END 0x100000000ull

/* ---- configuration space (mechanism #1, bus 0) -------------------------------- */

static uint32_t cfg_addr(uint8_t slot, uint8_t off) {
  return 0x80000000u | (uint32_t)slot << 11 | (off & 0xfcu);
}

static uint32_t cfg_rd32(uint8_t slot, uint8_t off) {
  x86_outl(PCI_ADDR_PORT, cfg_addr(slot, off));
  return x86_inl(PCI_DATA_PORT);
}

static uint8_t cfg_rd8(uint8_t slot, uint8_t off) {
  return (uint8_t)(cfg_rd32(slot, off) >> (8 * (off & 3)));
}

static uint16_t cfg_rd16(uint8_t slot, uint8_t off) {
  return (uint16_t)(cfg_rd32(slot, off) >> (8 * (off & 2)));
}

static void cfg_wr16(uint8_t slot, uint8_t off, uint16_t v) {
  x86_outl(PCI_ADDR_PORT, cfg_addr(slot, off));
  x86_outw((uint16_t)(PCI_DATA_PORT + (off & 2)), v);
}

/* The memory address BAR bar decodes (64-bit BARs included), or 0. */
static uint64_t bar_address(uint8_t slot, uint8_t bar) {
  if (bar > 5) {
    return 0;
  }
  uint32_t lo = cfg_rd32(slot, (uint8_t)(CFG_BAR0 + 4 * bar));
  if (lo & 1) {
    return 0; /* an I/O BAR */
  }
  uint64_t a = lo & ~0xfull;
  if (((lo >> 1) & 3) == 2 && bar < 5) {
    a |= (uint64_t)cfg_rd32(slot, (uint8_t)(CFG_BAR0 + 4 * (bar + 1))) << 32;
  }
  return a;
}

/* The window [BAR + offset, + length) of a capability, mapped uncached; 0
 * when it lies outside the 32-bit MMIO hole. */
static uintptr_t cap_window(uint8_t slot, uint8_t cap, uint32_t *length) {
  uint8_t bar = cfg_rd8(slot, (uint8_t)(cap + 4));
  uint32_t off = cfg_rd32(slot, (uint8_t)(cap + 8));
  uint32_t len = cfg_rd32(slot, (uint8_t)(cap + 12));
  uint64_t base = bar_address(slot, bar);
  if (base == 0 || len == 0) {
    return 0;
  }
  uint64_t a = base + off;
  if (a < MMIO_HOLE_START || a >= MMIO_HOLE_END || len > MMIO_HOLE_END - a ||
      x86_mmu_set_uncached((uintptr_t)a, len) != 0) {
    return 0;
  }
  if (length != NULL) {
    *length = len;
  }
  return (uintptr_t)a;
}

/* ---- the transport ops ------------------------------------------------------------ */

static inline uint8_t rd8(uintptr_t a) { return *(volatile uint8_t *)a; }
static inline uint16_t rd16(uintptr_t a) { return *(volatile uint16_t *)a; }
static inline uint32_t rd32(uintptr_t a) { return *(volatile uint32_t *)a; }
static inline void wr8(uintptr_t a, uint8_t v) { *(volatile uint8_t *)a = v; }
static inline void wr16(uintptr_t a, uint16_t v) { *(volatile uint16_t *)a = v; }
static inline void wr32(uintptr_t a, uint32_t v) { *(volatile uint32_t *)a = v; }

static void wr64(uintptr_t a, uint64_t v) { /* two halves, low first (4.1.3.1) */
  wr32(a, (uint32_t)v);
  wr32(a + 4, (uint32_t)(v >> 32));
}

static uint64_t pci_device_features(virtio_dev *d) {
  wr32(d->base + COMMON_DFSELECT, 0);
  uint64_t lo = rd32(d->base + COMMON_DF);
  wr32(d->base + COMMON_DFSELECT, 1);
  return (uint64_t)rd32(d->base + COMMON_DF) << 32 | lo;
}

static void pci_driver_features(virtio_dev *d, uint64_t f) {
  wr32(d->base + COMMON_GFSELECT, 0);
  wr32(d->base + COMMON_GF, (uint32_t)f);
  wr32(d->base + COMMON_GFSELECT, 1);
  wr32(d->base + COMMON_GF, (uint32_t)(f >> 32));
}

static uint8_t pci_get_status(virtio_dev *d) { return rd8(d->base + COMMON_STATUS); }

static void pci_set_status(virtio_dev *d, uint8_t s) { wr8(d->base + COMMON_STATUS, s); }

static uint16_t pci_queue_max(virtio_dev *d, uint16_t q) {
  wr16(d->base + COMMON_Q_SELECT, q);
  return rd16(d->base + COMMON_Q_SIZE); /* 0: no such queue */
}

static int pci_queue_enable(virtio_dev *d, uint16_t q, uint16_t size, uint64_t desc,
                            uint64_t driver, uint64_t device) {
  if (q >= VIRTIO_PCI_QUEUES) {
    return -WK_ENOTSUP;
  }
  wr16(d->base + COMMON_Q_SELECT, q);
  if (rd16(d->base + COMMON_Q_ENABLE) != 0) {
    return -WK_EBUSY;
  }
  wr16(d->base + COMMON_Q_SIZE, size);
  wr64(d->base + COMMON_Q_DESC, desc);
  wr64(d->base + COMMON_Q_DRIVER, driver);
  wr64(d->base + COMMON_Q_DEVICE, device);
  if (d->pci.msix_vector != VIRTIO_PCI_NO_VECTOR) {
    wr16(d->base + COMMON_Q_MSIX, d->pci.msix_vector);
    if (rd16(d->base + COMMON_Q_MSIX) != d->pci.msix_vector) {
      return -WK_EIO; /* 4.1.5.1.3: the device could not take the vector */
    }
  }
  d->pci.notify_off[q] = rd16(d->base + COMMON_Q_NOFF);
  wr16(d->base + COMMON_Q_ENABLE, 1);
  return 0;
}

static void pci_notify(virtio_dev *d, uint16_t q) {
  if (q < VIRTIO_PCI_QUEUES) {
    wr16(d->pci.notify + (uintptr_t)d->pci.notify_off[q] * d->pci.notify_mult, q);
  }
}

static uint8_t pci_config_read8(virtio_dev *d, uint32_t off) { return rd8(d->pci.device + off); }

static uint32_t pci_config_generation(virtio_dev *d) { return rd8(d->base + COMMON_CFGGENERATION); }

static uint32_t pci_irq_ack(virtio_dev *d) {
  /* With MSI-X the ISR is not used (4.1.4.5.1); reading it would acknowledge an
   * INTx, which is never enabled here. Nothing to lower. */
  (void)d;
  return 0;
}

static const virtio_transport pci_ops = {
    .name = "virtio-pci",
    .device_features = pci_device_features,
    .driver_features = pci_driver_features,
    .get_status = pci_get_status,
    .set_status = pci_set_status,
    .queue_max = pci_queue_max,
    .queue_enable = pci_queue_enable,
    .notify = pci_notify,
    .config_read8 = pci_config_read8,
    .config_generation = pci_config_generation,
    .irq_ack = pci_irq_ack,
};

/* ---- probing ------------------------------------------------------------------------ */

/* First capability with this id at or after the list head; 0 if none. */
static uint8_t find_cap(uint8_t slot, uint8_t id) {
  if ((cfg_rd16(slot, CFG_STATUS) & STATUS_CAP_LIST) == 0) {
    return 0;
  }
  uint8_t p = cfg_rd8(slot, CFG_CAP_PTR) & 0xfc;
  for (int n = 0; p != 0 && n < CAPS_MAX; n++) {
    if (cfg_rd8(slot, p) == id) {
      return p;
    }
    p = cfg_rd8(slot, (uint8_t)(p + 1)) & 0xfc;
  }
  return 0;
}

virtio_pci_probe_result virtio_pci_probe(uint8_t slot, virtio_dev *d) {
  if (slot >= VIRTIO_PCI_SLOTS) {
    return VIRTIO_PCI_NONE;
  }
  uint32_t id = cfg_rd32(slot, CFG_ID);
  uint16_t device = (uint16_t)(id >> 16);
  if ((id & 0xffff) != PCI_VENDOR_VIRTIO) {
    return VIRTIO_PCI_NONE;
  }
  uint32_t virtio_id;
  if (device >= PCI_DEVICE_MODERN_BASE) {
    virtio_id = device - PCI_DEVICE_MODERN_BASE;
  } else if (device >= PCI_DEVICE_TRANSITIONAL_MIN && device <= PCI_DEVICE_TRANSITIONAL_MAX) {
    virtio_id = cfg_rd32(slot, CFG_SUBSYSTEM) >> 16; /* 4.1.2.1: the subsystem device id */
  } else {
    return VIRTIO_PCI_NONE;
  }
  virtio_dev p = {.ops = &pci_ops, .device_id = virtio_id};
  p.pci.msix_vector = VIRTIO_PCI_NO_VECTOR;
  bool modern = false, bad = false;
  if (cfg_rd16(slot, CFG_STATUS) & STATUS_CAP_LIST) {
    uint8_t c = cfg_rd8(slot, CFG_CAP_PTR) & 0xfc;
    for (int n = 0; c != 0 && n < CAPS_MAX; n++, c = cfg_rd8(slot, (uint8_t)(c + 1)) & 0xfc) {
      if (cfg_rd8(slot, c) != CAP_ID_VENDOR) {
        continue;
      }
      uint8_t type = cfg_rd8(slot, (uint8_t)(c + 3));
      uintptr_t *slot_for = type == CAP_COMMON   ? &p.base
                            : type == CAP_NOTIFY ? &p.pci.notify
                            : type == CAP_ISR    ? &p.pci.isr
                            : type == CAP_DEVICE ? &p.pci.device
                                                 : NULL;
      if (slot_for == NULL || *slot_for != 0) {
        continue; /* PCI config access (5) or a second one of a kind: the first wins */
      }
      modern = true;
      *slot_for = cap_window(slot, c, NULL);
      bad |= *slot_for == 0;
      if (type == CAP_NOTIFY) {
        p.pci.notify_mult = cfg_rd32(slot, (uint8_t)(c + 16));
      }
    }
  }
  *d = p; /* device_id, for the caller's messages */
  if (!modern) {
    return VIRTIO_PCI_LEGACY;
  }
  if (bad || p.base == 0 || p.pci.notify == 0 || p.pci.isr == 0 || p.pci.device == 0) {
    return VIRTIO_PCI_BAD_BAR;
  }
  cfg_wr16(slot, CFG_COMMAND,
           (uint16_t)(cfg_rd16(slot, CFG_COMMAND) | CMD_MEMORY | CMD_BUS_MASTER));
  return VIRTIO_PCI_MODERN;
}

int virtio_pci_msix(uint8_t slot, virtio_dev *d, uint64_t addr, uint32_t data) {
  uint8_t cap = find_cap(slot, CAP_ID_MSIX);
  if (cap == 0) {
    return -1;
  }
  uint32_t table = cfg_rd32(slot, (uint8_t)(cap + 4)); /* BIR in bits 0-2, offset above */
  uint64_t base = bar_address(slot, (uint8_t)(table & 7));
  uint64_t entry = base + (table & ~7u);
  if (base == 0 || entry < MMIO_HOLE_START || entry >= MMIO_HOLE_END - 16 ||
      x86_mmu_set_uncached((uintptr_t)entry, 16) != 0) {
    return -1;
  }
  /* Entry 0: the message, unmasked; then MSI-X on, the function unmasked. */
  wr32((uintptr_t)entry, (uint32_t)addr);
  wr32((uintptr_t)entry + 4, (uint32_t)(addr >> 32));
  wr32((uintptr_t)entry + 8, data);
  wr32((uintptr_t)entry + 12, 0);
  uint16_t ctl = cfg_rd16(slot, (uint8_t)(cap + 2));
  cfg_wr16(slot, (uint8_t)(cap + 2), (uint16_t)((ctl | 0x8000) & ~0x4000));
  wr16(d->base + COMMON_MSIX_CONFIG, VIRTIO_PCI_NO_VECTOR); /* no config-change interrupts */
  d->pci.msix_vector = 0;
  return 0;
}
