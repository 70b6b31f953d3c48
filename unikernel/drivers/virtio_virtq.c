/*
 * drivers/virtio_virtq.c - feature negotiation and split virtqueues, for any
 * virtio transport (virtio spec v1.2, 3.1 and 2.7).
 *
 * Memory ordering: the device is another CPU (QEMU's I/O thread) reading and
 * writing the rings concurrently. x86 keeps stores in order and loads in
 * order, so a compiler barrier is enough between filling a descriptor and
 * publishing its index, and between reading used->idx and the element; the one
 * store-then-load case (publish avail->idx, then read whether the device wants
 * a notification) needs a full fence. AArch64 orders neither, so there the
 * ordering barrier is a real one (DMB ISH, both directions).
 */
#include "virtio.h"
#include "wk/errno.h"

/* Keep stores (or loads) on either side in order, as the device sees them. */
static inline void barrier_compiler(void) {
#if defined(__aarch64__)
  __asm__ volatile("dmb ish" ::: "memory");
#else
  __asm__ volatile("" ::: "memory");
#endif
}

static inline void barrier_full(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

#define RESET_SPINS 1000000 /* bound on waiting for a reset to complete */
#define CONFIG_TRIES 16     /* bound on config-generation retries */

/* ---- device initialisation (3.1.1) -------------------------------------------- */

int virtio_negotiate(virtio_dev *d, uint64_t wanted, uint64_t required) {
  d->ops->set_status(d, 0);
  for (int i = 0; d->ops->get_status(d) != 0; i++) {
    if (i == RESET_SPINS) {
      return -WK_EIO;
    }
  }
  d->ops->set_status(d, VIRTIO_STATUS_ACKNOWLEDGE);
  d->ops->set_status(d, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);

  uint64_t offered = d->ops->device_features(d);
  required |= 1ull << VIRTIO_F_VERSION_1;
  uint64_t use = offered & (wanted | required);
  if ((use & required) != required) {
    d->ops->set_status(d, VIRTIO_STATUS_FAILED);
    return -WK_ENOTSUP;
  }
  d->ops->driver_features(d, use);
  uint8_t st = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;
  d->ops->set_status(d, st);
  if ((d->ops->get_status(d) & VIRTIO_STATUS_FEATURES_OK) == 0) {
    d->ops->set_status(d, VIRTIO_STATUS_FAILED);
    return -WK_ENOTSUP;
  }
  d->features = use;
  return 0;
}

void virtio_driver_ok(virtio_dev *d) {
  d->ops->set_status(d, (uint8_t)(d->ops->get_status(d) | VIRTIO_STATUS_DRIVER_OK));
}

void virtio_config_read(virtio_dev *d, uint32_t off, void *out, size_t len) {
  uint8_t *o = out;
  for (int t = 0; t < CONFIG_TRIES; t++) {
    uint32_t gen = d->ops->config_generation(d);
    for (size_t i = 0; i < len; i++) {
      o[i] = d->ops->config_read8(d, off + (uint32_t)i);
    }
    if (d->ops->config_generation(d) == gen) {
      return;
    }
  }
}

/* ---- split virtqueues ----------------------------------------------------------- */

/* The event fields live right after the rings, at an offset set by the size. */
static volatile uint16_t *used_event(virtq *q) { return &q->mem->avail.ring[q->size]; }

static volatile uint16_t *avail_event(virtq *q) {
  return (volatile uint16_t *)(void *)&q->mem->used.ring[q->size];
}

int virtq_init(virtq *q, virtio_dev *d, uint16_t index, virtq_mem *mem, uint16_t want) {
  uint16_t max = d->ops->queue_max(d, index);
  if (max == 0) {
    return -WK_ENODEV;
  }
  uint16_t size = want < max ? want : max;
  if (size > VIRTQ_MAX) {
    size = VIRTQ_MAX;
  }
  /* Split rings need a power of 2; round down. */
  while (size & (size - 1)) {
    size &= (uint16_t)(size - 1);
  }
  uint8_t *m = (uint8_t *)mem;
  for (size_t i = 0; i < sizeof *mem; i++) {
    m[i] = 0;
  }
  q->dev = d;
  q->mem = mem;
  q->index = index;
  q->size = size;
  q->avail_idx = 0;
  q->kicked_idx = 0;
  q->used_seen = 0;
  q->event_idx = virtio_has(d, VIRTIO_F_RING_EVENT_IDX);
  virtq_irq_disarm(q);
  return d->ops->queue_enable(d, index, size, virtio_phys(mem->desc), virtio_phys(&mem->avail),
                              virtio_phys(&mem->used));
}

void virtq_push(virtq *q, uint16_t id) {
  q->mem->avail.ring[q->avail_idx & (q->size - 1)] = id;
  barrier_compiler(); /* the entry before the index that publishes it */
  q->avail_idx++;
  *(volatile uint16_t *)&q->mem->avail.idx = q->avail_idx;
}

bool virtq_kick(virtq *q) {
  uint16_t old = q->kicked_idx, now = q->avail_idx;
  if (old == now) {
    return false;
  }
  q->kicked_idx = now;
  barrier_full(); /* avail->idx store before the device's flags are read */
  bool need;
  if (q->event_idx) {
    /* 2.7.10: notify iff avail_event is in [old, now). */
    uint16_t ev = *avail_event(q);
    need = (uint16_t)(now - ev - 1) < (uint16_t)(now - old);
  } else {
    need = (*(volatile uint16_t *)&q->mem->used.flags & VIRTQ_USED_F_NO_NOTIFY) == 0;
  }
  if (need) {
    q->dev->ops->notify(q->dev, q->index);
  }
  return need;
}

/* Polled: never interrupt us. Without EVENT_IDX the flag says so; with it the
 * flag must be 0 and used_event is kept half a ring-space away from the used
 * index (virtq_pop moves it along), which the device cannot reach: it never
 * holds more than size (<= 256) unconsumed entries. */
void virtq_irq_disarm(virtq *q) {
  if (q->event_idx) {
    *used_event(q) = (uint16_t)(q->used_seen + 0x8000);
  } else {
    *(volatile uint16_t *)&q->mem->avail.flags = VIRTQ_AVAIL_F_NO_INTERRUPT;
  }
}

bool virtq_irq_arm(virtq *q) {
  if (q->event_idx) {
    *used_event(q) = q->used_seen; /* 2.7.10: interrupt once used->idx passes it */
  } else {
    *(volatile uint16_t *)&q->mem->avail.flags = 0;
  }
  barrier_full(); /* the request visible before the re-check: no lost wake-up */
  return !virtq_pending(q);
}

bool virtq_pending(const virtq *q) {
  return *(volatile const uint16_t *)&q->mem->used.idx != q->used_seen;
}

bool virtq_pop(virtq *q, uint16_t *id, uint32_t *len) {
  uint16_t used = *(volatile uint16_t *)&q->mem->used.idx;
  if (used == q->used_seen) {
    return false;
  }
  barrier_compiler(); /* read the element only after its index */
  volatile virtq_used_elem *e = &q->mem->used.ring[q->used_seen & (q->size - 1)];
  *id = (uint16_t)e->id;
  *len = e->len;
  q->used_seen++;
  if (q->event_idx) {
    *used_event(q) = (uint16_t)(q->used_seen + 0x8000);
  }
  return true;
}
