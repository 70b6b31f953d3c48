/*
 * shared_kvm.c - what both architectures' kvm platforms do the same way: the
 * control line that carries the exit code to the host runner (README.md
 * "Running an image"), the boot-error exit, the run's packed file system and
 * turning a hardware random-word source into bytes.
 */
#include "kvm.h"
#include "wk/errno.h"
#include "wk/platform.h"

size_t kvm_exit_line(char line[KVM_EXIT_LINE_MAX], int code) {
  static const char head[] = "exit ";
  size_t n = 0;
  for (; head[n] != '\0'; n++) {
    line[n] = head[n];
  }
  /* Negate in unsigned arithmetic: INT_MIN has no positive int. */
  uint32_t mag = code < 0 ? 0u - (uint32_t)code : (uint32_t)code;
  if (code < 0) {
    line[n++] = '-';
  }
  char digits[12];
  size_t nd = 0;
  do {
    digits[nd++] = (char)('0' + mag % 10);
    mag /= 10;
  } while (mag != 0);
  while (nd > 0) {
    line[n++] = digits[--nd];
  }
  line[n++] = '\n';
  return n;
}

_Noreturn void kvm_fatal(const char *msg) {
  static const char prefix[] = "wasmkiln: ";
  size_t n = 0;
  while (msg[n] != '\0') {
    n++;
  }
  (void)wk_plat_console_write(2, prefix, sizeof prefix - 1);
  (void)wk_plat_console_write(2, msg, n);
  (void)wk_plat_console_write(2, "\n", 1);
  wk_plat_exit(KVM_EXIT_BOOT_ERROR);
}

kvm_range kvm_fs_module;

void kvm_avoid_fs_module(uint64_t *start, uint64_t *end, uint64_t align) {
  if (kvm_fs_module.size == 0) {
    return;
  }
  uint64_t lo = kvm_align_down(kvm_fs_module.base, align);
  uint64_t hi = kvm_align_up(kvm_fs_module.base + kvm_fs_module.size, align);
  if (lo < *end && hi > *start) { /* keep the larger side */
    uint64_t below = lo > *start ? lo - *start : 0;
    uint64_t above = *end > hi ? *end - hi : 0;
    if (below >= above) {
      *end = *start + below;
    } else {
      *start = hi;
    }
  }
}

const uint8_t *wk_plat_fs_image(void) {
  return kvm_fs_module.size ? (const uint8_t *)(uintptr_t)kvm_fs_module.base : NULL;
}

int kvm_entropy_fill(void *buf, size_t len, bool (*word)(uint64_t *out)) {
  uint8_t *p = buf;
  while (len > 0) {
    uint64_t w = 0;
    if (!word(&w)) {
      return -WK_EIO;
    }
    size_t n = len < sizeof w ? len : sizeof w;
    for (size_t i = 0; i < n; i++) {
      p[i] = (uint8_t)(w >> (8 * i));
    }
    p += n;
    len -= n;
  }
  return 0;
}
