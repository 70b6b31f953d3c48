/*
 * fs/path_fs.c - path resolution and the operations on paths.
 *
 * Resolution is careful and subtle; each rule is a flat early return:
 *   - an empty path names nothing (ENOENT); an absolute one escapes;
 *   - the walk keeps the stack of directories it went through from the start
 *     directory, so ".." pops it and popping the start directory escapes;
 *   - a symlink is expanded textually (its target, then the rest of the
 *     path) and the walk goes on in the directory that holds it, so a link
 *     whose target climbs out escapes exactly like a literal "..";
 *   - the last component is followed only when the caller asks (or the path
 *     ends with '/', which requires a directory, as in POSIX).
 * Escaping is WK_FS_ESCAPE (what wasmtime returns for it).
 */
#include "internal_fs.h"

#define WK_FS_ESCAPE WK_EPERM

typedef struct resolved {
  wk_fs_node *dir;  /* directory holding the last component */
  const char *name; /* the last component (in buf) */
  uint32_t len;
  wk_fs_node *node; /* what the path names; NULL when the last component does not exist */
  int slash;        /* the path ended with '/' */
  int dot;          /* the last component is "." or "..": node is a directory, no name */
  char buf[WK_FS_PATH_MAX];
} resolved;

static int is_dots(const char *c, uint32_t n, uint32_t dots) {
  return n == dots && c[0] == '.' && (dots == 1 || c[1] == '.');
}

/* Replace buf[0, at) (ending in a symlink component) by the link's target. */
static int expand(resolved *r, uint32_t *plen, uint32_t at, const wk_fs_node *link) {
  const uint8_t *t = wk_fs_bytes(link);
  uint64_t tl = link->size;
  if (tl == 0) return WK_ENOENT;
  if (t[0] == '/') return WK_FS_ESCAPE;
  uint32_t rest = *plen - at;
  if (tl + rest >= WK_FS_PATH_MAX) return WK_ENAMETOOLONG;
  __builtin_memmove(r->buf + tl, r->buf + at, rest);
  __builtin_memcpy(r->buf, t, tl);
  *plen = (uint32_t)tl + rest;
  return WK_ESUCCESS;
}

static int resolve(wk_fs *fs, wk_fs_node *start, const char *path, uint32_t len, int follow,
                   resolved *r) {
  static wk_fs_node *stack_storage[WK_FS_DEPTH_MAX]; /* one resolution at a time: no threads */
  wk_fs_node **stack = stack_storage;
  __builtin_memset(r, 0, offsetof(resolved, buf));
  if (!start || start->type != WK_FS_DIR) return WK_ENOTDIR;
  if (len == 0) return WK_ENOENT;
  if (len >= WK_FS_PATH_MAX) return WK_ENAMETOOLONG;
  __builtin_memcpy(r->buf, path, len);
  for (uint32_t k = 0; k < len; k++)
    if (r->buf[k] == 0) return WK_EILSEQ;
  if (r->buf[0] == '/') return WK_FS_ESCAPE;

  uint32_t plen = len, i = 0, depth = 0, links = 0;
  stack[0] = start;
  for (;;) {
    while (i < plen && r->buf[i] == '/') i++;
    uint32_t s = i;
    while (i < plen && r->buf[i] != '/') i++;
    uint32_t e = i, j = i;
    while (j < plen && r->buf[j] == '/') j++;
    int last = j == plen, slash = last && j > e;
    const char *c = r->buf + s;
    uint32_t n = e - s;
    wk_fs_node *cur = stack[depth];

    if (is_dots(c, n, 1) || is_dots(c, n, 2)) {
      if (n == 2) {
        if (depth == 0) return WK_FS_ESCAPE;
        depth--;
      }
      if (last) {
        *r = (resolved){.dir = stack[depth],
                        .name = c,
                        .len = n,
                        .node = stack[depth],
                        .slash = slash,
                        .dot = 1};
        return WK_ESUCCESS;
      }
      i = j;
      continue;
    }
    int err = wk_fs_dir_load(fs, cur);
    if (err) return err;
    wk_fs_ent *ent = wk_fs_dir_find(cur, c, n);
    wk_fs_node *child = ent ? ent->node : NULL;
    if (child && child->type == WK_FS_SYMLINK && (!last || follow || slash)) {
      if (++links > WK_FS_SYMLINK_MAX) return WK_ELOOP;
      err = expand(r, &plen, e, child);
      if (err) return err;
      i = 0;
      continue;
    }
    if (last) {
      r->dir = cur;
      r->name = c;
      r->len = n;
      r->node = child;
      r->slash = slash;
      return WK_ESUCCESS;
    }
    if (!child) return WK_ENOENT;
    if (child->type != WK_FS_DIR) return WK_ENOTDIR;
    if (depth + 1 >= WK_FS_DEPTH_MAX) return WK_ENAMETOOLONG;
    stack[++depth] = child;
    i = j;
  }
}

int wk_fs_lookup(wk_fs *fs, wk_fs_node *dir, const char *path, uint32_t len, int follow,
                 wk_fs_node **out) {
  static resolved r;
  int err = resolve(fs, dir, path, len, follow, &r);
  if (err) return err;
  if (!r.node) return WK_ENOENT;
  if (r.slash && r.node->type != WK_FS_DIR) return WK_ENOTDIR;
  *out = r.node;
  return WK_ESUCCESS;
}

/* A new node named r->name in r->dir. */
static int create(wk_fs *fs, resolved *r, uint8_t type, wk_fs_node **out) {
  if (r->dir->nlink == 0) return WK_ENOENT; /* the directory was removed */
  wk_fs_node *n = wk_fs_node_new(fs, type);
  if (!n) return WK_ENOSPC;
  int err = wk_fs_dir_add(fs, r->dir, r->name, r->len, n);
  if (err) {
    wk_fs_node_maybe_free(fs, n);
    return err;
  }
  *out = n;
  return WK_ESUCCESS;
}

int wk_fs_open(wk_fs *fs, wk_fs_node *dir, const char *path, uint32_t len, int follow,
               unsigned oflags, wk_fs_node **out) {
  static resolved r;
  int err = resolve(fs, dir, path, len, follow, &r);
  if (err) return err;
  wk_fs_node *n = r.node;
  if (n) {
    if ((oflags & WK_FS_O_CREAT) && (oflags & WK_FS_O_EXCL)) return WK_EEXIST;
    if (n->type == WK_FS_SYMLINK) return (oflags & WK_FS_O_DIRECTORY) ? WK_ENOTDIR : WK_ELOOP;
    if ((r.slash || (oflags & WK_FS_O_DIRECTORY)) && n->type != WK_FS_DIR) return WK_ENOTDIR;
    if (oflags & WK_FS_O_TRUNC) {
      if (n->type == WK_FS_DIR) return WK_EISDIR;
      if (n->size) {
        err = wk_fs_truncate(fs, n, 0);
        if (err) return err;
      }
    }
  } else {
    if (!(oflags & WK_FS_O_CREAT)) return WK_ENOENT;
    if (r.slash) return WK_EISDIR;
    if (oflags & WK_FS_O_DIRECTORY) return WK_EINVAL;
    err = create(fs, &r, WK_FS_FILE, &n);
    if (err) return err;
  }
  wk_fs_retain(n);
  *out = n;
  return WK_ESUCCESS;
}

int wk_fs_mkdir(wk_fs *fs, wk_fs_node *dir, const char *path, uint32_t len) {
  static resolved r;
  int err = resolve(fs, dir, path, len, 0, &r);
  if (err) return err;
  if (r.node) return WK_EEXIST;
  wk_fs_node *n;
  return create(fs, &r, WK_FS_DIR, &n);
}

int wk_fs_rmdir(wk_fs *fs, wk_fs_node *dir, const char *path, uint32_t len) {
  static resolved r;
  int err = resolve(fs, dir, path, len, 0, &r);
  if (err) return err;
  if (r.dot) return r.len == 1 ? WK_EINVAL : WK_ENOTEMPTY;
  if (!r.node) return WK_ENOENT;
  if (r.node->type != WK_FS_DIR) return WK_ENOTDIR;
  err = wk_fs_dir_load(fs, r.node);
  if (err) return err;
  if (r.node->nents) return WK_ENOTEMPTY;
  wk_fs_dir_remove(fs, r.dir, wk_fs_dir_find(r.dir, r.name, r.len));
  return WK_ESUCCESS;
}

int wk_fs_unlink(wk_fs *fs, wk_fs_node *dir, const char *path, uint32_t len) {
  static resolved r;
  int err = resolve(fs, dir, path, len, 0, &r);
  if (err) return err;
  if (r.dot) return WK_EISDIR;
  if (!r.node) return WK_ENOENT;
  if (r.node->type == WK_FS_DIR) return WK_EISDIR;
  if (r.slash) return WK_ENOTDIR;
  wk_fs_dir_remove(fs, r.dir, wk_fs_dir_find(r.dir, r.name, r.len));
  return WK_ESUCCESS;
}

int wk_fs_symlink(wk_fs *fs, const char *target, uint32_t tlen, wk_fs_node *dir, const char *path,
                  uint32_t len) {
  static resolved r;
  if (tlen >= WK_FS_PATH_MAX) return WK_ENAMETOOLONG;
  int err = resolve(fs, dir, path, len, 0, &r);
  if (err) return err;
  if (r.node) return WK_EEXIST;
  if (r.slash) return WK_ENOENT;
  if (tlen == 0) return WK_ENOENT;
  if (target[0] == '/') return WK_FS_ESCAPE; /* could only ever point outside */
  wk_fs_node *n;
  err = create(fs, &r, WK_FS_SYMLINK, &n);
  if (err) return err;
  n->data = wk_fs_arena_alloc(tlen);
  if (!n->data) {
    wk_fs_dir_remove(fs, r.dir, wk_fs_dir_find(r.dir, r.name, r.len));
    return WK_ENOSPC;
  }
  __builtin_memcpy(n->data, target, tlen);
  n->size = n->cap = tlen;
  return WK_ESUCCESS;
}

int wk_fs_readlink(wk_fs *fs, wk_fs_node *dir, const char *path, uint32_t len, const char **target,
                   uint32_t *tlen) {
  static resolved r;
  int err = resolve(fs, dir, path, len, 0, &r);
  if (err) return err;
  if (!r.node) return WK_ENOENT;
  if (r.node->type != WK_FS_SYMLINK) return WK_EINVAL;
  *target = (const char *)wk_fs_bytes(r.node);
  *tlen = (uint32_t)r.node->size;
  return WK_ESUCCESS;
}

int wk_fs_link(wk_fs *fs, wk_fs_node *odir, const char *opath, uint32_t olen, int follow,
               wk_fs_node *ndir, const char *npath, uint32_t nlen) {
  static resolved o, n;
  int err = resolve(fs, odir, opath, olen, follow, &o);
  if (err) return err;
  if (!o.node) return WK_ENOENT;
  if (o.node->type == WK_FS_DIR) return WK_EPERM;
  if (o.slash) return WK_ENOTDIR;
  err = resolve(fs, ndir, npath, nlen, 0, &n);
  if (err) return err;
  if (n.node) return WK_EEXIST;
  if (n.slash) return WK_ENOENT;
  if (n.dir->nlink == 0) return WK_ENOENT;
  err = wk_fs_dir_add(fs, n.dir, n.name, n.len, o.node);
  if (!err) o.node->ctim = wk_fs_now();
  return err;
}

int wk_fs_rename(wk_fs *fs, wk_fs_node *odir, const char *opath, uint32_t olen, wk_fs_node *ndir,
                 const char *npath, uint32_t nlen) {
  static resolved o, n;
  int err = resolve(fs, odir, opath, olen, 0, &o);
  if (err) return err;
  err = resolve(fs, ndir, npath, nlen, 0, &n);
  if (err) return err;
  if (!o.node) return WK_ENOENT;
  if (o.dot || n.dot) return WK_EBUSY;
  wk_fs_node *src = o.node, *dst = n.node;
  int src_dir = src->type == WK_FS_DIR;
  if ((o.slash || n.slash) && !src_dir) return WK_ENOTDIR;
  if (dst == src) return WK_ESUCCESS;
  if (n.dir->nlink == 0) return WK_ENOENT; /* the target directory was removed */
  if (src_dir) {
    for (const wk_fs_node *p = n.dir; p; p = p->parent)
      if (p == src) return WK_EINVAL; /* into its own subtree */
  }
  if (dst) {
    if (src_dir && dst->type != WK_FS_DIR) return WK_ENOTDIR;
    if (!src_dir && dst->type == WK_FS_DIR) return WK_EISDIR;
    if (dst->type == WK_FS_DIR) {
      err = wk_fs_dir_load(fs, dst);
      if (err) return err;
      if (dst->nents) return WK_ENOTEMPTY;
    }
  }
  wk_fs_retain(src); /* keep it alive while it has no name */
  if (dst) wk_fs_dir_remove(fs, n.dir, wk_fs_dir_find(n.dir, n.name, n.len));
  wk_fs_dir_unlink_name(fs, o.dir, wk_fs_dir_find(o.dir, o.name, o.len));
  src->nlink--;
  err = wk_fs_dir_add(fs, n.dir, n.name, n.len, src);
  if (err) { /* out of memory: put the old name back (it fits: we just freed it) */
    wk_fs_dir_add(fs, o.dir, o.name, o.len, src);
  }
  src->ctim = wk_fs_now();
  wk_fs_release(fs, src);
  return err;
}
