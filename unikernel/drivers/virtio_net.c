/*
 * drivers/virtio_net.c - polled virtio-net: RX buffers pre-posted, TX batched
 * with notification suppression. See virtio_net.h for the model.
 */
#include "virtio_net.h"

#include "wk/errno.h"

enum { QUEUE_RX = 0, QUEUE_TX = 1 };

/* Frame copies, 8 bytes per load/store and no libc memcpy. Not `rep movsb`:
 * QEMU TCG (tests, CI) runs it byte by byte, several times slower; on
 * hardware the difference is a few ns per frame. Built with
 * -fno-tree-loop-distribute-patterns so GCC keeps the loops. */
static inline void copy_bytes(void *dst, const void *src, size_t n) {
  uint8_t *d = dst;
  const uint8_t *s = src;
  for (; n >= 32; d += 32, s += 32, n -= 32) {
    uint64_t a, b, c, e;
    __builtin_memcpy(&a, s, 8);
    __builtin_memcpy(&b, s + 8, 8);
    __builtin_memcpy(&c, s + 16, 8);
    __builtin_memcpy(&e, s + 24, 8);
    __builtin_memcpy(d, &a, 8);
    __builtin_memcpy(d + 8, &b, 8);
    __builtin_memcpy(d + 16, &c, 8);
    __builtin_memcpy(d + 24, &e, 8);
  }
  for (; n >= 8; d += 8, s += 8, n -= 8) {
    uint64_t a;
    __builtin_memcpy(&a, s, 8);
    __builtin_memcpy(d, &a, 8);
  }
  for (; n > 0; n--) {
    *d++ = *s++;
  }
}

static inline void zero_bytes(void *dst, size_t n) {
#if defined(__x86_64__)
  __asm__ volatile("rep stosb" : "+D"(dst), "+c"(n) : "a"(0) : "memory");
#else
  for (uint8_t *d = dst; n > 0; n--) { /* a loop: this file is built without memset calls */
    *d++ = 0;
  }
#endif
}

static void rx_post(virtio_net *n, uint16_t id) {
  virtq_desc *d = &n->rx_mem.desc[id];
  d->addr = virtio_phys(n->rx_buf[id]);
  d->len = VIRTIO_NET_BUF;
  d->flags = VIRTQ_DESC_F_WRITE;
  d->next = 0;
  virtq_push(&n->rx, id);
}

int virtio_net_init(virtio_net *n, const virtio_dev *d) {
  if (d->device_id != VIRTIO_ID_NET) {
    return -WK_ENODEV;
  }
  zero_bytes(&n->stats, sizeof n->stats);
  n->dev = *d;
  uint64_t wanted = 1ull << VIRTIO_NET_F_MAC | 1ull << VIRTIO_F_RING_EVENT_IDX;
  int rc = virtio_negotiate(&n->dev, wanted, 0);
  if (rc < 0) {
    return rc;
  }
  rc = virtq_init(&n->rx, &n->dev, QUEUE_RX, &n->rx_mem, VIRTQ_MAX);
  if (rc == 0) {
    rc = virtq_init(&n->tx, &n->dev, QUEUE_TX, &n->tx_mem, VIRTQ_MAX);
  }
  if (rc < 0) {
    n->dev.ops->set_status(&n->dev, VIRTIO_STATUS_FAILED);
    return rc;
  }

  n->has_mac = virtio_has(&n->dev, VIRTIO_NET_F_MAC);
  if (n->has_mac) {
    virtio_config_read(&n->dev, 0, n->mac, sizeof n->mac);
  } else {
    zero_bytes(n->mac, sizeof n->mac);
  }

  for (uint16_t i = 0; i < n->rx.size; i++) {
    rx_post(n, i);
  }
  n->tx_nfree = 0;
  for (uint16_t i = n->tx.size; i > 0; i--) {
    n->tx_free[n->tx_nfree++] = (uint16_t)(i - 1);
  }
  virtio_driver_ok(&n->dev);
  /* The RX buffers went in before DRIVER_OK; tell the device once. */
  n->dev.ops->notify(&n->dev, QUEUE_RX);
  n->rx.kicked_idx = n->rx.avail_idx;
  return 0;
}

/* Take back the TX buffers the device is done with. */
static void tx_reclaim(virtio_net *n) {
  uint16_t id;
  uint32_t len;
  while (virtq_pop(&n->tx, &id, &len)) {
    if (id < n->tx.size && n->tx_nfree < n->tx.size) {
      n->tx_free[n->tx_nfree++] = id;
    }
  }
}

int virtio_net_send(virtio_net *n, const wk_plat_iov *iov, int iovcnt) {
  size_t total = 0;
  for (int i = 0; i < iovcnt; i++) {
    if (iov[i].len > VIRTIO_NET_FRAME_MAX - total) {
      return -WK_EMSGSIZE;
    }
    total += iov[i].len;
  }
  if (n->tx_nfree == 0) {
    tx_reclaim(n);
    if (n->tx_nfree == 0) {
      n->stats.tx_full++;
      return -WK_EAGAIN;
    }
  }
  uint16_t id = n->tx_free[--n->tx_nfree];
  uint8_t *buf = n->tx_buf[id];
  __builtin_memset(buf, 0, VIRTIO_NET_HDR_LEN); /* no offloads: an all-zero header (inlined) */
  size_t off = VIRTIO_NET_HDR_LEN;
  for (int i = 0; i < iovcnt; i++) {
    copy_bytes(buf + off, iov[i].base, iov[i].len);
    off += iov[i].len;
  }
  virtq_desc *d = &n->tx_mem.desc[id];
  d->addr = virtio_phys(buf);
  d->len = (uint32_t)off;
  d->flags = 0;
  d->next = 0;
  virtq_push(&n->tx, id);
  n->stats.tx_frames++;
  return 0;
}

long virtio_net_recv(virtio_net *n, void *buf, size_t cap) {
  uint16_t id;
  uint32_t len;
  for (;;) {
    if (!virtq_pop(&n->rx, &id, &len)) {
      return 0;
    }
    if (id < n->rx.size) {
      break;
    }
    n->stats.rx_dropped++; /* a device bug: an id we never posted */
  }
  long rc;
  if (len < VIRTIO_NET_HDR_LEN || len > VIRTIO_NET_BUF) {
    n->stats.rx_dropped++;
    rc = -WK_EMSGSIZE;
  } else if (len - VIRTIO_NET_HDR_LEN > cap) {
    n->stats.rx_dropped++;
    rc = -WK_EMSGSIZE;
  } else {
    size_t flen = len - VIRTIO_NET_HDR_LEN;
    copy_bytes(buf, n->rx_buf[id] + VIRTIO_NET_HDR_LEN, flen);
    n->stats.rx_frames++;
    rc = (long)flen;
  }
  rx_post(n, id);
  return rc;
}

void virtio_net_flush(virtio_net *n) {
  if (virtq_kick(&n->tx)) {
    n->stats.tx_kicks++;
  }
  if (virtq_kick(&n->rx)) {
    n->stats.rx_kicks++;
  }
}

bool virtio_net_rx_pending(const virtio_net *n) { return virtq_pending(&n->rx); }

bool virtio_net_irq_arm(virtio_net *n) { return virtq_irq_arm(&n->rx); }

void virtio_net_irq_disarm(virtio_net *n, bool acked) {
  virtq_irq_disarm(&n->rx);
  if (acked) {
    (void)n->dev.ops->irq_ack(&n->dev);
  }
}
