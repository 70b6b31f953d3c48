/*
 * platform/kvm/nic_kvm.c - the wk_plat_net_* calls of both kvm platforms over
 * their one virtio-net device (nic_kvm.h; finding it is each architecture's).
 *
 * The device is brought up on the first wk_plat_net_open, not at boot, so an
 * image that never uses the network pays nothing.
 *
 * Waiting (wk_plat_net_wait): spin on the RX ring for up to KVM_NET_SPIN_NS
 * (a reply is often that close, and a halt costs an interrupt round trip),
 * then ask the device for an interrupt on the next frame and halt until it
 * or the timeout (kvm_nic_halt). A device whose interrupt is unknown has
 * waiters that spin: the caller polls the rings.
 */
#include "nic_kvm.h"

#include "wk/errno.h"
#include "wk/platform.h"

#define KVM_NET_SPIN_NS 50000ull /* spin this long before halting (see the top) */

static virtio_net nic; /* large (rings + 2 x 256 x 2 KiB buffers): in .bss */
static int nic_state;  /* 0 not tried, 1 up, < 0 the open error */

static void relax(void) {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

static int bring_up(void) {
  int rc = kvm_nic_find(&nic);
  if (rc < 0) {
    return rc;
  }
  if (!nic.has_mac) {
    /* A locally administered unicast address from the entropy source. */
    uint8_t r[6] = {0};
    (void)wk_plat_entropy(r, sizeof r);
    for (int k = 0; k < 6; k++) {
      nic.mac[k] = r[k];
    }
    nic.mac[0] = (uint8_t)((nic.mac[0] & 0xfe) | 0x02);
  }
  return 1;
}

int wk_plat_net_open(wk_plat_netinfo *info) {
  if (nic_state == 0) {
    nic_state = bring_up();
  }
  if (nic_state < 0) {
    return nic_state;
  }
  for (int k = 0; k < 6; k++) {
    info->mac[k] = nic.mac[k];
  }
  info->mtu = nic.mtu; /* 1500, or the device's up to VIRTIO_NET_MTU_MAX (virtio_net.h) */
  wk_netcfg_info(kvm_nic_netcfg(), info);
  return 0;
}

int wk_plat_net_listeners(wk_plat_listen *out, int max) {
  return wk_netcfg_listeners(kvm_nic_netcfg(), out, max);
}

const struct wk_net_ops *wk_plat_net_sockets(void) { return NULL; /* the network is the NIC */ }

int wk_plat_net_send(const wk_plat_iov *iov, int iovcnt) {
  return nic_state == 1 ? virtio_net_send(&nic, iov, iovcnt) : -WK_ENODEV;
}

long wk_plat_net_recv(void *buf, size_t cap) {
  return nic_state == 1 ? virtio_net_recv(&nic, buf, cap) : -WK_ENODEV;
}

void wk_plat_net_wait(uint64_t timeout_ns) {
  if (nic_state != 1 || !kvm_nic_has_irq()) {
    return; /* no interrupt to wake us: the caller polls the rings */
  }
  uint64_t t0 = wk_plat_clock_monotonic(), spun = 0;
  while (spun < KVM_NET_SPIN_NS && spun < timeout_ns) {
    if (virtio_net_rx_pending(&nic)) {
      return;
    }
    relax();
    spun = wk_plat_clock_monotonic() - t0;
  }
  if (spun >= timeout_ns || !virtio_net_irq_arm(&nic)) {
    return; /* time is up, or a frame came in while arming */
  }
  (void)kvm_nic_halt(timeout_ns - spun);
  virtio_net_irq_disarm(&nic);
}

void wk_plat_net_flush(void) {
  if (nic_state == 1) {
    virtio_net_flush(&nic);
  }
}
