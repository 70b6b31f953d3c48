/*
 * fdt_kvm.c - the few things the aarch64 kvm platform reads from the
 * flattened device tree QEMU hands over in x0 (devicetree spec v0.4, ch. 5).
 *
 * Read: the root's #address-cells/#size-cells, the first /memory node's first
 * reg range, and /chosen's bootargs (the -append string: argv, env, net
 * tokens, README.md "Command line") and linux,initrd-start/-end (the -initrd
 * file: a run's packed file system). Everything else is skipped. Every offset
 * is checked against the blob's totalsize before it is read: a malformed tree
 * is refused with a message, never walked past its end.
 */
#include <stdbool.h>

#include "kvm.h"

#define FDT_MAGIC 0xd00dfeedu
#define FDT_BEGIN_NODE 1u
#define FDT_END_NODE 2u
#define FDT_PROP 3u
#define FDT_NOP 4u
#define FDT_END 9u
#define FDT_MAX_SIZE (2u << 20) /* QEMU's trees are ~1 MiB at most */

typedef struct fdt_cursor {
  const uint8_t *base;
  uint32_t size;        /* totalsize */
  uint32_t strings;     /* off_dt_strings */
  uint32_t strings_len; /* size_dt_strings */
} fdt_cursor;

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool str_eq(const char *a, const char *b) {
  while (*a != '\0' && *a == *b) {
    a++;
    b++;
  }
  return *a == *b;
}

/* Is name "prefix" or "prefix@..."? */
static bool node_is(const char *name, const char *prefix) {
  while (*prefix != '\0') {
    if (*name++ != *prefix++) {
      return false;
    }
  }
  return *name == '\0' || *name == '@';
}

/* A cells-long big-endian number (1 or 2 cells). */
static uint64_t cells(const uint8_t *p, uint32_t n) {
  return n == 2 ? (uint64_t)be32(p) << 32 | be32(p + 4) : be32(p);
}

/* The NUL-terminated string at offset off of the strings block, or NULL. */
static const char *prop_name(const fdt_cursor *c, uint32_t off) {
  if (off >= c->strings_len) {
    return 0;
  }
  const char *s = (const char *)c->base + c->strings + off;
  for (uint32_t i = off; i < c->strings_len; i++) {
    if (s[i - off] == '\0') {
      return s;
    }
  }
  return 0;
}

const char *kvm_fdt_read(const void *dtb, kvm_fdt_info *out) {
  *out = (kvm_fdt_info){0};
  const uint8_t *b = dtb;
  if (b == 0 || be32(b) != FDT_MAGIC) {
    return "no device tree (x0 at entry did not point to one)";
  }
  fdt_cursor c = {
      .base = b, .size = be32(b + 4), .strings = be32(b + 12), .strings_len = be32(b + 32)};
  uint32_t off = be32(b + 8); /* off_dt_struct */
  if (c.size > FDT_MAX_SIZE || c.size < 40 || c.strings > c.size ||
      c.strings_len > c.size - c.strings || off >= c.size) {
    return "malformed device tree header";
  }
  uint32_t addr_cells = 2, size_cells = 2;
  int depth = 0;
  enum { OTHER, ROOT, MEMORY, CHOSEN } node = OTHER;
  bool have_memory = false;
  while (off + 4 <= c.size) {
    uint32_t tok = be32(b + off);
    off += 4;
    if (tok == FDT_BEGIN_NODE) {
      const char *name = (const char *)b + off;
      uint32_t len = 0;
      while (off + len < c.size && name[len] != '\0') {
        len++;
      }
      if (off + len >= c.size) {
        return "malformed device tree (node name)";
      }
      off += (len + 4) & ~3u;
      depth++;
      node = depth == 1                                              ? ROOT
             : depth == 2 && node_is(name, "memory") && !have_memory ? MEMORY
             : depth == 2 && node_is(name, "chosen")                 ? CHOSEN
                                                                     : OTHER;
    } else if (tok == FDT_END_NODE) {
      depth--;
      node = depth == 1 ? ROOT : OTHER;
      if (depth < 0) {
        return "malformed device tree (node nesting)";
      }
    } else if (tok == FDT_PROP) {
      if (off + 8 > c.size) {
        return "malformed device tree (property)";
      }
      uint32_t len = be32(b + off);
      const char *name = prop_name(&c, be32(b + off + 4));
      off += 8;
      if (name == 0 || len > c.size - off) {
        return "malformed device tree (property)";
      }
      const uint8_t *v = b + off;
      off += (len + 3) & ~3u;
      if (node == ROOT && len == 4 && str_eq(name, "#address-cells")) {
        addr_cells = be32(v);
      } else if (node == ROOT && len == 4 && str_eq(name, "#size-cells")) {
        size_cells = be32(v);
      } else if (node == MEMORY && str_eq(name, "reg")) {
        if ((addr_cells != 1 && addr_cells != 2) || (size_cells != 1 && size_cells != 2) ||
            len < 4 * (addr_cells + size_cells)) {
          return "device tree: unsupported /memory reg";
        }
        out->mem_base = cells(v, addr_cells);
        out->mem_size = cells(v + 4 * addr_cells, size_cells);
        have_memory = true;
      } else if (node == CHOSEN && str_eq(name, "bootargs")) {
        if (len == 0 || v[len - 1] != '\0') {
          return "device tree: /chosen/bootargs is not a string";
        }
        out->bootargs = (const char *)v;
      } else if (node == CHOSEN && (len == 4 || len == 8) && str_eq(name, "linux,initrd-start")) {
        out->initrd_start = cells(v, len / 4);
      } else if (node == CHOSEN && (len == 4 || len == 8) && str_eq(name, "linux,initrd-end")) {
        out->initrd_end = cells(v, len / 4);
      }
    } else if (tok == FDT_END) {
      break;
    } else if (tok != FDT_NOP) {
      return "malformed device tree (unknown token)";
    }
  }
  if (!have_memory || out->mem_size == 0) {
    return "the device tree names no memory";
  }
  if (out->initrd_end < out->initrd_start) {
    return "device tree: initrd ends before it starts";
  }
  return 0;
}
