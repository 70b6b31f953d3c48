/*
 * platform/netcfg_plat.c - parsing the net.* settings (netcfg_plat.h).
 */
#include "netcfg_plat.h"

bool wk_netcfg_prefix(const char *s, size_t len, const char *p) {
  size_t i = 0;
  for (; p[i] != '\0'; i++) {
    if (i >= len || s[i] != p[i]) {
      return false;
    }
  }
  return true;
}

/* Unsigned number at s[*i..len): decimal, or hex after 0x. At most max. */
bool wk_netcfg_num(const char *s, size_t len, size_t *i, uint64_t max, uint64_t *out) {
  uint64_t v = 0;
  unsigned base = 10;
  if (*i + 1 < len && s[*i] == '0' && (s[*i + 1] == 'x' || s[*i + 1] == 'X')) {
    base = 16;
    *i += 2;
  }
  size_t start = *i;
  for (; *i < len; (*i)++) {
    char c = s[*i];
    unsigned d;
    if (c >= '0' && c <= '9') {
      d = (unsigned)(c - '0');
    } else if (base == 16 && c >= 'a' && c <= 'f') {
      d = (unsigned)(c - 'a' + 10);
    } else if (base == 16 && c >= 'A' && c <= 'F') {
      d = (unsigned)(c - 'A' + 10);
    } else {
      break;
    }
    if (v > (max - d) / base) {
      return false;
    }
    v = v * base + d;
  }
  *out = v;
  return *i > start;
}

static bool parse_ipv4(const char *s, size_t len, size_t *i, uint8_t out[4]) {
  for (int k = 0; k < 4; k++) {
    if (k > 0) {
      if (*i >= len || s[*i] != '.') {
        return false;
      }
      (*i)++;
    }
    uint64_t v;
    if (*i < len && s[*i] == '0' && *i + 1 < len && s[*i + 1] == 'x') {
      return false; /* dotted decimal only */
    }
    if (!wk_netcfg_num(s, len, i, 255, &v)) {
      return false;
    }
    out[k] = (uint8_t)v;
  }
  return true;
}

const char *wk_netcfg_token(wk_plat_netcfg *c, const char *t, size_t len, bool *taken) {
  size_t i;
  *taken = true;
  if (wk_netcfg_prefix(t, len, "net.ip=")) {
    i = 7;
    uint64_t prefix = 24;
    if (!parse_ipv4(t, len, &i, c->ip4)) {
      return "command line: net.ip= wants A.B.C.D/N";
    }
    if (i < len && t[i] == '/') {
      i++;
      if (!wk_netcfg_num(t, len, &i, 32, &prefix)) {
        return "command line: net.ip= prefix length must be 0..32";
      }
    }
    if (i != len) {
      return "command line: net.ip= wants A.B.C.D/N";
    }
    c->prefix4 = (uint8_t)prefix;
    c->static_ip = true;
  } else if (wk_netcfg_prefix(t, len, "net.gw=")) {
    i = 7;
    if (!parse_ipv4(t, len, &i, c->gw4) || i != len) {
      return "command line: net.gw= wants A.B.C.D";
    }
  } else if (wk_netcfg_prefix(t, len, "net.dns=")) {
    uint64_t port = 53;
    i = 8;
    if (!parse_ipv4(t, len, &i, c->dns4)) {
      return "command line: net.dns= wants A.B.C.D[:PORT]";
    }
    if (i < len && t[i] == ':') {
      i++;
      if (!wk_netcfg_num(t, len, &i, 65535, &port) || port == 0) {
        return "command line: net.dns= port must be 1..65535";
      }
    }
    if (i != len) {
      return "command line: net.dns= wants A.B.C.D[:PORT]";
    }
    c->dns_port = (uint16_t)port;
  } else if (wk_netcfg_prefix(t, len, "net.listen=") || wk_netcfg_prefix(t, len, "net.publish=")) {
    wk_plat_listen *l = &c->listen[c->nlisten];
    uint64_t port;
    int after = t[4] == 'p'; /* net.publish= */
    i = after ? 12 : 11;
    if (c->nlisten == WK_PLAT_LISTEN_MAX) {
      return "command line: more than 16 net.listen=/net.publish= tokens";
    }
    if (!parse_ipv4(t, len, &i, l->ip4) || i >= len || t[i] != ':') {
      return "command line: net.listen=/net.publish= wants A.B.C.D:PORT";
    }
    i++;
    if (!wk_netcfg_num(t, len, &i, 65535, &port) || port == 0 || i != len) {
      return "command line: net.listen=/net.publish= port must be 1..65535";
    }
    l->port = (uint16_t)port;
    l->after_dirs = (uint8_t)after;
    c->nlisten++;
  } else {
    *taken = false;
  }
  return NULL;
}

const char *wk_netcfg_check(const wk_plat_netcfg *c) {
  if (!c->static_ip && (c->gw4[0] | c->gw4[1] | c->gw4[2] | c->gw4[3]) != 0) {
    return "command line: net.gw= needs net.ip=";
  }
  return NULL;
}

void wk_netcfg_info(const wk_plat_netcfg *c, wk_plat_netinfo *info) {
  info->static_ip = c->static_ip;
  for (int k = 0; k < 4; k++) {
    info->ip4[k] = c->ip4[k];
    info->gw4[k] = c->gw4[k];
    info->dns4[k] = c->dns4[k];
  }
  info->dns_port = c->dns_port;
  info->prefix4 = c->prefix4;
}

int wk_netcfg_listeners(const wk_plat_netcfg *c, wk_plat_listen *out, int max) {
  for (int k = 0; k < c->nlisten && k < max; k++) {
    out[k] = c->listen[k];
  }
  return c->nlisten;
}
