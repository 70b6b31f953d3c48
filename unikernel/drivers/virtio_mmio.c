/*
 * drivers/virtio_mmio.c - virtio-mmio transport, modern (version 2) layout
 * (virtio spec v1.2, 4.2.2). Every register is 32 bits wide and accessed as
 * such, except the device config space (byte reads here).
 *
 * Each register access is a VM exit (25-80 us under PVM/KVM on these
 * machines); the drivers above keep them off the data path (notifications
 * only when the device asks for them).
 */
#include "virtio_mmio.h"

#include "wk/errno.h"

enum {
  REG_MAGIC = 0x000,
  REG_VERSION = 0x004,
  REG_DEVICE_ID = 0x008,
  REG_DEVICE_FEATURES = 0x010,
  REG_DEVICE_FEATURES_SEL = 0x014,
  REG_DRIVER_FEATURES = 0x020,
  REG_DRIVER_FEATURES_SEL = 0x024,
  REG_QUEUE_SEL = 0x030,
  REG_QUEUE_NUM_MAX = 0x034,
  REG_QUEUE_NUM = 0x038,
  REG_QUEUE_READY = 0x044,
  REG_QUEUE_NOTIFY = 0x050,
  REG_INTERRUPT_STATUS = 0x060,
  REG_INTERRUPT_ACK = 0x064,
  REG_STATUS = 0x070,
  REG_QUEUE_DESC_LOW = 0x080,
  REG_QUEUE_DESC_HIGH = 0x084,
  REG_QUEUE_DRIVER_LOW = 0x090,
  REG_QUEUE_DRIVER_HIGH = 0x094,
  REG_QUEUE_DEVICE_LOW = 0x0a0,
  REG_QUEUE_DEVICE_HIGH = 0x0a4,
  REG_CONFIG_GENERATION = 0x0fc,
  REG_CONFIG = 0x100,
};

static inline uint32_t rd(const virtio_dev *d, uint32_t reg) {
  return *(volatile uint32_t *)(d->base + reg);
}

static inline void wr(const virtio_dev *d, uint32_t reg, uint32_t v) {
  *(volatile uint32_t *)(d->base + reg) = v;
}

static uint64_t mmio_device_features(virtio_dev *d) {
  wr(d, REG_DEVICE_FEATURES_SEL, 0);
  uint64_t lo = rd(d, REG_DEVICE_FEATURES);
  wr(d, REG_DEVICE_FEATURES_SEL, 1);
  uint64_t hi = rd(d, REG_DEVICE_FEATURES);
  return hi << 32 | lo;
}

static void mmio_driver_features(virtio_dev *d, uint64_t f) {
  wr(d, REG_DRIVER_FEATURES_SEL, 0);
  wr(d, REG_DRIVER_FEATURES, (uint32_t)f);
  wr(d, REG_DRIVER_FEATURES_SEL, 1);
  wr(d, REG_DRIVER_FEATURES, (uint32_t)(f >> 32));
}

static uint8_t mmio_get_status(virtio_dev *d) { return (uint8_t)rd(d, REG_STATUS); }

static void mmio_set_status(virtio_dev *d, uint8_t s) { wr(d, REG_STATUS, s); }

static uint16_t mmio_queue_max(virtio_dev *d, uint16_t q) {
  wr(d, REG_QUEUE_SEL, q);
  uint32_t max = rd(d, REG_QUEUE_NUM_MAX);
  return max > 0xffff ? 0xffff : (uint16_t)max;
}

static int mmio_queue_enable(virtio_dev *d, uint16_t q, uint16_t size, uint64_t desc,
                             uint64_t driver, uint64_t device) {
  wr(d, REG_QUEUE_SEL, q);
  if (rd(d, REG_QUEUE_READY) != 0) {
    return -WK_EBUSY; /* 4.2.3.2: must be 0 before setup */
  }
  wr(d, REG_QUEUE_NUM, size);
  wr(d, REG_QUEUE_DESC_LOW, (uint32_t)desc);
  wr(d, REG_QUEUE_DESC_HIGH, (uint32_t)(desc >> 32));
  wr(d, REG_QUEUE_DRIVER_LOW, (uint32_t)driver);
  wr(d, REG_QUEUE_DRIVER_HIGH, (uint32_t)(driver >> 32));
  wr(d, REG_QUEUE_DEVICE_LOW, (uint32_t)device);
  wr(d, REG_QUEUE_DEVICE_HIGH, (uint32_t)(device >> 32));
  wr(d, REG_QUEUE_READY, 1);
  return 0;
}

static void mmio_notify(virtio_dev *d, uint16_t q) { wr(d, REG_QUEUE_NOTIFY, q); }

static uint8_t mmio_config_read8(virtio_dev *d, uint32_t off) {
  return *(volatile uint8_t *)(d->base + REG_CONFIG + off);
}

static uint32_t mmio_config_generation(virtio_dev *d) { return rd(d, REG_CONFIG_GENERATION); }

static uint32_t mmio_irq_ack(virtio_dev *d) {
  uint32_t st = rd(d, REG_INTERRUPT_STATUS);
  if (st != 0) {
    wr(d, REG_INTERRUPT_ACK, st);
  }
  return st;
}

static const virtio_transport mmio_ops = {
    .name = "virtio-mmio",
    .device_features = mmio_device_features,
    .driver_features = mmio_driver_features,
    .get_status = mmio_get_status,
    .set_status = mmio_set_status,
    .queue_max = mmio_queue_max,
    .queue_enable = mmio_queue_enable,
    .notify = mmio_notify,
    .config_read8 = mmio_config_read8,
    .config_generation = mmio_config_generation,
    .irq_ack = mmio_irq_ack,
};

virtio_mmio_probe_result virtio_mmio_probe(uintptr_t base, virtio_dev *d) {
  virtio_dev probe = {.ops = &mmio_ops, .base = base};
  if (rd(&probe, REG_MAGIC) != VIRTIO_MMIO_MAGIC) {
    return VIRTIO_MMIO_NONE;
  }
  uint32_t id = rd(&probe, REG_DEVICE_ID);
  if (id == 0) {
    return VIRTIO_MMIO_EMPTY;
  }
  if (rd(&probe, REG_VERSION) != 2) {
    return VIRTIO_MMIO_LEGACY;
  }
  probe.device_id = id;
  *d = probe;
  return VIRTIO_MMIO_MODERN;
}

void virtio_mmio_config_write32(virtio_dev *d, uint32_t off, uint32_t v) {
  wr(d, REG_CONFIG + off, v);
}
