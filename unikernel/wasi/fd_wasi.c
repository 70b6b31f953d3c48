/*
 * wasi/fd_wasi.c - fd_* calls. Only the stdio descriptors exist for now:
 * 0 reads the platform console, 1 and 2 write to it. Any other descriptor is
 * EBADF; seeking a character device is ESPIPE.
 */
#include "internal_wasi.h"
#include "wk/platform.h"
#include "wk/wasi.h"

wk_wasi_state *wk_wasi_state_get(wk_vmctx *vm) {
  void **slot = wk_instance_layer_slot(vm, WK_LAYER_WASI);
  if (!*slot) *slot = wk_instance_alloc(vm, sizeof(wk_wasi_state));
  return *slot;
}

int wk_wasi_stdio_open(wk_vmctx *vm, int32_t fd) {
  if (fd < 0 || fd > 2) return 0;
  wk_wasi_state *st = wk_wasi_state_get(vm);
  return st && !st->stdio_closed[fd];
}

/*
 * Check the iovec array and every buffer in it before any I/O, so a bad
 * pointer is EFAULT with nothing done. Returns the host pointer of the array.
 */
static int32_t check_iovs(wk_vmctx *vm, int32_t iovs, int32_t iovs_len, const uint8_t **out) {
  uint64_t bytes = (uint64_t)(uint32_t)iovs_len * WK_IOVEC_SIZE;
  const uint8_t *arr = wk_guest_ptr(vm, (uint32_t)iovs, bytes);
  if (!arr) return WK_EFAULT;
  for (uint32_t i = 0; i < (uint32_t)iovs_len; i++) {
    uint32_t buf, len;
    __builtin_memcpy(&buf, arr + i * WK_IOVEC_SIZE, 4);
    __builtin_memcpy(&len, arr + i * WK_IOVEC_SIZE + 4, 4);
    if (!wk_guest_ptr(vm, buf, len)) return WK_EFAULT;
  }
  *out = arr;
  return WK_ESUCCESS;
}

static void iov_at(wk_vmctx *vm, const uint8_t *arr, uint32_t i, uint8_t **buf, uint32_t *len) {
  uint32_t off;
  __builtin_memcpy(&off, arr + i * WK_IOVEC_SIZE, 4);
  __builtin_memcpy(len, arr + i * WK_IOVEC_SIZE + 4, 4);
  *buf = wk_guest_ptr(vm, off, *len); /* checked by check_iovs */
}

int32_t wk_wasi_fd_write(wk_vmctx *vm, int32_t fd, int32_t iovs, int32_t iovs_len,
                         int32_t nwritten_out) {
  if ((fd != 1 && fd != 2) || !wk_wasi_stdio_open(vm, fd)) return WK_EBADF;
  const uint8_t *arr;
  int32_t err = check_iovs(vm, iovs, iovs_len, &arr);
  if (err) return err;
  if (!wk_guest_ptr(vm, (uint32_t)nwritten_out, 4)) return WK_EFAULT;
  uint32_t total = 0;
  for (uint32_t i = 0; i < (uint32_t)iovs_len; i++) {
    uint8_t *buf;
    uint32_t len;
    iov_at(vm, arr, i, &buf, &len);
    if (len > UINT32_MAX - total) break; /* nwritten is a u32: stop short */
    if (len == 0) continue;
    int r = wk_plat_console_write(fd, buf, len);
    if (r < 0) {
      if (total) break; /* report the partial write */
      return (int32_t)-r;
    }
    total += len;
  }
  return wk_wasi_put(vm, nwritten_out, &total, 4);
}

int32_t wk_wasi_fd_read(wk_vmctx *vm, int32_t fd, int32_t iovs, int32_t iovs_len,
                        int32_t nread_out) {
  if (fd != 0 || !wk_wasi_stdio_open(vm, fd)) return WK_EBADF;
  const uint8_t *arr;
  int32_t err = check_iovs(vm, iovs, iovs_len, &arr);
  if (err) return err;
  if (!wk_guest_ptr(vm, (uint32_t)nread_out, 4)) return WK_EFAULT;
  /* One read into the first non-empty buffer: a short read is allowed, and a
   * second read could block after data already arrived. */
  uint32_t got = 0;
  for (uint32_t i = 0; i < (uint32_t)iovs_len; i++) {
    uint8_t *buf;
    uint32_t len;
    iov_at(vm, arr, i, &buf, &len);
    if (len == 0) continue;
    long r = wk_plat_console_read(buf, len);
    if (r < 0) return (int32_t)-r;
    got = (uint32_t)r;
    break;
  }
  return wk_wasi_put(vm, nread_out, &got, 4);
}

int32_t wk_wasi_fd_close(wk_vmctx *vm, int32_t fd) {
  if (!wk_wasi_stdio_open(vm, fd)) return WK_EBADF;
  wk_wasi_state_get(vm)->stdio_closed[fd] = 1;
  return WK_ESUCCESS;
}

int32_t wk_wasi_fd_seek(wk_vmctx *vm, int32_t fd, int64_t offset, int32_t whence,
                        int32_t newoffset_out) {
  (void)offset;
  (void)newoffset_out;
  if (!wk_wasi_stdio_open(vm, fd)) return WK_EBADF;
  if (whence < 0 || whence > 2) return WK_EINVAL;
  return WK_ESPIPE;
}

int32_t wk_wasi_fd_tell(wk_vmctx *vm, int32_t fd, int32_t offset_out) {
  (void)offset_out;
  return wk_wasi_stdio_open(vm, fd) ? WK_ESPIPE : WK_EBADF;
}

int32_t wk_wasi_fd_sync(wk_vmctx *vm, int32_t fd) {
  return wk_wasi_stdio_open(vm, fd) ? WK_ESUCCESS : WK_EBADF;
}

int32_t wk_wasi_fd_datasync(wk_vmctx *vm, int32_t fd) {
  return wk_wasi_stdio_open(vm, fd) ? WK_ESUCCESS : WK_EBADF;
}

static uint64_t stdio_rights(int32_t fd) {
  uint64_t common =
      WK_RIGHT_FD_FDSTAT_SET_FLAGS | WK_RIGHT_FD_FILESTAT_GET | WK_RIGHT_POLL_FD_READWRITE;
  return common | (fd == 0 ? WK_RIGHT_FD_READ : WK_RIGHT_FD_WRITE);
}

int32_t wk_wasi_fd_fdstat_get(wk_vmctx *vm, int32_t fd, int32_t fdstat_out) {
  if (!wk_wasi_stdio_open(vm, fd)) return WK_EBADF;
  uint8_t st[WK_FDSTAT_SIZE] = {0};
  uint16_t flags = wk_wasi_state_get(vm)->stdio_fdflags[fd];
  uint64_t base = stdio_rights(fd), inheriting = 0;
  st[0] = WK_FILETYPE_CHARACTER_DEVICE;
  __builtin_memcpy(st + 2, &flags, 2);
  __builtin_memcpy(st + 8, &base, 8);
  __builtin_memcpy(st + 16, &inheriting, 8);
  return wk_wasi_put(vm, fdstat_out, st, sizeof st);
}

int32_t wk_wasi_fd_fdstat_set_flags(wk_vmctx *vm, int32_t fd, int32_t flags) {
  if (!wk_wasi_stdio_open(vm, fd)) return WK_EBADF;
  if ((uint32_t)flags & ~(uint32_t)WK_FDFLAGS_ALL) return WK_EINVAL;
  /* Recorded and reported back; the console ignores them. */
  wk_wasi_state_get(vm)->stdio_fdflags[fd] = (uint16_t)flags;
  return WK_ESUCCESS;
}

int32_t wk_wasi_fd_filestat_get(wk_vmctx *vm, int32_t fd, int32_t filestat_out) {
  if (!wk_wasi_stdio_open(vm, fd)) return WK_EBADF;
  uint8_t st[WK_FILESTAT_SIZE] = {0};
  st[16] = WK_FILETYPE_CHARACTER_DEVICE;
  return wk_wasi_put(vm, filestat_out, st, sizeof st);
}
