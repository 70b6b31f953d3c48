/*
 * platform/spt/seccomp_spt.c - the spt sandbox (Solo5's spt model).
 *
 * After wk_spt_seccomp_install() the process may only:
 *   write(fd 1 or 2)      console out          read(fd 0)        console in
 *   read/write(net fd)    NIC frames (net_spt.c), only when the run gave one
 *   poll(.., 1, ..)       wait for the NIC (one pollfd), only with a net fd
 *   clock_gettime         clocks               clock_getres       clock resolution
 *   getrandom             entropy              exit, exit_group   leave
 *   mprotect(.., .., PROT_READ|PROT_WRITE)      memory.grow in a guard reservation
 *   rt_sigreturn          return from the fault handler (memory_spt.c)
 *   restart_syscall       the kernel resuming a poll interrupted by SIGSTOP/SIGCONT
 * and, with the host's sockets (--net host, sock_spt.c), instead of the net fd:
 *   accept4(listener)     only on the listening sockets the run passed in
 *   read, write, writev, sendto(.., NULL dest), shutdown, close, getsockname,
 *   getpeername, getsockopt, ppoll
 *                         on any descriptor: the process holds none but stdio,
 *                         those listeners and what it accepted from them
 *   setsockopt            levels SOL_SOCKET / IPPROTO_TCP, options
 *                         SO_KEEPALIVE / TCP_NODELAY (the two wk/net.h has)
 * and with the grant to reach out as well (--net outbound, `wasmkiln run --net`):
 *   socket(AF_INET or AF_INET6, SOCK_STREAM or SOCK_DGRAM, each with
 *          SOCK_NONBLOCK|SOCK_CLOEXEC, protocol 0)
 *   connect, sendto (any destination), recvfrom
 * seccomp sees integers, not what a pointer points to: socket()'s domain,
 * type and protocol are checked, but connect()'s and sendto()'s address is a
 * pointer, so the grant is "anywhere the host can reach" (as wasmtime's
 * -S inherit-network), never "only this address"; what the guest may reach is
 * the host's decision (its firewall), not the filter's.
 * Never bind(), listen(), open(): a guest cannot listen anywhere the run did
 * not grant (its UDP sockets get an ephemeral port at their first send), nor
 * open a file; without the outbound grant, no socket() and no connect()
 * either.
 * Anything else, any other architecture (i386/x32 entry points), and x32
 * system call numbers kill the whole process with SIGSYS
 * (SECCOMP_RET_KILL_PROCESS). No memory is mapped after this point: the
 * platform maps everything the guest can ever use before installing it; the
 * one change allowed is making reserved pages readable and writable (never
 * executable: the prot argument must be exactly PROT_READ|PROT_WRITE).
 *
 * The argument checks look at the low 32 bits only: the calls checked take
 * int or unsigned int arguments there, so the kernel ignores the high half
 * too (sendto's destination is a pointer: its high half must be 0 as well).
 *
 * The filter is built at install time from rules: each rule is "this system
 * call, and each listed argument equal to one of its values"; a call that
 * matches a rule's number but not its arguments is killed.
 */
#include "seccomp_spt.h"

#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/mman.h>
#include <linux/prctl.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdint.h>

#include "syscall_spt_x86_64.h"

#define NR_OFF offsetof(struct seccomp_data, nr)
#define ARCH_OFF offsetof(struct seccomp_data, arch)
/* Little endian: the low word of an argument first. */
#define ARG_LO(n) (offsetof(struct seccomp_data, args) + 8 * (n))
#define ARG_HI(n) (ARG_LO(n) + 4)

#define INS (struct sock_filter)
#define LOAD(off) INS BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define JEQ(k, t, f) INS BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), (t), (f))
#define JGE(k, t, f) INS BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (k), (t), (f))
#define RET(k) INS BPF_STMT(BPF_RET | BPF_K, (k))

#define X32_SYSCALL_BIT 0x40000000u
#define FILTER_MAX 256
#define VALUES_MAX (WK_SPT_LISTENERS_MAX + 3)

/* <linux/socket.h> and <linux/tcp.h> values, the kernel's ABI. */
#define SOL_SOCKET_ 1
#define SO_KEEPALIVE_ 9
#define IPPROTO_TCP_ 6
#define TCP_NODELAY_ 1
#define AF_INET_ 2
#define AF_INET6_ 10
#define SOCK_STREAM_ 1
#define SOCK_DGRAM_ 2
#define SOCK_FLAGS_ (04000 | 02000000) /* SOCK_NONBLOCK | SOCK_CLOEXEC */

typedef struct {
  uint32_t arg;           /* ARG_LO(n) or ARG_HI(n) */
  uint32_t n;             /* how many values */
  uint32_t v[VALUES_MAX]; /* allowed values */
} check;

typedef struct {
  struct sock_filter f[FILTER_MAX];
  unsigned len;
  int overflow;
} program;

static void emit(program *p, struct sock_filter ins) {
  if (p->len == FILTER_MAX) {
    p->overflow = 1;
    return;
  }
  p->f[p->len++] = ins;
}

/* nr is allowed when every check holds (none: always). Layout:
 *   LOAD nr; JEQ nr ? next : past the rule
 *   per check: LOAD arg; JEQ v0 ? next check; ...; JEQ vk ? next check; KILL
 *   ALLOW */
static void rule(program *p, uint32_t nr, const check *c, unsigned nchecks) {
  unsigned body = 1;
  for (unsigned i = 0; i < nchecks; i++) body += 2 + c[i].n;
  emit(p, LOAD(NR_OFF));
  emit(p, JEQ(nr, 0, (uint8_t)body));
  for (unsigned i = 0; i < nchecks; i++) {
    emit(p, LOAD(c[i].arg));
    for (uint32_t j = 0; j < c[i].n; j++) emit(p, JEQ(c[i].v[j], (uint8_t)(c[i].n - j), 0));
    emit(p, RET(SECCOMP_RET_KILL_PROCESS));
  }
  emit(p, RET(SECCOMP_RET_ALLOW));
}

static void allow(program *p, uint32_t nr) { rule(p, nr, NULL, 0); }

static void allow_arg(program *p, uint32_t nr, uint32_t arg, const uint32_t *v, uint32_t n) {
  check c = {.arg = arg, .n = n};
  for (uint32_t i = 0; i < n; i++) c.v[i] = v[i];
  rule(p, nr, &c, 1);
}

int wk_spt_seccomp_install(const wk_spt_sandbox *sb) {
  static program p; /* 1.3 KiB: off the stack */
  p.len = 0;
  p.overflow = 0;
  emit(&p, LOAD(ARCH_OFF));
  emit(&p, JEQ(AUDIT_ARCH_X86_64, 1, 0));
  emit(&p, RET(SECCOMP_RET_KILL_PROCESS));
  emit(&p, LOAD(NR_OFF));
  emit(&p, JGE(X32_SYSCALL_BIT, 0, 1));
  emit(&p, RET(SECCOMP_RET_KILL_PROCESS));

  static const uint32_t plain[] = {__NR_restart_syscall, __NR_clock_gettime, __NR_clock_getres,
                                   __NR_getrandom,       __NR_exit_group,    __NR_exit,
                                   __NR_rt_sigreturn};
  for (unsigned i = 0; i < sizeof plain / sizeof plain[0]; i++) allow(&p, plain[i]);
  const uint32_t rw_prot = PROT_READ | PROT_WRITE;
  allow_arg(&p, __NR_mprotect, ARG_LO(2), &rw_prot, 1);

  if (sb->host_sockets) {
    static const uint32_t any_fd[] = {__NR_read,        __NR_write,      __NR_writev,
                                      __NR_shutdown,    __NR_close,      __NR_getsockname,
                                      __NR_getpeername, __NR_getsockopt, __NR_ppoll};
    for (unsigned i = 0; i < sizeof any_fd / sizeof any_fd[0]; i++) allow(&p, any_fd[i]);
    uint32_t fds[WK_SPT_LISTENERS_MAX];
    for (int i = 0; i < sb->nlisteners; i++) fds[i] = (uint32_t)sb->listeners[i];
    if (sb->nlisteners > 0) allow_arg(&p, __NR_accept4, ARG_LO(0), fds, (uint32_t)sb->nlisteners);
    if (sb->outbound) {
      const check sock[] = {
          {.arg = ARG_LO(0), .n = 2, .v = {AF_INET_, AF_INET6_}},
          {.arg = ARG_LO(1), .n = 2, .v = {SOCK_STREAM_ | SOCK_FLAGS_, SOCK_DGRAM_ | SOCK_FLAGS_}},
          {.arg = ARG_LO(2), .n = 1, .v = {0}}};
      rule(&p, __NR_socket, sock, 3);
      allow(&p, __NR_connect);
      allow(&p, __NR_sendto);
      allow(&p, __NR_recvfrom);
    } else {
      const check no_dest[] = {{.arg = ARG_LO(4), .n = 1, .v = {0}},
                               {.arg = ARG_HI(4), .n = 1, .v = {0}}};
      rule(&p, __NR_sendto, no_dest, 2);
    }
    const check opts[] = {{.arg = ARG_LO(1), .n = 2, .v = {SOL_SOCKET_, IPPROTO_TCP_}},
                          {.arg = ARG_LO(2), .n = 2, .v = {SO_KEEPALIVE_, TCP_NODELAY_}}};
    rule(&p, __NR_setsockopt, opts, 2);
  } else {
    uint32_t out[3] = {1, 2}, in[2] = {0};
    uint32_t nfd = 0;
    if (sb->net_fd >= 0) {
      out[2] = in[1] = (uint32_t)sb->net_fd;
      nfd = 1;
      const uint32_t one = 1;
      allow_arg(&p, __NR_poll, ARG_LO(1), &one, 1);
    }
    allow_arg(&p, __NR_write, ARG_LO(0), out, 2 + nfd);
    allow_arg(&p, __NR_read, ARG_LO(0), in, 1 + nfd);
  }
  emit(&p, RET(SECCOMP_RET_KILL_PROCESS));
  if (p.overflow) return -1;

  struct sock_fprog prog = {.len = (unsigned short)p.len, .filter = p.f};
  long r = wk_sys6(__NR_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0);
  if (r < 0) return (int)r;
  r = wk_sys3(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, (long)&prog);
  return r < 0 ? (int)r : 0;
}
