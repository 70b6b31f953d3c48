/*
 * platform/spt/net_spt.c - the spt platform's NIC: Ethernet frames over a
 * connected stream socket in QEMU's "stream" framing (a 4-byte big-endian
 * length, then the frame), which is what `passt --fd` speaks. The runner
 * (pyhook/run/runner.py) makes a socketpair, hands one end to passt (which does
 * DHCP, ARP and the port forwards `-t HOST:GUEST`) and the other to us:
 *
 *   IMAGE --net fd=N [--net net.listen=A.B.C.D:PORT]... [--net net.ip=...] ...
 *
 * The fd is made non-blocking before the sandbox is sealed; afterwards only
 * read, write and poll on exactly this fd are allowed (seccomp_spt.c).
 * Received bytes go to a reassembly buffer from which frames are cut one by
 * one; frames to send are batched in a second buffer and written at flush
 * (or when it is full), so a burst of segments costs one write.
 *
 * Or a host tap device (`wasmkiln run --tap IFNAME`, root): `--net tap=N`.
 * A tap fd carries one whole frame per read or write, with no length prefix;
 * the send buffer keeps its framing and flush writes the frames one by one.
 *
 * Or no NIC at all: `--net host --net hostfd=N...` gives the guest the host's
 * own listening sockets, one hostfd= per net.listen=/net.publish= token, in
 * order (sock_spt.c). `--net outbound` adds the grant to reach out on the
 * host's sockets (TCP connect, UDP, name lookup at net.dns=), which the
 * seccomp filter then allows (seccomp_spt.c).
 */
#include <linux/errno.h>
#include <linux/fcntl.h>
#include <linux/poll.h>
#include <stdbool.h>

#include "../netcfg_plat.h"
#include "net_spt.h"
#include "syscall_spt_x86_64.h"
#include "wk/errno.h"

#define SPT_NET_MTU 1500
#define FRAME_MAX 1518      /* Ethernet header + 1500 + VLAN tag, no FCS */
#define RX_BUF (256 * 1024) /* reassembly: many frames per read */
#define TX_BUF (128 * 1024) /* batched frames, written at flush */
#define WRITE_WAIT_MS 20    /* a full socket: wait this long per round */

static struct {
  int fd;        /* -1: no NIC */
  bool tap;      /* fd is a tap device: a frame per read/write, no length prefix */
  bool host;     /* --net host: the host's sockets (sock_spt.c), no NIC */
  bool outbound; /* --net outbound: with host, the guest may connect, use UDP, look names up */
  int nhost, host_fds[WK_PLAT_LISTEN_MAX];
  uint32_t spin_us; /* --net spin=US: how long a host-socket wait spins before it sleeps */
  wk_plat_netcfg net;
  bool up;
  uint8_t mac[6];
  uint32_t rx_len, rx_off; /* bytes in rx, bytes already taken */
  uint32_t tx_len;
} nic = {.fd = -1, .spin_us = WK_SPT_NET_SPIN_US};

/* The frame buffers live apart from `nic`: an initialised object goes to
 * .data, every byte of it in the file, and these 384 KiB made a stripped spt
 * hello 561 KB instead of ~180 KB. Zero-initialised, they are .bss: anonymous
 * pages the kernel maps on first touch, nothing in the file and nothing paid
 * by a program that never uses the network. */
static struct {
  uint8_t rx[RX_BUF];
  uint8_t tx[TX_BUF];
} bufs;

int wk_spt_net_fd(void) { return nic.fd; }

int wk_spt_net_host(void) { return nic.host; }

int wk_spt_net_outbound(void) { return nic.host && nic.outbound; }

int wk_spt_net_dns(uint8_t ip[4], uint16_t *port) {
  if (nic.net.dns_port == 0) return 0;
  for (int k = 0; k < 4; k++) ip[k] = nic.net.dns4[k];
  *port = nic.net.dns_port;
  return 1;
}

uint64_t wk_spt_net_spin_ns(void) { return (uint64_t)nic.spin_us * 1000u; }

int wk_spt_net_host_fds(int *out, int max) {
  for (int k = 0; k < nic.nhost && k < max; k++) out[k] = nic.host_fds[k];
  return nic.nhost;
}

const char *wk_spt_net_option(const char *tok) {
  size_t len = 0;
  while (tok[len]) len++;
  bool tap = wk_netcfg_prefix(tok, len, "tap=");
  if (tap || wk_netcfg_prefix(tok, len, "fd=")) {
    size_t i = tap ? 4 : 3;
    uint64_t fd;
    if (!wk_netcfg_num(tok, len, &i, 1 << 20, &fd) || i != len || fd < 3) {
      return "--net fd=N and tap=N want a descriptor >= 3";
    }
    nic.fd = (int)fd;
    nic.tap = tap;
    return NULL;
  }
  if (len == 4 && wk_netcfg_prefix(tok, len, "host")) {
    nic.host = true;
    return NULL;
  }
  if (len == 8 && wk_netcfg_prefix(tok, len, "outbound")) {
    nic.outbound = true;
    return NULL;
  }
  if (wk_netcfg_prefix(tok, len, "hostfd=")) {
    size_t i = 7;
    uint64_t fd;
    if (!wk_netcfg_num(tok, len, &i, 1 << 20, &fd) || i != len || fd < 3) {
      return "--net hostfd=N wants a descriptor >= 3";
    }
    if (nic.nhost == WK_PLAT_LISTEN_MAX) return "--net: more than 16 hostfd= tokens";
    nic.host_fds[nic.nhost++] = (int)fd;
    return NULL;
  }
  if (wk_netcfg_prefix(tok, len, "spin=")) {
    size_t i = 5;
    uint64_t us;
    if (!wk_netcfg_num(tok, len, &i, WK_SPT_NET_SPIN_US_MAX, &us) || i != len) {
      return "--net spin=US wants 0..1000 (microseconds)";
    }
    nic.spin_us = (uint32_t)us;
    return NULL;
  }
  bool taken;
  const char *err = wk_netcfg_token(&nic.net, tok, len, &taken);
  if (err) return err;
  return taken ? NULL
               : "--net takes fd=N, tap=N, host, hostfd=N, outbound, spin=US, net.ip=, net.gw=, "
                 "net.dns=, net.listen= or net.publish=";
}

static long set_nonblock(int fd) {
  long fl = wk_sys3(__NR_fcntl, fd, F_GETFL, 0);
  return fl < 0 ? fl : wk_sys3(__NR_fcntl, fd, F_SETFL, fl | O_NONBLOCK);
}

const char *wk_spt_net_setup(void) {
  const char *err = wk_netcfg_check(&nic.net);
  if (err) return err;
  if (nic.host) {
    if (nic.fd >= 0) return "--net host takes no fd=/tap= (the host's sockets need no NIC)";
    if (nic.nhost != nic.net.nlisten) {
      return "--net host: one hostfd=N per net.listen=/net.publish= token";
    }
  } else if (nic.nhost > 0 || nic.outbound) {
    return nic.outbound ? "--net outbound needs --net host" : "--net hostfd=N needs --net host";
  }
  if (nic.fd < 0 && !nic.host) {
    return nic.net.nlisten > 0 ? "--net net.listen=/net.publish= need --net fd=N (a frames socket)"
                               : NULL;
  }
  if (nic.host) {
    for (int k = 0; k < nic.nhost; k++) {
      if (set_nonblock(nic.host_fds[k]) < 0) return "--net hostfd=N is not an open descriptor";
    }
  } else if (set_nonblock(nic.fd) < 0) {
    return "--net fd=N is not an open descriptor";
  }
  /* If passt (or a client) goes away, writes fail with EPIPE (frames are
   * dropped, as on a pulled cable) instead of SIGPIPE killing the guest. */
  struct {
    unsigned long handler, flags, restorer, mask;
  } ignore = {.handler = 1 /* SIG_IGN */};
  if (wk_sys6(__NR_rt_sigaction, 13 /* SIGPIPE */, (long)&ignore, 0, sizeof ignore.mask, 0, 0) <
      0) {
    return "cannot ignore SIGPIPE for the network";
  }
  return NULL;
}

int wk_plat_net_listeners(wk_plat_listen *out, int max) {
  return wk_netcfg_listeners(&nic.net, out, max);
}

int wk_plat_net_open(wk_plat_netinfo *info) {
  if (nic.fd < 0) return -WK_ENODEV;
  if (!nic.up) {
    /* A locally administered unicast address from the entropy source. */
    (void)wk_plat_entropy(nic.mac, sizeof nic.mac);
    nic.mac[0] = (uint8_t)((nic.mac[0] & 0xfe) | 0x02);
    nic.up = true;
  }
  for (int k = 0; k < 6; k++) info->mac[k] = nic.mac[k];
  info->mtu = SPT_NET_MTU;
  wk_netcfg_info(&nic.net, info);
  return 0;
}

static uint32_t frame_len(const uint8_t *h) {
  return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

static void wait_fd(short events, int ms) {
  struct pollfd p = {.fd = nic.fd, .events = events};
  (void)wk_sys3(__NR_poll, (long)&p, 1, ms);
}

void wk_plat_net_wait(uint64_t timeout_ns) {
  uint32_t have = nic.rx_len - nic.rx_off;
  if (!nic.up || (have >= 4 && have >= 4 + frame_len(bufs.rx + nic.rx_off))) {
    return; /* a whole frame is already here (a lone header still waits) */
  }
  int ms = timeout_ns >= 1000000u ? (int)(timeout_ns / 1000000u) : 1;
  wait_fd(POLLIN, ms > 1000 ? 1000 : ms);
}

/* A tap device takes one frame per write: the batch goes out frame by frame. */
static void flush_tap(void) {
  uint32_t off = 0;
  while (off + 4 <= nic.tx_len) {
    uint32_t flen = frame_len(bufs.tx + off);
    long r = wk_sys3(__NR_write, nic.fd, (long)(bufs.tx + off + 4), flen);
    if (r == -EAGAIN || r == -EINTR) {
      wait_fd(POLLOUT, WRITE_WAIT_MS);
      continue;
    }
    off += 4 + flen; /* sent, or dropped as a pulled cable would */
  }
  nic.tx_len = 0;
}

void wk_plat_net_flush(void) {
  if (nic.tap) {
    flush_tap();
    return;
  }
  uint32_t off = 0;
  while (off < nic.tx_len) {
    long r = wk_sys3(__NR_write, nic.fd, (long)(bufs.tx + off), nic.tx_len - off);
    if (r == -EAGAIN || r == -EINTR) {
      wait_fd(POLLOUT, WRITE_WAIT_MS);
      continue;
    }
    if (r <= 0) break; /* the peer is gone: drop, as a cable pulled out would */
    off += (uint32_t)r;
  }
  nic.tx_len = 0;
}

int wk_plat_net_send(const wk_plat_iov *iov, int iovcnt) {
  if (!nic.up) return -WK_ENODEV;
  size_t len = 0;
  for (int k = 0; k < iovcnt; k++) len += iov[k].len;
  if (len > FRAME_MAX) return -WK_EMSGSIZE;
  if (nic.tx_len + 4 + len > TX_BUF) wk_plat_net_flush();
  uint8_t *p = bufs.tx + nic.tx_len;
  p[0] = (uint8_t)(len >> 24), p[1] = (uint8_t)(len >> 16);
  p[2] = (uint8_t)(len >> 8), p[3] = (uint8_t)len;
  p += 4;
  for (int k = 0; k < iovcnt; k++) {
    /* memcpy (core's `rep movsb`), not a byte loop: with a 64 KiB response
     * the loop was a third of the process's time (perf, docs/performance.md). */
    __builtin_memcpy(p, iov[k].base, iov[k].len);
    p += iov[k].len;
  }
  nic.tx_len += (uint32_t)(4 + len);
  return 0;
}

long wk_plat_net_recv(void *buf, size_t cap) {
  if (!nic.up) return -WK_ENODEV;
  if (nic.tap) { /* one frame per read; a jumbo frame (over FRAME_MAX) is refused */
    long r = wk_sys3(__NR_read, nic.fd, (long)buf, cap);
    return r > FRAME_MAX ? -WK_EMSGSIZE : (r > 0 ? r : 0);
  }
  for (;;) {
    uint32_t have = nic.rx_len - nic.rx_off;
    if (have >= 4) {
      const uint8_t *h = bufs.rx + nic.rx_off;
      uint32_t flen = frame_len(h);
      if (flen > RX_BUF - 4) { /* not our framing: stop listening rather than misparse */
        nic.rx_len = nic.rx_off = 0;
        nic.up = false;
        return 0;
      }
      if (have >= 4 + flen) {
        nic.rx_off += 4 + flen;
        if (flen > cap) return -WK_EMSGSIZE;
        __builtin_memcpy(buf, h + 4, flen);
        return (long)flen;
      }
    }
    /* Need more bytes: move the partial frame to the front, then read. */
    if (nic.rx_off > 0) {
      __builtin_memmove(bufs.rx, bufs.rx + nic.rx_off, have);
      nic.rx_len = have;
      nic.rx_off = 0;
    }
    long r = wk_sys3(__NR_read, nic.fd, (long)(bufs.rx + nic.rx_len), RX_BUF - nic.rx_len);
    if (r <= 0) return 0; /* nothing waiting (EAGAIN), or the peer is gone */
    nic.rx_len += (uint32_t)r;
  }
}
