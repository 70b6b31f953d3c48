/*
 * wasi/poll_wasi.c - poll_oneoff (preview 1 and wasi_unstable's layout).
 *
 * Clock subscriptions wait on the monotonic clock in wk_plat_idle (kvm halts
 * the vCPU until a timer; the spt sandbox allows no sleeping syscall, so there
 * it is a busy wait); console and file subscriptions are ready at once; socket
 * subscriptions ask the network layer (sock_wasi.c) and, while none is ready,
 * let the network move (wk_wasi_sock_wait_step) until one is or a clock is due.
 */
#include "fdtable_wasi.h"
#include "guestmem_wasi.h"
#include "sock_wasi.h"
#include "wk/platform.h"
#include "wk/wasi.h"

typedef struct {
  uint64_t mono_now; /* monotonic time when the poll began */
  uint64_t real_now; /* realtime at the same moment */
  uint64_t start_ns; /* zero of the CPU-time clocks */
} poll_clocks;

static uint64_t sat_add(uint64_t a, uint64_t b) { return b > UINT64_MAX - a ? UINT64_MAX : a + b; }

/* Where a subscription keeps its fields: preview 1, or preview 0 (wasi_unstable),
 * whose clock subscription starts with a u64 identifier. */
typedef struct {
  uint32_t size, id, timeout, flags;
} sub_layout;
static const sub_layout P1 = {WK_SUBSCRIPTION_SIZE, 16, 24, 40};
static const sub_layout P0 = {56, 24, 32, 48};

/* Monotonic deadline of a clock subscription; WK_EINVAL for an unknown clock. */
static int32_t clock_deadline(const uint8_t *sub, const sub_layout *l, const poll_clocks *c,
                              uint64_t *deadline) {
  uint32_t id;
  uint64_t timeout;
  uint16_t flags;
  __builtin_memcpy(&id, sub + l->id, 4);
  __builtin_memcpy(&timeout, sub + l->timeout, 8);
  __builtin_memcpy(&flags, sub + l->flags, 2);
  if (!(flags & WK_SUBCLOCKFLAGS_ABSTIME)) {
    if (id > WK_CLOCK_THREAD_CPUTIME) return WK_EINVAL;
    *deadline = sat_add(c->mono_now, timeout);
    return WK_ESUCCESS;
  }
  switch (id) {
  case WK_CLOCK_REALTIME: /* absolute wall time: convert to a monotonic deadline */
    *deadline = timeout <= c->real_now ? c->mono_now : sat_add(c->mono_now, timeout - c->real_now);
    return WK_ESUCCESS;
  case WK_CLOCK_MONOTONIC: *deadline = timeout; return WK_ESUCCESS;
  case WK_CLOCK_PROCESS_CPUTIME:
  case WK_CLOCK_THREAD_CPUTIME: *deadline = sat_add(c->start_ns, timeout); return WK_ESUCCESS;
  default: return WK_EINVAL;
  }
}

static void put_event(uint8_t *ev, const uint8_t *sub, uint16_t error, uint8_t type,
                      uint64_t nbytes) {
  __builtin_memset(ev, 0, WK_EVENT_SIZE);
  __builtin_memcpy(ev, sub, 8); /* userdata */
  __builtin_memcpy(ev + 8, &error, 2);
  ev[10] = type;
  __builtin_memcpy(ev + 16, &nbytes, 8);
}

/* Readiness of an fd subscription: files and the console are always ready
 * (a file reports the bytes left to read); the wrong direction is EBADF.
 * Sockets ask the network layer: WK_EAGAIN means not ready yet. */
static uint16_t fd_ready(wk_vmctx *vm, int32_t fd, uint8_t tag, uint64_t *nbytes) {
  wk_fd *f = wk_wasi_fd(vm, fd);
  *nbytes = 0;
  if (!f) return WK_EBADF;
  if (f->kind == WK_FD_STDIO) {
    int ok = tag == WK_EVENTTYPE_FD_READ ? f->readable : f->writable;
    return ok ? WK_ESUCCESS : WK_EBADF;
  }
  if (f->kind == WK_FD_FILE) {
    if (tag == WK_EVENTTYPE_FD_READ) {
      uint64_t size = wk_fs_size(f->node);
      *nbytes = size > f->offset ? size - f->offset : 0;
    }
    return WK_ESUCCESS;
  }
  if (f->kind == WK_FD_SOCKET) return wk_wasi_sock_ready(f, tag, nbytes) ? WK_ESUCCESS : WK_EAGAIN;
  return WK_EBADF; /* directories */
}

/* poll_oneoff with the subscription layout of a preview (1, or 0 for wasi_unstable). */
static int32_t poll_subscriptions(wk_vmctx *vm, int32_t in, int32_t out, int32_t nsubscriptions,
                                  int32_t nevents_out, int preview0) {
  const sub_layout *l = preview0 ? &P0 : &P1;
  uint32_t n = (uint32_t)nsubscriptions;
  if (n == 0) return WK_EINVAL;
  const uint8_t *subs = wk_guest_ptr(vm, (uint32_t)in, (uint64_t)n * l->size);
  uint8_t *events = wk_guest_ptr(vm, (uint32_t)out, (uint64_t)n * WK_EVENT_SIZE);
  if (!subs || !events || !wk_guest_ptr(vm, (uint32_t)nevents_out, 4)) return WK_EFAULT;

  poll_clocks c = {wk_plat_clock_monotonic(), wk_plat_clock_realtime(), wk_instance_start_ns(vm)};
  uint32_t nev = 0;

  /* Until something is ready: descriptors and bad subscriptions answer as
   * soon as they can; clocks only when no descriptor did and the earliest
   * deadline has passed. While sockets wait, the network is polled. */
  for (;;) {
    uint64_t earliest = UINT64_MAX;
    int have_clock = 0, sockets_wait = 0;
    for (uint32_t i = 0; i < n; i++) {
      const uint8_t *sub = subs + (uint64_t)i * l->size;
      uint8_t tag = sub[8];
      if (tag == WK_EVENTTYPE_CLOCK) {
        uint64_t d;
        if (clock_deadline(sub, l, &c, &d)) {
          put_event(events + (uint64_t)nev++ * WK_EVENT_SIZE, sub, WK_EINVAL, tag, 0);
          continue;
        }
        have_clock = 1;
        if (d < earliest) earliest = d;
      } else if (tag == WK_EVENTTYPE_FD_READ || tag == WK_EVENTTYPE_FD_WRITE) {
        int32_t fd;
        uint64_t nbytes;
        __builtin_memcpy(&fd, sub + 16, 4);
        uint16_t err = fd_ready(vm, fd, tag, &nbytes);
        if (err == WK_EAGAIN) {
          sockets_wait = 1;
          continue;
        }
        put_event(events + (uint64_t)nev++ * WK_EVENT_SIZE, sub, err, tag, nbytes);
      } else {
        return WK_EINVAL;
      }
    }
    if (nev > 0) break;
    uint64_t now = wk_plat_clock_monotonic();
    if (have_clock && now >= earliest) {
      for (uint32_t i = 0; i < n; i++) {
        const uint8_t *sub = subs + (uint64_t)i * l->size;
        uint64_t d;
        if (sub[8] == WK_EVENTTYPE_CLOCK && !clock_deadline(sub, l, &c, &d) && d <= now)
          put_event(events + (uint64_t)nev++ * WK_EVENT_SIZE, sub, WK_ESUCCESS, WK_EVENTTYPE_CLOCK,
                    0);
      }
      break;
    }
    if (sockets_wait) {
      wk_wasi_sock_wait_step(have_clock ? earliest - now : UINT64_MAX);
    } else if (have_clock) {
      for (uint64_t t = now; t < earliest; t = wk_plat_clock_monotonic()) {
        wk_plat_idle(earliest - t); /* kvm halts; spt returns at once */
        wk_wasi_cpu_relax();
      }
    } else {
      break; /* nothing can become ready */
    }
  }
  return wk_wasi_put(vm, nevents_out, &nev, 4);
}

int32_t wk_wasi_poll_oneoff(wk_vmctx *vm, int32_t in, int32_t out, int32_t nsubscriptions,
                            int32_t nevents_out) {
  return poll_subscriptions(vm, in, out, nsubscriptions, nevents_out, 0);
}

int32_t wk_wasi_unstable_poll_oneoff(wk_vmctx *vm, int32_t in, int32_t out, int32_t nsubscriptions,
                                     int32_t nevents_out) {
  return poll_subscriptions(vm, in, out, nsubscriptions, nevents_out, 1);
}
