/*
 * wasi/witx_wasi.h - private to wasi/: the preview1 types (witx typenames) as
 * the functions write them into guest memory: enums, flags, rights and the
 * byte layouts of the structs. Numbers only; no state, no functions.
 */
#ifndef WK_WITX_WASI_H
#define WK_WITX_WASI_H

#include <stdint.h>

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
/* preview 0's (wasi_unstable) filestat: u32 nlink @20, size @24, atim @32, mtim @40, ctim @48 */
#define WK_FILESTAT_P0_SIZE 56
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

#endif /* WK_WITX_WASI_H */
