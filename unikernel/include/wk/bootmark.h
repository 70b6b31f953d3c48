/*
 * wk/bootmark.h - WK_BOOT_MARK("name"): in a runtime configured with
 * -DWK_BOOT_MARKS=ON, one "wasmkiln-mark name" line on the guest's stderr
 * where it passes a phase on the way to a server's first answer (guest entry,
 * NIC up, listening, first connection, first send); bench/kvm_phases.py
 * timestamps the
 * lines on the host as they arrive. Nothing at all in a default build.
 */
#ifndef WK_BOOTMARK_H
#define WK_BOOTMARK_H

#ifdef WK_BOOT_MARKS
#include "wk/platform.h"
#define WK_BOOT_MARK(name) \
  (void)wk_plat_console_write(2, "wasmkiln-mark " name "\n", sizeof("wasmkiln-mark " name "\n") - 1)
/* The first time only (a connection, a send). */
#define WK_BOOT_MARK_ONCE(name) \
  do {                          \
    static int wk_marked_;      \
    if (!wk_marked_) {          \
      wk_marked_ = 1;           \
      WK_BOOT_MARK(name);       \
    }                           \
  } while (0)
#else
#define WK_BOOT_MARK(name) ((void)0)
#define WK_BOOT_MARK_ONCE(name) ((void)0)
#endif

#endif
