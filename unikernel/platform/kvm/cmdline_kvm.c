/*
 * cmdline_kvm.c - argv and environment from the PVH command line.
 *
 * Format (README.md "Command line"): tokens separated by spaces;
 *   arg=<pct>   one argv entry, in order (argv[0] first)
 *   env=<pct>   one "KEY=VALUE" environment entry
 * where <pct> is the bytes with %XX (two hex digits, either case) for any byte
 * outside [A-Za-z0-9._~/:=,+-]. Other tokens (e.g. what a VMM appends) are
 * ignored. Everything is bounded: at most KVM_CMDLINE_MAX bytes, KVM_ARGS_MAX
 * arguments and KVM_ENVS_MAX variables; anything beyond is refused, not cut.
 */
#include <stdbool.h>

#include "kvm.h"

/* The raw copy, then the decoded strings; decoding never grows a token, so
 * the decoded text (each string NUL-terminated) fits in the same size. */
static char raw_copy[KVM_CMDLINE_MAX + 1];
static char decoded[KVM_CMDLINE_MAX + 1];
static const char *args[KVM_ARGS_MAX + 1];
static const char *envs[KVM_ENVS_MAX + 1];

static int hex_value(char c) {
  if (c >= '0' && c <= '9') {
    return c - '0';
  }
  if (c >= 'a' && c <= 'f') {
    return c - 'a' + 10;
  }
  if (c >= 'A' && c <= 'F') {
    return c - 'A' + 10;
  }
  return -1;
}

static bool has_prefix(const char *tok, size_t len, const char *prefix, size_t plen) {
  if (len < plen) {
    return false;
  }
  for (size_t i = 0; i < plen; i++) {
    if (tok[i] != prefix[i]) {
      return false;
    }
  }
  return true;
}

/* Decode src[0..len) into dst (room for len + 1); NULL or an error. */
static const char *pct_decode(const char *src, size_t len, char *dst) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    char c = src[i];
    if (c == '%') {
      if (len - i < 3) {
        return "command line: truncated %-escape";
      }
      int hi = hex_value(src[i + 1]);
      int lo = hex_value(src[i + 2]);
      if (hi < 0 || lo < 0) {
        return "command line: bad %-escape";
      }
      c = (char)(hi << 4 | lo);
      if (c == '\0') {
        return "command line: %00 is not allowed";
      }
      i += 2;
    }
    dst[o++] = c;
  }
  dst[o] = '\0';
  return NULL;
}

const char *kvm_cmdline_raw(void) { return raw_copy; }

const char *kvm_cmdline_parse(const char *raw, kvm_cmdline *out) {
  size_t len = 0;
  if (raw != NULL) {
    while (raw[len] != '\0') {
      if (len == KVM_CMDLINE_MAX) {
        return "command line longer than 16384 bytes";
      }
      raw_copy[len] = raw[len];
      len++;
    }
  }
  raw_copy[len] = '\0';

  int argc = 0, envc = 0;
  size_t used = 0; /* bytes of decoded[] taken */
  size_t i = 0;
  while (i < len) {
    if (raw_copy[i] == ' ') {
      i++;
      continue;
    }
    size_t start = i;
    while (i < len && raw_copy[i] != ' ') {
      i++;
    }
    const char *tok = raw_copy + start;
    size_t tlen = i - start;
    bool is_arg = has_prefix(tok, tlen, "arg=", 4);
    bool is_env = has_prefix(tok, tlen, "env=", 4);
    if (!is_arg && !is_env) {
      continue; /* unknown token */
    }
    if (is_arg && argc == KVM_ARGS_MAX) {
      return "command line: more than 256 arguments";
    }
    if (is_env && envc == KVM_ENVS_MAX) {
      return "command line: more than 256 environment variables";
    }
    /* The value is tlen - 4 bytes, decoded at most as long, plus a NUL:
     * tokens are disjoint parts of raw_copy, so this always fits. */
    char *dst = decoded + used;
    const char *err = pct_decode(tok + 4, tlen - 4, dst);
    if (err != NULL) {
      return err;
    }
    size_t dlen = 0;
    while (dst[dlen] != '\0') {
      dlen++;
    }
    used += dlen + 1;
    if (is_arg) {
      args[argc++] = dst;
    } else {
      envs[envc++] = dst;
    }
  }
  args[argc] = NULL;
  envs[envc] = NULL;
  out->argc = argc;
  out->argv = args;
  out->envc = envc;
  out->envp = envs;
  return NULL;
}
