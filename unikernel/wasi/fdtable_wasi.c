/*
 * wasi/fdtable_wasi.c - the descriptor table (fdtable_wasi.h).
 *
 * fds 0, 1, 2 are the console; the run's preopened TCP listeners (wasmkiln
 * run --listen / -p) follow from 3, then the preopened directories of the
 * packed file system in --dir order. That is wasmtime's -S tcplisten layout:
 * wasi-libc's preopen scan stops at the first fd whose fd_prestat_get says
 * EBADF, so a program that serves files next to a listener finds its
 * directories itself (fd_prestat_get on the fds after the sockets), under
 * wasmtime and here alike. The table starts in the runtime heap and grows
 * (doubling) in the fs arena up to WK_WASI_FDS_MAX. Entries carry a kind, so
 * sockets (the network layer's handles) fit in the same table.
 */
#include "fdtable_wasi.h"

#include "wk/net.h"
#include "wk/platform.h"
#include "wk/wasi.h"

#define INITIAL_FDS 64u

static void init_stdio(wk_fd *f, int32_t stream) {
  uint64_t common =
      WK_RIGHT_FD_FDSTAT_SET_FLAGS | WK_RIGHT_FD_FILESTAT_GET | WK_RIGHT_POLL_FD_READWRITE;
  *f = (wk_fd){.kind = WK_FD_STDIO,
               .filetype = WK_FILETYPE_CHARACTER_DEVICE,
               .handle = stream,
               .readable = stream == 0,
               .writable = stream != 0,
               .base = common | (stream == 0 ? WK_RIGHT_FD_READ : WK_RIGHT_FD_WRITE)};
}

/* The run asked for listeners the guest cannot get: say why and stop, as a
 * runtime does when its --tcplisten address is taken. */
_Noreturn static void listen_failed(wk_vmctx *vm, int err) {
  static const char prefix[] = "wasmkiln: cannot open the preopened listeners (--listen/-p): ";
  const char *why = err == -WK_ENODEV       ? "no network device\n"
                    : err == -WK_EADDRINUSE ? "address in use\n"
                    : err == -WK_ENOSYS     ? "built without a network stack\n"
                                            : "network error\n";
  size_t n = 0;
  while (why[n]) n++;
  (void)wk_plat_console_write(2, prefix, sizeof prefix - 1);
  (void)wk_plat_console_write(2, why, n);
  wk_exit(vm, 71); /* EX_OSERR */
}

wk_wasi_state *wk_wasi_state_get(wk_vmctx *vm) {
  void **slot = wk_instance_layer_slot(vm, WK_LAYER_WASI);
  if (*slot) return *slot;
  wk_wasi_state *st = wk_instance_alloc(vm, sizeof *st);
  if (!st) return NULL;
  st->fs = wk_fs_get(vm);
  unsigned npre = wk_fs_preopen_count(st->fs);
  int socks[WK_PLAT_LISTEN_MAX];
  uint8_t after_dirs[WK_PLAT_LISTEN_MAX];
  int nsock = wk_net_preopen_listeners(socks, after_dirs, WK_PLAT_LISTEN_MAX);
  if (nsock < 0) listen_failed(vm, nsock);
  uint32_t cap = INITIAL_FDS;
  while (cap < 3 + (unsigned)nsock + npre) cap *= 2;
  st->fds = wk_instance_alloc(vm, cap * sizeof(wk_fd));
  if (!st->fds) return NULL;
  st->nfds = cap;
  for (int32_t i = 0; i < 3; i++) init_stdio(&st->fds[i], i);
  /* --listen's listeners (wasmtime's layout), the directories, -p's listeners. */
  uint32_t next = 3;
  for (int pass = 0; pass < 2; pass++) {
    for (int i = 0; i < nsock; i++) {
      if (after_dirs[i] != pass) continue;
      wk_wasi_sock_entry(&st->fds[next], socks[i], WK_FDFLAGS_NONBLOCK);
      st->fds[next++].preopened = 1;
    }
    for (unsigned i = 0; pass == 0 && i < npre; i++) {
      wk_fs_node *root = wk_fs_preopen(st->fs, i, 0, 0);
      wk_fs_retain(root);
      st->fds[next++] = (wk_fd){.kind = WK_FD_DIR,
                                .filetype = WK_FILETYPE_DIRECTORY,
                                .preopen = i + 1,
                                .base = WK_RIGHTS_DIR,
                                .inheriting = WK_RIGHTS_DIR | WK_RIGHTS_FILE,
                                .node = root};
    }
  }
  *slot = st;
  return st;
}

wk_fd *wk_wasi_fd(wk_vmctx *vm, int32_t fd) {
  wk_wasi_state *st = wk_wasi_state_get(vm);
  if (!st || fd < 0 || (uint32_t)fd >= st->nfds) return NULL;
  wk_fd *f = &st->fds[fd];
  return f->kind == WK_FD_FREE ? NULL : f;
}

int wk_wasi_stdio_open(wk_vmctx *vm, int32_t fd) {
  wk_fd *f = wk_wasi_fd(vm, fd);
  return f && f->kind == WK_FD_STDIO;
}

int32_t wk_wasi_fd_alloc(wk_vmctx *vm) {
  wk_wasi_state *st = wk_wasi_state_get(vm);
  if (!st) return -1;
  for (uint32_t i = 0; i < st->nfds; i++)
    if (st->fds[i].kind == WK_FD_FREE) {
      st->fds[i] = (wk_fd){0};
      return (int32_t)i;
    }
  uint32_t cap = st->nfds * 2;
  if (cap > WK_WASI_FDS_MAX || !st->fs) return -1;
  wk_fd *fds = wk_fs_mem_alloc(st->fs, cap * sizeof(wk_fd));
  if (!fds) return -1;
  __builtin_memcpy(fds, st->fds, st->nfds * sizeof(wk_fd));
  /* The first table lives in the runtime heap and is simply abandoned. */
  if (st->fds_in_arena) wk_fs_mem_free(st->fs, st->fds);
  int32_t fd = (int32_t)st->nfds;
  st->fds = fds;
  st->fds_in_arena = 1;
  st->nfds = cap;
  return fd;
}

void wk_wasi_fd_release(wk_vmctx *vm, wk_fd *f) {
  wk_wasi_state *st = wk_wasi_state_get(vm);
  if (f->node) wk_fs_release(st->fs, f->node);
  if (f->kind == WK_FD_SOCKET) (void)wk_net_close(f->handle);
  *f = (wk_fd){0};
}

void wk_wasi_sock_entry(wk_fd *f, int sock, uint16_t fdflags) {
  *f = (wk_fd){.kind = WK_FD_SOCKET,
               .filetype = WK_FILETYPE_SOCKET_STREAM,
               .fdflags = fdflags,
               .handle = sock,
               .readable = 1,
               .writable = 1,
               .base = WK_RIGHTS_SOCKET,
               .sotype = WK_FILETYPE_SOCKET_STREAM};
}
