/*
 * platform/netcfg_plat.h - the network settings a run gives a platform, and
 * their text form, shared by the platforms that have a NIC (kvm reads the
 * tokens from its command line, spt from `--net TOKEN` arguments):
 *
 *   net.ip=A.B.C.D[/N]       static IPv4 address, prefix length 0..32 (24 if left
 *                            out); without it the stack uses DHCP
 *   net.gw=A.B.C.D           default gateway (only with net.ip)
 *   net.listen=A.B.C.D:PORT  a preopened TCP listener for the guest (repeatable,
 *                            at most WK_PLAT_LISTEN_MAX; wk_plat_net_listeners)
 *   net.dns=A.B.C.D[:PORT]   the DNS server (port 53 if left out); without it
 *                            the one DHCP offers
 *
 * Why shared: both platforms must accept exactly the same settings, and the
 * runner (pyhook/run/netopts.py) writes them once for either.
 */
#ifndef WK_NETCFG_PLAT_H
#define WK_NETCFG_PLAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wk/platform.h"

typedef struct wk_plat_netcfg {
  bool static_ip;
  uint8_t ip4[4], prefix4, gw4[4];
  uint8_t dns4[4];
  uint16_t dns_port;
  int nlisten;
  wk_plat_listen listen[WK_PLAT_LISTEN_MAX];
} wk_plat_netcfg;

/* Does t[0..len) start with the NUL-terminated p? */
bool wk_netcfg_prefix(const char *t, size_t len, const char *p);

/* Unsigned number at s[*i..len): decimal, or hex after 0x; at most max.
 * Advances *i past it; false if there is none or it is too large. */
bool wk_netcfg_num(const char *s, size_t len, size_t *i, uint64_t max, uint64_t *out);

/* Take one token t[0..len) if it is a net.* setting (*taken = true). Returns
 * NULL, or a one-line message for a malformed setting. */
const char *wk_netcfg_token(wk_plat_netcfg *c, const char *t, size_t len, bool *taken);

/* After the last token: NULL, or what is inconsistent (net.gw= without net.ip=). */
const char *wk_netcfg_check(const wk_plat_netcfg *c);

/* The address part of wk_plat_netinfo (static_ip, ip4, prefix4, gw4, dns4, dns_port). */
void wk_netcfg_info(const wk_plat_netcfg *c, wk_plat_netinfo *info);

/* wk_plat_net_listeners over c. */
int wk_netcfg_listeners(const wk_plat_netcfg *c, wk_plat_listen *out, int max);

#endif /* WK_NETCFG_PLAT_H */
