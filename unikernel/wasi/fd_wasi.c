/*
 * wasi/fd_wasi.c - fd_* calls over the descriptor table (fdtable_wasi.c):
 * the console (fds 0-2 unless renumbered or closed), files and directories
 * of the file system (wk/fs.h). Sockets are the network layer's: fd_read,
 * fd_write and fd_close pass them to sock_wasi.c; the calls that need a file
 * refuse them as the spec says.
 *
 * Errno choices follow wasmtime's preview1 on Linux where the spec is vague
 * (the wasi-testsuite checks them): reading or writing a descriptor opened
 * without that access is EBADF, seeking the console ESPIPE, any fd_* that
 * needs a file on a directory EBADF (EISDIR for read/write), and the rights
 * of fd_fdstat_set_rights can only shrink (ENOTCAPABLE otherwise).
 */
#include "fd_wasi.h"
#include "fdtable_wasi.h"
#include "guestmem_wasi.h"
#include "sock_wasi.h"
#include "wk/platform.h"
#include "wk/wasi.h"

static wk_fs *fs_of(wk_vmctx *vm) { return wk_wasi_state_get(vm)->fs; }

/* ---- reading and writing ------------------------------------------------------ */

/* Write the iovecs to a console stream. */
static int32_t console_write(wk_vmctx *vm, int32_t stream, const uint8_t *arr, uint32_t n,
                             uint32_t *total) {
  for (uint32_t i = 0; i < n; i++) {
    uint8_t *buf;
    uint32_t len;
    wk_wasi_iov_at(vm, arr, i, &buf, &len);
    if (len > UINT32_MAX - *total) break; /* nwritten is a u32: stop short */
    if (len == 0) continue;
    int r = wk_plat_console_write(stream, buf, len);
    if (r < 0) return *total ? WK_ESUCCESS : (int32_t)-r; /* report a partial write */
    *total += len;
  }
  return WK_ESUCCESS;
}

/* Write the iovecs into a file at *off (advanced). */
static int32_t file_write(wk_vmctx *vm, wk_fd *f, const uint8_t *arr, uint32_t n, uint64_t *off,
                          uint32_t *total) {
  for (uint32_t i = 0; i < n; i++) {
    uint8_t *buf;
    uint32_t len;
    wk_wasi_iov_at(vm, arr, i, &buf, &len);
    if (len > UINT32_MAX - *total) break;
    int32_t err = wk_fs_write(fs_of(vm), f->node, *off, buf, len);
    if (err) return *total ? WK_ESUCCESS : err;
    *off += len;
    *total += len;
  }
  return WK_ESUCCESS;
}

static int32_t file_read(wk_vmctx *vm, wk_fd *f, const uint8_t *arr, uint32_t n, uint64_t *off,
                         uint32_t *total) {
  for (uint32_t i = 0; i < n; i++) {
    uint8_t *buf;
    uint32_t len;
    wk_wasi_iov_at(vm, arr, i, &buf, &len);
    uint64_t got;
    int32_t err = wk_fs_read(fs_of(vm), f->node, *off, buf, len, &got);
    if (err) return *total ? WK_ESUCCESS : err;
    *off += got;
    *total += (uint32_t)got;
    if (got < len) break;
  }
  return WK_ESUCCESS;
}

/* The descriptor for a read (write) call, or the errno: access and kind checks. */
static int32_t io_fd(wk_vmctx *vm, int32_t fd, int write, wk_fd **out) {
  wk_fd *f = wk_wasi_fd(vm, fd);
  if (!f) return WK_EBADF;
  if (f->kind == WK_FD_DIR) return WK_EISDIR;
  if (write ? !(f->writable && (f->base & WK_RIGHT_FD_WRITE))
            : !(f->readable && (f->base & WK_RIGHT_FD_READ)))
    return WK_EBADF;
  *out = f;
  return WK_ESUCCESS;
}

int32_t wk_wasi_fd_write(wk_vmctx *vm, int32_t fd, int32_t iovs, int32_t iovs_len,
                         int32_t nwritten_out) {
  wk_fd *f;
  int32_t err = io_fd(vm, fd, 1, &f);
  if (err) return err;
  const uint8_t *arr;
  if ((err = wk_wasi_check_iovs(vm, iovs, iovs_len, &arr))) return err;
  if (!wk_guest_ptr(vm, (uint32_t)nwritten_out, 4)) return WK_EFAULT;
  uint32_t total = 0;
  if (f->kind == WK_FD_STDIO) {
    err = console_write(vm, f->handle, arr, (uint32_t)iovs_len, &total);
  } else if (f->kind == WK_FD_SOCKET) {
    err = wk_wasi_sock_writev(vm, f, arr, (uint32_t)iovs_len, &total);
  } else {
    if (f->fdflags & WK_FDFLAGS_APPEND) f->offset = wk_fs_size(f->node);
    err = file_write(vm, f, arr, (uint32_t)iovs_len, &f->offset, &total);
  }
  return err ? err : wk_wasi_put(vm, nwritten_out, &total, 4);
}

int32_t wk_wasi_fd_read(wk_vmctx *vm, int32_t fd, int32_t iovs, int32_t iovs_len,
                        int32_t nread_out) {
  wk_fd *f;
  int32_t err = io_fd(vm, fd, 0, &f);
  if (err) return err;
  const uint8_t *arr;
  if ((err = wk_wasi_check_iovs(vm, iovs, iovs_len, &arr))) return err;
  if (!wk_guest_ptr(vm, (uint32_t)nread_out, 4)) return WK_EFAULT;
  uint32_t got = 0;
  if (f->kind == WK_FD_STDIO) {
    /* One read into the first non-empty buffer: a short read is allowed, and a
     * second read could block after data already arrived. */
    for (uint32_t i = 0; i < (uint32_t)iovs_len; i++) {
      uint8_t *buf;
      uint32_t len;
      wk_wasi_iov_at(vm, arr, i, &buf, &len);
      if (len == 0) continue;
      long r = wk_plat_console_read(buf, len);
      if (r < 0) return (int32_t)-r;
      got = (uint32_t)r;
      break;
    }
  } else if (f->kind == WK_FD_SOCKET) {
    err = wk_wasi_sock_readv(vm, f, arr, (uint32_t)iovs_len, &got);
    if (err) return err;
  } else {
    err = file_read(vm, f, arr, (uint32_t)iovs_len, &f->offset, &got);
    if (err) return err;
  }
  return wk_wasi_put(vm, nread_out, &got, 4);
}

/* pread (write 0) and pwrite (1): files only (the console cannot seek); the iovecs at
 * offset, the position untouched, the bytes moved to the guest's *count_out. */
static int32_t positional_io(wk_vmctx *vm, int32_t fd, int write, int32_t iovs, int32_t iovs_len,
                             int64_t offset, int32_t count_out) {
  wk_fd *f;
  int32_t err = io_fd(vm, fd, write, &f);
  if (err) return err;
  if (f->kind != WK_FD_FILE) return WK_ESPIPE;
  if (offset < 0) return WK_EINVAL;
  const uint8_t *arr;
  if ((err = wk_wasi_check_iovs(vm, iovs, iovs_len, &arr))) return err;
  if (!wk_guest_ptr(vm, (uint32_t)count_out, 4)) return WK_EFAULT;
  /* pwrite writes at the offset even in append mode (wasmtime's choice, not Linux's). */
  uint64_t off = (uint64_t)offset;
  uint32_t moved = 0;
  err = write ? file_write(vm, f, arr, (uint32_t)iovs_len, &off, &moved)
              : file_read(vm, f, arr, (uint32_t)iovs_len, &off, &moved);
  return err ? err : wk_wasi_put(vm, count_out, &moved, 4);
}

int32_t wk_wasi_fd_pread(wk_vmctx *vm, int32_t fd, int32_t iovs, int32_t iovs_len, int64_t offset,
                         int32_t nread_out) {
  return positional_io(vm, fd, 0, iovs, iovs_len, offset, nread_out);
}

int32_t wk_wasi_fd_pwrite(wk_vmctx *vm, int32_t fd, int32_t iovs, int32_t iovs_len, int64_t offset,
                          int32_t nwritten_out) {
  return positional_io(vm, fd, 1, iovs, iovs_len, offset, nwritten_out);
}

/* ---- positions ------------------------------------------------------------------ */

int32_t wk_wasi_fd_seek(wk_vmctx *vm, int32_t fd, int64_t offset, int32_t whence,
                        int32_t newoffset_out) {
  wk_fd *f = wk_wasi_fd(vm, fd);
  if (!f) return WK_EBADF;
  if (f->kind == WK_FD_DIR) return WK_EBADF;
  if (f->kind != WK_FD_FILE) return WK_ESPIPE;
  int64_t from;
  switch (whence) {
  case WK_WHENCE_SET: from = 0; break;
  case WK_WHENCE_CUR: from = (int64_t)f->offset; break;
  case WK_WHENCE_END: from = (int64_t)wk_fs_size(f->node); break;
  default: return WK_EINVAL;
  }
  if ((offset > 0 && from > INT64_MAX - offset) || from + offset < 0) return WK_EINVAL;
  if (!wk_guest_ptr(vm, (uint32_t)newoffset_out, 8)) return WK_EFAULT;
  f->offset = (uint64_t)(from + offset);
  return wk_wasi_put(vm, newoffset_out, &f->offset, 8);
}

int32_t wk_wasi_fd_tell(wk_vmctx *vm, int32_t fd, int32_t offset_out) {
  wk_fd *f = wk_wasi_fd(vm, fd);
  if (!f) return WK_EBADF;
  if (f->kind == WK_FD_DIR) return WK_EBADF;
  if (f->kind != WK_FD_FILE) return WK_ESPIPE;
  return wk_wasi_put(vm, offset_out, &f->offset, 8);
}

/* ---- descriptors ---------------------------------------------------------------- */

int32_t wk_wasi_fd_close(wk_vmctx *vm, int32_t fd) {
  wk_fd *f = wk_wasi_fd(vm, fd);
  if (!f) return WK_EBADF;
  wk_wasi_fd_release(vm, f);
  return WK_ESUCCESS;
}

int32_t wk_wasi_fd_renumber(wk_vmctx *vm, int32_t fd, int32_t to) {
  wk_fd *f = wk_wasi_fd(vm, fd), *t = wk_wasi_fd(vm, to);
  if (!f || !t) return WK_EBADF;
  if (f == t) return WK_ESUCCESS;
  wk_wasi_fd_release(vm, t);
  *t = *f;
  *f = (wk_fd){0};
  return WK_ESUCCESS;
}

static int32_t sync_fd(wk_vmctx *vm, int32_t fd) {
  wk_fd *f = wk_wasi_fd(vm, fd);
  if (!f) return WK_EBADF;
  return f->kind == WK_FD_SOCKET ? WK_EINVAL : WK_ESUCCESS; /* memory: always in sync */
}

int32_t wk_wasi_fd_sync(wk_vmctx *vm, int32_t fd) { return sync_fd(vm, fd); }
int32_t wk_wasi_fd_datasync(wk_vmctx *vm, int32_t fd) { return sync_fd(vm, fd); }

int32_t wk_wasi_fd_advise(wk_vmctx *vm, int32_t fd, int64_t offset, int64_t len, int32_t advice) {
  (void)offset;
  (void)len;
  wk_fd *f = wk_wasi_fd(vm, fd);
  if (!f) return WK_EBADF;
  if ((uint32_t)advice > 5) return WK_EINVAL;
  if (f->kind == WK_FD_DIR) return WK_EBADF;
  if (f->kind != WK_FD_FILE) return WK_ESPIPE;
  return WK_ESUCCESS; /* advice only: everything is in memory */
}

int32_t wk_wasi_fd_allocate(wk_vmctx *vm, int32_t fd, int64_t offset, int64_t len) {
  wk_fd *f = wk_wasi_fd(vm, fd);
  if (!f) return WK_EBADF;
  if (f->kind == WK_FD_DIR) return WK_EBADF;
  if (f->kind != WK_FD_FILE) return WK_ESPIPE;
  (void)offset;
  (void)len;
  return WK_ENOTSUP; /* as wasmtime: preallocation is not offered */
}

int32_t wk_wasi_fd_fdstat_get(wk_vmctx *vm, int32_t fd, int32_t fdstat_out) {
  wk_fd *f = wk_wasi_fd(vm, fd);
  if (!f) return WK_EBADF;
  uint8_t st[WK_FDSTAT_SIZE] = {0};
  st[0] = f->filetype;
  __builtin_memcpy(st + 2, &f->fdflags, 2);
  __builtin_memcpy(st + 8, &f->base, 8);
  __builtin_memcpy(st + 16, &f->inheriting, 8);
  return wk_wasi_put(vm, fdstat_out, st, sizeof st);
}

int32_t wk_wasi_fd_fdstat_set_flags(wk_vmctx *vm, int32_t fd, int32_t flags) {
  wk_fd *f = wk_wasi_fd(vm, fd);
  if (!f) return WK_EBADF;
  if ((uint32_t)flags & ~(uint32_t)WK_FDFLAGS_ALL) return WK_EINVAL;
  if (!(f->base & WK_RIGHT_FD_FDSTAT_SET_FLAGS)) return WK_ENOTCAPABLE;
  if (f->kind == WK_FD_DIR) return WK_ESUCCESS; /* nothing to change on a directory */
  /* Only append and nonblock can change after open (as on Linux). */
  uint16_t keep = f->fdflags & (WK_FDFLAGS_DSYNC | WK_FDFLAGS_RSYNC | WK_FDFLAGS_SYNC);
  f->fdflags = keep | ((uint16_t)flags & (WK_FDFLAGS_APPEND | WK_FDFLAGS_NONBLOCK));
  return WK_ESUCCESS;
}

int32_t wk_wasi_fd_fdstat_set_rights(wk_vmctx *vm, int32_t fd, int64_t base, int64_t inheriting) {
  wk_fd *f = wk_wasi_fd(vm, fd);
  if (!f) return WK_EBADF;
  uint64_t b = (uint64_t)base, i = (uint64_t)inheriting;
  if ((b & ~f->base) || (i & ~f->inheriting)) return WK_ENOTCAPABLE;
  f->base = b;
  f->inheriting = i;
  return WK_ESUCCESS;
}

/* The stat of what an fd refers to (the console: a character device, zeros). */
static int32_t fd_stat(wk_vmctx *vm, int32_t fd, wk_fs_stat *st) {
  wk_fd *f = wk_wasi_fd(vm, fd);
  if (!f) return WK_EBADF;
  if (f->node) {
    wk_fs_getstat(fs_of(vm), f->node, st);
  } else {
    *st = (wk_fs_stat){0};
    st->type = f->filetype;
  }
  return WK_ESUCCESS;
}

static int32_t fd_filestat(wk_vmctx *vm, int32_t fd, int32_t filestat_out, int preview0) {
  wk_fs_stat st;
  int32_t err = fd_stat(vm, fd, &st);
  return err ? err : wk_wasi_put_filestat(vm, &st, filestat_out, preview0);
}

int32_t wk_wasi_fd_filestat_get(wk_vmctx *vm, int32_t fd, int32_t filestat_out) {
  return fd_filestat(vm, fd, filestat_out, 0);
}

/* ---- preview 0 (wasi_unstable) adapters ---- */

int32_t wk_wasi_unstable_fd_filestat_get(wk_vmctx *vm, int32_t fd, int32_t filestat_out) {
  return fd_filestat(vm, fd, filestat_out, 1);
}

/* Preview 0 numbers whence CUR 0, END 1, SET 2. */
int32_t wk_wasi_unstable_fd_seek(wk_vmctx *vm, int32_t fd, int64_t offset, int32_t whence,
                                 int32_t newoffset_out) {
  static const int32_t to_p1[3] = {WK_WHENCE_CUR, WK_WHENCE_END, WK_WHENCE_SET};
  int32_t w = (uint32_t)whence < 3 ? to_p1[whence] : 3;
  return wk_wasi_fd_seek(vm, fd, offset, w, newoffset_out);
}

int32_t wk_wasi_fd_filestat_set_size(wk_vmctx *vm, int32_t fd, int64_t size) {
  wk_fd *f = wk_wasi_fd(vm, fd);
  if (!f) return WK_EBADF;
  if (f->kind == WK_FD_DIR) return WK_EBADF;
  if (f->kind != WK_FD_FILE) return WK_EINVAL;
  if (!(f->base & WK_RIGHT_FD_FILESTAT_SET_SIZE)) return WK_ENOTCAPABLE;
  if (!f->writable) return WK_EINVAL;
  if (size < 0) return WK_EINVAL;
  return wk_fs_truncate(fs_of(vm), f->node, (uint64_t)size);
}

int32_t wk_wasi_fd_filestat_set_times(wk_vmctx *vm, int32_t fd, int64_t atim, int64_t mtim,
                                      int32_t fst_flags) {
  wk_fd *f = wk_wasi_fd(vm, fd);
  if (!f) return WK_EBADF;
  if (!f->node) return WK_ESUCCESS; /* the console has no times to keep */
  return wk_fs_set_times(fs_of(vm), f->node, (uint64_t)atim, (uint64_t)mtim, (uint32_t)fst_flags);
}

/* ---- directories ---------------------------------------------------------------- */

int32_t wk_wasi_fd_prestat_get(wk_vmctx *vm, int32_t fd, int32_t prestat_out) {
  wk_fd *f = wk_wasi_fd(vm, fd);
  if (!f || !f->preopen) return WK_EBADF;
  uint32_t len;
  wk_fs_preopen(fs_of(vm), f->preopen - 1, 0, &len);
  uint8_t pre[WK_PRESTAT_SIZE] = {0};
  __builtin_memcpy(pre + 4, &len, 4);
  return wk_wasi_put(vm, prestat_out, pre, sizeof pre);
}

int32_t wk_wasi_fd_prestat_dir_name(wk_vmctx *vm, int32_t fd, int32_t path, int32_t path_len) {
  wk_fd *f = wk_wasi_fd(vm, fd);
  if (!f || !f->preopen) return WK_EBADF;
  const char *name;
  uint32_t len;
  wk_fs_preopen(fs_of(vm), f->preopen - 1, &name, &len);
  if ((uint32_t)path_len < len) return WK_ENAMETOOLONG;
  return wk_wasi_put(vm, path, name, len);
}

int32_t wk_wasi_fd_readdir(wk_vmctx *vm, int32_t fd, int32_t buf, int32_t buf_len, int64_t cookie,
                           int32_t bufused_out) {
  wk_fd *f = wk_wasi_fd(vm, fd);
  if (!f) return WK_EBADF;
  if (f->kind != WK_FD_DIR) return WK_ENOTDIR;
  uint8_t *out = wk_guest_ptr(vm, (uint32_t)buf, (uint32_t)buf_len);
  if (!out || !wk_guest_ptr(vm, (uint32_t)bufused_out, 4)) return WK_EFAULT;
  uint32_t cap = (uint32_t)buf_len, used = 0;
  uint64_t c = (uint64_t)cookie;
  wk_fs_dirent e;
  int r = 0;
  while (used < cap && (r = wk_fs_readdir(fs_of(vm), f->node, c, &e)) > 0) {
    uint8_t hdr[WK_DIRENT_SIZE] = {0};
    __builtin_memcpy(hdr, &e.next, 8);
    __builtin_memcpy(hdr + 8, &e.ino, 8);
    __builtin_memcpy(hdr + 16, &e.len, 4);
    hdr[20] = e.type;
    uint32_t n = cap - used < WK_DIRENT_SIZE ? cap - used : WK_DIRENT_SIZE;
    __builtin_memcpy(out + used, hdr, n); /* a cut entry tells the guest to retry bigger */
    used += n;
    n = cap - used < e.len ? cap - used : e.len;
    __builtin_memcpy(out + used, e.name, n);
    used += n;
    c = e.next;
  }
  if (r < 0) return -r;
  return wk_wasi_put(vm, bufused_out, &used, 4);
}

/* ---- stat encodings (fd_wasi.h) ---------------------------------------------- */

static void filestat_p1(const wk_fs_stat *st, uint8_t out[WK_FILESTAT_SIZE]) {
  __builtin_memset(out, 0, WK_FILESTAT_SIZE);
  __builtin_memcpy(out + 0, &st->dev, 8);
  __builtin_memcpy(out + 8, &st->ino, 8);
  out[16] = st->type;
  __builtin_memcpy(out + 24, &st->nlink, 8);
  __builtin_memcpy(out + 32, &st->size, 8);
  __builtin_memcpy(out + 40, &st->atim, 8);
  __builtin_memcpy(out + 48, &st->mtim, 8);
  __builtin_memcpy(out + 56, &st->ctim, 8);
}

static void filestat_p0(const wk_fs_stat *st, uint8_t out[WK_FILESTAT_P0_SIZE]) {
  uint32_t nlink = st->nlink > UINT32_MAX ? UINT32_MAX : (uint32_t)st->nlink;
  __builtin_memset(out, 0, WK_FILESTAT_P0_SIZE);
  __builtin_memcpy(out + 0, &st->dev, 8);
  __builtin_memcpy(out + 8, &st->ino, 8);
  out[16] = st->type;
  __builtin_memcpy(out + 20, &nlink, 4);
  __builtin_memcpy(out + 24, &st->size, 8);
  __builtin_memcpy(out + 32, &st->atim, 8);
  __builtin_memcpy(out + 40, &st->mtim, 8);
  __builtin_memcpy(out + 48, &st->ctim, 8);
}

int32_t wk_wasi_put_filestat(wk_vmctx *vm, const wk_fs_stat *st, int32_t out, int preview0) {
  uint8_t buf[WK_FILESTAT_SIZE > WK_FILESTAT_P0_SIZE ? WK_FILESTAT_SIZE : WK_FILESTAT_P0_SIZE];
  if (preview0) {
    filestat_p0(st, buf);
    return wk_wasi_put(vm, out, buf, WK_FILESTAT_P0_SIZE);
  }
  filestat_p1(st, buf);
  return wk_wasi_put(vm, out, buf, WK_FILESTAT_SIZE);
}
