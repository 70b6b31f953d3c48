/*
 * wasi/args_wasi.c - args_* and environ_*: copy the platform's argv and
 * environment ("KEY=VALUE") into guest memory, NUL-terminated, pointers first.
 * The lists are the image's baked ones (wasmkiln build --arg/--env) merged with
 * the run's, once per instance; the result hangs off the WASI state (args).
 */
#include "fdtable_wasi.h"
#include "guestmem_wasi.h"
#include "wk/wasi.h"

extern const wk_wasi_baked wk_wasi_baked_config __attribute__((weak));

/* The merged lists (fdtable_wasi.h: wk_wasi_state.args). */
struct wk_wasi_args {
  int argc, envc;
  const char *const *argv;
  const char *const *envp;
};

/* ---- the merge: baked + the run's ---------------------------------------------- */

static size_t key_len(const char *kv) {
  size_t n = 0;
  while (kv[n] && kv[n] != '=') n++;
  return n;
}

static int same_key(const char *a, const char *b) {
  size_t n = key_len(a);
  return n == key_len(b) && __builtin_memcmp(a, b, n) == 0;
}

/* The args and environment the guest sees: baked into the image, then the run's
 * (the program name stays the run's; a run's variable overrides a baked one). */
static struct wk_wasi_args lists_of(wk_vmctx *vm) {
  wk_wasi_state *st = wk_wasi_state_get(vm);
  const wk_wasi_baked *b = &wk_wasi_baked_config;
  struct wk_wasi_args run = {wk_instance_argc(vm), wk_instance_envc(vm), wk_instance_argv(vm),
                             wk_instance_envp(vm)};
  if (!b || !st || (b->argc == 0 && b->envc == 0)) return run;
  if (st->args) return *st->args;
  struct wk_wasi_args *merged = wk_instance_alloc(vm, sizeof *merged);
  const char **av = wk_instance_alloc(vm, (size_t)(run.argc + b->argc + 2) * sizeof(char *));
  const char **ev = wk_instance_alloc(vm, (size_t)(run.envc + b->envc + 1) * sizeof(char *));
  if (!merged || !av || !ev) return run;
  int na = 0, ne = 0;
  av[na++] = run.argc > 0 ? run.argv[0] : "main";
  for (int i = 0; i < b->argc; i++) av[na++] = b->argv[i];
  for (int i = 1; i < run.argc; i++) av[na++] = run.argv[i];
  for (int i = 0; i < b->envc; i++) {
    int overridden = 0;
    for (int j = 0; j < run.envc && !overridden; j++)
      overridden = same_key(b->envp[i], run.envp[j]);
    if (!overridden) ev[ne++] = b->envp[i];
  }
  for (int j = 0; j < run.envc; j++) ev[ne++] = run.envp[j];
  *merged = (struct wk_wasi_args){na, ne, av, ev};
  st->args = merged;
  return *merged;
}

/* ---- copying them out ------------------------------------------------------------ */

/* Sizes of a string list as the guest sees it: count, and bytes with NULs. */
static void list_sizes(int n, const char *const *list, uint32_t *count, uint64_t *bytes) {
  uint64_t total = 0;
  for (int i = 0; i < n; i++) total += wk_strlen(list[i]) + 1;
  *count = (uint32_t)n;
  *bytes = total;
}

static int32_t list_sizes_get(wk_vmctx *vm, int n, const char *const *list, int32_t count_out,
                              int32_t size_out) {
  uint32_t count;
  uint64_t bytes;
  list_sizes(n, list, &count, &bytes);
  if (bytes > UINT32_MAX) return WK_EOVERFLOW;
  uint32_t size = (uint32_t)bytes;
  int32_t err = wk_wasi_put(vm, count_out, &count, 4);
  return err ? err : wk_wasi_put(vm, size_out, &size, 4);
}

/* Pointers into ptrs[] (u32 each), strings packed into buf. All-or-nothing. */
static int32_t list_get(wk_vmctx *vm, int n, const char *const *list, int32_t ptrs, int32_t buf) {
  uint32_t count;
  uint64_t bytes;
  list_sizes(n, list, &count, &bytes);
  uint8_t *p = wk_guest_ptr(vm, (uint32_t)ptrs, (uint64_t)count * 4);
  uint8_t *b = wk_guest_ptr(vm, (uint32_t)buf, bytes);
  if (!p || !b) return WK_EFAULT;
  uint32_t at = (uint32_t)buf;
  for (uint32_t i = 0; i < count; i++) {
    size_t len = wk_strlen(list[i]) + 1;
    __builtin_memcpy(p + 4 * i, &at, 4);
    __builtin_memcpy(b, list[i], len);
    b += len;
    at += (uint32_t)len;
  }
  return WK_ESUCCESS;
}

/* The argument list (env 0) or the environment (env 1) of the merged lists. */
static int list_of(wk_vmctx *vm, int env, const char *const **list) {
  struct wk_wasi_args l = lists_of(vm);
  *list = env ? l.envp : l.argv;
  return env ? l.envc : l.argc;
}

static int32_t sizes_get(wk_vmctx *vm, int env, int32_t count_out, int32_t size_out) {
  const char *const *list;
  int n = list_of(vm, env, &list);
  return list_sizes_get(vm, n, list, count_out, size_out);
}

static int32_t strings_get(wk_vmctx *vm, int env, int32_t ptrs, int32_t buf) {
  const char *const *list;
  int n = list_of(vm, env, &list);
  return list_get(vm, n, list, ptrs, buf);
}

int32_t wk_wasi_args_sizes_get(wk_vmctx *vm, int32_t argc_out, int32_t argv_buf_size_out) {
  return sizes_get(vm, 0, argc_out, argv_buf_size_out);
}

int32_t wk_wasi_args_get(wk_vmctx *vm, int32_t argv, int32_t argv_buf) {
  return strings_get(vm, 0, argv, argv_buf);
}

int32_t wk_wasi_environ_sizes_get(wk_vmctx *vm, int32_t count_out, int32_t buf_size_out) {
  return sizes_get(vm, 1, count_out, buf_size_out);
}

int32_t wk_wasi_environ_get(wk_vmctx *vm, int32_t environ, int32_t environ_buf) {
  return strings_get(vm, 1, environ, environ_buf);
}
