/*
 * fs/internal_fs.h - private to fs/: the packed image format (docs/fs.md),
 * nodes, directories and the arena allocator.
 */
#ifndef WK_INTERNAL_FS_H
#define WK_INTERNAL_FS_H

#include <stddef.h>
#include <stdint.h>

#include "wk/core.h"
#include "wk/fs.h"

/* ---- the packed image (little-endian; docs/fs.md) ---- */
#define WK_PK_MAGIC "WKFSIMG1"
#define WK_PK_VERSION 1u
#define WK_PK_HEADER_SIZE 64u
#define WK_PK_PREOPEN_SIZE 16u
#define WK_PK_NODE_SIZE 32u
#define WK_PK_DIRENT_SIZE 16u

typedef struct wk_pk {
  const uint8_t *base;
  uint64_t size;
  uint32_t npreopens, nnodes, ndirents;
  uint64_t preopens, nodes, dirents, names; /* offsets from base */
} wk_pk;

/* ---- nodes ---- */

/* One name in a directory. `seq` orders entries (creation order) and makes cookies. */
typedef struct wk_fs_ent {
  const char *name; /* packed names are not copied; owned names are arena memory */
  uint32_t len;
  uint8_t owned;
  uint64_t seq;
  wk_fs_node *node;
} wk_fs_ent;

struct wk_fs_node {
  uint8_t type;   /* WK_FS_* */
  uint8_t loaded; /* directories: children materialised from the image */
  uint32_t nlink; /* names pointing here (directories: 1 while linked) */
  uint32_t refs;  /* open descriptors and callers holding it */
  uint64_t ino;
  uint64_t atim, mtim, ctim;
  wk_fs_node *parent; /* directories: the directory holding it (roots: NULL) */
  /* files: contents from the image (ro) until the first write, then data/cap.
   * symlinks: the target in ro (packed) or data (created). */
  const uint8_t *ro;
  uint8_t *data;
  uint64_t size, cap;
  /* directories */
  uint32_t pk_first, pk_count; /* packed dirents, until loaded */
  wk_fs_ent *ents;
  uint32_t nents, ents_cap;
  uint64_t next_seq;
};

typedef struct wk_fs_root {
  const char *name;
  uint32_t len;
  wk_fs_node *node;
} wk_fs_root;

struct wk_fs {
  wk_pk pk;
  unsigned nroots;
  wk_fs_root *roots;
  uint64_t next_ino;
};

/* ---- memory (alloc_fs.c): the core's kernel heap (wk_kmem_alloc) ---- */
void *wk_fs_arena_alloc(uint64_t size); /* zeroed; NULL when full */
void wk_fs_arena_free(void *p, uint64_t size);

/* ---- tree (tree_fs.c) ---- */
wk_fs_node *wk_fs_node_new(wk_fs *fs, uint8_t type);
/* Materialise a directory's packed children; WK_ENOMEM when the arena is full. */
int wk_fs_dir_load(wk_fs *fs, wk_fs_node *dir);
/* The entry named (name, len) in a loaded directory, or NULL. */
wk_fs_ent *wk_fs_dir_find(wk_fs_node *dir, const char *name, uint32_t len);
/* Add a name (copied) for node; node->nlink is incremented. */
int wk_fs_dir_add(wk_fs *fs, wk_fs_node *dir, const char *name, uint32_t len, wk_fs_node *node);
/* Remove an entry; its node loses a link (and is freed when unreferenced). */
void wk_fs_dir_remove(wk_fs *fs, wk_fs_node *dir, wk_fs_ent *e);
/* Detach an entry's name without touching the node's link count (rename). */
void wk_fs_dir_unlink_name(wk_fs *fs, wk_fs_node *dir, wk_fs_ent *e);
void wk_fs_node_maybe_free(wk_fs *fs, wk_fs_node *n);
uint64_t wk_fs_now(void);
void wk_fs_touch(wk_fs_node *n); /* mtime = ctime = now */

/* Contents of a file or symlink as they are now (image or private copy). */
static inline const uint8_t *wk_fs_bytes(const wk_fs_node *n) { return n->data ? n->data : n->ro; }

#endif /* WK_INTERNAL_FS_H */
