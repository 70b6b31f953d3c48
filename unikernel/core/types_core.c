/*
 * core/types_core.c - runtime-wide signature ids for call_indirect.
 *
 * Two functions have the same id exactly when their signatures are equal, in
 * whatever module they were defined: that is what makes call_indirect work
 * across instances. The registry is the one piece of process-wide state in
 * core; it only grows, and is bounded by WK_MAX_SIGNATURES.
 */
#include "instance_core.h"

#include "wk/core.h"

#define WK_MAX_SIGNATURES 4096u
#define WK_SIG_BYTES (64u * 1024u)

static struct {
  uint32_t count;
  uint32_t used;
  uint32_t offset[WK_MAX_SIGNATURES];
  char bytes[WK_SIG_BYTES];
} registry;

static int same(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

uint32_t wk_type_id(const char *sig) {
  for (uint32_t i = 0; i < registry.count; i++)
    if (same(registry.bytes + registry.offset[i], sig)) return i;
  uint32_t len = 0;
  while (sig[len]) len++;
  if (registry.count == WK_MAX_SIGNATURES || len + 1 > WK_SIG_BYTES - registry.used)
    return UINT32_MAX; /* full: such types never match, call_indirect traps */
  uint32_t id = registry.count++;
  registry.offset[id] = registry.used;
  for (uint32_t i = 0; i <= len; i++) registry.bytes[registry.used + i] = sig[i];
  registry.used += len + 1;
  return id;
}
