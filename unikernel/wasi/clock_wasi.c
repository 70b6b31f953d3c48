/*
 * wasi/clock_wasi.c - clock_*, poll_oneoff, sched_yield.
 *
 * Process and thread CPU-time clocks are approximated by monotonic time since
 * wk_main began (one guest, one thread, nothing else runs). poll_oneoff
 * supports clock subscriptions by busy-waiting on the monotonic clock (the spt
 * sandbox allows no sleeping syscall; a kvm platform would halt instead), and
 * reports stdio descriptor subscriptions as ready at once.
 */
#include "internal_wasi.h"
#include "wk/platform.h"
#include "wk/wasi.h"

/* Current value of a WASI clock; WK_EINVAL for an unknown id. */
static int32_t clock_now(wk_vmctx *vm, uint32_t id, uint64_t *out) {
  switch (id) {
    case WK_CLOCK_REALTIME: *out = wk_plat_clock_realtime(); return WK_ESUCCESS;
    case WK_CLOCK_MONOTONIC: *out = wk_plat_clock_monotonic(); return WK_ESUCCESS;
    case WK_CLOCK_PROCESS_CPUTIME:
    case WK_CLOCK_THREAD_CPUTIME:
      *out = wk_plat_clock_monotonic() - wk_instance_start_ns(vm);
      return WK_ESUCCESS;
    default: return WK_EINVAL;
  }
}

int32_t wk_wasi_clock_time_get(wk_vmctx *vm, int32_t id, int64_t precision, int32_t time_out) {
  (void)precision;
  uint64_t now;
  int32_t err = clock_now(vm, (uint32_t)id, &now);
  return err ? err : wk_wasi_put(vm, time_out, &now, 8);
}

int32_t wk_wasi_clock_res_get(wk_vmctx *vm, int32_t id, int32_t res_out) {
  if ((uint32_t)id > WK_CLOCK_THREAD_CPUTIME) return WK_EINVAL;
  uint64_t res = wk_plat_clock_resolution();
  return wk_wasi_put(vm, res_out, &res, 8);
}

int32_t wk_wasi_sched_yield(wk_vmctx *vm) {
  (void)vm;
  return WK_ESUCCESS;
}

/* ---- poll_oneoff ------------------------------------------------------------ */

typedef struct {
  uint64_t mono_now; /* monotonic time when the poll began */
  uint64_t real_now; /* realtime at the same moment */
  uint64_t start_ns; /* zero of the CPU-time clocks */
} poll_clocks;

/* Spin-loop hint; a CPU without one just spins. */
static inline void cpu_relax(void) {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

static uint64_t sat_add(uint64_t a, uint64_t b) { return b > UINT64_MAX - a ? UINT64_MAX : a + b; }

/* Monotonic deadline of a clock subscription; WK_EINVAL for an unknown clock. */
static int32_t clock_deadline(const uint8_t *sub, const poll_clocks *c, uint64_t *deadline) {
  uint32_t id;
  uint64_t timeout;
  uint16_t flags;
  __builtin_memcpy(&id, sub + 16, 4);
  __builtin_memcpy(&timeout, sub + 24, 8);
  __builtin_memcpy(&flags, sub + 40, 2);
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

static void put_event(uint8_t *ev, const uint8_t *sub, uint16_t error, uint8_t type) {
  __builtin_memset(ev, 0, WK_EVENT_SIZE);
  __builtin_memcpy(ev, sub, 8); /* userdata */
  __builtin_memcpy(ev + 8, &error, 2);
  ev[10] = type;
}

int32_t wk_wasi_poll_oneoff(wk_vmctx *vm, int32_t in, int32_t out, int32_t nsubscriptions,
                            int32_t nevents_out) {
  uint32_t n = (uint32_t)nsubscriptions;
  if (n == 0) return WK_EINVAL;
  const uint8_t *subs = wk_guest_ptr(vm, (uint32_t)in, (uint64_t)n * WK_SUBSCRIPTION_SIZE);
  uint8_t *events = wk_guest_ptr(vm, (uint32_t)out, (uint64_t)n * WK_EVENT_SIZE);
  if (!subs || !events || !wk_guest_ptr(vm, (uint32_t)nevents_out, 4)) return WK_EFAULT;

  poll_clocks c = {wk_plat_clock_monotonic(), wk_plat_clock_realtime(), wk_instance_start_ns(vm)};
  uint32_t nev = 0;
  uint64_t earliest = UINT64_MAX;
  int have_clock = 0;

  /* Pass 1: descriptors and bad subscriptions answer at once; find the earliest clock. */
  for (uint32_t i = 0; i < n; i++) {
    const uint8_t *sub = subs + (uint64_t)i * WK_SUBSCRIPTION_SIZE;
    uint8_t tag = sub[8];
    if (tag == WK_EVENTTYPE_CLOCK) {
      uint64_t d;
      if (clock_deadline(sub, &c, &d)) {
        put_event(events + (uint64_t)nev++ * WK_EVENT_SIZE, sub, WK_EINVAL, tag);
        continue;
      }
      have_clock = 1;
      if (d < earliest) earliest = d;
    } else if (tag == WK_EVENTTYPE_FD_READ || tag == WK_EVENTTYPE_FD_WRITE) {
      int32_t fd;
      __builtin_memcpy(&fd, sub + 16, 4);
      int ok = wk_wasi_stdio_open(vm, fd) && (tag == WK_EVENTTYPE_FD_READ ? fd == 0 : fd != 0);
      put_event(events + (uint64_t)nev++ * WK_EVENT_SIZE, sub, ok ? WK_ESUCCESS : WK_EBADF, tag);
    } else {
      return WK_EINVAL;
    }
  }

  /* Pass 2: nothing ready yet, so wait for the earliest clock, then report every
   * clock whose deadline has passed. */
  if (nev == 0 && have_clock) {
    uint64_t now;
    while ((now = wk_plat_clock_monotonic()) < earliest) cpu_relax();
    for (uint32_t i = 0; i < n; i++) {
      const uint8_t *sub = subs + (uint64_t)i * WK_SUBSCRIPTION_SIZE;
      uint64_t d;
      if (sub[8] == WK_EVENTTYPE_CLOCK && !clock_deadline(sub, &c, &d) && d <= now)
        put_event(events + (uint64_t)nev++ * WK_EVENT_SIZE, sub, WK_ESUCCESS, WK_EVENTTYPE_CLOCK);
    }
  }
  return wk_wasi_put(vm, nevents_out, &nev, 4);
}
