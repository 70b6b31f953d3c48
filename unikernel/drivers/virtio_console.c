/*
 * drivers/virtio_console.c - emergency writes on a virtio-mmio console
 * (virtio_console.h).
 */
#include "virtio_console.h"

#include "virtio_mmio.h"
#include "wk/errno.h"

#define VIRTIO_CONSOLE_F_EMERG_WRITE 2
#define CONFIG_EMERG_WR 8 /* struct virtio_console_config: cols, rows, max_nr_ports, emerg_wr */

int virtio_console_init(virtio_dev *d) {
  uint64_t bit = 1ull << VIRTIO_CONSOLE_F_EMERG_WRITE;
  if ((d->ops->device_features(d) & bit) == 0) {
    return -WK_ENOTSUP;
  }
  int rc = virtio_negotiate(d, bit, bit);
  if (rc < 0) {
    return rc;
  }
  virtio_driver_ok(d);
  return 0;
}

void virtio_console_write(virtio_dev *d, const void *buf, size_t len) {
  const unsigned char *p = buf;
  for (size_t i = 0; i < len; i++) {
    virtio_mmio_config_write32(d, CONFIG_EMERG_WR, p[i]);
  }
}
