/*
 * net_kvm_aarch64.c - the NIC of the aarch64 kvm platform: virtio-net over
 * QEMU virt's virtio-mmio transports, and the net.* tokens of the command line.
 *
 * virt has 32 transports of 512 bytes at 0x0a000000, transport i raising SPI
 * 16 + i, edge-triggered (its device tree); they lie in the boot map's device
 * range. The first modern virtio-net device found is used (QEMU needs
 * -global virtio-mmio.force-legacy=false, as on microvm). It is brought up on
 * the first wk_plat_net_open, not at boot.
 *
 * Waiting (wk_plat_net_wait): spin on the RX ring for up to KVM_NET_SPIN_NS,
 * then ask the device for an interrupt on the next frame and wait in WFI
 * (a64_wait: the virtual timer bounds it) until that interrupt or the
 * timeout. The interrupt is never taken (IRQs stay masked, gic_aarch64.c):
 * its pending state is cleared in the GIC and the device's interrupt status
 * acknowledged afterwards.
 */
#include <stdbool.h>

#include "cpu_aarch64.h"
#include "kvm.h"
#include "netcfg_plat.h"
#include "virtio_mmio.h"
#include "virtio_net.h"
#include "wk/errno.h"
#include "wk/platform.h"

#define VIRT_MMIO_BASE 0x0a000000u
#define VIRT_MMIO_SLOTS 32
#define VIRT_MMIO_FIRST_SPI 16
#define KVM_NET_MTU 1500
#define KVM_NET_SPIN_NS 50000ull

static wk_plat_netcfg netcfg; /* net.ip=, net.gw=, net.listen=, net.dns= */
static virtio_net nic;        /* large (rings, buffers): in .bss */
static int nic_state;         /* 0 not tried, 1 up, < 0 the open error */
static uint32_t nic_intid;    /* its SPI's interrupt ID; 0 when waiters must spin */

const char *kvm_net_parse(const char *raw) {
  size_t i = 0;
  while (raw[i] != '\0') {
    if (raw[i] == ' ') {
      i++;
      continue;
    }
    size_t start = i;
    while (raw[i] != '\0' && raw[i] != ' ') {
      i++;
    }
    bool taken;
    const char *err = wk_netcfg_token(&netcfg, raw + start, i - start, &taken);
    if (err != NULL) {
      return err;
    }
  }
  return wk_netcfg_check(&netcfg);
}

static void warn(const char *msg) {
  size_t n = 0;
  while (msg[n] != '\0') {
    n++;
  }
  (void)wk_plat_console_write(2, msg, n);
}

static int nic_bring_up(void) {
  for (uint32_t k = 0; k < VIRT_MMIO_SLOTS; k++) {
    virtio_dev d;
    virtio_mmio_probe_result r = virtio_mmio_probe(VIRT_MMIO_BASE + k * VIRTIO_MMIO_SLOT_SIZE, &d);
    if (r == VIRTIO_MMIO_LEGACY) {
      warn(
          "wasmkiln: legacy virtio-mmio device ignored "
          "(QEMU: -global virtio-mmio.force-legacy=false)\n");
    }
    if (r != VIRTIO_MMIO_MODERN || d.device_id != VIRTIO_ID_NET) {
      continue;
    }
    if (virtio_net_init(&nic, &d) < 0) {
      warn("wasmkiln: the virtio-net device failed to initialise\n");
      return -WK_EIO;
    }
    uint32_t intid = A64_INTID_SPI(VIRT_MMIO_FIRST_SPI + k);
    nic_intid = a64_gic_enable(intid, true) == 0 ? intid : 0;
    if (!nic.has_mac) { /* a locally administered unicast address */
      uint8_t r6[6] = {0};
      (void)wk_plat_entropy(r6, sizeof r6);
      for (int b = 0; b < 6; b++) {
        nic.mac[b] = r6[b];
      }
      nic.mac[0] = (uint8_t)((nic.mac[0] & 0xfe) | 0x02);
    }
    return 1;
  }
  return -WK_ENODEV;
}

int wk_plat_net_open(wk_plat_netinfo *info) {
  if (nic_state == 0) {
    nic_state = nic_bring_up();
  }
  if (nic_state < 0) {
    return nic_state;
  }
  for (int k = 0; k < 6; k++) {
    info->mac[k] = nic.mac[k];
  }
  info->mtu = KVM_NET_MTU;
  wk_netcfg_info(&netcfg, info);
  return 0;
}

int wk_plat_net_listeners(wk_plat_listen *out, int max) {
  return wk_netcfg_listeners(&netcfg, out, max);
}

const struct wk_net_ops *wk_plat_net_sockets(void) { return NULL; /* the network is the NIC */ }

int wk_plat_net_send(const wk_plat_iov *iov, int iovcnt) {
  return nic_state == 1 ? virtio_net_send(&nic, iov, iovcnt) : -WK_ENODEV;
}

long wk_plat_net_recv(void *buf, size_t cap) {
  return nic_state == 1 ? virtio_net_recv(&nic, buf, cap) : -WK_ENODEV;
}

void wk_plat_net_wait(uint64_t timeout_ns) {
  if (nic_state != 1 || nic_intid == 0) {
    return; /* no interrupt to wake us: the caller polls the rings */
  }
  uint64_t t0 = wk_plat_clock_monotonic(), spun = 0;
  while (spun < KVM_NET_SPIN_NS && spun < timeout_ns) {
    if (virtio_net_rx_pending(&nic)) {
      return;
    }
    __asm__ volatile("yield");
    spun = wk_plat_clock_monotonic() - t0;
  }
  if (spun >= timeout_ns || !virtio_net_irq_arm(&nic)) {
    return; /* time is up, or a frame came in while arming */
  }
  (void)a64_wait(timeout_ns - spun);
  bool fired = a64_gic_pending(nic_intid);
  a64_gic_clear(nic_intid);
  virtio_net_irq_disarm(&nic, fired);
}

void wk_plat_net_flush(void) {
  if (nic_state == 1) {
    virtio_net_flush(&nic);
  }
}
