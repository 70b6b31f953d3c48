/*
 * core/alloc_core.c - the kernel heap: memory with free for the layers (the
 * fs write layer, lwIP), taken on demand from the platform's memory map.
 *
 * Why: the layers used to keep static .bss arenas sized for the worst case
 * (64 MiB for files, 5 MiB for lwIP). On kvm the loader writes and the boot
 * code zeroes every byte of .bss, so a hello image booted twice as slowly and
 * needed 82 MiB of guest RAM. Now memory is taken when it is used, and the
 * amount available scales with the machine (QEMU -m).
 *
 * Layout of the platform region after instantiation:
 *
 *   [ runtime heap | linear memory -> grows up ...   ... <- kernel heap | bitmap ]
 *                                  ^ mem end         ^ low
 *
 * Linear memory grows from the bottom, the kernel heap claims 64 KiB-aligned
 * chunks from the top downwards; whichever would cross the other fails
 * (memory.grow returns -1, wk_kmem_alloc NULL). Claimed memory never returns
 * to linear memory, which therefore stays zero above its size.
 *
 * Inside the claimed part: a buddy allocator. Blocks are powers of two from
 * 32 bytes to 2^order_max; offsets are relative to `base` = top - 2^order_max
 * (which may lie below the region: those offsets are simply never claimed).
 * A free block holds its links and order; `bitmap` has one bit per 32-byte
 * granule, set on the first granule of every free block, so a block can tell
 * whether its buddy is free without trusting bytes that might be guest data.
 *
 * One kernel heap per image (wk_main sets it up); an embedder's instances
 * (platform/host) have none, and wk_kmem_alloc returns NULL there.
 */
#include "instance_core.h"

#include "wk/core.h"

#define MIN_ORDER 5u    /* 32 bytes: room for the free-list links and order */
#define CHUNK_ORDER 16u /* claim the region 64 KiB at a time */
#define MAX_ORDER 32u   /* at most 4 GiB of kernel heap (bitmap: 16 MiB, sized to the region) */

typedef struct free_blk {
  struct free_blk *next, *prev;
  uint64_t order;
} free_blk;

typedef struct kmem {
  uintptr_t floor;      /* lowest address it may ever claim (above the runtime heap) */
  const wk_memory *mem; /* linear memory below it: claims stay above its end */
  uintptr_t base;       /* address of offset 0 (2^order_max below the top) */
  uint64_t low;         /* offset of the lowest claimed byte; 2^order_max = none */
  unsigned order_max;
  uint8_t *bitmap; /* 1 bit per granule: a free block starts here */
  free_blk *lists[MAX_ORDER + 1];
  /* Bytes in allocated blocks (powers of two), for diagnosis: bench/soak.py reads it
   * (with `low`) from a running guest's memory to tell a leak from a high-water mark.
   * Last, so the fields above keep their offsets. */
  uint64_t in_use;
} kmem;

static kmem heap_state; /* core-private: the image's one kernel heap */
static kmem *heap;      /* NULL until wk_kmem_init */

static uint64_t granule(uintptr_t a) { return (uint64_t)(a - heap->base) >> MIN_ORDER; }
static void mark(uintptr_t a, int on) {
  uint64_t g = granule(a);
  if (on)
    heap->bitmap[g >> 3] |= (uint8_t)(1u << (g & 7));
  else
    heap->bitmap[g >> 3] &= (uint8_t) ~(1u << (g & 7));
}
static int marked(uintptr_t a) {
  uint64_t g = granule(a);
  return (heap->bitmap[g >> 3] >> (g & 7)) & 1;
}

static void push(uintptr_t a, unsigned order) {
  free_blk *b = (free_blk *)a;
  b->prev = NULL;
  b->order = order;
  b->next = heap->lists[order];
  if (b->next) b->next->prev = b;
  heap->lists[order] = b;
  mark(a, 1);
}

static void unlink_blk(free_blk *b) {
  if (b->prev)
    b->prev->next = b->next;
  else
    heap->lists[b->order] = b->next;
  if (b->next) b->next->prev = b->prev;
  mark((uintptr_t)b, 0);
}

static unsigned order_of(uint64_t size) {
  unsigned o = MIN_ORDER;
  while (o <= heap->order_max && ((uint64_t)1 << o) < size) o++;
  return o;
}

/* The lowest address a claim may reach now. */
static uintptr_t claim_floor(void) {
  uintptr_t f = heap->floor;
  if (heap->mem) {
    uintptr_t end = (uintptr_t)heap->mem->base + heap->mem->size;
    if (end > f) f = end;
  }
  return f;
}

/* Claim a block of `order` below the claimed part; the pieces skipped to align
 * it become free blocks. Returns its address, 0 when the region is used up. */
static uintptr_t claim(unsigned order) {
  uint64_t size = (uint64_t)1 << order;
  /* Compare offsets, not addresses: `base` may lie below address 0 (it wraps), but the
   * floor's offset, floor - base, is in [0, 2^order_max] because the span is. */
  uint64_t floor_off = (uint64_t)(claim_floor() - heap->base);
  while (heap->low & (size - 1)) {
    unsigned t = (unsigned)__builtin_ctzll(heap->low);
    uint64_t piece = heap->low - ((uint64_t)1 << t);
    if (piece < floor_off) return 0;
    heap->low = piece;
    push(heap->base + piece, t);
  }
  if (heap->low < size || heap->low - size < floor_off) return 0;
  heap->low -= size;
  return heap->base + heap->low;
}

void wk_kmem_init(uintptr_t floor, uintptr_t top, const wk_memory *mem) {
  heap = NULL;
  top &= ~(uintptr_t)((1u << CHUNK_ORDER) - 1);
  if (top <= floor || top - floor < 2 * (1u << CHUNK_ORDER)) return;
  /* Round the span up: offset 0 may lie below the region (never claimed there), so all
   * of [floor, top) is usable; linear memory's pages come from here on kvm. */
  uint64_t span = (uint64_t)(top - floor);
  unsigned k = 64u - (unsigned)__builtin_clzll(span - 1);
  if (k > MAX_ORDER) k = MAX_ORDER;
  uint64_t bitmap = ((uint64_t)1 << k) >> (MIN_ORDER + 3);
  bitmap = (bitmap + (1u << CHUNK_ORDER) - 1) & ~(uint64_t)((1u << CHUNK_ORDER) - 1);
  top -= bitmap;
  if (top <= floor) return;
  /* Capped at MAX_ORDER (a region over 4 GiB: spt's, a large kvm guest's): the part below
   * top - 2^k is not ours (linear memory may grow into it). */
  if ((uint64_t)(top - floor) > ((uint64_t)1 << k)) floor = top - ((uintptr_t)1 << k);
  heap_state = (kmem){.floor = floor, .mem = mem, .order_max = k};
  heap_state.bitmap = (uint8_t *)top; /* the platform region starts zeroed */
  heap_state.base = top - ((uintptr_t)1 << k);
  heap_state.low = (uint64_t)1 << k;
  heap = &heap_state;
}

void wk_kmem_below(const wk_memory *mem) {
  if (heap) heap->mem = mem;
}

uintptr_t wk_kmem_ceiling(const wk_memory *mem) {
  if (!heap || heap->mem != mem) return UINTPTR_MAX;
  return heap->base + heap->low;
}

void *wk_kmem_alloc(size_t size) {
  if (!heap) return NULL;
  if (size == 0) size = 1;
  unsigned want = order_of(size);
  if (want > heap->order_max) return NULL;
  unsigned o = want;
  while (o <= heap->order_max && !heap->lists[o]) o++;
  uintptr_t b;
  int fresh = 0; /* never handed out nor on a list: still the region's zeros */
  if (o <= heap->order_max) {
    b = (uintptr_t)heap->lists[o];
    unlink_blk((free_blk *)b);
  } else {
    o = want > CHUNK_ORDER ? want : CHUNK_ORDER;
    if (o > heap->order_max) o = heap->order_max;
    b = claim(o);
    if (!b) return NULL;
    fresh = 1;
  }
  while (o > want) { /* split: keep the low half, free the high half */
    o--;
    push(b + ((uintptr_t)1 << o), o);
  }
  heap->in_use += (uint64_t)1 << want;
  /* A block just claimed is zero already (the region starts zeroed, as the bitmap's
   * comment in wk_kmem_init says; the split above wrote only its upper halves), and
   * clearing it again cost the kvm image ~2 ms of its boot under TCG: linear memory's
   * first pages come from here. */
  if (!fresh) __builtin_memset((void *)b, 0, size);
  return (void *)b;
}

void wk_kmem_free(void *p, size_t size) {
  if (!p || !heap) return;
  if (size == 0) size = 1;
  unsigned o = order_of(size);
  uintptr_t blk = (uintptr_t)p;
  heap->in_use -= (uint64_t)1 << o;
  while (o < heap->order_max) {
    uint64_t buddy_off = (uint64_t)(blk - heap->base) ^ ((uint64_t)1 << o);
    uintptr_t buddy = heap->base + buddy_off;
    if (buddy_off < heap->low || !marked(buddy) || ((free_blk *)buddy)->order != o) break;
    unlink_blk((free_blk *)buddy);
    if (buddy < blk) blk = buddy;
    o++;
  }
  push(blk, o);
}

/* malloc-style: the size lives in a 16-byte header (keeps 16-byte alignment). */
void *wk_malloc(size_t size) {
  if (size > SIZE_MAX - 16) return NULL;
  uint64_t *p = wk_kmem_alloc(size + 16);
  if (!p) return NULL;
  p[0] = size;
  return p + 2;
}

void *wk_calloc(size_t n, size_t size) {
  if (size != 0 && n > SIZE_MAX / size) return NULL;
  return wk_malloc(n * size); /* wk_kmem_alloc zeroes */
}

void wk_free(void *p) {
  if (!p) return;
  uint64_t *h = (uint64_t *)p - 2;
  wk_kmem_free(h, (size_t)h[0] + 16);
}
