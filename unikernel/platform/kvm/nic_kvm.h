/*
 * platform/kvm/nic_kvm.h - the kvm platforms' NIC: what both architectures
 * share (nic_kvm.c: the wk_plat_net_* calls over one virtio-net device, its
 * state, the wait that spins then halts) and what each finds its own way
 * (net_kvm.c on x86_64, net_kvm_aarch64.c: the device, its interrupt, the
 * net.* settings of its command line).
 */
#ifndef WK_NIC_KVM_H
#define WK_NIC_KVM_H

#include <stdbool.h>
#include <stdint.h>

#include "netcfg_plat.h"
#include "virtio_net.h"

/* ---- each architecture's (net_kvm.c, net_kvm_aarch64.c) ---- */

/* Find the virtio-net device and initialise it into *nic: 1, -WK_ENODEV when
 * there is none, -WK_EIO when it failed (the reason said on stderr). Called
 * once, on the first wk_plat_net_open; a device without a MAC gets one after. */
int kvm_nic_find(virtio_net *nic);
/* The run's net.* settings (the command line's). */
const wk_plat_netcfg *kvm_nic_netcfg(void);
/* Whether the device's interrupt can end a halt (else waiters poll the rings). */
bool kvm_nic_has_irq(void);
/* Halt at most timeout_ns or until the device's interrupt; true if it came. */
bool kvm_nic_halt(uint64_t timeout_ns);

#endif /* WK_NIC_KVM_H */
