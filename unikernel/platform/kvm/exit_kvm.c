/*
 * exit_kvm.c - what both architectures' kvm platforms do the same way when
 * the guest stops: the control line that carries its exit code to the host
 * runner (README.md "Running an image"), and the boot-error exit.
 */
#include "kvm.h"
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
