/*
 * wasi/internal_wasi.h - private to wasi/: per-instance WASI state and the
 * preview1 type layouts (witx typenames) the functions write into guest memory.
 */
#ifndef WK_INTERNAL_WASI_H
#define WK_INTERNAL_WASI_H

#include <stdint.h>

#include "wk/abi.h"
#include "wk/core.h"
#include "wk/errno.h"

/* filetype */
enum { WK_FILETYPE_UNKNOWN = 0, WK_FILETYPE_CHARACTER_DEVICE = 2 };

/* fdflags */
enum {
  WK_FDFLAGS_APPEND = 1,
  WK_FDFLAGS_DSYNC = 2,
  WK_FDFLAGS_NONBLOCK = 4,
  WK_FDFLAGS_RSYNC = 8,
  WK_FDFLAGS_SYNC = 16,
  WK_FDFLAGS_ALL = 31,
};

/* rights (bit numbers from the witx `rights` flags) */
#define WK_RIGHT(bit) ((uint64_t)1 << (bit))
#define WK_RIGHT_FD_READ WK_RIGHT(1)
#define WK_RIGHT_FD_FDSTAT_SET_FLAGS WK_RIGHT(3)
#define WK_RIGHT_FD_WRITE WK_RIGHT(6)
#define WK_RIGHT_FD_FILESTAT_GET WK_RIGHT(21)
#define WK_RIGHT_POLL_FD_READWRITE WK_RIGHT(27)

/* fdstat: u8 filetype @0, u16 flags @2, u64 rights_base @8, u64 rights_inheriting @16 */
#define WK_FDSTAT_SIZE 24
/* filestat: dev @0, ino @8, u8 filetype @16, nlink @24, size @32, atim @40, mtim @48, ctim @56 */
#define WK_FILESTAT_SIZE 64
/* iovec / ciovec: u32 buf @0, u32 buf_len @4 */
#define WK_IOVEC_SIZE 8
/* subscription: u64 userdata @0, u8 tag @8, union @16 (clock: u32 id @16, u64 timeout @24,
 * u64 precision @32, u16 flags @40; fd_read/fd_write: u32 fd @16) */
#define WK_SUBSCRIPTION_SIZE 48
/* event: u64 userdata @0, u16 error @8, u8 type @10, u64 nbytes @16, u16 flags @24 */
#define WK_EVENT_SIZE 32
enum { WK_EVENTTYPE_CLOCK = 0, WK_EVENTTYPE_FD_READ = 1, WK_EVENTTYPE_FD_WRITE = 2 };
enum { WK_SUBCLOCKFLAGS_ABSTIME = 1 };
enum {
  WK_CLOCK_REALTIME = 0,
  WK_CLOCK_MONOTONIC = 1,
  WK_CLOCK_PROCESS_CPUTIME = 2,
  WK_CLOCK_THREAD_CPUTIME = 3,
};

/* Per-instance state of the WASI layer (kept in the instance's WASI slot). */
typedef struct wk_wasi_state {
  uint8_t stdio_closed[3];
  uint16_t stdio_fdflags[3];
} wk_wasi_state;

/* This instance's WASI state, created on first use; NULL only if the heap is full. */
wk_wasi_state *wk_wasi_state_get(wk_vmctx *vm);

/* 1 if fd is one of 0/1/2 and not closed. */
int wk_wasi_stdio_open(wk_vmctx *vm, int32_t fd);

/* Write `*val` of `size` bytes at a guest offset; WK_ESUCCESS or WK_EFAULT. */
static inline int32_t wk_wasi_put(wk_vmctx *vm, int32_t ptr, const void *val, uint32_t size) {
  void *p = wk_guest_ptr(vm, (uint32_t)ptr, size);
  if (!p) return WK_EFAULT;
  __builtin_memcpy(p, val, size);
  return WK_ESUCCESS;
}

#endif /* WK_INTERNAL_WASI_H */
