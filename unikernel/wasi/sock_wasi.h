/*
 * wasi/sock_wasi.h - private to wasi/: the socket side of the descriptor
 * calls (sock_wasi.c), for fd_wasi.c (fd_read/fd_write on a socket),
 * poll_wasi.c (readiness, waiting) and the socket extensions (sock_ext_wasi.c).
 */
#ifndef WK_SOCK_WASI_H
#define WK_SOCK_WASI_H

#include <stdint.h>

#include "fdtable_wasi.h"

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

/* The socket entry of fd; EBADF for no entry, ENOTSOCK for one that is not a socket. */
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

#endif /* WK_SOCK_WASI_H */
