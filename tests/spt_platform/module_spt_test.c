/*
 * tests/spt_platform/module_spt_test.c - a hand-written "compiled module".
 *
 * It stands in for the compiler's output: functions with the ABI signature
 * (wk_vmctx first), imports called through vm->funcs like generated code does,
 * and a hand-written `const wk_module wk_module_main`. Linked exactly as the
 * Python tool links an image (target.json ldflags + the whole spt archive).
 *
 * Guest argv[1] selects what _start does:
 *   hello (default)  print argv and environ via fd_write, then proc_exit(42)
 *   trap             builtins->trap(INT_DIV_ZERO)                -> 134
 *   forbid-NAME      print "before", then a raw forbidden syscall -> SIGSYS
 *                    (NAME: getpid, openat, write3, read1, mmap, mprotect-exec;
 *                    with --net host: socket, bind, listen, connect, accept4-0,
 *                    sendto-dest, setsockopt-other)
 *   accept FD        raw accept4 on descriptor FD (a granted listener under
 *                    --net host): prints "accept4 <result>"
 *   builtins         memory.grow/fill/copy/init, data.drop, globals, tables
 *   efault           WASI calls with bad guest pointers return EFAULT
 *   wasi             clocks, random, fdstat, seek, prestat, poll_oneoff
 *   return           _start returns normally                      -> 0
 *   cat              copy stdin to stdout with fd_read/fd_write     -> 0
 *   oob              memory.fill out of bounds                    -> 134
 *
 * Variants (-D): WK_TEST_NO_START (entry_func -1), WK_TEST_BAD_DATA (an active
 * data segment past the end of memory), WK_TEST_BAD_ABI (abi_version + 1).
 */
#include <stdint.h>

#include "wk/abi.h"
#include "wk/wasi.h"

/* Function indices: imports first, as the compiler lays them out. */
enum {
  F_ARGS_SIZES_GET,
  F_ARGS_GET,
  F_ENVIRON_SIZES_GET,
  F_ENVIRON_GET,
  F_FD_WRITE,
  F_PROC_EXIT,
  F_CLOCK_TIME_GET,
  F_RANDOM_GET,
  F_POLL_ONEOFF,
  F_START,
  F_HELPER,
  NUM_FUNCS
};

typedef int32_t (*fn_ii_i)(wk_vmctx *, int32_t, int32_t);
typedef int32_t (*fn_iiii_i)(wk_vmctx *, int32_t, int32_t, int32_t, int32_t);
typedef int32_t (*fn_iIi_i)(wk_vmctx *, int32_t, int64_t, int32_t);
typedef void (*fn_i_)(wk_vmctx *, int32_t);
typedef int32_t (*fn_i_i)(wk_vmctx *, int32_t);

/* Imports are host code: generated code reaches it through the record's `code` (the module's
 * adapter, in the Wasm calling convention); this C stand-in for generated code calls the C
 * function in the record's `host` directly (docs/abi.md "Calling convention"). */
#define CALL(vm, type, idx, ...) ((type)(vm)->funcs[idx].host)((vm), __VA_ARGS__)

/* Guest memory map used by the module (memory 0, offsets). */
#define SCRATCH 0x100   /* iovec and out-params */
#define TEXT 0x400      /* strings to print */
#define ARGV 0x1000     /* argv/environ pointer arrays */
#define ARGBUF 0x2000   /* argv/environ strings */
#define GREETING 0x8000 /* data segment 0 lands here */

static uint32_t slen(const char *s) {
  uint32_t n = 0;
  while (s[n]) n++;
  return n;
}

/* Write bytes at guest offset `at` to fd with one fd_write. */
static int32_t write_guest(wk_vmctx *vm, int fd, uint32_t at, uint32_t len) {
  uint32_t *iov = (uint32_t *)(vm->memory->base + SCRATCH);
  iov[0] = at;
  iov[1] = len;
  return CALL(vm, fn_iiii_i, F_FD_WRITE, fd, SCRATCH, 1, SCRATCH + 8);
}

/* Copy a host string into guest memory and print it. */
static void say(wk_vmctx *vm, const char *s) {
  uint32_t n = slen(s);
  for (uint32_t i = 0; i < n; i++) vm->memory->base[TEXT + i] = (uint8_t)s[i];
  write_guest(vm, 1, TEXT, n);
}

static void say_num(wk_vmctx *vm, const char *label, uint64_t v) {
  char buf[64];
  uint32_t n = 0;
  while (label[n] && n < 40) buf[n] = label[n], n++;
  char d[21];
  int k = 0;
  do d[k++] = (char)('0' + v % 10), v /= 10; while (v);
  while (k) buf[n++] = d[--k];
  buf[n++] = '\n';
  buf[n] = 0;
  say(vm, buf);
}

static int str_eq(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

static void check(wk_vmctx *vm, int ok, const char *what) {
  say(vm, ok ? "ok " : "FAIL ");
  say(vm, what);
  say(vm, "\n");
}

/* Print a string list (argv or environ) the way a guest would fetch it. */
static void print_list(wk_vmctx *vm, int sizes_fn, int get_fn, const char *label) {
  uint32_t *out = (uint32_t *)(vm->memory->base + SCRATCH + 32);
  CALL(vm, fn_ii_i, sizes_fn, SCRATCH + 32, SCRATCH + 36);
  uint32_t count = out[0];
  CALL(vm, fn_ii_i, get_fn, ARGV, ARGBUF);
  for (uint32_t i = 0; i < count; i++) {
    uint32_t p = ((uint32_t *)(vm->memory->base + ARGV))[i];
    say(vm, label);
    write_guest(vm, 1, p, slen((const char *)vm->memory->base + p));
    say(vm, "\n");
  }
}

static long raw_syscall(long nr, long a, long b, long c) {
  long ret;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
  return ret;
}

static long raw_syscall6(long nr, long a, long b, long c, long d, long e) {
  long ret;
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  __asm__ volatile("syscall"
                   : "=a"(ret)
                   : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                   : "rcx", "r11", "memory");
  return ret;
}

static void forbidden_net(const char *which) {
  static const uint8_t sa[16] = {2, 0, 0, 80, 127, 0, 0, 1}; /* AF_INET 127.0.0.1:80 */
  int one = 1;
  if (str_eq(which, "forbid-socket")) raw_syscall(41, 2, 1, 0);
  /* with the outbound grant too: only AF_INET/AF_INET6 stream or datagram sockets */
  if (str_eq(which, "forbid-socket-packet")) raw_syscall(41, 17, 3 | 04000 | 02000000, 0);
  if (str_eq(which, "forbid-socket-raw")) raw_syscall(41, 2, 3 | 04000 | 02000000, 1);
  if (str_eq(which, "forbid-bind")) raw_syscall(49, 0, (long)sa, sizeof sa);
  if (str_eq(which, "forbid-listen")) raw_syscall(50, 0, 1, 0);
  if (str_eq(which, "forbid-connect")) raw_syscall(42, 0, (long)sa, sizeof sa);
  if (str_eq(which, "forbid-accept4-0")) raw_syscall6(288, 0, 0, 0, 0, 0);
  if (str_eq(which, "forbid-sendto-dest")) raw_syscall6(44, 1, (long)"x", 1, 0, (long)sa);
  /* SO_BINDTODEVICE (25) at SOL_SOCKET: only SO_KEEPALIVE and TCP_NODELAY are granted */
  if (str_eq(which, "forbid-setsockopt-other")) raw_syscall6(54, 0, 1, 25, (long)&one, 4);
}

static void accept_on(wk_vmctx *vm, const char *fd_text) {
  long fd = 0;
  for (const char *p = fd_text; *p >= '0' && *p <= '9'; p++) fd = fd * 10 + (*p - '0');
  long r = raw_syscall6(288, fd, 0, 0, 04000 /* SOCK_NONBLOCK */, 0);
  say_num(vm, r < 0 ? "accept4 -" : "accept4 ", (uint64_t)(r < 0 ? -r : r));
}

static long parse_num(const char *p) {
  long v = 0;
  for (; *p >= '0' && *p <= '9'; p++) v = v * 10 + (*p - '0');
  return v;
}

/* "outbound tcp|udp PORT": what the outbound grant allows, raw: a socket, then a
 * connect (TCP) or a datagram "x" (UDP) to 127.0.0.1:PORT; prints the results. */
static void outbound(wk_vmctx *vm, const char *kind, const char *port_text) {
  long port = parse_num(port_text);
  uint8_t sa[16] = {2, 0, (uint8_t)(port >> 8), (uint8_t)port, 127, 0, 0, 1};
  int udp = str_eq(kind, "udp");
  long fd = raw_syscall(41, 2, (udp ? 2 : 1) | 04000 | 02000000, 0);
  say_num(vm, fd < 0 ? "socket -" : "socket ", (uint64_t)(fd < 0 ? -fd : fd));
  if (fd < 0) return;
  long r;
  if (udp) {
    register long r10 __asm__("r10") = 0;
    register long r8 __asm__("r8") = (long)sa;
    register long r9 __asm__("r9") = 16;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "a"(44), "D"(fd), "S"("x"), "d"(1), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
  } else {
    r = raw_syscall(42, fd, (long)sa, 16);
  }
  say_num(vm, r < 0 ? "send/connect -" : "send/connect ", (uint64_t)(r < 0 ? -r : r));
}

static void forbidden(wk_vmctx *vm, const char *which) {
  say(vm, "before\n");
  if (str_eq(which, "forbid-getpid")) raw_syscall(39, 0, 0, 0);
  if (str_eq(which, "forbid-openat")) raw_syscall(257, -100, (long)"/etc/passwd", 0);
  if (str_eq(which, "forbid-write3")) raw_syscall(1, 3, (long)"x", 1);
  if (str_eq(which, "forbid-read1")) raw_syscall(0, 1, (long)vm->memory->base, 1);
  if (str_eq(which, "forbid-mmap")) raw_syscall(9, 0, 4096, 3);
  /* mprotect is allowed for PROT_READ|PROT_WRITE only (memory.grow): never executable. */
  if (str_eq(which, "forbid-mprotect-exec")) raw_syscall(10, (long)vm->memory->base, 65536, 7);
  forbidden_net(which);
  say(vm, "after (sandbox did not stop it)\n");
}

static int32_t helper(wk_vmctx *vm, int32_t x) {
  (void)vm;
  return x * 2;
}

static void test_builtins(wk_vmctx *vm) {
  const wk_builtins *b = vm->builtins;
  check(vm, vm->memory->size == 2 * WK_PAGE_SIZE, "initial memory is min_pages");
  check(vm, b->memory_grow(vm, 0, 1) == 2, "memory.grow returns old size");
  check(vm, vm->memory->size == 3 * WK_PAGE_SIZE, "memory.grow raises mem_size");
  check(vm, b->memory_grow(vm, 0, 2) == UINT64_MAX, "memory.grow past max fails");
  check(vm, b->memory_grow(vm, 0, 0) == 3, "memory.grow 0");
  check(vm, vm->memory->base[3 * WK_PAGE_SIZE - 1] == 0, "grown memory is zero");
  b->memory_fill(vm, 0, 0x9000, 0x1ab, 16);
  check(vm, vm->memory->base[0x9000] == 0xab && vm->memory->base[0x900f] == 0xab, "memory.fill");
  b->memory_copy(vm, 0, 0, 0x9004, 0x9000, 8); /* overlapping */
  b->memory_copy(vm, 0, 0, 0x9100, GREETING, 5);
  check(vm, vm->memory->base[0x9100] == 'h' && vm->memory->base[0x9104] == 'o', "memory.copy");
  b->memory_init(vm, 0, 1, 0x9200, 1, 3);
  check(vm, vm->memory->base[0x9200] == 'b' && vm->memory->base[0x9202] == 'd', "memory.init passive");
  b->memory_fill(vm, 0, 3 * WK_PAGE_SIZE, 0, 0); /* zero length at the end is fine */
  check(vm, 1, "memory.fill len 0 at end");
  check(vm, vm->globals[0].i64 == 7 && vm->globals[1].i64 == 0x123456789ull, "globals from inits");
  wk_table *t = vm->tables[0];
  wk_funcref *e1 = t->elems[1];
  check(vm, t->size == 4 && t->max == 8, "table size and max");
  check(vm, e1 && e1->code == (void *)helper && e1->type_id == vm->type_ids[3], "elem segment");
  check(vm, t->elems[0] == 0 && t->elems[2] == 0, "null entries");
  check(vm, ((int32_t(*)(wk_vmctx *, int32_t))e1->code)(e1->vmctx, 21) == 42, "call_indirect");
  b->data_drop(vm, 1);
  say(vm, "dropped; memory.init now traps:\n");
  b->memory_init(vm, 0, 1, 0x9200, 0, 1);
}

static void test_efault(wk_vmctx *vm) {
  uint32_t *iov = (uint32_t *)(vm->memory->base + SCRATCH);
  iov[0] = (uint32_t)vm->memory->size - 2;
  iov[1] = 4; /* runs past the end */
  check(vm, CALL(vm, fn_iiii_i, F_FD_WRITE, 1, SCRATCH, 1, SCRATCH + 8) == WK_EFAULT,
        "fd_write buffer past end");
  iov[0] = 0xffffffffu;
  iov[1] = 2; /* wraps in 32 bits */
  check(vm, CALL(vm, fn_iiii_i, F_FD_WRITE, 1, SCRATCH, 1, SCRATCH + 8) == WK_EFAULT,
        "fd_write buffer wrapping");
  check(vm, CALL(vm, fn_iiii_i, F_FD_WRITE, 1, -8, 0x20000000, SCRATCH + 8) == WK_EFAULT,
        "fd_write huge iovs_len");
  check(vm, CALL(vm, fn_ii_i, F_ARGS_GET, -4, ARGBUF) == WK_EFAULT, "args_get bad argv");
  check(vm, CALL(vm, fn_ii_i, F_RANDOM_GET, 16, -1) == WK_EFAULT, "random_get bad length");
  check(vm, CALL(vm, fn_iIi_i, F_CLOCK_TIME_GET, 1, 0, -4) == WK_EFAULT, "clock_time_get bad ptr");
  check(vm, CALL(vm, fn_iiii_i, F_FD_WRITE, 5, SCRATCH, 1, SCRATCH + 8) == WK_EBADF,
        "fd_write fd 5 EBADF");
}

static void test_wasi(wk_vmctx *vm) {
  uint64_t *t = (uint64_t *)(vm->memory->base + SCRATCH + 64);
  check(vm, CALL(vm, fn_iIi_i, F_CLOCK_TIME_GET, 0, 1, SCRATCH + 64) == 0 &&
                t[0] > 1600000000ull * 1000000000ull, "realtime after 2020");
  CALL(vm, fn_iIi_i, F_CLOCK_TIME_GET, 1, 1, SCRATCH + 64);
  uint64_t m0 = t[0];
  check(vm, CALL(vm, fn_iIi_i, F_CLOCK_TIME_GET, 9, 1, SCRATCH + 64) == WK_EINVAL, "bad clock");
  check(vm, CALL(vm, fn_iIi_i, F_CLOCK_TIME_GET, 2, 1, SCRATCH + 64) == 0 && t[0] < m0,
        "process cputime since start");
  check(vm, wk_wasi_clock_res_get(vm, 1, SCRATCH + 64) == 0 && t[0] > 0 && t[0] < 1000000,
        "clock_res_get");
  uint8_t *r = vm->memory->base + 0x9000;
  for (int i = 0; i < 64; i++) r[i] = 0;
  check(vm, CALL(vm, fn_ii_i, F_RANDOM_GET, 0x9000, 64) == 0, "random_get");
  int nz = 0;
  for (int i = 0; i < 64; i++) nz += r[i] != 0;
  check(vm, nz > 40, "random bytes look random");
  uint8_t *st = vm->memory->base + 0x9100;
  check(vm, wk_wasi_fd_fdstat_get(vm, 1, 0x9100) == 0 && st[0] == 2, "fdstat stdout char device");
  check(vm, wk_wasi_fd_fdstat_get(vm, 7, 0x9100) == WK_EBADF, "fdstat fd 7 EBADF");
  check(vm, wk_wasi_fd_fdstat_set_flags(vm, 1, 1) == 0, "fdstat_set_flags append");
  check(vm, wk_wasi_fd_fdstat_get(vm, 1, 0x9100) == 0 && st[2] == 1, "flags recorded");
  check(vm, wk_wasi_fd_seek(vm, 1, 0, 0, 0x9100) == WK_ESPIPE, "seek stdout ESPIPE");
  check(vm, wk_wasi_fd_seek(vm, 9, 0, 0, 0x9100) == WK_EBADF, "seek fd 9 EBADF");
  check(vm, wk_wasi_fd_prestat_get(vm, 3, 0x9100) == WK_EBADF, "no preopens");
  check(vm, wk_wasi_fd_filestat_get(vm, 2, 0x9100) == 0 && st[16] == 2, "filestat stderr");
  check(vm, wk_wasi_path_open(vm, 3, 0, TEXT, 1, 0, 0, 0, 0, 0x9100) == WK_EBADF, "path_open");
  check(vm, wk_wasi_sched_yield(vm) == 0, "sched_yield");

  /* poll_oneoff: a 20 ms relative sleep on the monotonic clock. */
  uint8_t *sub = vm->memory->base + 0xa000;
  for (int i = 0; i < 48; i++) sub[i] = 0;
  *(uint64_t *)sub = 0x77;                /* userdata */
  sub[8] = 0;                             /* clock */
  *(uint32_t *)(sub + 16) = 1;            /* monotonic */
  *(uint64_t *)(sub + 24) = 20000000ull;  /* 20 ms */
  CALL(vm, fn_iIi_i, F_CLOCK_TIME_GET, 1, 1, SCRATCH + 64);
  uint64_t before = t[0];
  int32_t e = CALL(vm, fn_iiii_i, F_POLL_ONEOFF, 0xa000, 0xa100, 1, 0xa200);
  CALL(vm, fn_iIi_i, F_CLOCK_TIME_GET, 1, 1, SCRATCH + 64);
  uint8_t *ev = vm->memory->base + 0xa100;
  check(vm, e == 0 && *(uint32_t *)(vm->memory->base + 0xa200) == 1, "poll_oneoff one event");
  check(vm, *(uint64_t *)ev == 0x77 && ev[10] == 0 && *(uint16_t *)(ev + 8) == 0, "clock event");
  check(vm, t[0] - before >= 20000000ull, "slept 20 ms");
  /* stdout write subscription plus a long clock: returns at once with the fd event. */
  for (int i = 0; i < 48; i++) sub[48 + i] = 0;
  sub[48 + 8] = 2; /* fd_write */
  *(uint32_t *)(sub + 48 + 16) = 1;
  *(uint64_t *)(sub + 24) = 10000000000ull; /* 10 s */
  e = CALL(vm, fn_iiii_i, F_POLL_ONEOFF, 0xa000, 0xa100, 2, 0xa200);
  check(vm, e == 0 && *(uint32_t *)(vm->memory->base + 0xa200) == 1 && ev[10] == 2, "fd ready at once");
}

static void cat(wk_vmctx *vm) {
  uint32_t *iov = (uint32_t *)(vm->memory->base + SCRATCH);
  for (;;) {
    iov[0] = 0x9000;
    iov[1] = 7; /* small, to exercise many reads */
    if (wk_wasi_fd_read(vm, 0, SCRATCH, 1, SCRATCH + 8) != 0) return;
    uint32_t n = *(uint32_t *)(vm->memory->base + SCRATCH + 8);
    if (n == 0) return;
    write_guest(vm, 1, 0x9000, n);
  }
}

static void start(wk_vmctx *vm) {
  CALL(vm, fn_ii_i, F_ARGS_SIZES_GET, SCRATCH + 32, SCRATCH + 36);
  uint32_t argc = *(uint32_t *)(vm->memory->base + SCRATCH + 32);
  CALL(vm, fn_ii_i, F_ARGS_GET, ARGV, ARGBUF);
  const char *mode = "hello";
  if (argc > 1) mode = (const char *)vm->memory->base + ((uint32_t *)(vm->memory->base + ARGV))[1];

  if (str_eq(mode, "trap")) {
    say(vm, "dividing by zero\n");
    vm->builtins->trap(vm, WK_TRAP_INT_DIV_ZERO);
  }
  if (str_eq(mode, "oob")) vm->builtins->memory_fill(vm, 0, vm->memory->size - 1, 0, 2);
  if (mode[0] == 'f' && mode[1] == 'o') forbidden(vm, mode);
  if (str_eq(mode, "outbound") && argc > 3) {
    const uint32_t *av = (const uint32_t *)(vm->memory->base + ARGV);
    outbound(vm, (const char *)vm->memory->base + av[2], (const char *)vm->memory->base + av[3]);
    return;
  }
  if (str_eq(mode, "accept") && argc > 2) {
    accept_on(vm, (const char *)vm->memory->base + ((uint32_t *)(vm->memory->base + ARGV))[2]);
    return;
  }
  if (str_eq(mode, "builtins")) test_builtins(vm);
  if (str_eq(mode, "efault")) test_efault(vm);
  if (str_eq(mode, "wasi")) test_wasi(vm);
  if (str_eq(mode, "cat")) {
    cat(vm);
    return;
  }
  if (str_eq(mode, "return")) {
    say(vm, "returning\n");
    return;
  }
  write_guest(vm, 1, GREETING, 18); /* data segment 0: "hello from module\n" */
  print_list(vm, F_ARGS_SIZES_GET, F_ARGS_GET, "arg: ");
  print_list(vm, F_ENVIRON_SIZES_GET, F_ENVIRON_GET, "env: ");
  say_num(vm, "argc=", argc);
  CALL(vm, fn_i_, F_PROC_EXIT, 42);
  say(vm, "FAIL proc_exit returned\n");
}

/* ---- The module descriptor (what bridge emits as C) ---- */

/* Never called: this module's own code calls host functions directly (CALL). */
static void no_adapter(wk_vmctx *vm) { vm->builtins->trap(vm, WK_TRAP_UNREACHABLE); }

/* The runtime enters `_start` through the trampoline of its type ([] -> []); this module's
 * functions are C functions, so its trampoline calls them the C way. */
static void tramp_void(wk_vmctx *vm, void *code, uint64_t *slots) {
  (void)slots;
  ((void (*)(wk_vmctx *))code)(vm);
}
static const wk_trampoline trampolines[] = {0, 0, 0, 0, 0, tramp_void};

static const char *const type_sigs[] = {"ii:i", "iiii:i", "i:", "i:i", "iIi:i", ":"};
#define IMPORT(name, type, fn) \
  {"wasi_snapshot_preview1", name, WK_EXTERN_FUNC, type, 0, 0, (void *)fn, (void *)no_adapter}
static const wk_import imports[F_START] = {
    IMPORT("args_sizes_get", 0, wk_wasi_args_sizes_get),
    IMPORT("args_get", 0, wk_wasi_args_get),
    IMPORT("environ_sizes_get", 0, wk_wasi_environ_sizes_get),
    IMPORT("environ_get", 0, wk_wasi_environ_get),
    IMPORT("fd_write", 1, wk_wasi_fd_write),
    IMPORT("proc_exit", 2, wk_wasi_proc_exit),
    IMPORT("clock_time_get", 4, wk_wasi_clock_time_get),
    IMPORT("random_get", 0, wk_wasi_random_get),
    IMPORT("poll_oneoff", 1, wk_wasi_poll_oneoff),
};
static void *const func_code[] = {(void *)start, (void *)helper};
static const uint32_t func_types[NUM_FUNCS] = {0, 0, 0, 0, 1, 2, 4, 0, 1, 5, 3};
static const wk_global_def globals[2] = {
    {0x7E | 0x100, 0, {WK_CONST_VALUE, 0, 7, 0}},
    {0x7E | 0x100, 0, {WK_CONST_VALUE, 0, 0x123456789ull, 0}},
};
static const wk_table_type tables[1] = {{4, 8, 0x70, 0, {WK_CONST_REF_NULL, 0, 0, 0}}};
static const wk_memory_type memories[1] = {{2, 3, 0, 0}};
static const uint8_t greeting[] = "hello from module\n";
static const uint8_t passive[] = "abcd";
static const wk_data_segment data[2] = {
#ifdef WK_TEST_BAD_DATA
    {greeting, 18, 0, 0, 0, {WK_CONST_VALUE, 0, 2 * WK_PAGE_SIZE - 4, 0}},
#else
    {greeting, 18, 0, 0, 0, {WK_CONST_VALUE, 0, GREETING, 0}},
#endif
    {passive, 4, 1, 0, 0, {WK_CONST_VALUE, 0, 0, 0}},
};
static const wk_const elem0[] = {{WK_CONST_REF_FUNC, F_HELPER, 0, 0}, {WK_CONST_REF_NULL, 0, 0, 0}};
static const wk_elem_segment elems[1] = {{elem0, 2, 0, 0, 0, {WK_CONST_VALUE, 0, 1, 0}}};
static const wk_export exports[1] = {{"_start", WK_EXTERN_FUNC, F_START}};

const wk_module wk_module_main = {
#ifdef WK_TEST_BAD_ABI
    .abi_version = WK_ABI_VERSION + 1,
#else
    .abi_version = WK_ABI_VERSION,
#endif
    .num_types = 6,
    .type_sigs = type_sigs,
    .trampolines = trampolines,
    .num_imports = F_START,
    .imports = imports,
    .num_funcs = NUM_FUNCS,
    .num_imported_funcs = F_START,
    .func_code = func_code,
    .func_types = func_types,
    .num_globals = 2,
    .globals = globals,
    .num_memories = 1,
    .memories = memories,
    .num_tables = 1,
    .tables = tables,
    .num_data = 2,
    .data = data,
    .num_elems = 1,
    .elems = elems,
    .num_exports = 1,
    .exports = exports,
    .start_func = -1,
#ifdef WK_TEST_NO_START
    .entry_func = -1,
#else
    .entry_func = F_START,
#endif
    .name = "module_spt_test",
};
