/*
 * fs/alloc_fs.c - the memory of the writable layer: the core's kernel heap.
 *
 * Files grow, shrink and disappear, so the layer needs memory it can free;
 * the runtime heap (wk_instance_alloc) is a small bump heap that never frees.
 * The kernel heap (core/alloc_core.c, a buddy allocator) takes pages from the
 * platform's region only when they are used, so the layer costs nothing in an
 * image that writes no files and may use as much as the machine has (-m).
 * Callers pass the size back on free: a file buffer that grows by doubling
 * then fills its block exactly, without a header pushing it to the next size.
 */
#include "internal_fs.h"

#include "wk/core.h"

void *wk_fs_arena_alloc(uint64_t size) {
  if (size > SIZE_MAX) return NULL;
  return wk_kmem_alloc((size_t)size);
}

void wk_fs_arena_free(void *p, uint64_t size) { wk_kmem_free(p, (size_t)size); }

/* Memory for the layers above; the size is kept in front of the block. */
void *wk_fs_mem_alloc(wk_fs *fs, size_t size) {
  (void)fs;
  return wk_malloc(size);
}

void wk_fs_mem_free(wk_fs *fs, void *p) {
  (void)fs;
  wk_free(p);
}
