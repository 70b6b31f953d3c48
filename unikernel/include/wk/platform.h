/*
 * wk/platform.h - what a platform (kvm, spt, ...) gives the runtime core.
 *
 * A platform owns the machine: it boots, sets up a stack, gathers the
 * arguments and environment, and then calls wk_main() exactly once. Everything
 * the core and the WASI layer need from the outside world goes through the
 * calls below; nothing else is shared between the layers.
 *
 * Error contract: calls that can fail return a negative WASI-style errno
 * (e.g. -WK_EIO); none of them abort.
 */
#ifndef WK_PLATFORM_H
#define WK_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

/* What the platform hands to the core. All pointers stay valid for the run. */
typedef struct wk_bootinfo {
  int argc; /* guest argv, argv[0] is the program name */
  const char *const *argv;
  int envc; /* "KEY=VALUE" strings */
  const char *const *envp;
  void *mem_base;      /* one zeroed, writable region for the runtime heap and */
  uint64_t mem_size;   /* linear memory; the core carves it up */
  uintptr_t stack_low; /* lowest address of the stack wk_main runs on */
  uint64_t start_ns;   /* monotonic time the run began: the zero of the process
                          CPU-time clocks. kvm's clock counts from boot and
                          passes 0, so wk_main need not read (and calibrate) it */
} wk_bootinfo;

/* Run the image's module; returns the guest's exit code. Provided by core. */
int wk_main(const wk_bootinfo *bi);

/* ---- Guard-region linear memory (optional) --------------------------------
 * A platform with paging may give linear memory a reservation of
 * WK_MEMORY_RESERVE bytes (4 GiB + guard; wk/abi_layout.h) where only the
 * current size is accessible, so generated code needs no bounds checks
 * (docs/abi.md "Linear memory"). Such a platform defines the three calls below
 * and the symbol wk_runtime_memory_guard (modules compiled for guard memory
 * reference it, so they cannot link with a runtime without it); core declares
 * the calls weak and uses explicit checks where they are absent. */

/* Reserve `size` bytes of inaccessible address space; NULL when impossible. */
void *wk_plat_memory_reserve(uint64_t size);
/* Make [addr, addr + size) of a reservation readable, writable and zero;
 * 0 or a negative errno (the memory.grow then fails). */
int wk_plat_memory_commit(void *addr, uint64_t size);

/* Provided by core, for the platform's fault handler: if addr lies in the
 * reservation of the running instance's memory, raise the out-of-bounds trap
 * (unwinds to wk_main, never returns); otherwise return, and the platform
 * reports the fault as a crash. */
void wk_memory_fault(uintptr_t addr);

/* Console: stream 1 is stdout, 2 is stderr. Writes everything or fails. */
int wk_plat_console_write(int stream, const void *buf, size_t len);
/* stdin: bytes read, 0 at end of input, negative errno on error. */
long wk_plat_console_read(void *buf, size_t len);

/* Clocks, in nanoseconds. */
uint64_t wk_plat_clock_monotonic(void);
uint64_t wk_plat_clock_realtime(void);
uint64_t wk_plat_clock_resolution(void);

/* Fill buf with random bytes from the platform's entropy source; 0 or -errno. */
int wk_plat_entropy(void *buf, size_t len);

/* Stop the machine (or process) with this exit code. */
_Noreturn void wk_plat_exit(int code);

/* The packed file system a run supplies (`wasmkiln run IMAGE --dir`, in the
 * format of docs/fs.md), or NULL: it replaces the one linked into the image.
 * kvm gets it as the PVH boot module (QEMU -initrd), spt as a mapped file
 * (--fs-fd N). Optional, hence weak: the host platform has none. */
const uint8_t *wk_plat_fs_image(void) __attribute__((weak));

/* Nothing to do for up to timeout_ns (a poll_oneoff on clocks only): let the
 * CPU rest. May return early, so callers loop on the clock. kvm halts the vCPU
 * until a timer interrupt; spt returns at once (its sandbox has no sleeping
 * call to spare: the caller spins, as before). */
void wk_plat_idle(uint64_t timeout_ns);

/* ---- Network: one Ethernet NIC, polled (no interrupts) --------------------
 * Used by the network layer (unikernel/net, wk/net.h), never by the core.
 * A platform without a NIC returns -WK_ENODEV from wk_plat_net_open; one that
 * has no network support at all (spt for now) need not define these: the
 * net layer is then built as its "none" variant, which never calls them. */

/* One piece of a frame to send. */
typedef struct wk_plat_iov {
  const void *base;
  size_t len;
} wk_plat_iov;

/* What the platform knows about the NIC and its configuration. */
typedef struct wk_plat_netinfo {
  uint8_t mac[6];
  uint16_t mtu;      /* IP MTU in bytes (1500 for virtio-net here) */
  int static_ip;     /* 1: use ip4/prefix4/gw4; 0: use DHCP */
  uint8_t ip4[4];    /* address, network byte order (a.b.c.d = {a,b,c,d}) */
  uint8_t prefix4;   /* netmask length, 0..32 */
  uint8_t gw4[4];    /* default gateway; 0.0.0.0 = none */
  uint8_t dns4[4];   /* DNS server the run named (net.dns=); 0.0.0.0 = DHCP's */
  uint16_t dns_port; /* its UDP port, host order; 0 = 53 */
} wk_plat_netinfo;

/* A listening TCP socket the run asked for: the WASI layer gives the guest one
 * preopened listener per entry. net.listen= (wasmkiln run --listen) puts it
 * before the preopened directories, as wasmtime's -S tcplisten does;
 * net.publish= (-p) after them, where it cannot end wasi-libc's preopen scan
 * (which stops at the first fd that is no directory). */
typedef struct wk_plat_listen {
  uint8_t ip4[4];     /* local address, network byte order; 0.0.0.0 = any */
  uint16_t port;      /* host order, 1..65535 */
  uint8_t after_dirs; /* 1: net.publish=, after the directories */
} wk_plat_listen;
#define WK_PLAT_LISTEN_MAX 16

/* Sockets of the host the platform offers instead of a NIC (spt run with
 * --net host: the host kernel's TCP behind the seccomp filter), as a whole
 * implementation of wk/net.h (wk/net_ops.h); NULL when the network is the NIC
 * (kvm always). The network layer asks once, at its first call. */
struct wk_net_ops;
const struct wk_net_ops *wk_plat_net_sockets(void);

/* The listeners the run asked for, in order: copies at most max entries into
 * out and returns how many there are. Never touches the NIC, so it is cheap
 * for an image that uses no network. */
int wk_plat_net_listeners(wk_plat_listen *out, int max);

/* Bring the NIC up (first call) and describe it. 0, -WK_ENODEV (no NIC),
 * -WK_EIO (the device failed to initialise). Later calls return the same. */
int wk_plat_net_open(wk_plat_netinfo *info);
/* Queue one Ethernet frame (without FCS), gathered from iov, copied at once.
 * 0; -WK_EAGAIN when the TX queue is full (wk_plat_net_flush, then retry);
 * -WK_EMSGSIZE when too long. The frame leaves at the next flush at latest. */
int wk_plat_net_send(const wk_plat_iov *iov, int iovcnt);
/* Copy the next received frame into buf: its length, 0 when none waits,
 * -WK_EMSGSIZE when it did not fit (dropped; call again). Never blocks. */
long wk_plat_net_recv(void *buf, size_t cap);
/* Nothing arrived and the caller has nothing to do: block for at most
 * timeout_ns or until a frame may be waiting, whichever is first (spt: poll(2);
 * kvm: a short spin, then a halt until the NIC's interrupt or a timer). A
 * platform that cannot block returns at once and the caller spins. */
void wk_plat_net_wait(uint64_t timeout_ns);

/* Hand queued frames and free RX buffers to the device (one notification at
 * most, and none if the device did not ask for it). */
void wk_plat_net_flush(void);

#endif /* WK_PLATFORM_H */
