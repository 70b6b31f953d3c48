/*
 * fs/alloc_fs.c - the memory of the writable layer: a buddy allocator over
 * one static arena of WK_FS_ARENA_SIZE bytes.
 *
 * Why its own arena: the runtime heap (wk_instance_alloc) is a small bump
 * heap that never frees, while files grow, shrink and disappear. Blocks are
 * powers of two from 32 bytes to the whole arena; a freed block merges with
 * its buddy, so a file that grew by doubling gives all its old buffers back
 * as one block. `freemap` marks the first granule of every free block with
 * its order + 1, which is how a block finds out whether its buddy is free.
 *
 * The arena is .bss: untouched pages cost nothing on spt (demand-zero); on
 * kvm the boot code zeroes it with the rest of .bss.
 */
#include "internal_fs.h"

#define MIN_ORDER 5u /* 32 bytes: room for the free-list links */
#define MAX_ORDER 26u
_Static_assert(((uint64_t)1 << MAX_ORDER) == WK_FS_ARENA_SIZE, "arena size is 2^MAX_ORDER");

typedef struct free_blk {
  struct free_blk *next, *prev;
} free_blk;

static uint8_t arena[WK_FS_ARENA_SIZE] __attribute__((aligned(4096)));
static uint8_t freemap[WK_FS_ARENA_SIZE >> MIN_ORDER];
static free_blk *lists[MAX_ORDER + 1];
static int ready;

static uint64_t granule(const void *p) { return (uint64_t)((const uint8_t *)p - arena) >> MIN_ORDER; }

static void push(free_blk *b, unsigned order) {
  b->prev = NULL;
  b->next = lists[order];
  if (b->next) b->next->prev = b;
  lists[order] = b;
  freemap[granule(b)] = (uint8_t)(order + 1);
}

static void unlink_blk(free_blk *b, unsigned order) {
  if (b->prev) b->prev->next = b->next;
  else lists[order] = b->next;
  if (b->next) b->next->prev = b->prev;
  freemap[granule(b)] = 0;
}

static unsigned order_of(uint64_t size) {
  unsigned o = MIN_ORDER;
  while (o <= MAX_ORDER && ((uint64_t)1 << o) < size) o++;
  return o;
}

void *wk_fs_arena_alloc(uint64_t size) {
  if (!ready) {
    push((free_blk *)arena, MAX_ORDER);
    ready = 1;
  }
  if (size == 0) size = 1;
  unsigned want = order_of(size);
  if (want > MAX_ORDER) return NULL;
  unsigned o = want;
  while (o <= MAX_ORDER && !lists[o]) o++;
  if (o > MAX_ORDER) return NULL;
  free_blk *b = lists[o];
  unlink_blk(b, o);
  while (o > want) { /* split: keep the low half, free the high half */
    o--;
    push((free_blk *)((uint8_t *)b + ((uint64_t)1 << o)), o);
  }
  __builtin_memset(b, 0, size);
  return b;
}

void wk_fs_arena_free(void *p, uint64_t size) {
  if (!p) return;
  if (size == 0) size = 1;
  unsigned o = order_of(size);
  uint8_t *blk = p;
  while (o < MAX_ORDER) {
    uint64_t off = (uint64_t)(blk - arena);
    uint8_t *buddy = arena + (off ^ ((uint64_t)1 << o));
    if (freemap[granule(buddy)] != o + 1) break;
    unlink_blk((free_blk *)buddy, o);
    if (buddy < blk) blk = buddy;
    o++;
  }
  push((free_blk *)blk, o);
}

/* Memory for the layers above; the size is kept in front of the block. */
void *wk_fs_mem_alloc(wk_fs *fs, size_t size) {
  (void)fs;
  uint64_t *p = wk_fs_arena_alloc((uint64_t)size + 16);
  if (!p) return NULL;
  p[0] = size;
  return p + 2;
}

void wk_fs_mem_free(wk_fs *fs, void *p) {
  (void)fs;
  if (!p) return;
  uint64_t *h = (uint64_t *)p - 2;
  wk_fs_arena_free(h, h[0] + 16);
}
