/*
 * net_kvm_aarch64.c - the NIC of the aarch64 kvm platform: virtio-net over
 * QEMU virt's virtio-mmio transports, and the net.* tokens of the command line.
 *
 * virt has 32 transports of 512 bytes at 0x0a000000, transport i raising SPI
 * 16 + i, edge-triggered (its device tree); they lie in the boot map's device
 * range. The first modern virtio-net device found is used (QEMU needs
 * -global virtio-mmio.force-legacy=false, as on microvm). The wk_plat_net_*
 * calls over it are nic_kvm.c's (both architectures').
 *
 * Waiting: nic_kvm.c spins, then waits here in WFI (kvm_nic_halt; a64_wait:
 * the virtual timer bounds it) until the device's interrupt or the
 * timeout. The interrupt is never taken (IRQs stay masked, gic_aarch64.c):
 * its pending state is cleared in the GIC and the device's interrupt status
 * acknowledged afterwards.
 */
#include <stdbool.h>

#include "cpu_aarch64.h"
#include "kvm.h"
#include "netcfg_plat.h"
#include "nic_kvm.h"
#include "virtio_mmio.h"
#include "virtio_net.h"
#include "wk/errno.h"
#include "wk/platform.h"

#define VIRT_MMIO_BASE 0x0a000000u
#define VIRT_MMIO_SLOTS 32
#define VIRT_MMIO_FIRST_SPI 16

static wk_plat_netcfg netcfg; /* net.ip=, net.gw=, net.listen=, net.dns= */
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

int kvm_nic_find(virtio_net *nic) {
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
    if (virtio_net_init(nic, &d) < 0) {
      warn("wasmkiln: the virtio-net device failed to initialise\n");
      return -WK_EIO;
    }
    uint32_t intid = A64_INTID_SPI(VIRT_MMIO_FIRST_SPI + k);
    nic_intid = a64_gic_enable(intid, true) == 0 ? intid : 0;
    return 1;
  }
  return -WK_ENODEV;
}

const wk_plat_netcfg *kvm_nic_netcfg(void) { return &netcfg; }

bool kvm_nic_has_irq(void) { return nic_intid != 0; }

bool kvm_nic_halt(uint64_t timeout_ns) {
  (void)a64_wait(timeout_ns);
  bool fired = a64_gic_pending(nic_intid);
  a64_gic_clear(nic_intid);
  return fired;
}
