/*
 * wk/fs.h - the unikernel's file system: directories packed into the image at
 * build time (read-only), a writable in-memory layer over them, and path
 * resolution that never leaves the directory it starts from.
 *
 * Model: every preopened directory is the root of its own tree. The tree's
 * nodes start as views of the packed image (pyhook/image/pack.py writes it; the
 * format is docs/fs.md) and become private in-memory copies when written
 * (copy on write, per file). Directories are materialised lazily, on first
 * use, so an image with a million packed files costs nothing until a program
 * looks at them. Everything lives in the core's kernel heap (wk_kmem_alloc,
 * pages taken on demand, as much as the machine's memory allows); nothing
 * goes back to the host.
 *
 * Paths are relative to a directory node and are resolved component by
 * component: ".." may not climb above the start directory, an absolute path or
 * an absolute symlink target is refused, and so is any symlink chain that
 * would leave; each such attempt is WK_ENOTCAPABLE. More than
 * WK_FS_SYMLINK_MAX symlinks in one resolution is WK_ELOOP.
 *
 * Error contract: int results are a WASI errno (wk/errno.h), WK_ESUCCESS (0)
 * on success; the errno values are those wasmtime gives for the same call on
 * Linux (the wasi-testsuite decides). Nodes returned through `out` by
 * wk_fs_open carry a reference: give it back with wk_fs_release.
 *
 *   wk_fs *fs = wk_fs_get(vm);
 *   wk_fs_node *f;
 *   int err = wk_fs_open(fs, wk_fs_preopen(fs, 0, 0, 0), "a/b.txt", 7, 1,
 *                        WK_FS_O_CREAT, &f);
 *   if (!err) { wk_fs_write(fs, f, 0, "hi", 2); wk_fs_release(fs, f); }
 */
#ifndef WK_FS_H
#define WK_FS_H

#include <stddef.h>
#include <stdint.h>

#include "wk/abi.h"
#include "wk/errno.h"

/* Largest file the writable layer holds (its buffer doubles as it grows, in the
 * kernel heap, core/alloc_core.c, at most 4 GiB); the machine's free memory
 * usually ends it sooner. */
#define WK_FS_FILE_MAX (1ull << 30)
/* Longest path one call takes, and longest symlink chain it follows. */
#define WK_FS_PATH_MAX 4096u
#define WK_FS_SYMLINK_MAX 40u
/* Deepest directory nesting a path may walk through in one resolution. */
#define WK_FS_DEPTH_MAX 1024u

typedef struct wk_fs wk_fs;
typedef struct wk_fs_node wk_fs_node;

/* Node types: the WASI `filetype` values, so they go to the guest as is. */
enum { WK_FS_DIR = 3, WK_FS_FILE = 4, WK_FS_SYMLINK = 7 };

/* wk_fs_open flags: the WASI `oflags` values. */
enum { WK_FS_O_CREAT = 1, WK_FS_O_DIRECTORY = 2, WK_FS_O_EXCL = 4, WK_FS_O_TRUNC = 8 };

/* wk_fs_set_times flags: the WASI `fstflags` values. */
enum { WK_FS_ATIM = 1, WK_FS_ATIM_NOW = 2, WK_FS_MTIM = 4, WK_FS_MTIM_NOW = 8 };

typedef struct wk_fs_stat {
  uint64_t dev, ino;
  uint8_t type; /* WK_FS_* */
  uint64_t nlink, size;
  uint64_t atim, mtim, ctim; /* ns since the epoch */
} wk_fs_stat;

/* One directory entry, as wk_fs_readdir gives it. */
typedef struct wk_fs_dirent {
  const char *name;
  uint32_t len;
  uint8_t type;
  uint64_t ino;
  uint64_t next; /* cookie of the entry after this one */
} wk_fs_dirent;

/* ---- the file system of an instance ---------------------------------------- */

/* This instance's file system, mounted from the image on first use; NULL when
 * the packed image is corrupt or the arena cannot hold the roots. */
wk_fs *wk_fs_get(wk_vmctx *vm);

/* Preopened directories, in the order of the build's --dir options. */
unsigned wk_fs_preopen_count(wk_fs *fs);
/* Root node of preopen i and its guest name (not NUL-terminated); NULL if i is out of range. */
wk_fs_node *wk_fs_preopen(wk_fs *fs, unsigned i, const char **name, uint32_t *name_len);

/* Memory from the fs arena for the layers above (zeroed, 16-byte aligned); NULL when full. */
void *wk_fs_mem_alloc(wk_fs *fs, size_t size);
void wk_fs_mem_free(wk_fs *fs, void *p);

/* ---- nodes ------------------------------------------------------------------ */

void wk_fs_retain(wk_fs_node *n);
/* Drop a reference; a node with no links and no references is freed. */
void wk_fs_release(wk_fs *fs, wk_fs_node *n);
uint8_t wk_fs_type(const wk_fs_node *n);
void wk_fs_getstat(wk_fs *fs, const wk_fs_node *n, wk_fs_stat *st);
int wk_fs_set_times(wk_fs *fs, wk_fs_node *n, uint64_t atim, uint64_t mtim, unsigned flags);

/* ---- paths (relative to directory `dir`; `len` bytes, no NUL needed) ---- */

/* Find what path names (following a final symlink if `follow`), without a reference. */
int wk_fs_lookup(wk_fs *fs, wk_fs_node *dir, const char *path, uint32_t len, int follow,
                 wk_fs_node **out);
/* Open (and with WK_FS_O_CREAT create) a file or directory; *out holds a reference. */
int wk_fs_open(wk_fs *fs, wk_fs_node *dir, const char *path, uint32_t len, int follow,
               unsigned oflags, wk_fs_node **out);
int wk_fs_mkdir(wk_fs *fs, wk_fs_node *dir, const char *path, uint32_t len);
int wk_fs_rmdir(wk_fs *fs, wk_fs_node *dir, const char *path, uint32_t len);
int wk_fs_unlink(wk_fs *fs, wk_fs_node *dir, const char *path, uint32_t len);
int wk_fs_rename(wk_fs *fs, wk_fs_node *odir, const char *opath, uint32_t olen, wk_fs_node *ndir,
                 const char *npath, uint32_t nlen);
int wk_fs_link(wk_fs *fs, wk_fs_node *odir, const char *opath, uint32_t olen, int follow,
               wk_fs_node *ndir, const char *npath, uint32_t nlen);
int wk_fs_symlink(wk_fs *fs, const char *target, uint32_t tlen, wk_fs_node *dir, const char *path,
                  uint32_t len);
/* The target of the symlink path names (not NUL-terminated, valid until it is removed). */
int wk_fs_readlink(wk_fs *fs, wk_fs_node *dir, const char *path, uint32_t len, const char **target,
                   uint32_t *tlen);

/* ---- file contents ---------------------------------------------------------- */

/* Copy up to len bytes at off into buf; *got is 0 at or past the end. */
int wk_fs_read(wk_fs *fs, wk_fs_node *f, uint64_t off, void *buf, uint64_t len, uint64_t *got);
/* Write len bytes at off (the file grows, with zeroes over any gap); WK_ENOSPC when full. */
int wk_fs_write(wk_fs *fs, wk_fs_node *f, uint64_t off, const void *buf, uint64_t len);
int wk_fs_truncate(wk_fs *fs, wk_fs_node *f, uint64_t size);
uint64_t wk_fs_size(const wk_fs_node *f);

/* ---- directories ------------------------------------------------------------ */

/* The entry at `cookie` ("." is cookie 0, ".." cookie 1, then the directory's
 * entries in creation order; packed entries first, sorted by name): 1 and *e
 * filled, 0 at the end, or a negative errno (-WK_ENOMEM) if the directory
 * cannot be loaded. Cookies stay valid while entries come and go. */
int wk_fs_readdir(wk_fs *fs, wk_fs_node *dir, uint64_t cookie, wk_fs_dirent *e);

#endif /* WK_FS_H */
