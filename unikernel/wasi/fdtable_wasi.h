/*
 * wasi/fdtable_wasi.h - private to wasi/: the descriptor table and the
 * per-instance WASI state that holds it (fdtable_wasi.c). An entry says what
 * the fd is (console, file, directory, socket); the calls on each kind live
 * elsewhere (fd_wasi.c, path_wasi.c, sock_*_wasi.c), which all come here for
 * the entry. The table knows nothing of those calls.
 */
#ifndef WK_FDTABLE_WASI_H
#define WK_FDTABLE_WASI_H

#include <stdint.h>

#include "witx_wasi.h"
#include "wk/core.h"
#include "wk/fs.h"

/* What an fd is. Sockets are entries of the network layer (wk/net.h) by handle. */
enum { WK_FD_FREE = 0, WK_FD_STDIO = 1, WK_FD_FILE = 2, WK_FD_DIR = 3, WK_FD_SOCKET = 4 };

typedef struct wk_fd {
  uint8_t kind;               /* WK_FD_* */
  uint8_t filetype;           /* WK_FILETYPE_* as fdstat reports it */
  uint16_t fdflags;           /* WK_FDFLAGS_* */
  uint32_t preopen;           /* 1 + preopen index for a preopened directory, else 0 */
  int32_t handle;             /* stdio: the stream (0, 1, 2); socket: the net layer's socket */
  uint8_t readable, writable; /* how a file was opened */
  uint64_t base, inheriting;  /* rights */
  uint64_t offset;            /* files: the position */
  wk_fs_node *node;           /* files and directories (holds a reference) */
  /* Sockets the guest opened itself (the WasmEdge and WAMR extensions, sock_ext_wasi.c):
   * handle is -1 until listen, connect or (UDP) bind makes a network-layer socket. */
  uint8_t sotype;       /* WK_FILETYPE_SOCKET_STREAM or _DGRAM */
  uint8_t preopened;    /* a listener the run gave (fdtable_wasi.c) */
  uint8_t family;       /* WK_NET_AF_INET or _INET6 (0 for preview1's: INET) */
  uint8_t bound_ip[16]; /* sock_bind's address (4 or 16 bytes), network order */
  uint16_t bound_port;  /* sock_bind's port (0: none, or ephemeral) */
  uint8_t sockopts;     /* options set so far (sock_ext_wasi.h WK_SOCKOPT_BIT_*) */
} wk_fd;

struct wk_wasi_args; /* args_wasi.c's: the merged args and environment */

/* Per-instance state of the WASI layer (kept in the instance's WASI slot). */
typedef struct wk_wasi_state {
  wk_fs *fs;
  wk_fd *fds;
  uint32_t nfds;             /* entries in fds (free ones included) */
  uint8_t fds_in_arena;      /* fds came from the fs arena (else the runtime heap) */
  struct wk_wasi_args *args; /* NULL until args_wasi.c first needs them */
} wk_wasi_state;

/* Most descriptors open at once. */
#define WK_WASI_FDS_MAX 65536u

/* This instance's WASI state, created on first use (stdio, then the preopens
 * from 3); NULL only if the heap is full. */
wk_wasi_state *wk_wasi_state_get(wk_vmctx *vm);

/* The open descriptor fd, or NULL (EBADF). */
wk_fd *wk_wasi_fd(wk_vmctx *vm, int32_t fd);
/* A free descriptor number (the lowest), with its entry zeroed; -1 when none (EMFILE/ENOMEM). */
int32_t wk_wasi_fd_alloc(wk_vmctx *vm);
/* Close an entry (drops its node reference, closes its socket). */
void wk_wasi_fd_release(wk_vmctx *vm, wk_fd *f);

/* 1 if fd is one of 0/1/2 and still the console. */
int wk_wasi_stdio_open(wk_vmctx *vm, int32_t fd);

/* Fill an fd entry for the network layer's TCP socket `sock`. */
void wk_wasi_sock_entry(wk_fd *f, int sock, uint16_t fdflags);

#endif /* WK_FDTABLE_WASI_H */
