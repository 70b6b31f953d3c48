/*
 * fs/tree_fs.c - mounting the packed image, nodes and directories.
 *
 * The image is the one the run supplies (wk_plat_fs_image: `wasmkiln run
 * IMAGE --dir`), else the optional symbol wk_fs_image (a weak reference:
 * images built without --dir have none, and then there are no preopens). Its nodes
 * become in-memory nodes lazily: a directory's children are created the first
 * time anything looks inside it (wk_fs_dir_load). Directory entries are kept
 * in creation order (packed ones first, sorted by name), each with a sequence
 * number that never repeats, which is what readdir cookies are made of.
 */
#include "internal_fs.h"
#include "wk/platform.h"

extern const uint8_t wk_fs_image[] __attribute__((weak));

uint64_t wk_fs_now(void) { return wk_plat_clock_realtime(); }

void wk_fs_touch(wk_fs_node *n) { n->mtim = n->ctim = wk_fs_now(); }

static uint32_t rd32(const uint8_t *p) {
  uint32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}

static uint64_t rd64(const uint8_t *p) {
  uint64_t v;
  __builtin_memcpy(&v, p, 8);
  return v;
}

/* 1 when [off, off + len) lies inside the image. */
static int pk_in(const wk_pk *pk, uint64_t off, uint64_t len) {
  return off <= pk->size && len <= pk->size - off;
}

static int pk_open(wk_pk *pk, const uint8_t *img) {
  __builtin_memset(pk, 0, sizeof *pk);
  if (!img) return 0;
  if (__builtin_memcmp(img, WK_PK_MAGIC, 8) != 0 || rd32(img + 8) != WK_PK_VERSION) return -1;
  pk->base = img;
  pk->size = rd64(img + 56);
  pk->npreopens = rd32(img + 12);
  pk->nnodes = rd32(img + 16);
  pk->ndirents = rd32(img + 20);
  pk->preopens = rd64(img + 24);
  pk->nodes = rd64(img + 32);
  pk->dirents = rd64(img + 40);
  pk->names = rd64(img + 48);
  if (pk->size < WK_PK_HEADER_SIZE ||
      !pk_in(pk, pk->preopens, (uint64_t)pk->npreopens * WK_PK_PREOPEN_SIZE) ||
      !pk_in(pk, pk->nodes, (uint64_t)pk->nnodes * WK_PK_NODE_SIZE) ||
      !pk_in(pk, pk->dirents, (uint64_t)pk->ndirents * WK_PK_DIRENT_SIZE) ||
      !pk_in(pk, pk->names, 0))
    return -1;
  return 0;
}

/* A name in the names area; NULL when out of bounds. */
static const char *pk_name(const wk_pk *pk, uint32_t off, uint32_t len) {
  if (!pk_in(pk, pk->names + off, len)) return NULL;
  return (const char *)pk->base + pk->names + off;
}

wk_fs_node *wk_fs_node_new(wk_fs *fs, uint8_t type) {
  wk_fs_node *n = wk_fs_arena_alloc(sizeof *n);
  if (!n) return NULL;
  n->type = type;
  n->loaded = 1;
  n->ino = fs->next_ino++;
  n->atim = n->mtim = n->ctim = wk_fs_now();
  n->next_seq = 1;
  return n;
}

/* An in-memory node for packed node `idx`; NULL if the image is bad or memory is out. */
static wk_fs_node *node_from_pk(wk_fs *fs, uint32_t idx) {
  const wk_pk *pk = &fs->pk;
  if (idx >= pk->nnodes) return NULL;
  const uint8_t *r = pk->base + pk->nodes + (uint64_t)idx * WK_PK_NODE_SIZE;
  uint8_t type = r[0];
  uint64_t a = rd64(r + 16), b = rd64(r + 24);
  if (type != WK_FS_DIR && type != WK_FS_FILE && type != WK_FS_SYMLINK) return NULL;
  if (type == WK_FS_DIR && (a > pk->ndirents || b > pk->ndirents - a)) return NULL;
  if (type == WK_FS_FILE && !pk_in(pk, a, b)) return NULL;
  if (type == WK_FS_SYMLINK &&
      (b > WK_FS_PATH_MAX || a > UINT32_MAX || !pk_name(pk, (uint32_t)a, (uint32_t)b)))
    return NULL;
  wk_fs_node *n = wk_fs_node_new(fs, type);
  if (!n) return NULL;
  n->atim = n->mtim = n->ctim = rd64(r + 8);
  if (type == WK_FS_DIR) {
    n->loaded = 0;
    n->pk_first = (uint32_t)a;
    n->pk_count = (uint32_t)b;
  } else if (type == WK_FS_FILE) {
    n->ro = pk->base + a;
    n->size = b;
  } else {
    n->ro = (const uint8_t *)pk_name(pk, (uint32_t)a, (uint32_t)b);
    n->size = b;
  }
  return n;
}

static int ents_reserve(wk_fs_node *dir, uint32_t more) {
  if (dir->nents + more <= dir->ents_cap) return WK_ESUCCESS;
  uint32_t cap = dir->ents_cap ? dir->ents_cap : 8;
  while (cap < dir->nents + more) cap *= 2;
  wk_fs_ent *e = wk_fs_arena_alloc((uint64_t)cap * sizeof *e);
  if (!e) return WK_ENOSPC;
  if (dir->nents) __builtin_memcpy(e, dir->ents, (uint64_t)dir->nents * sizeof *e);
  wk_fs_arena_free(dir->ents, (uint64_t)dir->ents_cap * sizeof *e);
  dir->ents = e;
  dir->ents_cap = cap;
  return WK_ESUCCESS;
}

int wk_fs_dir_load(wk_fs *fs, wk_fs_node *dir) {
  if (dir->loaded) return WK_ESUCCESS;
  const wk_pk *pk = &fs->pk;
  if (ents_reserve(dir, dir->pk_count)) return WK_ENOMEM;
  for (uint32_t i = 0; i < dir->pk_count; i++) {
    const uint8_t *d = pk->base + pk->dirents + (uint64_t)(dir->pk_first + i) * WK_PK_DIRENT_SIZE;
    uint32_t len = rd32(d + 4);
    const char *name = pk_name(pk, rd32(d), len);
    wk_fs_node *child = name && len ? node_from_pk(fs, rd32(d + 8)) : NULL;
    if (!child) return WK_EIO;
    if (child->type == WK_FS_DIR) child->parent = dir;
    child->nlink = 1;
    wk_fs_ent *e = &dir->ents[dir->nents++];
    *e = (wk_fs_ent){.name = name, .len = len, .owned = 0, .seq = dir->next_seq++, .node = child};
  }
  dir->loaded = 1;
  return WK_ESUCCESS;
}

wk_fs_ent *wk_fs_dir_find(wk_fs_node *dir, const char *name, uint32_t len) {
  for (uint32_t i = 0; i < dir->nents; i++) {
    wk_fs_ent *e = &dir->ents[i];
    if (e->len == len && e->name[0] == name[0] && __builtin_memcmp(e->name, name, len) == 0)
      return e;
  }
  return NULL;
}

int wk_fs_dir_add(wk_fs *fs, wk_fs_node *dir, const char *name, uint32_t len, wk_fs_node *node) {
  (void)fs;
  if (ents_reserve(dir, 1)) return WK_ENOSPC;
  char *copy = wk_fs_arena_alloc(len);
  if (!copy) return WK_ENOSPC;
  __builtin_memcpy(copy, name, len);
  dir->ents[dir->nents++] =
      (wk_fs_ent){.name = copy, .len = len, .owned = 1, .seq = dir->next_seq++, .node = node};
  node->nlink++;
  if (node->type == WK_FS_DIR) node->parent = dir;
  wk_fs_touch(dir);
  return WK_ESUCCESS;
}

void wk_fs_dir_unlink_name(wk_fs *fs, wk_fs_node *dir, wk_fs_ent *e) {
  (void)fs;
  if (e->owned) wk_fs_arena_free((void *)e->name, e->len);
  uint32_t i = (uint32_t)(e - dir->ents);
  __builtin_memmove(e, e + 1, (uint64_t)(dir->nents - i - 1) * sizeof *e);
  dir->nents--;
  wk_fs_touch(dir);
}

void wk_fs_dir_remove(wk_fs *fs, wk_fs_node *dir, wk_fs_ent *e) {
  wk_fs_node *n = e->node;
  wk_fs_dir_unlink_name(fs, dir, e);
  n->nlink--;
  n->ctim = wk_fs_now();
  if (n->type == WK_FS_DIR) n->parent = NULL; /* removed: its ".." is itself from now on */
  wk_fs_node_maybe_free(fs, n);
}

void wk_fs_node_maybe_free(wk_fs *fs, wk_fs_node *n) {
  if (n->nlink || n->refs) return;
  if (n->type == WK_FS_DIR) {
    for (uint32_t i = 0; i < n->nents; i++) /* only when a tree is dropped whole */
      if (n->ents[i].owned) wk_fs_arena_free((void *)n->ents[i].name, n->ents[i].len);
    wk_fs_arena_free(n->ents, (uint64_t)n->ents_cap * sizeof(wk_fs_ent));
  }
  wk_fs_arena_free(n->data, n->cap);
  wk_fs_arena_free(n, sizeof *n);
  (void)fs;
}

void wk_fs_retain(wk_fs_node *n) { n->refs++; }

void wk_fs_release(wk_fs *fs, wk_fs_node *n) {
  if (!n || !n->refs) return;
  n->refs--;
  wk_fs_node_maybe_free(fs, n);
}

uint8_t wk_fs_type(const wk_fs_node *n) { return n->type; }
uint64_t wk_fs_size(const wk_fs_node *f) { return f->size; }

void wk_fs_getstat(wk_fs *fs, const wk_fs_node *n, wk_fs_stat *st) {
  (void)fs;
  st->dev = 1;
  st->ino = n->ino;
  st->type = n->type;
  st->nlink = n->nlink ? n->nlink : 0;
  st->size = n->type == WK_FS_DIR ? 4096 : n->size;
  st->atim = n->atim;
  st->mtim = n->mtim;
  st->ctim = n->ctim;
}

int wk_fs_set_times(wk_fs *fs, wk_fs_node *n, uint64_t atim, uint64_t mtim, unsigned flags) {
  (void)fs;
  if (flags & ~15u) return WK_EINVAL;
  if (((flags & WK_FS_ATIM) && (flags & WK_FS_ATIM_NOW)) ||
      ((flags & WK_FS_MTIM) && (flags & WK_FS_MTIM_NOW)))
    return WK_EINVAL;
  uint64_t now = wk_fs_now();
  if (flags & WK_FS_ATIM) n->atim = atim;
  if (flags & WK_FS_ATIM_NOW) n->atim = now;
  if (flags & WK_FS_MTIM) n->mtim = mtim;
  if (flags & WK_FS_MTIM_NOW) n->mtim = now;
  n->ctim = now;
  return WK_ESUCCESS;
}

int wk_fs_readdir(wk_fs *fs, wk_fs_node *dir, uint64_t cookie, wk_fs_dirent *e) {
  if (dir->type != WK_FS_DIR) return -WK_ENOTDIR;
  if (wk_fs_dir_load(fs, dir)) return -WK_ENOMEM;
  if (cookie <= 1) {
    const wk_fs_node *n = cookie == 0 || !dir->parent ? dir : dir->parent;
    *e = (wk_fs_dirent){cookie == 0 ? "." : "..", (uint32_t)cookie + 1, WK_FS_DIR, n->ino,
                        cookie + 1};
    return 1;
  }
  /* Entry positions are seq + 1 (>= 2); find the first at or after the cookie. */
  uint32_t lo = 0, hi = dir->nents;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (dir->ents[mid].seq + 1 < cookie)
      lo = mid + 1;
    else
      hi = mid;
  }
  if (lo >= dir->nents) return 0;
  const wk_fs_ent *x = &dir->ents[lo];
  *e = (wk_fs_dirent){x->name, x->len, x->node->type, x->node->ino, x->seq + 2};
  return 1;
}

wk_fs *wk_fs_get(wk_vmctx *vm) {
  void **slot = wk_instance_layer_slot(vm, WK_LAYER_FS);
  if (*slot) return *slot;
  wk_fs *fs = wk_instance_alloc(vm, sizeof *fs);
  if (!fs) return NULL;
  fs->next_ino = 2;
  const uint8_t *run_image = wk_plat_fs_image ? wk_plat_fs_image() : NULL;
  if (pk_open(&fs->pk, run_image ? run_image : wk_fs_image) != 0) {
    wk_log("wasmkiln: the packed file system image is corrupt; no directories preopened\n");
    __builtin_memset(&fs->pk, 0, sizeof fs->pk);
  }
  const wk_pk *pk = &fs->pk;
  if (pk->npreopens) {
    fs->roots = wk_fs_arena_alloc((uint64_t)pk->npreopens * sizeof *fs->roots);
    if (!fs->roots) return NULL;
  }
  for (uint32_t i = 0; i < pk->npreopens; i++) {
    const uint8_t *r = pk->base + pk->preopens + (uint64_t)i * WK_PK_PREOPEN_SIZE;
    uint32_t len = rd32(r + 4);
    const char *name = pk_name(pk, rd32(r), len);
    wk_fs_node *root = name ? node_from_pk(fs, rd32(r + 8)) : NULL;
    if (!root || root->type != WK_FS_DIR) {
      wk_log("wasmkiln: the packed file system image is corrupt (preopen %u)\n", i);
      break;
    }
    root->nlink = 1; /* roots are never freed */
    fs->roots[fs->nroots++] = (wk_fs_root){name, len, root};
  }
  *slot = fs;
  return fs;
}

unsigned wk_fs_preopen_count(wk_fs *fs) { return fs ? fs->nroots : 0; }

wk_fs_node *wk_fs_preopen(wk_fs *fs, unsigned i, const char **name, uint32_t *name_len) {
  if (!fs || i >= fs->nroots) return NULL;
  if (name) *name = fs->roots[i].name;
  if (name_len) *name_len = fs->roots[i].len;
  return fs->roots[i].node;
}
