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
  uint64_t wanted = 1ull << VIRTIO_NET_F_MAC | 1ull << VIRTIO_F_RING_EVENT_IDX |
                    1ull << VIRTIO_NET_F_MTU | 1ull << VIRTIO_NET_F_MRG_RXBUF;
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
  /* The device's MTU (config offset 10, after mac[6], status, max_virtqueue_pairs), used
   * only with mergeable RX buffers: a longer frame does not fit one 2 KiB buffer. */
  n->mrg_rx = virtio_has(&n->dev, VIRTIO_NET_F_MRG_RXBUF);
  n->mtu = 1500;
  if (n->mrg_rx && virtio_has(&n->dev, VIRTIO_NET_F_MTU)) {
    uint8_t m[2];
    virtio_config_read(&n->dev, 10, m, sizeof m);
    uint16_t mtu = (uint16_t)(m[0] | m[1] << 8);
    n->mtu = mtu < 1500 ? 1500 : mtu > VIRTIO_NET_MTU_MAX ? VIRTIO_NET_MTU_MAX : mtu;
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

/* Take back the TX buffers the device is done with: each used entry names the
 * head of a chain (one descriptor per VIRTIO_NET_BUF of the frame), followed
 * through our own descriptors (the device does not write them). */
static void tx_reclaim(virtio_net *n) {
  uint16_t id;
  uint32_t len;
  while (virtq_pop(&n->tx, &id, &len)) {
    for (int k = 0; k < VIRTIO_NET_DESCS_MAX && id < n->tx.size && n->tx_nfree < n->tx.size; k++) {
      n->tx_free[n->tx_nfree++] = id;
      const virtq_desc *d = &n->tx_mem.desc[id];
      if ((d->flags & VIRTQ_DESC_F_NEXT) == 0) {
        break;
      }
      id = d->next;
    }
  }
}

int virtio_net_send(virtio_net *n, const wk_plat_iov *iov, int iovcnt) {
  size_t total = 0;
  for (int i = 0; i < iovcnt; i++) {
    if (iov[i].len > (size_t)n->mtu + 14 - total) {
      return -WK_EMSGSIZE;
    }
    total += iov[i].len;
  }
  /* The header and the frame, in VIRTIO_NET_BUF pieces: one descriptor each. */
  uint16_t need = (uint16_t)((VIRTIO_NET_HDR_LEN + total + VIRTIO_NET_BUF - 1) / VIRTIO_NET_BUF);
  if (n->tx_nfree < need) {
    tx_reclaim(n);
    if (n->tx_nfree < need) {
      n->stats.tx_full++;
      return -WK_EAGAIN;
    }
  }
  uint16_t ids[VIRTIO_NET_DESCS_MAX] = {0};
  for (uint16_t k = 0; k < need; k++) {
    ids[k] = n->tx_free[--n->tx_nfree];
  }
  uint16_t k = 0;
  uint8_t *buf = n->tx_buf[ids[0]];
  __builtin_memset(buf, 0, VIRTIO_NET_HDR_LEN); /* no offloads: an all-zero header (inlined) */
  size_t off = VIRTIO_NET_HDR_LEN;
  for (int i = 0; i < iovcnt; i++) {
    const uint8_t *src = iov[i].base;
    size_t left = iov[i].len;
    while (left > 0) {
      if (off == VIRTIO_NET_BUF) {
        buf = n->tx_buf[ids[++k]];
        off = 0;
      }
      size_t chunk = VIRTIO_NET_BUF - off < left ? VIRTIO_NET_BUF - off : left;
      copy_bytes(buf + off, src, chunk);
      off += chunk;
      src += chunk;
      left -= chunk;
    }
  }
  size_t rest = VIRTIO_NET_HDR_LEN + total;
  for (uint16_t j = 0; j < need; j++) {
    virtq_desc *d = &n->tx_mem.desc[ids[j]];
    d->addr = virtio_phys(n->tx_buf[ids[j]]);
    d->len = (uint32_t)(rest < VIRTIO_NET_BUF ? rest : VIRTIO_NET_BUF);
    rest -= d->len;
    d->flags = j + 1 < need ? VIRTQ_DESC_F_NEXT : 0;
    d->next = j + 1 < need ? ids[j + 1] : 0;
  }
  virtq_push(&n->tx, ids[0]);
  n->stats.tx_frames++;
  return 0;
}

/* The frame's RX buffers after the first (mergeable buffers: num_buffers in the
 * header says how many), appended to dst at off when they fit cap, re-posted
 * either way. Returns the frame's length, or -1 when it did not fit or the
 * device gave fewer buffers than it said. */
static long rx_rest(virtio_net *n, uint16_t more, uint8_t *dst, size_t off, size_t cap) {
  long total = (long)off;
  for (uint16_t k = 0; k < more; k++) {
    uint16_t id;
    uint32_t len;
    if (!virtq_pop(&n->rx, &id, &len) || id >= n->rx.size) {
      return -1; /* a device bug: the rest never came, or an id we never posted */
    }
    if (total >= 0 && len <= VIRTIO_NET_BUF && (size_t)total + len <= cap) {
      copy_bytes(dst + total, n->rx_buf[id], len);
      total += (long)len;
    } else {
      total = -1;
    }
    rx_post(n, id);
  }
  return total;
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
  uint16_t more = 0;
  if (n->mrg_rx && len >= VIRTIO_NET_HDR_LEN) {
    const uint8_t *h = n->rx_buf[id];
    uint16_t nb = (uint16_t)(h[10] | h[11] << 8); /* num_buffers */
    /* Every buffer of the frame is taken, even when it is too long to keep (a host
     * sender's datagram above the MTU): left in the ring, its rest would be read as
     * frames. */
    more = nb > 1 && nb <= n->rx.size ? (uint16_t)(nb - 1) : 0;
  }
  if (len < VIRTIO_NET_HDR_LEN || len > VIRTIO_NET_BUF) {
    n->stats.rx_dropped++;
    rc = -WK_EMSGSIZE;
  } else if (len - VIRTIO_NET_HDR_LEN > cap) {
    n->stats.rx_dropped++;
    rc = -WK_EMSGSIZE;
  } else {
    size_t flen = len - VIRTIO_NET_HDR_LEN;
    copy_bytes(buf, n->rx_buf[id] + VIRTIO_NET_HDR_LEN, flen);
    rc = (long)flen;
  }
  rx_post(n, id);
  if (more > 0) {
    long total = rx_rest(n, more, buf, rc < 0 ? cap + 1 : (size_t)rc, cap);
    if (rc >= 0 && total < 0) {
      n->stats.rx_dropped++;
      rc = -WK_EMSGSIZE;
    } else if (rc >= 0) {
      rc = total;
    }
  }
  if (rc >= 0) {
    n->stats.rx_frames++;
  }
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

void virtio_net_irq_disarm(virtio_net *n) {
  virtq_irq_disarm(&n->rx);
  (void)n->dev.ops->irq_ack(&n->dev);
}
