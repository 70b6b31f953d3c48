/*
 * entropy_kvm.c - random bytes from RDRAND (x86_64 kvm platform).
 *
 * RDRAND can fail transiently (CF=0) when the DRNG is drained; Intel's
 * guidance is to retry up to 10 times before treating it as a failure. Without
 * RDRAND (CPUID.1:ECX bit 30) there is no entropy source: -WK_ENOSYS, never
 * fake randomness. QEMU TCG offers RDRAND with -cpu max.
 */
#include <stdbool.h>

#include "cpu_x86_64.h"
#include "kvm.h"
#include "wk/errno.h"
#include "wk/platform.h"

#define RDRAND_RETRIES 10

static bool rdrand_word(uint64_t *out) {
  for (int i = 0; i < RDRAND_RETRIES; i++) {
    if (x86_rdrand64(out)) {
      return true;
    }
    __asm__ volatile("pause");
  }
  return false;
}

int wk_plat_entropy(void *buf, size_t len) {
  static int have_rdrand = -1;
  if (have_rdrand < 0) {
    have_rdrand = (x86_cpuid(1, 0).ecx >> 30) & 1;
  }
  if (!have_rdrand) {
    return -WK_ENOSYS;
  }
  return kvm_entropy_fill(buf, len, rdrand_word);
}
