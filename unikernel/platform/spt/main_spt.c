/*
 * platform/spt/main_spt.c - the spt platform's boot: a static Linux process.
 *
 *   IMAGE [--env K=V]... [--net TOKEN]... [--fs-fd N] [--memory MIB] [--die-with-parent]
 *         [--] ARGS...
 *
 * The guest's argv is the image's basename followed by ARGS; its environment
 * is exactly the --env pairs (nothing is inherited from the host). Before the
 * guest runs, the process maps everything it will ever use (the runtime
 * region: heap, kernel heap and the linear memories outside memory 0's guard
 * reservation, MAP_NORESERVE so untouched pages cost nothing; an 8 MiB stack
 * with a guard page), switches to the new stack, and seals itself with the
 * seccomp filter of seccomp_spt.c. --memory MIB sizes the region (the
 * machine's memory, as `-m` is a kvm guest's; `wasmkiln run --memory`); its
 * default, REGION_DEFAULT_MIB, lets a memory64 grow to ~16 GiB. Only address
 * space is taken: a memory.grow past what the host can back fails only when
 * the pages are touched, as any process's overcommitted memory does.
 * --net TOKEN gives the NIC its frames socket and settings (net_spt.c).
 * --fs-fd N: an open file holding a packed file system (`wasmkiln run IMAGE
 * --dir`), mapped read-only before the seal; it replaces the image's own.
 */
#include <asm/stat.h>
#include <linux/mman.h>
#include <linux/prctl.h>
#include <stddef.h>
#include <stdint.h>

#include "../netcfg_plat.h"
#include "clock_spt.h"
#include "net_spt.h"
#include "seccomp_spt.h"
#include "syscall_spt_x86_64.h"
#include "wk/net.h"

extern void wk_net_drain(uint64_t timeout_ns) __attribute__((weak));
#include "wk/platform.h"

/* 16 GiB of linear memory + 64 MiB of runtime data (docs/abi.md "Several memories"). */
#define REGION_DEFAULT_MIB ((16ull << 10) + 64ull)
#define REGION_MAX_MIB (64ull << 20) /* 64 TiB: below the 128 TiB of user address space */
#define STACK_SIZE (8ull << 20)
#define GUARD_SIZE 4096ull
#define EXIT_USAGE 2

_Noreturn void wk_spt_start(uintptr_t *initial_sp);
_Noreturn void wk_spt_run_on_stack(void *stack_top, void (*fn)(void *), void *arg);
/* memory_spt.c: the guard reservation for linear memory, SIGSEGV -> trap or crash report. */
int wk_spt_memory_install(void);

static wk_bootinfo boot; /* platform-private; the core gets a pointer */
static uint64_t region_mib = REGION_DEFAULT_MIB;
static const uint8_t *fs_image; /* --fs-fd's mapping, or NULL */

const uint8_t *wk_plat_fs_image(void) { return fs_image; }

static void put_err(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  wk_plat_console_write(2, s, n);
}

static _Noreturn void die(const char *what) {
  put_err("wasmkiln-spt: ");
  put_err(what);
  put_err(
      "\nusage: IMAGE [--env KEY=VALUE]... [--net TOKEN]... [--fs-fd N] [--memory MIB] "
      "[--die-with-parent] [--] ARGS...\n");
  wk_plat_exit(EXIT_USAGE);
}

static int str_eq(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

static const char *after_prefix(const char *s, const char *prefix) {
  while (*prefix)
    if (*s++ != *prefix++) return NULL;
  return s;
}

static int has_equals(const char *s) {
  for (; *s; s++)
    if (*s == '=') return 1;
  return 0;
}

static const char *base_name(const char *path) {
  const char *b = path;
  for (const char *p = path; *p; p++)
    if (*p == '/' && p[1]) b = p + 1;
  return b;
}

static void *map_anon(uint64_t len, int prot) {
  long r =
      wk_sys6(__NR_mmap, 0, (long)len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (r < 0 && r > -4096) die("out of memory (mmap failed)");
  return (void *)r;
}

/* --fs-fd N: map the whole file read-only (the sandbox allows no reads of it later). */
static void map_fs(const char *num) {
  size_t len = 0, i = 0;
  while (num[len]) len++;
  uint64_t fd;
  if (!wk_netcfg_num(num, len, &i, 1 << 20, &fd) || i != len) {
    die("--fs-fd wants a descriptor number");
  }
  struct stat st;
  if (wk_sys3(__NR_fstat, (long)fd, (long)&st, 0) < 0 || st.st_size < 64) {
    die("--fs-fd N is not an open packed file system");
  }
  long r = wk_sys6(__NR_mmap, 0, st.st_size, PROT_READ, MAP_PRIVATE, (long)fd, 0);
  if (r < 0 && r > -4096) die("cannot map --fs-fd's file");
  wk_sys3(__NR_close, (long)fd, 0, 0);
  fs_image = (const uint8_t *)r;
}

/* --memory MIB: the region's size. */
static void set_memory(const char *num) {
  size_t len = 0, i = 0;
  while (num[len]) len++;
  uint64_t mib;
  if (!wk_netcfg_num(num, len, &i, REGION_MAX_MIB, &mib) || i != len || mib == 0) {
    die("--memory wants a size in MiB, from 1 to 67108864");
  }
  region_mib = mib;
}

/* Runs on the new stack; never returns. */
static void run_sealed(void *arg) {
  if (wk_spt_memory_install() < 0) die("cannot reserve linear memory or install its fault handler");
  wk_spt_sandbox sb = {.net_fd = wk_spt_net_fd(),
                       .host_sockets = wk_spt_net_host(),
                       .outbound = wk_spt_net_outbound()};
  sb.nlisteners = wk_spt_net_host_fds(sb.listeners, WK_SPT_LISTENERS_MAX);
  if (wk_spt_seccomp_install(&sb) < 0) die("cannot install the seccomp filter");
  int code = wk_main(arg);
  /* The guest's last TCP bytes leave before the machine stops. Weak: test
   * kernels link this platform without the network layer. */
  if (wk_net_drain) wk_net_drain(WK_NET_DRAIN_NS);
  wk_plat_exit(code);
}

_Noreturn void wk_spt_start(uintptr_t *initial_sp) {
  int argc = (int)initial_sp[0];
  const char *const *argv = (const char *const *)(initial_sp + 1);
  const uintptr_t *envp = initial_sp + 1 + argc + 1;
  while (*envp) envp++;
  wk_spt_clock_init(envp + 1); /* the auxiliary vector follows envp's NULL */

  /* Guest argv and env, each at most argc entries plus a NULL. */
  const char **gargv = map_anon((uint64_t)(2 * argc + 2) * sizeof(char *), PROT_READ | PROT_WRITE);
  const char **genv = gargv + argc + 1;
  int gargc = 0, genvc = 0;
  gargv[gargc++] = base_name(argc > 0 && argv[0] ? argv[0] : "wasmkiln");

  int i = 1;
  while (i < argc) {
    const char *a = argv[i], *v;
    if (str_eq(a, "--")) {
      i++;
      break;
    }
    if (str_eq(a, "--net")) {
      if (i + 1 >= argc) die("--net needs a TOKEN");
      const char *err = wk_spt_net_option(argv[i + 1]);
      if (err) die(err);
      i += 2;
      continue;
    }
    if (str_eq(a, "--die-with-parent")) { /* the runner's: no guest outlives `wasmkiln run` */
      if (wk_sys6(__NR_prctl, PR_SET_PDEATHSIG, 9 /* SIGKILL */, 0, 0, 0, 0) < 0) {
        die("cannot set the parent-death signal");
      }
      i++;
      continue;
    }
    if (str_eq(a, "--fs-fd")) {
      if (i + 1 >= argc) die("--fs-fd needs a descriptor number");
      map_fs(argv[i + 1]);
      i += 2;
      continue;
    }
    if (str_eq(a, "--memory")) {
      if (i + 1 >= argc) die("--memory needs a size in MiB");
      set_memory(argv[i + 1]);
      i += 2;
      continue;
    }
    if (str_eq(a, "--env")) {
      if (i + 1 >= argc) die("--env needs KEY=VALUE");
      v = argv[i + 1];
      i += 2;
    } else if ((v = after_prefix(a, "--env="))) {
      i++;
    } else {
      break; /* first guest argument */
    }
    if (!has_equals(v) || v[0] == '=') die("--env needs KEY=VALUE");
    genv[genvc++] = v;
  }
  while (i < argc) gargv[gargc++] = argv[i++];
  const char *net_err = wk_spt_net_setup();
  if (net_err) die(net_err);
  gargv[gargc] = NULL;
  genv[genvc] = NULL;

  uint8_t *stack = map_anon(STACK_SIZE, PROT_READ | PROT_WRITE);
  wk_sys3(__NR_mprotect, (long)stack, GUARD_SIZE, PROT_NONE);

  boot.argc = gargc;
  boot.argv = gargv;
  boot.envc = genvc;
  boot.envp = genv;
  boot.mem_size = region_mib << 20;
  long region = wk_sys6(__NR_mmap, 0, (long)boot.mem_size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (region < 0 && region > -4096) die("cannot map the memory region (--memory: ask for less)");
  boot.mem_base = (void *)region;
  boot.stack_low = (uintptr_t)(stack + GUARD_SIZE);
  boot.start_ns = wk_plat_clock_monotonic();
  wk_spt_run_on_stack(stack + STACK_SIZE, run_sealed, &boot);
}
