/*
 * platform/spt/clock_spt.c - the wk/platform.h clocks for a Linux process,
 * through the kernel's vDSO.
 *
 * Why: a networked guest reads the monotonic clock several times per request
 * (lwIP's timers through sys_now at every poll of the stack, the guest's own
 * clock_time_get calls), and as a system call each read crosses the seccomp
 * filter: measured under wrk on examples/http-static, clock_gettime was half
 * of the spt process's system calls (3.3 per request, docs/performance.md).
 * The vDSO's __vdso_clock_gettime reads the kernel's time page and the TSC
 * in user space, as glibc's clock_gettime does; where the clock source is not
 * usable from user space it makes the system call itself, which the filter
 * allows. This file has no libc, so it finds the function as the kernel's
 * tools/testing/selftests/vDSO/parse_vdso.c explains (read, not copied):
 * AT_SYSINFO_EHDR in the auxiliary vector gives the vDSO's ELF header; its
 * PT_DYNAMIC segment gives the symbol table, string table and the DT_HASH
 * table whose chain count is the number of symbols.
 */
#include <linux/auxvec.h>
#include <linux/elf.h>
#include <linux/time.h>
#include <linux/time_types.h>

#include "clock_spt.h"
#include "syscall_spt_x86_64.h"
#include "wk/platform.h"

#define VDSO_MAX_SPAN (1u << 20) /* offsets past this are not the vDSO's: give up */

typedef long (*vdso_gettime_fn)(long clock, struct __kernel_timespec *ts);

static vdso_gettime_fn vdso_gettime; /* NULL: use the system call */

static int name_eq(const char *a, const char *b) {
  while (*a && *a == *b) a++, b++;
  return *a == *b;
}

/* The address of the defined function `name` in the vDSO at base, or 0. */
static uintptr_t vdso_lookup(uintptr_t base, const char *name) {
  const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
  if (eh->e_ident[EI_MAG0] != ELFMAG0 || eh->e_ident[EI_MAG1] != ELFMAG1 ||
      eh->e_ident[EI_MAG2] != ELFMAG2 || eh->e_ident[EI_MAG3] != ELFMAG3 ||
      eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_phoff >= VDSO_MAX_SPAN ||
      eh->e_phentsize != sizeof(Elf64_Phdr) || eh->e_phnum > 64) {
    return 0;
  }
  const Elf64_Phdr *ph = (const Elf64_Phdr *)(base + eh->e_phoff);
  uintptr_t bias = 0, dyn_off = 0;
  int have_load = 0;
  for (unsigned i = 0; i < eh->e_phnum; i++) {
    if (ph[i].p_type == PT_LOAD && !have_load) {
      bias = base + ph[i].p_offset - ph[i].p_vaddr; /* vaddr -> where it is mapped */
      have_load = 1;
    } else if (ph[i].p_type == PT_DYNAMIC) {
      dyn_off = ph[i].p_offset;
    }
  }
  if (!have_load || dyn_off == 0 || dyn_off >= VDSO_MAX_SPAN) return 0;
  const Elf64_Sym *syms = 0;
  const char *strs = 0;
  const uint32_t *hash = 0;
  for (const Elf64_Dyn *d = (const Elf64_Dyn *)(base + dyn_off); d->d_tag != DT_NULL; d++) {
    if ((uintptr_t)(d + 1) - base >= VDSO_MAX_SPAN) return 0;
    uintptr_t at = bias + d->d_un.d_ptr;
    if (at < base || at - base >= VDSO_MAX_SPAN) continue;
    if (d->d_tag == DT_SYMTAB) syms = (const Elf64_Sym *)at;
    if (d->d_tag == DT_STRTAB) strs = (const char *)at;
    if (d->d_tag == DT_HASH) hash = (const uint32_t *)at;
  }
  if (!syms || !strs || !hash) return 0;
  uint32_t nsyms = hash[1]; /* nbucket, nchain: one chain entry per symbol */
  if (nsyms > VDSO_MAX_SPAN / sizeof(Elf64_Sym)) return 0;
  for (uint32_t i = 0; i < nsyms; i++) {
    const Elf64_Sym *s = &syms[i];
    if (ELF64_ST_TYPE(s->st_info) != STT_FUNC || s->st_shndx == SHN_UNDEF) continue;
    if (s->st_name >= VDSO_MAX_SPAN || !name_eq(strs + s->st_name, name)) continue;
    return bias + s->st_value;
  }
  return 0;
}

void wk_spt_clock_init(const uintptr_t *auxv) {
  for (; auxv[0] != AT_NULL; auxv += 2) {
    if (auxv[0] == AT_SYSINFO_EHDR && auxv[1] != 0) {
      vdso_gettime = (vdso_gettime_fn)vdso_lookup(auxv[1], "__vdso_clock_gettime");
      return;
    }
  }
}

static uint64_t clock_ns(int id) {
  struct __kernel_timespec ts = {0, 0};
  if (vdso_gettime == 0 || vdso_gettime(id, &ts) != 0) {
    wk_sys3(__NR_clock_gettime, id, (long)&ts, 0);
  }
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t wk_plat_clock_monotonic(void) { return clock_ns(CLOCK_MONOTONIC); }
uint64_t wk_plat_clock_realtime(void) { return clock_ns(CLOCK_REALTIME); }

uint64_t wk_plat_clock_resolution(void) {
  struct __kernel_timespec ts = {0, 0};
  if (wk_sys3(__NR_clock_getres, CLOCK_MONOTONIC, (long)&ts, 0) < 0) return 1000;
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
