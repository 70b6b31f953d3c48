/*
 * clock_kvm.c - clocks for the x86_64 kvm platform.
 *
 * Monotonic: the TSC, counted from boot, converted with a fixed-point factor
 * (ns = base_ns + (ticks - base_tsc) * mult >> 32). Its frequency comes from, in order:
 *   1. CPUID leaf 0x15 (TSC/crystal ratio and crystal frequency) if complete;
 *   2. the PIT (channel 2, mode 0, counter read back) over ~1 ms, refined later;
 *   3. CPUID leaf 0x40000010 (hypervisor-reported TSC kHz);
 *   4. CPUID leaf 0x16 (nominal base MHz), with a warning.
 * Realtime: the CMOS RTC (seconds, UTC) read once plus the monotonic time
 * elapsed since that read. Without an RTC, realtime starts at 0 (1970).
 * QEMU microvm needs pit=on,rtc=on for 2. and the RTC (README.md).
 *
 * Lazy: boot only reads the TSC. The frequency is measured on the first clock
 * read and the RTC on the first realtime read, and most programs never ask for
 * the time. Monotonic time still counts from boot.
 *
 * Short first, exact later: the first clock read is on the start-up path of
 * every server (lwIP's timers), so the PIT gives a first estimate over 1 ms
 * only (a 10 ms window cost a sixth of the kvm image's launch-to-first-response
 * under TCG, bench/kvm_first_response.py). Channel 2 keeps counting down
 * (mode 0 wraps every 65536 ticks, 55 ms), so a later clock read measures the
 * frequency again over the whole time since that first edge: the estimate says
 * how many wraps happened, the counter gives the ticks within the last one.
 * That runs when 64 ms, 1 s and 16 s have passed (each baseline 16 times the
 * last, well inside what the previous estimate's error can tell apart); the
 * monotonic clock is re-based at each step, so it never jumps, only its rate is
 * corrected (by about the first window's error, a fraction of a percent). Both
 * ends of those long measurements are read as narrow TSC brackets around the
 * counter latch (pit_sample). Measured under TCG with the host loaded (load 23
 * on 2 cores): the 1 ms estimate was 0.6% off, 64 ms later 2.5 ppm, after 1 s
 * 0.3 ppm (the host's TSC is 2.6 GHz).
 */
#include <stdbool.h>

#include "cpu_x86_64.h"
#include "kvm.h"
#include "wk/platform.h"

#define PIT_HZ 1193182u
#define PIT_CH2_DATA 0x42
#define PIT_CMD 0x43
#define PIT_PORT_B 0x61       /* bit 0: ch2 gate, bit 1: speaker, bit 5: ch2 out */
#define PIT_CALIB_TICKS 1193u /* 1 ms: the first estimate */
#define PIT_WRAP 65536u       /* mode 0 counts down through 0 to 0xffff */
#define REFINE_FIRST_MS 64u   /* the first re-measurement's baseline */
#define REFINE_STEPS 3u       /* 64 ms, 1 s, 16 s */
#define REFINE_GROWTH 16u     /* each baseline this many times the last */
#define CMOS_INDEX 0x70
#define CMOS_DATA 0x71
#define NSEC_PER_SEC 1000000000ull

static uint64_t tsc_mult; /* ns per tick, 32.32 fixed point; 0 until calibrated */
static uint64_t base_tsc; /* monotonic = base_ns + (tsc - base_tsc) * tsc_mult >> 32; */
static uint64_t base_ns;  /* base_tsc is the TSC at kvm_clock_init until a refinement */
/* The PIT measurement being refined: the TSC and channel 2's count at its first
 * edge, the frequency estimated so far, and when (TSC ticks after pit_tsc) to
 * measure again; refine_after 0: nothing left to refine. */
static uint64_t pit_tsc, pit_hz, refine_after;
static uint16_t pit_count;
static unsigned refine_steps;
static bool rtc_read;     /* rtc_ns and rtc_mono are set */
static uint64_t rtc_ns;   /* RTC at its first read, ns since 1970 */
static uint64_t rtc_mono; /* monotonic time of that RTC read */

static void warn(const char *msg, size_t len) { (void)wk_plat_console_write(2, msg, len); }
#define WARN(lit) warn(lit, sizeof(lit) - 1)

/* ---- TSC frequency --------------------------------------------------------- */

static uint64_t tsc_hz_cpuid15(void) {
  if (x86_cpuid(0, 0).eax < 0x15) {
    return 0;
  }
  x86_cpuid_regs r = x86_cpuid(0x15, 0);
  if (r.eax == 0 || r.ebx == 0 || r.ecx == 0) {
    return 0;
  }
  return (uint64_t)r.ecx * r.ebx / r.eax;
}

/* Latch and read channel 2's current count. */
static uint16_t pit_ch2_count(void) {
  x86_outb(PIT_CMD, 0x80); /* channel 2, counter latch */
  uint8_t lo = x86_inb(PIT_CH2_DATA);
  uint8_t hi = x86_inb(PIT_CH2_DATA);
  return (uint16_t)(hi << 8 | lo);
}

uint64_t kvm_read_bracketed(uint64_t (*now)(void), uint32_t (*read)(void), int tries,
                            uint32_t *value) {
  uint64_t width = UINT64_MAX, at = 0;
  for (int i = 0; i < tries; i++) {
    uint64_t before = now();
    uint32_t v = read();
    uint64_t after = now();
    if (after - before < width) {
      width = after - before;
      at = before + width / 2;
      *value = v;
    }
  }
  return at;
}

static uint64_t tsc_now(void) { return x86_rdtsc(); }
static uint32_t pit_ch2_read(void) { return pit_ch2_count(); }

/* Channel 2's count (*count) and the TSC when it was latched (the narrowest of
 * 4 brackets, kvm_read_bracketed). */
static uint64_t pit_sample(uint16_t *count) {
  uint32_t c = 0;
  uint64_t at = kvm_read_bracketed(tsc_now, pit_ch2_read, 4, &c);
  *count = (uint16_t)c;
  return at;
}

/* Count TSC ticks while channel 2 counts down PIT_CALIB_TICKS from 0xffff.
 * The counter is read back (latch command) rather than watched through the
 * OUT bit in port 0x61: QEMU microvm has no port 0x61 (it belongs to the PC
 * speaker device). Port 0x61 is still written to raise the gate on PCs. */
static uint64_t tsc_hz_pit(void) {
  uint8_t b = x86_inb(PIT_PORT_B);
  x86_outb(PIT_PORT_B, (uint8_t)((b & ~0x02) | 0x01)); /* gate on, speaker off */
  x86_outb(PIT_CMD, 0xb0); /* channel 2, lobyte/hibyte, mode 0, binary */
  x86_outb(PIT_CH2_DATA, 0xff);
  x86_outb(PIT_CH2_DATA, 0xff);

  /* Start on a counter edge, so the first partial tick does not count. */
  uint16_t first = pit_ch2_count();
  uint16_t c = first;
  uint64_t t0 = x86_rdtsc();
  const uint64_t limit = 1ull << 34; /* seconds even on a fast host */
  while ((c = pit_ch2_count()) == first) {
    if (x86_rdtsc() - t0 > limit) {
      return 0; /* not counting: no PIT */
    }
  }
  t0 = x86_rdtsc();
  uint16_t start = c;
  uint64_t t1 = t0;
  for (;;) {
    c = pit_ch2_count();
    t1 = x86_rdtsc();
    if (c > start) {
      return 0; /* wrapped: not a counter we understand */
    }
    if ((uint16_t)(start - c) >= PIT_CALIB_TICKS) {
      break;
    }
    if (t1 - t0 > limit) {
      return 0;
    }
  }
  pit_tsc = pit_sample(&pit_count); /* where the refinements measure from */
  return (t1 - t0) * PIT_HZ / (uint16_t)(start - c);
}

/* Measure again over the whole time since the PIT measurement's first edge
 * (file comment): the TSC ticks elapsed, and the PIT ticks they span, of which
 * the counter gives the part within the last wrap and the estimate the number
 * of wraps. A result far from the estimate (a counter that stopped, a wrap
 * miscounted) is dropped and the estimate kept. */
static uint64_t tsc_hz_refined(void) {
  uint16_t c;
  uint64_t dt = pit_sample(&c) - pit_tsc;
  if (dt > UINT64_MAX / PIT_HZ) {
    return 0; /* hours without a clock read (dt * PIT_HZ would overflow): keep the estimate */
  }
  uint64_t predicted = dt * PIT_HZ / pit_hz;
  uint64_t ticks = (uint16_t)(pit_count - c);
  if (predicted > ticks) {
    ticks += (predicted - ticks + PIT_WRAP / 2) / PIT_WRAP * PIT_WRAP;
  }
  if (ticks == 0) {
    return 0;
  }
  uint64_t hz = dt * PIT_HZ / ticks;
  uint64_t diff = hz > pit_hz ? hz - pit_hz : pit_hz - hz;
  return diff <= pit_hz / 4 ? hz : 0;
}

static uint64_t tsc_hz_hypervisor(void) {
  if ((x86_cpuid(1, 0).ecx & (1u << 31)) == 0) {
    return 0;
  }
  if (x86_cpuid(0x40000000, 0).eax < 0x40000010) {
    return 0;
  }
  return (uint64_t)x86_cpuid(0x40000010, 0).eax * 1000;
}

static uint64_t tsc_hz_cpuid16(void) {
  if (x86_cpuid(0, 0).eax < 0x16) {
    return 0;
  }
  return (uint64_t)(x86_cpuid(0x16, 0).eax & 0xffff) * 1000000;
}

/* ---- RTC ------------------------------------------------------------------- */

static uint8_t cmos_read(uint8_t reg) {
  x86_outb(CMOS_INDEX, reg);
  return x86_inb(CMOS_DATA);
}

typedef struct rtc_time {
  uint8_t sec, min, hour, day, mon, year, century, status_b;
} rtc_time;

static rtc_time rtc_snapshot(void) {
  rtc_time t;
  t.sec = cmos_read(0x00);
  t.min = cmos_read(0x02);
  t.hour = cmos_read(0x04);
  t.day = cmos_read(0x07);
  t.mon = cmos_read(0x08);
  t.year = cmos_read(0x09);
  t.century = cmos_read(0x32);
  t.status_b = cmos_read(0x0b);
  return t;
}

static bool rtc_same(const rtc_time *a, const rtc_time *b) {
  return a->sec == b->sec && a->min == b->min && a->hour == b->hour && a->day == b->day &&
         a->mon == b->mon && a->year == b->year && a->century == b->century;
}

static unsigned bcd(uint8_t v, bool binary) {
  return binary ? v : (unsigned)(v >> 4) * 10 + (v & 0x0f);
}

static bool is_leap(unsigned y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

/* Seconds since 1970-01-01 UTC, or 0 if the RTC is absent or nonsense. */
static uint64_t rtc_read_epoch(void) {
  rtc_time a, b;
  int tries = 0;
  do {
    /* Wait out an update in progress (status A bit 7), bounded. */
    for (int i = 0; i < 100000 && (cmos_read(0x0a) & 0x80); i++) {
    }
    a = rtc_snapshot();
    b = rtc_snapshot();
  } while (!rtc_same(&a, &b) && ++tries < 10);

  bool binary = (a.status_b & 0x04) != 0;
  bool h24 = (a.status_b & 0x02) != 0;
  unsigned sec = bcd(a.sec, binary), min = bcd(a.min, binary);
  unsigned hour = bcd(a.hour & 0x7f, binary);
  if (!h24) {
    hour %= 12;
    if (a.hour & 0x80) {
      hour += 12;
    }
  }
  unsigned day = bcd(a.day, binary), mon = bcd(a.mon, binary);
  unsigned year = bcd(a.year, binary);
  unsigned century = bcd(a.century, binary);
  year += (century >= 19 && century <= 99) ? century * 100 : 2000;
  if (sec > 59 || min > 59 || hour > 23 || day < 1 || day > 31 || mon < 1 || mon > 12 ||
      year < 1970) {
    return 0;
  }

  static const uint16_t days_before_month[12] = {0,   31,  59,  90,  120, 151,
                                                 181, 212, 243, 273, 304, 334};
  uint64_t days = 0;
  for (unsigned y = 1970; y < year; y++) {
    days += is_leap(y) ? 366 : 365;
  }
  days += days_before_month[mon - 1] + (day - 1);
  if (mon > 2 && is_leap(year)) {
    days++;
  }
  return ((days * 24 + hour) * 60 + min) * 60 + sec;
}

/* ---- interface ------------------------------------------------------------- */

void kvm_clock_init(void) { base_tsc = x86_rdtsc(); }

/* The monotonic time at TSC value now, with the current factor. */
static uint64_t mono_at(uint64_t now) {
  return base_ns + (uint64_t)(((unsigned __int128)(now - base_tsc) * tsc_mult) >> 32);
}

static void set_hz(uint64_t hz) {
  /* 1e9 << 32 < 2^64, so this division needs no 128-bit helper. */
  tsc_mult = (NSEC_PER_SEC << 32) / hz;
}

static void refine(uint64_t now) {
  uint64_t hz = tsc_hz_refined();
  if (hz != 0) {
    base_ns = mono_at(now); /* re-base: the clock goes on from here at the new rate */
    base_tsc = now;
    set_hz(hz);
    pit_hz = hz;
  }
  refine_after = ++refine_steps < REFINE_STEPS ? refine_after * REFINE_GROWTH : 0;
}

static void calibrate(void) {
  uint64_t hz = tsc_hz_cpuid15();
  if (hz == 0) {
    hz = tsc_hz_pit();
    if (hz != 0) {
      pit_hz = hz;
      refine_after = hz / 1000 * REFINE_FIRST_MS;
    }
  }
  if (hz == 0) {
    hz = tsc_hz_hypervisor();
  }
  if (hz == 0) {
    hz = tsc_hz_cpuid16();
    if (hz != 0) {
      WARN("wasmkiln: no PIT to calibrate the TSC; using the CPU's nominal frequency\n");
    }
  }
  if (hz == 0) {
    hz = 1000000000;
    WARN("wasmkiln: TSC frequency unknown; assuming 1 GHz\n");
  }
  set_hz(hz);
}

uint64_t wk_plat_clock_monotonic(void) {
  if (tsc_mult == 0) {
    calibrate();
  }
  uint64_t now = x86_rdtsc();
  if (refine_after != 0 && now - pit_tsc >= refine_after) {
    refine(now);
  }
  return mono_at(now);
}

uint64_t wk_plat_clock_realtime(void) {
  if (!rtc_read) {
    uint64_t secs = rtc_read_epoch();
    if (secs == 0) {
      WARN("wasmkiln: no usable RTC; the realtime clock starts at 1970-01-01\n");
    }
    rtc_mono = wk_plat_clock_monotonic();
    rtc_ns = secs * NSEC_PER_SEC;
    rtc_read = true;
  }
  return rtc_ns + (wk_plat_clock_monotonic() - rtc_mono);
}

uint64_t wk_plat_clock_resolution(void) { return 1; }
