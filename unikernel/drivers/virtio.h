/*
 * drivers/virtio.h - the virtio 1.x device model, shared by transports and
 * device drivers (virtio spec v1.2, sections 2 and 3).
 *
 * A transport (virtio_mmio.c: microvm, Firecracker; virtio_pci.c: q35) fills a
 * virtio_dev with its ops; device drivers (virtio_net.c) only use the ops and
 * the split-virtqueue helpers below, so they work over any transport.
 *
 * Only modern devices (VIRTIO_F_VERSION_1) are driven: little-endian rings,
 * no legacy page-aligned layout. Drivers poll: the device is told not to
 * interrupt, except while the platform halts for want of work (virtq_irq_arm
 * just before, virtq_irq_disarm right after), so a busy guest takes no
 * interrupts at all.
 *
 * Memory: rings and buffers are given to the device by physical address. The
 * kvm platform identity-maps RAM, so a pointer is its physical address
 * (virtio_phys). A platform without an identity map would need a translation
 * hook here.
 */
#ifndef WK_VIRTIO_H
#define WK_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- device status bits (2.1) ---------------------------------------------- */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* ---- device-independent feature bits (6) ----------------------------------- */
#define VIRTIO_F_RING_INDIRECT_DESC 28
#define VIRTIO_F_RING_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32

/* ---- device ids (5) ---------------------------------------------------------- */
#define VIRTIO_ID_NET 1

typedef struct virtio_dev virtio_dev;

/* What a transport provides. Feature words are 64-bit (bits 0..63). */
typedef struct virtio_transport {
  const char *name;
  uint64_t (*device_features)(virtio_dev *d);
  void (*driver_features)(virtio_dev *d, uint64_t features);
  uint8_t (*get_status)(virtio_dev *d);
  void (*set_status)(virtio_dev *d, uint8_t status); /* 0 resets the device */
  /* Largest size of queue q; 0 when the queue does not exist. */
  uint16_t (*queue_max)(virtio_dev *d, uint16_t q);
  /* Give queue q its size and ring addresses (physical) and make it live. */
  int (*queue_enable)(virtio_dev *d, uint16_t q, uint16_t size, uint64_t desc, uint64_t driver,
                      uint64_t device);
  void (*notify)(virtio_dev *d, uint16_t q);
  uint8_t (*config_read8)(virtio_dev *d, uint32_t off);
  uint32_t (*config_generation)(virtio_dev *d);
  /* Read and acknowledge the interrupt status (bit 0: a used ring changed,
   * bit 1: the configuration did), which lowers the interrupt line. */
  uint32_t (*irq_ack)(virtio_dev *d);
} virtio_transport;

#define VIRTIO_PCI_QUEUES 4 /* queues whose notify offsets virtio_pci.c keeps */

struct virtio_dev {
  const virtio_transport *ops;
  uintptr_t base;     /* MMIO: the register window; PCI: the common configuration */
  uint32_t device_id; /* VIRTIO_ID_* */
  uint64_t features;  /* negotiated, valid after virtio_negotiate */
  struct {            /* PCI only (virtio_pci.c): the other capability windows */
    uintptr_t notify, isr, device;
    uint32_t notify_mult;
    uint16_t notify_off[VIRTIO_PCI_QUEUES];
    uint16_t msix_vector; /* for every queue; 0xffff (VIRTIO_PCI_NO_VECTOR): none */
  } pci;
};

/* Reset, acknowledge, and agree on features: the device's offer AND wanted,
 * which must include VIRTIO_F_VERSION_1 and every bit of required. Leaves the
 * device in FEATURES_OK (queues are set up next, then virtio_driver_ok).
 * Returns 0, or -WK_ENOTSUP / -WK_EIO (the device is then marked FAILED). */
int virtio_negotiate(virtio_dev *d, uint64_t wanted, uint64_t required);
void virtio_driver_ok(virtio_dev *d);
/* Read len bytes of device config at off, retrying while the generation
 * changes (2.4.1), bounded. */
void virtio_config_read(virtio_dev *d, uint32_t off, void *out, size_t len);

static inline bool virtio_has(const virtio_dev *d, unsigned bit) {
  return (d->features >> bit) & 1;
}

static inline uint64_t virtio_phys(const void *p) {
  return (uint64_t)(uintptr_t)p; /* identity map, see the top of this file */
}

/* ---- split virtqueues (2.7) ---------------------------------------------------- */
/* Queue sizes are capped at VIRTQ_MAX; the ring structures are sized for it. */
#define VIRTQ_MAX 256

#define VIRTQ_DESC_F_NEXT 1
#define VIRTQ_DESC_F_WRITE 2
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1
#define VIRTQ_USED_F_NO_NOTIFY 1

typedef struct virtq_desc {
  uint64_t addr;
  uint32_t len;
  uint16_t flags;
  uint16_t next;
} virtq_desc;

/* ring[size] is used_event when EVENT_IDX is negotiated. */
typedef struct virtq_avail {
  uint16_t flags;
  uint16_t idx;
  uint16_t ring[VIRTQ_MAX + 1];
} virtq_avail;

typedef struct virtq_used_elem {
  uint32_t id;
  uint32_t len;
} virtq_used_elem;

/* The uint16_t right after ring[size - 1] is avail_event (EVENT_IDX). */
typedef struct virtq_used {
  uint16_t flags;
  uint16_t idx;
  virtq_used_elem ring[VIRTQ_MAX];
  uint16_t avail_event_max; /* placeholder so size VIRTQ_MAX fits */
} virtq_used;

_Static_assert(sizeof(virtq_desc) == 16, "virtq_desc layout");
_Static_assert(sizeof(virtq_used_elem) == 8, "virtq_used_elem layout");

/* The memory of one queue (device-visible), aligned beyond what 2.7 asks
 * (16 / 2 / 4) so each part starts on its own page. */
typedef struct virtq_mem {
  virtq_desc desc[VIRTQ_MAX] __attribute__((aligned(4096)));
  virtq_avail avail __attribute__((aligned(4096)));
  virtq_used used __attribute__((aligned(4096)));
} virtq_mem;

/* Driver-side state of one queue. */
typedef struct virtq {
  virtio_dev *dev;
  virtq_mem *mem;
  uint16_t index;      /* queue number on the device */
  uint16_t size;       /* entries, a power of 2, <= VIRTQ_MAX */
  uint16_t avail_idx;  /* next avail index we publish (free-running) */
  uint16_t kicked_idx; /* avail_idx at the last notification decision */
  uint16_t used_seen;  /* used entries consumed so far (free-running) */
  bool event_idx;      /* VIRTIO_F_RING_EVENT_IDX negotiated */
} virtq;

/* Set up queue `index` of d in mem (cleared here), at most want entries (a
 * power of 2). Interrupts are suppressed from the start. 0 or -WK_ENODEV. */
int virtq_init(virtq *q, virtio_dev *d, uint16_t index, virtq_mem *mem, uint16_t want);

/* Publish descriptor head id in the available ring (no notification). */
void virtq_push(virtq *q, uint16_t id);
/* Notify the device if it asked for it since the last call (VIRTQ_USED_F_NO_NOTIFY
 * or, with EVENT_IDX, avail_event). Returns true if a notification was sent. */
bool virtq_kick(virtq *q);
/* Next used element, if any: true and *id, *len set. */
bool virtq_pop(virtq *q, uint16_t *id, uint32_t *len);
/* True when a used element waits (what virtq_pop would take); no side effect. */
bool virtq_pending(const virtq *q);
/* Ask for an interrupt at the next used element (before a halt). Returns false
 * when one is already there: do not halt, poll. */
bool virtq_irq_arm(virtq *q);
/* Back to no interrupts (after the halt). */
void virtq_irq_disarm(virtq *q);

#endif /* WK_VIRTIO_H */
