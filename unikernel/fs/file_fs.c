/*
 * fs/file_fs.c - file contents: read, write, truncate.
 *
 * A file read from the image points at the image's bytes until it is first
 * changed; then it gets a private buffer (a power of two, grown by doubling,
 * so appending is amortised O(1)). Bytes past the end of the buffer's used
 * part are always zero, so growing a file never shows stale data.
 */
#include "internal_fs.h"

/* Make f's private buffer hold at least `need` bytes. */
static int reserve(wk_fs_node *f, uint64_t need) {
  if (f->data && f->cap >= need) return WK_ESUCCESS;
  if (need > WK_FS_FILE_MAX) return WK_ENOSPC;
  uint64_t cap = 64;
  while (cap < need) cap *= 2;
  uint8_t *d = wk_fs_arena_alloc(cap);
  if (!d) return WK_ENOSPC;
  const uint8_t *old = wk_fs_bytes(f);
  if (old && f->size) __builtin_memcpy(d, old, f->size);
  wk_fs_arena_free(f->data, f->cap);
  f->data = d;
  f->cap = cap;
  f->ro = NULL;
  return WK_ESUCCESS;
}

int wk_fs_read(wk_fs *fs, wk_fs_node *f, uint64_t off, void *buf, uint64_t len, uint64_t *got) {
  (void)fs;
  *got = 0;
  if (f->type == WK_FS_DIR) return WK_EISDIR;
  if (f->type != WK_FS_FILE) return WK_EINVAL;
  if (off >= f->size || len == 0) return WK_ESUCCESS;
  uint64_t n = f->size - off < len ? f->size - off : len;
  __builtin_memcpy(buf, wk_fs_bytes(f) + off, n);
  *got = n;
  return WK_ESUCCESS;
}

int wk_fs_write(wk_fs *fs, wk_fs_node *f, uint64_t off, const void *buf, uint64_t len) {
  (void)fs;
  if (f->type == WK_FS_DIR) return WK_EISDIR;
  if (f->type != WK_FS_FILE) return WK_EINVAL;
  if (len == 0) return WK_ESUCCESS;
  if (off > WK_FS_FILE_MAX || len > WK_FS_FILE_MAX - off) return WK_EFBIG;
  uint64_t end = off + len;
  int err = reserve(f, end > f->size ? end : f->size);
  if (err) return err;
  __builtin_memcpy(f->data + off, buf, len);
  if (end > f->size) f->size = end;
  wk_fs_touch(f);
  return WK_ESUCCESS;
}

int wk_fs_truncate(wk_fs *fs, wk_fs_node *f, uint64_t size) {
  (void)fs;
  if (f->type == WK_FS_DIR) return WK_EISDIR;
  if (f->type != WK_FS_FILE) return WK_EINVAL;
  if (size > f->size) {
    if (size > WK_FS_FILE_MAX) return WK_EFBIG;
    int err = reserve(f, size);
    if (err) return err;
  } else if (f->data) {
    __builtin_memset(f->data + size, 0, f->size - size);
  }
  f->size = size;
  wk_fs_touch(f);
  return WK_ESUCCESS;
}
