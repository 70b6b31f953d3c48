/*
 * drivers/virtio_net.h - virtio-net device driver (virtio spec v1.2, 5.1),
 * polled, over any virtio transport (see virtio.h).
 *
 * One RX queue and one TX queue, each up to VIRTQ_MAX entries with one
 * VIRTIO_NET_BUF-byte buffer per descriptor (12-byte virtio_net_hdr + one
 * Ethernet frame, no FCS). Frames are copied in and out of these buffers: one
 * copy each way, no buffer ownership crossing the driver boundary.
 *
 * RX buffers are all posted at init and re-posted as soon as a frame is taken.
 * TX frames are queued without notifying the device; virtio_net_flush sends
 * one notification for the batch, and only if the device asked for one
 * (VIRTQ_USED_F_NO_NOTIFY or EVENT_IDX). Interrupts are requested only for RX,
 * and only between virtio_net_irq_arm and virtio_net_irq_disarm, which the
 * platform calls around a halt.
 *
 * Frames longer than one buffer (a device that reports an MTU above 1500,
 * VIRTIO_NET_F_MTU: QEMU's host_mtu=) need mergeable RX buffers
 * (VIRTIO_NET_F_MRG_RXBUF: the device spreads a frame over num_buffers RX
 * buffers) and go out as a chain of TX descriptors; without MRG_RXBUF the MTU
 * stays 1500. Offloads (checksum, TSO) are not negotiated: QEMU offers them
 * only to a back end with a vnet header (a tap), not to passt's stream
 * socket; the network stack computes checksums while it copies.
 * All state is in the caller's virtio_net (about 1.1 MiB with its buffers).
 */
#ifndef WK_VIRTIO_NET_H
#define WK_VIRTIO_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio.h"
#include "wk/platform.h"

#define VIRTIO_NET_F_MTU 3
#define VIRTIO_NET_F_MAC 5
#define VIRTIO_NET_F_MRG_RXBUF 15
#define VIRTIO_NET_F_STATUS 16

#define VIRTIO_NET_HDR_LEN 12 /* struct virtio_net_hdr with num_buffers (VERSION_1) */
#define VIRTIO_NET_BUF 2048   /* per descriptor; >= 1526 as 5.1.6.3.1 asks */
/* The largest IP MTU taken from a device that reports one (VIRTIO_NET_F_MTU): a 9000-byte
 * jumbo frame is 5 descriptors each way (see the top); more gains little under TCG, where
 * the bytes' copies and checksums, not the frames, are most of the cost. */
#define VIRTIO_NET_MTU_MAX 9000
#define VIRTIO_NET_FRAME_MAX (VIRTIO_NET_MTU_MAX + 14) /* + the Ethernet header */
#define VIRTIO_NET_DESCS_MAX \
  ((VIRTIO_NET_FRAME_MAX + VIRTIO_NET_HDR_LEN + VIRTIO_NET_BUF - 1) / VIRTIO_NET_BUF)

typedef struct virtio_net_stats {
  uint64_t rx_frames, rx_dropped; /* dropped: too long for the caller, or bad */
  uint64_t tx_frames, tx_full;    /* full: a send found no free TX buffer */
  uint64_t rx_kicks, tx_kicks;    /* notifications actually sent */
} virtio_net_stats;

typedef struct virtio_net {
  virtio_dev dev;
  virtq rx, tx;
  uint8_t mac[6];
  int has_mac;  /* the device gave a MAC address (VIRTIO_NET_F_MAC) */
  uint16_t mtu; /* the IP MTU to use: the device's (<= VIRTIO_NET_MTU_MAX), or 1500 */
  bool mrg_rx;  /* VIRTIO_NET_F_MRG_RXBUF: a frame may span RX buffers */
  uint16_t tx_free[VIRTQ_MAX]; /* stack of free TX descriptor ids */
  uint16_t tx_nfree;
  virtio_net_stats stats;
  virtq_mem rx_mem, tx_mem;
  uint8_t rx_buf[VIRTQ_MAX][VIRTIO_NET_BUF] __attribute__((aligned(64)));
  uint8_t tx_buf[VIRTQ_MAX][VIRTIO_NET_BUF] __attribute__((aligned(64)));
} virtio_net;

/* Bring up a probed virtio device (d->device_id must be VIRTIO_ID_NET): feature
 * negotiation, both queues, RX buffers posted, DRIVER_OK. 0 or -errno. */
int virtio_net_init(virtio_net *n, const virtio_dev *d);

/* Queue one frame gathered from iov (copied; the iov may be reused at once).
 * 0; -WK_EAGAIN when every TX buffer is in flight (flush, then retry);
 * -WK_EMSGSIZE when longer than VIRTIO_NET_FRAME_MAX. */
int virtio_net_send(virtio_net *n, const wk_plat_iov *iov, int iovcnt);

/* Copy the next received frame into buf (up to VIRTIO_NET_FRAME_MAX bytes when
 * the MTU is above 1500). Returns its length, 0 when none is waiting, or
 * -WK_EMSGSIZE when it was longer than cap (it is dropped). */
long virtio_net_recv(virtio_net *n, void *buf, size_t cap);

/* Notify the device about queued TX frames and re-posted RX buffers, if it
 * asked to be told. */
void virtio_net_flush(virtio_net *n);

/* Waiting for frames: true when one is there to receive (memory only, no exit). */
bool virtio_net_rx_pending(const virtio_net *n);
/* Before halting: ask for an interrupt on the next received frame. False when
 * one already waits (then do not halt). */
bool virtio_net_irq_arm(virtio_net *n);
/* After halting: no more interrupts, and acknowledge any that came, whether or
 * not the halt saw it (an exit or two): one raised after the halt ended on its
 * timer would otherwise keep the level line high, so no later frame would make
 * the edge the next halt waits for, and a halt elsewhere (a clock wait) would
 * take its vector without acknowledging it. */
void virtio_net_irq_disarm(virtio_net *n);

#endif /* WK_VIRTIO_NET_H */
