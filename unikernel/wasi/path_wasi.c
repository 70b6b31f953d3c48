/*
 * wasi/path_wasi.c - path_* calls: the guest's (directory fd, path) pairs
 * checked and handed to the file system (wk/fs.h), which resolves them inside
 * the directory and never outside it.
 *
 * Every call needs a directory descriptor: a bad fd is EBADF, a descriptor
 * that is no directory ENOTDIR. The directory's rights are checked for the
 * operation (ENOTCAPABLE when missing); a file opened by path_open gets the
 * rights asked for, limited by the directory's inheriting rights.
 */
#include "fd_wasi.h"
#include "fdtable_wasi.h"
#include "guestmem_wasi.h"
#include "wk/wasi.h"

/* The directory node of fd `dirfd`, after a rights check. */
static int32_t dir_of(wk_vmctx *vm, int32_t dirfd, uint64_t right, wk_fs_node **out) {
  wk_fd *d = wk_wasi_fd(vm, dirfd);
  if (!d) return WK_EBADF;
  if (d->kind != WK_FD_DIR) return WK_ENOTDIR;
  if (right && !(d->base & right)) return WK_ENOTCAPABLE;
  *out = d->node;
  return WK_ESUCCESS;
}

/* Directory and path of a call, both checked. */
static int32_t dir_path(wk_vmctx *vm, int32_t dirfd, uint64_t right, int32_t path, int32_t path_len,
                        wk_fs_node **dir, const char **p) {
  int32_t err = dir_of(vm, dirfd, right, dir);
  return err ? err : wk_wasi_path_arg(vm, path, path_len, p);
}

static wk_fs *fs_of(wk_vmctx *vm) { return wk_wasi_state_get(vm)->fs; }

int32_t wk_wasi_path_open(wk_vmctx *vm, int32_t dirfd, int32_t dirflags, int32_t path,
                          int32_t path_len, int32_t oflags, int64_t rights_base,
                          int64_t rights_inheriting, int32_t fdflags, int32_t fd_out) {
  wk_fs_node *dir;
  const char *p;
  int32_t err = dir_path(vm, dirfd, WK_RIGHT_PATH_OPEN, path, path_len, &dir, &p);
  if (err) return err;
  if (!wk_guest_ptr(vm, (uint32_t)fd_out, 4)) return WK_EFAULT;
  uint32_t of = (uint32_t)oflags;
  if (of & ~15u) return WK_EINVAL;
  if ((uint32_t)fdflags & ~(uint32_t)WK_FDFLAGS_ALL) return WK_EINVAL;
  const wk_fd *d = wk_wasi_fd(vm, dirfd);
  if ((of & WK_FS_O_CREAT) && !(d->base & WK_RIGHT_PATH_CREATE_FILE)) return WK_ENOTCAPABLE;
  if ((of & WK_FS_O_TRUNC) && !(d->base & WK_RIGHT_PATH_FILESTAT_SET_SIZE)) return WK_ENOTCAPABLE;
  uint64_t dir_inheriting = d->inheriting; /* d moves if the table grows */
  uint64_t base = (uint64_t)rights_base, inh = (uint64_t)rights_inheriting;
  int want_write = (base & (WK_RIGHT_FD_WRITE | WK_RIGHT_FD_DATASYNC | WK_RIGHT_FD_ALLOCATE |
                            WK_RIGHT_FD_FILESTAT_SET_SIZE)) != 0 ||
                   (fdflags & WK_FDFLAGS_APPEND) || (of & WK_FS_O_TRUNC);
  int want_read = (base & (WK_RIGHT_FD_READ | WK_RIGHT_FD_READDIR)) != 0;
  if (!want_read && !want_write) base |= WK_RIGHT_FD_READ; /* no rights asked: read-only */

  /* Find out what is there first: a directory may not be opened for writing. */
  wk_fs_node *found;
  int follow = (dirflags & WK_LOOKUP_SYMLINK_FOLLOW) != 0;
  if (wk_fs_lookup(fs_of(vm), dir, p, (uint32_t)path_len, follow, &found) == WK_ESUCCESS &&
      wk_fs_type(found) == WK_FS_DIR && want_write && !(of & WK_FS_O_CREAT && of & WK_FS_O_EXCL))
    return WK_EISDIR;

  wk_fs_node *n;
  err = wk_fs_open(fs_of(vm), dir, p, (uint32_t)path_len, follow, of, &n);
  if (err) return err;
  int32_t fd = wk_wasi_fd_alloc(vm);
  if (fd < 0) {
    wk_fs_release(fs_of(vm), n);
    return WK_ENFILE;
  }
  wk_fd *f = &wk_wasi_state_get(vm)->fds[fd];
  int is_dir = wk_fs_type(n) == WK_FS_DIR;
  uint64_t kind_rights = is_dir ? WK_RIGHTS_DIR : WK_RIGHTS_FILE;
  *f = (wk_fd){.kind = is_dir ? WK_FD_DIR : WK_FD_FILE,
               .filetype = is_dir ? WK_FILETYPE_DIRECTORY : WK_FILETYPE_REGULAR_FILE,
               .fdflags = (uint16_t)fdflags,
               .readable = (uint8_t)(want_read || !want_write),
               .writable = (uint8_t)want_write,
               .base = base & dir_inheriting & kind_rights,
               .inheriting = inh & dir_inheriting,
               .node = n};
  return wk_wasi_put(vm, fd_out, &fd, 4);
}

int32_t wk_wasi_path_create_directory(wk_vmctx *vm, int32_t dirfd, int32_t path, int32_t path_len) {
  wk_fs_node *dir;
  const char *p;
  int32_t err = dir_path(vm, dirfd, WK_RIGHT_PATH_CREATE_DIRECTORY, path, path_len, &dir, &p);
  return err ? err : wk_fs_mkdir(fs_of(vm), dir, p, (uint32_t)path_len);
}

int32_t wk_wasi_path_remove_directory(wk_vmctx *vm, int32_t dirfd, int32_t path, int32_t path_len) {
  wk_fs_node *dir;
  const char *p;
  int32_t err = dir_path(vm, dirfd, WK_RIGHT_PATH_REMOVE_DIRECTORY, path, path_len, &dir, &p);
  return err ? err : wk_fs_rmdir(fs_of(vm), dir, p, (uint32_t)path_len);
}

int32_t wk_wasi_path_unlink_file(wk_vmctx *vm, int32_t dirfd, int32_t path, int32_t path_len) {
  wk_fs_node *dir;
  const char *p;
  int32_t err = dir_path(vm, dirfd, WK_RIGHT_PATH_UNLINK_FILE, path, path_len, &dir, &p);
  return err ? err : wk_fs_unlink(fs_of(vm), dir, p, (uint32_t)path_len);
}

static int32_t path_stat(wk_vmctx *vm, int32_t dirfd, int32_t flags, int32_t path, int32_t path_len,
                         wk_fs_stat *st) {
  wk_fs_node *dir, *n;
  const char *p;
  int32_t err = dir_path(vm, dirfd, WK_RIGHT_PATH_FILESTAT_GET, path, path_len, &dir, &p);
  if (err) return err;
  err = wk_fs_lookup(fs_of(vm), dir, p, (uint32_t)path_len, flags & WK_LOOKUP_SYMLINK_FOLLOW, &n);
  if (err) return err;
  wk_fs_getstat(fs_of(vm), n, st);
  return WK_ESUCCESS;
}

static int32_t path_filestat(wk_vmctx *vm, int32_t dirfd, int32_t flags, int32_t path,
                             int32_t path_len, int32_t filestat_out, int preview0) {
  wk_fs_stat st;
  int32_t err = path_stat(vm, dirfd, flags, path, path_len, &st);
  return err ? err : wk_wasi_put_filestat(vm, &st, filestat_out, preview0);
}

int32_t wk_wasi_path_filestat_get(wk_vmctx *vm, int32_t dirfd, int32_t flags, int32_t path,
                                  int32_t path_len, int32_t filestat_out) {
  return path_filestat(vm, dirfd, flags, path, path_len, filestat_out, 0);
}

int32_t wk_wasi_unstable_path_filestat_get(wk_vmctx *vm, int32_t dirfd, int32_t flags, int32_t path,
                                           int32_t path_len, int32_t filestat_out) {
  return path_filestat(vm, dirfd, flags, path, path_len, filestat_out, 1);
}

int32_t wk_wasi_path_filestat_set_times(wk_vmctx *vm, int32_t dirfd, int32_t flags, int32_t path,
                                        int32_t path_len, int64_t atim, int64_t mtim,
                                        int32_t fst_flags) {
  wk_fs_node *dir, *n;
  const char *p;
  int32_t err = dir_path(vm, dirfd, WK_RIGHT_PATH_FILESTAT_SET_TIMES, path, path_len, &dir, &p);
  if (err) return err;
  if ((uint32_t)fst_flags & ~15u) return WK_EINVAL;
  err = wk_fs_lookup(fs_of(vm), dir, p, (uint32_t)path_len, flags & WK_LOOKUP_SYMLINK_FOLLOW, &n);
  if (err) return err;
  return wk_fs_set_times(fs_of(vm), n, (uint64_t)atim, (uint64_t)mtim, (uint32_t)fst_flags);
}

int32_t wk_wasi_path_link(wk_vmctx *vm, int32_t old_fd, int32_t old_flags, int32_t old_path,
                          int32_t old_len, int32_t new_fd, int32_t new_path, int32_t new_len) {
  wk_fs_node *odir, *ndir;
  const char *op, *np;
  int32_t err = dir_path(vm, old_fd, WK_RIGHT_PATH_LINK_SOURCE, old_path, old_len, &odir, &op);
  if (err) return err;
  err = dir_path(vm, new_fd, WK_RIGHT_PATH_LINK_TARGET, new_path, new_len, &ndir, &np);
  if (err) return err;
  return wk_fs_link(fs_of(vm), odir, op, (uint32_t)old_len, old_flags & WK_LOOKUP_SYMLINK_FOLLOW,
                    ndir, np, (uint32_t)new_len);
}

int32_t wk_wasi_path_rename(wk_vmctx *vm, int32_t old_fd, int32_t old_path, int32_t old_len,
                            int32_t new_fd, int32_t new_path, int32_t new_len) {
  wk_fs_node *odir, *ndir;
  const char *op, *np;
  int32_t err = dir_path(vm, old_fd, WK_RIGHT_PATH_RENAME_SOURCE, old_path, old_len, &odir, &op);
  if (err) return err;
  err = dir_path(vm, new_fd, WK_RIGHT_PATH_RENAME_TARGET, new_path, new_len, &ndir, &np);
  if (err) return err;
  return wk_fs_rename(fs_of(vm), odir, op, (uint32_t)old_len, ndir, np, (uint32_t)new_len);
}

int32_t wk_wasi_path_symlink(wk_vmctx *vm, int32_t old_path, int32_t old_len, int32_t dirfd,
                             int32_t new_path, int32_t new_len) {
  wk_fs_node *dir;
  const char *target, *p;
  int32_t err = dir_path(vm, dirfd, WK_RIGHT_PATH_SYMLINK, new_path, new_len, &dir, &p);
  if (err) return err;
  if ((err = wk_wasi_path_arg(vm, old_path, old_len, &target))) return err;
  return wk_fs_symlink(fs_of(vm), target, (uint32_t)old_len, dir, p, (uint32_t)new_len);
}

int32_t wk_wasi_path_readlink(wk_vmctx *vm, int32_t dirfd, int32_t path, int32_t path_len,
                              int32_t buf, int32_t buf_len, int32_t bufused_out) {
  wk_fs_node *dir;
  const char *p, *target;
  uint32_t tlen;
  int32_t err = dir_path(vm, dirfd, WK_RIGHT_PATH_READLINK, path, path_len, &dir, &p);
  if (err) return err;
  uint8_t *out = wk_guest_ptr(vm, (uint32_t)buf, (uint32_t)buf_len);
  if (!out || !wk_guest_ptr(vm, (uint32_t)bufused_out, 4)) return WK_EFAULT;
  err = wk_fs_readlink(fs_of(vm), dir, p, (uint32_t)path_len, &target, &tlen);
  if (err) return err;
  uint32_t n = tlen < (uint32_t)buf_len ? tlen : (uint32_t)buf_len; /* cut, as readlink(2) */
  __builtin_memcpy(out, target, n);
  return wk_wasi_put(vm, bufused_out, &n, 4);
}
