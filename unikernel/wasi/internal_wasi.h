/*
 * wasi/internal_wasi.h - private to wasi/: per-instance WASI state and the
 * preview1 type layouts (witx typenames) the functions write into guest memory.
 */
#ifndef WK_INTERNAL_WASI_H
#define WK_INTERNAL_WASI_H

#include <stdint.h>

#include "wk/abi.h"
#include "wk/core.h"
#include "wk/errno.h"
#include "wk/fs.h"

/* filetype */
enum {
  WK_FILETYPE_UNKNOWN = 0,
  WK_FILETYPE_BLOCK_DEVICE = 1,
  WK_FILETYPE_CHARACTER_DEVICE = 2,
  WK_FILETYPE_DIRECTORY = 3,
  WK_FILETYPE_REGULAR_FILE = 4,
  WK_FILETYPE_SOCKET_DGRAM = 5,
  WK_FILETYPE_SOCKET_STREAM = 6,
  WK_FILETYPE_SYMBOLIC_LINK = 7,
};

/* fdflags */
enum {
  WK_FDFLAGS_APPEND = 1,
  WK_FDFLAGS_DSYNC = 2,
  WK_FDFLAGS_NONBLOCK = 4,
  WK_FDFLAGS_RSYNC = 8,
  WK_FDFLAGS_SYNC = 16,
  WK_FDFLAGS_ALL = 31,
};

/* rights (bit numbers from the witx `rights` flags) */
#define WK_RIGHT(bit) ((uint64_t)1 << (bit))
#define WK_RIGHT_FD_DATASYNC WK_RIGHT(0)
#define WK_RIGHT_FD_READ WK_RIGHT(1)
#define WK_RIGHT_FD_SEEK WK_RIGHT(2)
#define WK_RIGHT_FD_FDSTAT_SET_FLAGS WK_RIGHT(3)
#define WK_RIGHT_FD_SYNC WK_RIGHT(4)
#define WK_RIGHT_FD_TELL WK_RIGHT(5)
#define WK_RIGHT_FD_WRITE WK_RIGHT(6)
#define WK_RIGHT_FD_ADVISE WK_RIGHT(7)
#define WK_RIGHT_FD_ALLOCATE WK_RIGHT(8)
#define WK_RIGHT_PATH_CREATE_DIRECTORY WK_RIGHT(9)
#define WK_RIGHT_PATH_CREATE_FILE WK_RIGHT(10)
#define WK_RIGHT_PATH_LINK_SOURCE WK_RIGHT(11)
#define WK_RIGHT_PATH_LINK_TARGET WK_RIGHT(12)
#define WK_RIGHT_PATH_OPEN WK_RIGHT(13)
#define WK_RIGHT_FD_READDIR WK_RIGHT(14)
#define WK_RIGHT_PATH_READLINK WK_RIGHT(15)
#define WK_RIGHT_PATH_RENAME_SOURCE WK_RIGHT(16)
#define WK_RIGHT_PATH_RENAME_TARGET WK_RIGHT(17)
#define WK_RIGHT_PATH_FILESTAT_GET WK_RIGHT(18)
#define WK_RIGHT_PATH_FILESTAT_SET_SIZE WK_RIGHT(19)
#define WK_RIGHT_PATH_FILESTAT_SET_TIMES WK_RIGHT(20)
#define WK_RIGHT_FD_FILESTAT_GET WK_RIGHT(21)
#define WK_RIGHT_FD_FILESTAT_SET_SIZE WK_RIGHT(22)
#define WK_RIGHT_FD_FILESTAT_SET_TIMES WK_RIGHT(23)
#define WK_RIGHT_PATH_SYMLINK WK_RIGHT(24)
#define WK_RIGHT_PATH_REMOVE_DIRECTORY WK_RIGHT(25)
#define WK_RIGHT_PATH_UNLINK_FILE WK_RIGHT(26)
#define WK_RIGHT_POLL_FD_READWRITE WK_RIGHT(27)
#define WK_RIGHT_SOCK_SHUTDOWN WK_RIGHT(28)
#define WK_RIGHT_SOCK_ACCEPT WK_RIGHT(29)
#define WK_RIGHTS_ALL (WK_RIGHT(30) - 1)
/* What a regular file can do, and what a directory can do (wasi-libc's sets). */
#define WK_RIGHTS_FILE                                                                         \
  (WK_RIGHT_FD_DATASYNC | WK_RIGHT_FD_READ | WK_RIGHT_FD_SEEK | WK_RIGHT_FD_FDSTAT_SET_FLAGS | \
   WK_RIGHT_FD_SYNC | WK_RIGHT_FD_TELL | WK_RIGHT_FD_WRITE | WK_RIGHT_FD_ADVISE |              \
   WK_RIGHT_FD_ALLOCATE | WK_RIGHT_FD_FILESTAT_GET | WK_RIGHT_FD_FILESTAT_SET_SIZE |           \
   WK_RIGHT_FD_FILESTAT_SET_TIMES | WK_RIGHT_POLL_FD_READWRITE)
#define WK_RIGHTS_DIR                                                                              \
  (WK_RIGHT_FD_FDSTAT_SET_FLAGS | WK_RIGHT_FD_SYNC | WK_RIGHT_FD_ADVISE |                          \
   WK_RIGHT_PATH_CREATE_DIRECTORY | WK_RIGHT_PATH_CREATE_FILE | WK_RIGHT_PATH_LINK_SOURCE |        \
   WK_RIGHT_PATH_LINK_TARGET | WK_RIGHT_PATH_OPEN | WK_RIGHT_FD_READDIR | WK_RIGHT_PATH_READLINK | \
   WK_RIGHT_PATH_RENAME_SOURCE | WK_RIGHT_PATH_RENAME_TARGET | WK_RIGHT_PATH_FILESTAT_GET |        \
   WK_RIGHT_PATH_FILESTAT_SET_SIZE | WK_RIGHT_PATH_FILESTAT_SET_TIMES | WK_RIGHT_FD_FILESTAT_GET | \
   WK_RIGHT_FD_FILESTAT_SET_TIMES | WK_RIGHT_PATH_SYMLINK | WK_RIGHT_PATH_REMOVE_DIRECTORY |       \
   WK_RIGHT_PATH_UNLINK_FILE)

/* What a socket can do (a listener and a connection alike, as wasmtime). */
#define WK_RIGHTS_SOCKET                                                            \
  (WK_RIGHT_FD_READ | WK_RIGHT_FD_WRITE | WK_RIGHT_FD_FDSTAT_SET_FLAGS |            \
   WK_RIGHT_FD_FILESTAT_GET | WK_RIGHT_POLL_FD_READWRITE | WK_RIGHT_SOCK_SHUTDOWN | \
   WK_RIGHT_SOCK_ACCEPT)

/* fdstat: u8 filetype @0, u16 flags @2, u64 rights_base @8, u64 rights_inheriting @16 */
#define WK_FDSTAT_SIZE 24
/* filestat: dev @0, ino @8, u8 filetype @16, nlink @24, size @32, atim @40, mtim @48, ctim @56 */
#define WK_FILESTAT_SIZE 64
/* iovec / ciovec: u32 buf @0, u32 buf_len @4 */
#define WK_IOVEC_SIZE 8
/* subscription: u64 userdata @0, u8 tag @8, union @16 (clock: u32 id @16, u64 timeout @24,
 * u64 precision @32, u16 flags @40; fd_read/fd_write: u32 fd @16) */
#define WK_SUBSCRIPTION_SIZE 48
/* event: u64 userdata @0, u16 error @8, u8 type @10, u64 nbytes @16, u16 flags @24 */
#define WK_EVENT_SIZE 32
enum { WK_EVENTTYPE_CLOCK = 0, WK_EVENTTYPE_FD_READ = 1, WK_EVENTTYPE_FD_WRITE = 2 };
enum { WK_SUBCLOCKFLAGS_ABSTIME = 1 };
enum {
  WK_CLOCK_REALTIME = 0,
  WK_CLOCK_MONOTONIC = 1,
  WK_CLOCK_PROCESS_CPUTIME = 2,
  WK_CLOCK_THREAD_CPUTIME = 3,
};

/* lookupflags, whence, advice */
enum { WK_LOOKUP_SYMLINK_FOLLOW = 1 };
enum { WK_WHENCE_SET = 0, WK_WHENCE_CUR = 1, WK_WHENCE_END = 2 };
/* dirent: u64 d_next @0, u64 d_ino @8, u32 d_namlen @16, u8 d_type @20 */
#define WK_DIRENT_SIZE 24
/* prestat: u8 tag @0 (0 = dir), u32 name_len @4 */
#define WK_PRESTAT_SIZE 8

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

/* Per-instance state of the WASI layer (kept in the instance's WASI slot). */
typedef struct wk_wasi_state {
  wk_fs *fs;
  wk_fd *fds;
  uint32_t nfds;        /* entries in fds (free ones included) */
  uint8_t fds_in_arena; /* fds came from the fs arena (else the runtime heap) */
  uint8_t baked;        /* baked args/env merged */
  int argc, envc;
  const char *const *argv;
  const char *const *envp;
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
/* Close an entry (drops its node reference). */
void wk_wasi_fd_release(wk_vmctx *vm, wk_fd *f);

/* 1 if fd is one of 0/1/2 and still the console. */
int wk_wasi_stdio_open(wk_vmctx *vm, int32_t fd);

/* Guest path argument -> host pointer; WK_EFAULT when out of bounds. */
int32_t wk_wasi_path_arg(wk_vmctx *vm, int32_t ptr, int32_t len, const char **out);

/* Fill a WASI filestat from a node's stat: preview 1 layout, or preview 0's
 * (wasi_unstable: u32 nlink @20, size @24, atim @32, mtim @40, ctim @48). */
void wk_wasi_filestat_p1(const wk_fs_stat *st, uint8_t out[WK_FILESTAT_SIZE]);
#define WK_FILESTAT_P0_SIZE 56
void wk_wasi_filestat_p0(const wk_fs_stat *st, uint8_t out[WK_FILESTAT_P0_SIZE]);
/* The stat of what an fd refers to (the console: a character device, zeros). */
int32_t wk_wasi_fd_stat(wk_vmctx *vm, int32_t fd, wk_fs_stat *st);

/* The args and environment the guest sees: baked into the image, then the run's. */
void wk_wasi_args_env(wk_vmctx *vm, int *argc, const char *const **argv, int *envc,
                      const char *const **envp);

/* Check an iovec array and every buffer in it (EFAULT, nothing done, if one is
 * out of bounds); *out gets the array's host pointer. */
int32_t wk_wasi_check_iovs(wk_vmctx *vm, int32_t iovs, int32_t iovs_len, const uint8_t **out);
/* Buffer i of a checked iovec array. */
void wk_wasi_iov_at(wk_vmctx *vm, const uint8_t *arr, uint32_t i, uint8_t **buf, uint32_t *len);

/* ---- sockets (sock_wasi.c) ---- */
/* Fill an fd entry for the network layer's TCP socket `sock`. */
void wk_wasi_sock_entry(wk_fd *f, int sock, uint16_t fdflags);
/* fd_read/fd_write on a socket: the iovecs (already checked) as one recv/send;
 * a blocking fd waits. *total gets the bytes moved. */
int32_t wk_wasi_sock_readv(wk_vmctx *vm, wk_fd *f, const uint8_t *iovs, uint32_t n,
                           uint32_t *total);
int32_t wk_wasi_sock_writev(wk_vmctx *vm, wk_fd *f, const uint8_t *iovs, uint32_t n,
                            uint32_t *total);
/* poll_oneoff on a socket: 1 ready (*nbytes: bytes readable, when known),
 * 0 not yet; tag is WK_EVENTTYPE_FD_READ or _WRITE. */
int wk_wasi_sock_ready(wk_fd *f, uint8_t tag, uint64_t *nbytes);
/* Let the network move while a socket call or poll_oneoff waits: one
 * wk_net_poll, then (spt) a sleep of at most max_ns until a frame comes. */
void wk_wasi_sock_wait_step(uint64_t max_ns);

/* The socket entry of fd; EBADF for no entry and for one that is not a socket. */
int32_t wk_wasi_sock_fd(wk_vmctx *vm, int32_t fd, wk_fd **out);
/* A new fd for the network layer's TCP socket s (closed again when no fd is
 * free: EMFILE); the number goes to the guest's *fd_out. */
int32_t wk_wasi_sock_install(wk_vmctx *vm, int s, uint16_t fdflags, int32_t fd_out);
/* Wait (or not, for a non-blocking fd) until wk_net_events(s) has one of mask. */
void wk_wasi_sock_wait_events(const wk_fd *f, int s, int mask);

/* Spin-loop hint; a CPU without one just spins. */
static inline void wk_wasi_cpu_relax(void) {
#if defined(__x86_64__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

/* poll_oneoff with the subscription layout of a preview (1, or 0 for wasi_unstable). */
int32_t wk_wasi_poll(wk_vmctx *vm, int32_t in, int32_t out, int32_t nsubscriptions,
                     int32_t nevents_out, int preview0);

/* Write `*val` of `size` bytes at a guest offset; WK_ESUCCESS or WK_EFAULT. */
static inline int32_t wk_wasi_put(wk_vmctx *vm, int32_t ptr, const void *val, uint32_t size) {
  void *p = wk_guest_ptr(vm, (uint32_t)ptr, size);
  if (!p) return WK_EFAULT;
  __builtin_memcpy(p, val, size);
  return WK_ESUCCESS;
}

#endif /* WK_INTERNAL_WASI_H */
