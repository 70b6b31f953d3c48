/*
 * net_kvm.c - the NIC of the x86_64 kvm platform: virtio-net over virtio-mmio
 * (QEMU microvm, Firecracker) or virtio-pci (q35), and the network tokens of
 * the command line.
 *
 * Command line (README.md "Network"), read at boot by kvm_net_parse:
 *   net.ip=, net.gw=, net.listen=   the run's settings (../netcfg_plat.h)
 *   virtio_mmio.device=SIZE@BASE:IRQ   a virtio-mmio device (what microvm's
 *                        auto-kernel-cmdline and Firecracker append)
 * Devices: the virtio_mmio.device windows in order; without any, PCI bus 0 is
 * scanned, then the microvm window (KVM_MICROVM_MMIO_BASE, 512-byte slots) is
 * probed. The first modern
 * virtio-net device found is used; its registers are mapped uncached. The
 * wk_plat_net_* calls over it are nic_kvm.c's (both architectures').
 *
 * Waiting: nic_kvm.c spins, then halts here (kvm_nic_halt, idle_kvm.c) until
 * the device's interrupt or the timeout. The interrupt: on virtio-mmio the token's IRQ,
 * routed through the IOAPIC; on virtio-pci (q35) an MSI-X message. A virtio-mmio
 * device found by probing (no token) has no known IRQ: its waiters spin.
 */
#include <stdbool.h>

#include "cpu_x86_64.h"
#include "kvm.h"
#include "netcfg_plat.h"
#include "nic_kvm.h"
#include "virtio_mmio.h"
#include "virtio_net.h"
#include "virtio_pci.h"
#include "wk/errno.h"
#include "wk/platform.h"

#define KVM_MICROVM_MMIO_BASE 0xfeb00000u
#define KVM_MICROVM_MMIO_SLOTS 32         /* microvm has 24 transports at most; bounded */
#define KVM_MMIO_DEVICES_MAX 16           /* virtio_mmio.device tokens remembered */
#define KVM_MMIO_HOLE_START 0xc0000000ull /* 3 GiB: VMMs keep RAM below this */
#define KVM_MMIO_HOLE_END 0x100000000ull
#define KVM_NO_IRQ UINT64_MAX

static struct {
  wk_plat_netcfg net; /* net.ip=, net.gw=, net.listen= */
  int ndev;
  uint64_t dev_base[KVM_MMIO_DEVICES_MAX];
  uint64_t dev_size[KVM_MMIO_DEVICES_MAX];
  uint64_t dev_irq[KVM_MMIO_DEVICES_MAX]; /* GSI; KVM_NO_IRQ when the token had none */
} cfg;

static bool nic_irq; /* its interrupt reaches KVM_IRQ_NIC: waiters may halt */

/* ---- command-line tokens ---------------------------------------------------- */

static const char *parse_token(const char *t, size_t len) {
  size_t i;
  bool taken;
  const char *err = wk_netcfg_token(&cfg.net, t, len, &taken);
  if (taken || err != NULL) {
    return err;
  }
  if (wk_netcfg_prefix(t, len, "virtio_mmio.device=")) {
    /* SIZE[K|M]@BASE:IRQ[:ID]; only SIZE and BASE matter here. */
    uint64_t size, base;
    i = 19;
    if (!wk_netcfg_num(t, len, &i, 1ull << 32, &size)) {
      return "command line: bad virtio_mmio.device= size";
    }
    if (i < len && (t[i] == 'K' || t[i] == 'k')) {
      size <<= 10;
      i++;
    } else if (i < len && (t[i] == 'M' || t[i] == 'm')) {
      size <<= 20;
      i++;
    }
    if (i >= len || t[i] != '@') {
      return "command line: bad virtio_mmio.device= (SIZE@BASE:IRQ)";
    }
    i++;
    if (!wk_netcfg_num(t, len, &i, UINT64_MAX, &base) || size < 0x100) {
      return "command line: bad virtio_mmio.device= base";
    }
    uint64_t irq = KVM_NO_IRQ;
    if (i < len && t[i] == ':') {
      i++;
      if (!wk_netcfg_num(t, len, &i, 255, &irq)) {
        return "command line: bad virtio_mmio.device= IRQ";
      }
    }
    if (cfg.ndev < KVM_MMIO_DEVICES_MAX) {
      cfg.dev_base[cfg.ndev] = base;
      cfg.dev_size[cfg.ndev] = size;
      cfg.dev_irq[cfg.ndev] = irq;
      cfg.ndev++;
    }
  }
  return NULL;
}

/* One of the image's recorded tokens (kvm.h wk_image_net_tokens): only its
 * net.listen= and net.publish= settings count. */
static const char *image_token(const char *t, size_t len) {
  if (!wk_netcfg_prefix(t, len, "net.listen=") && !wk_netcfg_prefix(t, len, "net.publish=")) {
    return NULL;
  }
  bool taken;
  return wk_netcfg_token(&cfg.net, t, len, &taken);
}

/* Call take on each space-separated token of s; the first error stops. */
static const char *each_token(const char *s, const char *(*take)(const char *, size_t)) {
  size_t i = 0;
  while (s[i] != '\0') {
    if (s[i] == ' ') {
      i++;
      continue;
    }
    size_t start = i;
    while (s[i] != '\0' && s[i] != ' ') {
      i++;
    }
    const char *err = take(s + start, i - start);
    if (err != NULL) {
      return err;
    }
  }
  return NULL;
}

const char *kvm_net_parse(const char *raw) {
  const char *err = each_token(raw, parse_token);
  if (err == NULL && cfg.net.nlisten == 0 && wk_image_net_tokens) {
    err = each_token(wk_image_net_tokens, image_token);
  }
  return err != NULL ? err : wk_netcfg_check(&cfg.net);
}

/* ---- the device --------------------------------------------------------------- */

static void warn(const char *msg) {
  size_t n = 0;
  while (msg[n] != '\0') {
    n++;
  }
  (void)wk_plat_console_write(2, msg, n);
}

/* Bring up the virtio-net device at base if there is one: 1 up, 0 not a
 * net device, < 0 a net device that failed. */
static int try_window(virtio_net *nic, uint64_t base) {
  /* Only the MMIO hole under 4 GiB (identity-mapped, no RAM there: microvm
   * at 0xfeb00000, Firecracker at 0xd0000000); a window in RAM would make
   * RAM uncached. */
  if (base < KVM_MMIO_HOLE_START || base >= KVM_MMIO_HOLE_END - VIRTIO_MMIO_SLOT_SIZE ||
      x86_mmu_set_uncached((uintptr_t)base, VIRTIO_MMIO_SLOT_SIZE) != 0) {
    return 0;
  }
  virtio_dev d;
  virtio_mmio_probe_result r = virtio_mmio_probe((uintptr_t)base, &d);
  if (r == VIRTIO_MMIO_LEGACY) {
    warn(
        "wasmkiln: legacy virtio-mmio device ignored "
        "(QEMU: -global virtio-mmio.force-legacy=false)\n");
    return 0;
  }
  if (r != VIRTIO_MMIO_MODERN || d.device_id != VIRTIO_ID_NET) {
    return 0;
  }
  int rc = virtio_net_init(nic, &d);
  return rc < 0 ? rc : 1;
}

/* Bring up a virtio-net device on PCI bus 0 slot if there is one (q35): 1 up,
 * 0 not a net device, < 0 a net device that failed. Its queues signal
 * KVM_IRQ_NIC by MSI-X when the function has it. */
static int try_pci(virtio_net *nic, uint8_t slot) {
  virtio_dev d;
  virtio_pci_probe_result r = virtio_pci_probe(slot, &d);
  if (r == VIRTIO_PCI_LEGACY && d.device_id == VIRTIO_ID_NET) {
    warn("wasmkiln: legacy virtio-pci device ignored (QEMU: disable-legacy=on)\n");
  }
  if (r == VIRTIO_PCI_BAD_BAR) {
    warn("wasmkiln: virtio-pci device ignored: its BARs are outside [3 GiB, 4 GiB)\n");
  }
  if (r != VIRTIO_PCI_MODERN || d.device_id != VIRTIO_ID_NET) {
    return 0;
  }
  if (x86_apic_init() == 0) {
    uint64_t addr;
    uint32_t data;
    x86_msi_message(KVM_IRQ_NIC, &addr, &data);
    nic_irq = virtio_pci_msix(slot, &d, addr, data) == 0;
  }
  int rc = virtio_net_init(nic, &d);
  return rc < 0 ? rc : 1;
}

int kvm_nic_find(virtio_net *nic) {
  int rc = 0;
  if (cfg.ndev > 0) {
    for (int k = 0; k < cfg.ndev && rc == 0; k++) {
      rc = try_window(nic, cfg.dev_base[k]);
      if (rc == 1 && cfg.dev_irq[k] != KVM_NO_IRQ && x86_apic_init() == 0) {
        nic_irq = x86_ioapic_route((uint32_t)cfg.dev_irq[k], KVM_IRQ_NIC) == 0;
      }
    }
  } else {
    /* No virtio_mmio.device= token: a PCI machine (q35), or microvm without
     * auto-kernel-cmdline. PCI bus 0 first (on microvm nothing answers there),
     * then the microvm window. */
    for (uint8_t slot = 0; slot < VIRTIO_PCI_SLOTS && rc == 0; slot++) {
      rc = try_pci(nic, slot);
    }
    for (uint32_t k = 0; k < KVM_MICROVM_MMIO_SLOTS && rc == 0; k++) {
      rc = try_window(nic, KVM_MICROVM_MMIO_BASE + k * VIRTIO_MMIO_SLOT_SIZE);
    }
  }
  if (rc == 0) {
    return -WK_ENODEV;
  }
  if (rc < 0) {
    warn("wasmkiln: the virtio-net device failed to initialise\n");
    return -WK_EIO;
  }
  return 1;
}

const wk_plat_netcfg *kvm_nic_netcfg(void) { return &cfg.net; }

bool kvm_nic_has_irq(void) { return nic_irq; }

bool kvm_nic_halt(uint64_t timeout_ns) {
  uint64_t seen;
  (void)kvm_halt(timeout_ns, &seen);
  return (seen & KVM_IRQ_BIT(KVM_IRQ_NIC)) != 0;
}
