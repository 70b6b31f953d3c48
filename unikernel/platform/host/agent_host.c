/*
 * agent_host.c - wk/host.h served over a pipe, for a spec runner that cannot
 * load the host library into its own process: `wasmkiln wast --target
 * aarch64` runs this program, built for aarch64 Linux, under qemu-aarch64
 * (pyhook/spec/hostrt_remote.py), so the modules' real AArch64 code executes.
 *
 * Protocol: one request line on stdin, one reply line on the protocol fd (the
 * process's original stdout; fd 1 is pointed at stderr at start-up, so
 * nothing a module or the runtime prints can mix into replies). Numbers are
 * hexadecimal; pointers travel as numbers and come back as they went.
 *   L path           dlopen a module's .so     -> handle descriptor
 *   C handle         dlclose                   -> 0
 *   I desc n imp...  wk_host_instantiate       -> instance
 *   Z inst           wk_host_initialize        -> code
 *   V inst func n s...  wk_host_invoke         -> code s...
 *   F inst           wk_host_instance_free     -> 0
 *   f|t|g inst i     wk_host_func/table/global -> pointer (0: none)
 *   e inst i         wk_host_tag               -> pointer (0: none)
 *   m inst index     wk_host_memory            -> pointer
 *   N min max is64 / n p  memory new / free    -> pointer / 0
 *   T min max type / U p   table new / free    -> pointer / 0
 *   G bits / H p     global new / free         -> pointer / 0
 *   S name           wk_host_spectest_func     -> pointer
 *   D bytes          wk_host_set_stack_depth   -> 0
 *   r p / w p bits   a global cell's bits      -> bits / 0
 *   p mem / s table  memory pages / table size -> number
 * A failure replies "E <message>". Requests are bounded (AGENT_LINE_MAX bytes,
 * AGENT_ARGS_MAX numbers); longer ones are refused, never cut.
 */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wk/host.h"

#define AGENT_LINE_MAX 65536
#define AGENT_ARGS_MAX 4096

static FILE *reply;

static void say_error(const char *what) {
  fprintf(reply, "E %s\n", what && *what ? what : "failed");
}

/* Parse up to max hexadecimal numbers after the command letter; how many, or -1. */
static int numbers(char *s, uint64_t *out, int max) {
  int n = 0;
  for (;;) {
    while (*s == ' ') {
      s++;
    }
    if (*s == '\0' || *s == '\n') {
      return n;
    }
    if (n == max) {
      return -1;
    }
    char *end;
    out[n++] = strtoull(s, &end, 16);
    if (end == s) {
      return -1;
    }
    s = end;
  }
}

#define PTR(v) ((void *)(uintptr_t)(v))
#define NEED(k)                 \
  do {                          \
    if (n < (k)) {              \
      say_error("bad request"); \
      return;                   \
    }                           \
  } while (0)

static void serve(char *line, uint64_t *a) {
  char op = line[0];
  if (op == 'L' || op == 'S') {
    char *arg = line + 2;
    arg[strcspn(arg, "\n")] = '\0';
    if (op == 'S') {
      fprintf(reply, "%lx\n", (unsigned long)(uintptr_t)wk_host_spectest_func(arg));
      return;
    }
    void *lib = dlopen(arg, RTLD_NOW | RTLD_LOCAL);
    void *desc = lib ? dlsym(lib, "wk_module_main") : NULL;
    if (desc == NULL) {
      say_error(dlerror());
      return;
    }
    fprintf(reply, "%lx %lx\n", (unsigned long)(uintptr_t)lib, (unsigned long)(uintptr_t)desc);
    return;
  }
  int n = numbers(line + 1, a, AGENT_ARGS_MAX);
  if (n < 0) {
    say_error("bad request");
    return;
  }
  unsigned long r = 0;
  switch (op) {
  case 'C':
    NEED(1);
    dlclose(PTR(a[0]));
    break;
  case 'I': {
    if (n < 2 || a[1] != (uint64_t)(n - 2)) {
      say_error("bad request");
      return;
    }
    void *h = wk_host_instantiate(PTR(a[0]), (void *const *)(a + 2));
    if (h == NULL) {
      say_error(wk_host_last_error());
      return;
    }
    r = (unsigned long)(uintptr_t)h;
    break;
  }
  case 'Z':
    NEED(1);
    r = wk_host_initialize(PTR(a[0]));
    break;
  case 'V': {
    if (n < 3 || a[2] != (uint64_t)(n - 3) || a[2] == 0) {
      say_error("bad request");
      return;
    }
    uint32_t code = wk_host_invoke(PTR(a[0]), (uint32_t)a[1], a + 3);
    fprintf(reply, "%x", code);
    for (uint64_t i = 0; i < a[2]; i++) {
      fprintf(reply, " %lx", (unsigned long)a[3 + i]);
    }
    fputc('\n', reply);
    return;
  }
  case 'F':
    NEED(1);
    wk_host_instance_free(PTR(a[0]));
    break;
  case 'f':
    NEED(2);
    r = (unsigned long)(uintptr_t)wk_host_func(PTR(a[0]), (uint32_t)a[1]);
    break;
  case 't':
    NEED(2);
    r = (unsigned long)(uintptr_t)wk_host_table(PTR(a[0]), (uint32_t)a[1]);
    break;
  case 'g':
    NEED(2);
    r = (unsigned long)(uintptr_t)wk_host_global(PTR(a[0]), (uint32_t)a[1]);
    break;
  case 'e':
    NEED(2);
    r = (unsigned long)(uintptr_t)wk_host_tag(PTR(a[0]), (uint32_t)a[1]);
    break;
  case 'm':
    NEED(2);
    r = (unsigned long)(uintptr_t)wk_host_memory(PTR(a[0]), (uint32_t)a[1]);
    break;
  case 'N':
    NEED(3);
    r = (unsigned long)(uintptr_t)wk_host_memory_new(a[0], a[1], (uint32_t)a[2]);
    break;
  case 'n':
    NEED(1);
    wk_host_memory_free(PTR(a[0]));
    break;
  case 'T':
    NEED(3);
    r = (unsigned long)(uintptr_t)wk_host_table_new((uint32_t)a[0], (uint32_t)a[1], (uint32_t)a[2]);
    break;
  case 'U':
    NEED(1);
    wk_host_table_free(PTR(a[0]));
    break;
  case 'G':
    NEED(1);
    r = (unsigned long)(uintptr_t)wk_host_global_new(a[0]);
    break;
  case 'H':
    NEED(1);
    wk_host_global_free(PTR(a[0]));
    break;
  case 'D':
    NEED(1);
    wk_host_set_stack_depth(a[0]);
    break;
  case 'r':
    NEED(1);
    r = (unsigned long)((wk_global *)PTR(a[0]))->i64;
    break;
  case 'w':
    NEED(2);
    ((wk_global *)PTR(a[0]))->i64 = a[1];
    break;
  case 'p':
    NEED(1);
    r = (unsigned long)(((wk_memory *)PTR(a[0]))->size / WK_PAGE_SIZE);
    break;
  case 's':
    NEED(1);
    r = ((wk_table *)PTR(a[0]))->size;
    break;
  case 'E': say_error(wk_host_last_error()); return;
  default: say_error("unknown request"); return;
  }
  fprintf(reply, "%lx\n", r);
}

int main(void) {
  int fd = dup(1);
  if (fd < 0 || dup2(2, 1) < 0 || (reply = fdopen(fd, "w")) == NULL) {
    perror("wasmkiln-host-agent");
    return 1;
  }
  static char line[AGENT_LINE_MAX];
  static uint64_t args[AGENT_ARGS_MAX];
  while (fgets(line, sizeof line, stdin) != NULL) {
    if (strchr(line, '\n') == NULL && !feof(stdin)) {
      say_error("request too long");
      int c;
      while ((c = getchar()) != EOF && c != '\n') {
      }
    } else {
      serve(line, args);
    }
    fflush(reply);
  }
  return 0;
}
