/*
 * urunc_kvm.c - the conventions of urunc's launchers (x86_64 kvm platform).
 *
 * urunc (github.com/urunc-dev/urunc, "runc for unikernels") boots an OCI
 * image's kernel with a command line it writes itself, in the form of the
 * unikernel type the image declares (docs/kubernetes.md has the pinned
 * commit). Two of its forms are understood here and rewritten, before the
 * usual parsers see them, into wasmkiln's own tokens (README.md "Command
 * line", "Network"):
 *
 *   mewz      ip=A.B.C.D/N          -> net.ip=A.B.C.D/N
 *             gateway=G             -> net.gw=G
 *   unikraft  APP                   -> arg=APP (the first token, if it has no '=')
 *             netdev.ip=IP/N:GW:DNS -> net.ip=IP/N net.gw=GW net.dns=DNS (later
 *                                      fields: a second DNS, host name; ignored)
 *             netdev.ipv4_addr=IP netdev.ipv4_gw_addr=GW
 *             netdev.ipv4_subnet_mask=M (urunc's form for unikraft < 0.16.1)
 *                                   -> net.ip=IP/prefix(M) net.gw=GW
 *             env.vars=[ K=V ... ]  -> env=K=V ... (percent-encoded)
 *             -- A B ...            -> arg=A arg=B ... (argv[1] onwards)
 *
 * Empty values (urunc writes `ip=/24 gateway= ` when the container has no
 * network) are dropped. `virtio_mmio.device=` tokens stay the platform's even
 * after `--`: QEMU microvm appends them at the very end of the line. Every
 * other token passes through unchanged, so wasmkiln's own command lines are
 * not affected. The exit devices urunc's monitors offer are in kvm_vmm_exit.
 */
#include <stdbool.h>

#include "cpu_x86_64.h"
#include "kvm.h"
#include "netcfg_plat.h"

#define URUNC_QEMU_EXIT_PORT 0x501 /* urunc's mewz QEMU line: isa-debug-exit,iobase=0x501 */
#define I8042_COMMAND_PORT 0x64
#define I8042_CMD_RESET 0xfe /* pulse the reset line: Firecracker stops the VM */

static const char too_long[] = "command line longer than 16384 bytes after urunc's forms";

typedef struct out_buf {
  char *p;
  size_t n, cap; /* cap excludes the NUL */
  bool overflow;
} out_buf;

static void put(out_buf *o, const char *s, size_t len) {
  if (o->overflow || len > o->cap - o->n) {
    o->overflow = true;
    return;
  }
  for (size_t i = 0; i < len; i++) {
    o->p[o->n++] = s[i];
  }
}

static void put_str(out_buf *o, const char *s) {
  size_t n = 0;
  while (s[n] != '\0') {
    n++;
  }
  put(o, s, n);
}

/* One output token: a space, then prefix, then s[0..len) as given. */
static void token(out_buf *o, const char *prefix, const char *s, size_t len) {
  if (o->n > 0) {
    put(o, " ", 1);
  }
  put_str(o, prefix);
  put(o, s, len);
}

static bool safe_byte(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '~' || c == '/' || c == ':' || c == '=' || c == ',' || c == '+' ||
         c == '-';
}

/* One output token `prefix` + s percent-encoded (cmdline_kvm.c decodes it). */
static void token_pct(out_buf *o, const char *prefix, const char *s, size_t len) {
  static const char hex[] = "0123456789ABCDEF";
  token(o, prefix, s, 0);
  for (size_t i = 0; i < len; i++) {
    if (safe_byte(s[i])) {
      put(o, s + i, 1);
    } else {
      char e[3] = {'%', hex[(unsigned char)s[i] >> 4], hex[(unsigned char)s[i] & 15]};
      put(o, e, 3);
    }
  }
}

static size_t find(const char *s, size_t len, char c) {
  size_t i = 0;
  while (i < len && s[i] != c) {
    i++;
  }
  return i;
}

/* netdev.ip=IP[/N][:GW[:DNS0[:DNS1[:HOST[:DOMAIN]]]]] (Unikraft's syntax; urunc
 * writes the first three): the address, gateway and first DNS server. */
static void netdev_ip(out_buf *o, const char *v, size_t len) {
  size_t a = find(v, len, ':');
  if (a == 0 || v[0] == '/') {
    return; /* no address: the container has no network */
  }
  token(o, "net.ip=", v, a);
  if (a < len) {
    const char *gw = v + a + 1;
    size_t rest = len - a - 1, g = find(gw, rest, ':');
    if (g > 0) {
      token(o, "net.gw=", gw, g);
    }
    if (g < rest) {
      const char *dns = gw + g + 1;
      size_t d = find(dns, rest - g - 1, ':'); /* DNS0; DNS1, hostname, domain follow */
      if (d > 0) {
        token(o, "net.dns=", dns, d);
      }
    }
  }
}

/* The prefix length of a dotted netmask (contiguous ones), or -1. */
static int mask_prefix(const char *m, size_t len) {
  size_t i = 0;
  int bits = 0;
  bool zero_seen = false;
  for (int k = 0; k < 4; k++) {
    uint64_t v;
    if ((k > 0 && (i >= len || m[i++] != '.')) || !wk_netcfg_num(m, len, &i, 255, &v)) {
      return -1;
    }
    for (int b = 7; b >= 0; b--) {
      bool one = (v >> b) & 1;
      if (one && zero_seen) {
        return -1;
      }
      zero_seen = zero_seen || !one;
      bits += one;
    }
  }
  return i == len ? bits : -1;
}

const char *kvm_urunc_translate(const char *raw, char *out, size_t cap) {
  out_buf o = {out, 0, cap - 1, false};
  bool first = true, in_env = false, args = false, argv0 = false;
  const char *v4addr = NULL, *v4gw = NULL, *v4mask = NULL;
  size_t v4addr_len = 0, v4gw_len = 0, v4mask_len = 0;
  size_t i = 0;
  while (raw != NULL && raw[i] != '\0') {
    if (raw[i] == ' ') {
      i++;
      continue;
    }
    const char *t = raw + i;
    size_t len = 0;
    while (t[len] != '\0' && t[len] != ' ') {
      len++;
    }
    i += len;
    bool was_first = first;
    first = false;
    if (wk_netcfg_prefix(t, len, "virtio_mmio.device=")) {
      token(&o, "", t, len);
    } else if (args) {
      token_pct(&o, "arg=", t, len);
    } else if (in_env || wk_netcfg_prefix(t, len, "env.vars=[")) {
      if (!in_env) {
        t += 10, len -= 10;
        in_env = true;
      }
      if (len > 0 && t[len - 1] == ']') {
        len--;
        in_env = false;
      }
      if (len > 0) {
        token_pct(&o, "env=", t, len);
      }
    } else if (len == 2 && t[0] == '-' && t[1] == '-') {
      args = true;
      if (!argv0) { /* urunc always writes an app name first; keep argv[0] a name */
        token(&o, "arg=main", t, 0);
        argv0 = true;
      }
    } else if (wk_netcfg_prefix(t, len, "ip=")) {
      if (len > 3 && t[3] != '/') {
        token(&o, "net.ip=", t + 3, len - 3);
      }
    } else if (wk_netcfg_prefix(t, len, "gateway=")) {
      if (len > 8) {
        token(&o, "net.gw=", t + 8, len - 8);
      }
    } else if (wk_netcfg_prefix(t, len, "netdev.ip=")) {
      netdev_ip(&o, t + 10, len - 10);
    } else if (wk_netcfg_prefix(t, len, "netdev.ipv4_addr=")) {
      v4addr = t + 17, v4addr_len = len - 17;
    } else if (wk_netcfg_prefix(t, len, "netdev.ipv4_gw_addr=")) {
      v4gw = t + 20, v4gw_len = len - 20;
    } else if (wk_netcfg_prefix(t, len, "netdev.ipv4_subnet_mask=")) {
      v4mask = t + 24, v4mask_len = len - 24;
    } else if (was_first && find(t, len, '=') == len) {
      token_pct(&o, "arg=", t, len); /* unikraft: the program's name */
      argv0 = true;
    } else {
      if (wk_netcfg_prefix(t, len, "arg=")) {
        argv0 = true;
      }
      token(&o, "", t, len);
    }
  }
  if (v4addr_len > 0) {
    char prefix[4] = {'2', '4', 0, 0};
    int bits = v4mask_len > 0 ? mask_prefix(v4mask, v4mask_len) : 24;
    if (bits < 0) {
      return "command line: netdev.ipv4_subnet_mask= wants a netmask A.B.C.D";
    }
    prefix[0] = (char)(bits >= 10 ? '0' + bits / 10 : '0' + bits);
    prefix[1] = (char)(bits >= 10 ? '0' + bits % 10 : 0);
    token(&o, "net.ip=", v4addr, v4addr_len);
    put(&o, "/", 1);
    put_str(&o, prefix);
    if (v4gw_len > 0) {
      token(&o, "net.gw=", v4gw, v4gw_len);
    }
  }
  if (o.overflow) {
    return too_long;
  }
  out[o.n] = '\0';
  return NULL;
}

/* After isa-debug-exit at the runner's port (console_kvm.c): the port urunc's
 * QEMU line places it at, then the i8042 reset Firecracker turns into a VM
 * exit (QEMU with -no-reboot exits on it too). Writes to a port with no device
 * behind it are ignored, so each VMM reacts to its own and skips the others. */
void kvm_vmm_exit(int code) {
  x86_outw(URUNC_QEMU_EXIT_PORT, (uint16_t)code);
  x86_outb(I8042_COMMAND_PORT, I8042_CMD_RESET);
}
