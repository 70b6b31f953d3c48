/*
 * console_kvm_aarch64.c - console streams and exit for the aarch64 kvm
 * platform (QEMU virt).
 *
 *   stdout (stream 1)  the PL011 UART at 0x09000000 (virt's only UART)
 *   stderr (stream 2)  Arm semihosting: SYS_WRITE to ":tt" opened for append,
 *                      which QEMU (SH_EXT_STDOUT_STDERR) writes to its own stderr
 *   exit               semihosting SYS_EXIT with ADP_Stopped_ApplicationExit
 *                      and the code: QEMU exits with that status
 * virt has one UART, and no device like x86's isa-debug-exit, so stderr and
 * the exit code travel by semihosting (QEMU: -semihosting-config
 * enable=on,target=native). README.md "aarch64" says what that
 * costs: semihosting also lets EL1 code open host files. A virtio-console
 * for stderr and PSCI SYSTEM_OFF after a control line would avoid it.
 */
#include <stdbool.h>

#include "cpu_aarch64.h"
#include "kvm.h"
#include "uart_pl011.h"
#include "wk/errno.h"
#include "wk/platform.h"

#define VIRT_PL011 0x09000000u
#define SEMI_SYS_OPEN 0x01
#define SEMI_SYS_WRITE 0x05
#define SEMI_SYS_EXIT 0x18
#define SEMI_APPLICATION_EXIT 0x20026
#define SEMI_MODE_APPEND 8 /* ":tt" for "a" is stderr ("w" would be stdout) */

static long semihost(uint64_t op, const void *params) {
  register uint64_t x0 __asm__("x0") = op;
  register const void *x1 __asm__("x1") = params;
  __asm__ volatile("hlt #0xf000" : "+r"(x0) : "r"(x1) : "memory");
  return (long)x0;
}

static long tt_handle = -1;

void kvm_console_init(void) {
  pl011_init(VIRT_PL011);
  static const char tt[] = ":tt";
  const uint64_t open[3] = {(uint64_t)(uintptr_t)tt, SEMI_MODE_APPEND, sizeof tt - 1};
  tt_handle = semihost(SEMI_SYS_OPEN, open);
}

int wk_plat_console_write(int stream, const void *buf, size_t len) {
  switch (stream) {
  case 1:
    pl011_write(VIRT_PL011, buf, len);
    return 0;
  case 2: {
    if (tt_handle < 0) {
      return -WK_EIO;
    }
    const uint64_t write[3] = {(uint64_t)tt_handle, (uint64_t)(uintptr_t)buf, len};
    return semihost(SEMI_SYS_WRITE, write) == 0 ? 0 : -WK_EIO; /* returns bytes NOT written */
  }
  default:
    return -WK_EBADF;
  }
}

long wk_plat_console_read(void *buf, size_t len) {
  (void)buf;
  (void)len;
  return 0;
}

_Noreturn void wk_plat_exit(int code) {
  pl011_flush(VIRT_PL011);
  /* QEMU exits with the subcode as its status (the OS keeps its low 8 bits). */
  const uint64_t block[2] = {SEMI_APPLICATION_EXIT, (uint64_t)(int64_t)code};
  (void)semihost(SEMI_SYS_EXIT, block);
  a64_halt_forever(); /* no semihosting: the runner's timeout stops us */
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
