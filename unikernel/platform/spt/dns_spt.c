/*
 * platform/spt/dns_spt.c - DNS messages for spt's name lookup on the host's
 * sockets, written from RFC 1035 section 4 (see dns_spt.h).
 *
 * A message is a 12-byte header (id, flags, four section counts, all
 * big-endian), then the question (a name as length-prefixed labels ending in
 * a zero byte, type, class) and resource records (name, type, class, TTL,
 * data length, data). Names in answers may end in a 2-byte pointer (top bits
 * 11) into the message instead of a zero byte (4.1.4); skipping a name needs
 * no more than that, since the A record is read whatever name it carries: the
 * answer section of a reply to one question is about that question (a CNAME
 * chain ends in the A records of the last name).
 */
#include "dns_spt.h"

#include "wk/errno.h"

#define DNS_HEADER 12
#define DNS_TYPE_A 1
#define DNS_CLASS_IN 1
#define DNS_FLAG_QR 0x8000u /* a response */
#define DNS_FLAG_RD 0x0100u /* recursion desired */
#define DNS_RCODE_MASK 0x000fu
#define DNS_NAME_MAX 255
#define DNS_LABEL_MAX 63

static uint16_t be16(const uint8_t *p) { return (uint16_t)(p[0] << 8 | p[1]); }

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

long wk_dns_query(uint8_t *buf, size_t cap, const char *name, uint16_t id) {
  size_t n = 0;
  while (name[n] && n <= DNS_NAME_MAX) n++;
  if (n > 0 && name[n - 1] == '.') n--; /* the root's dot */
  if (n == 0 || n > DNS_NAME_MAX - 2) return -WK_EINVAL;
  /* header + labels (n + 1 bytes with their lengths) + root + type + class */
  size_t need = DNS_HEADER + n + 2 + 4;
  if (need > cap) return -WK_ENAMETOOLONG;
  for (int i = 0; i < DNS_HEADER; i++) buf[i] = 0;
  put16(buf, id);
  put16(buf + 2, DNS_FLAG_RD);
  put16(buf + 4, 1); /* QDCOUNT */
  size_t out = DNS_HEADER, start = 0;
  for (size_t i = 0; i <= n; i++) {
    if (i < n && name[i] != '.') continue;
    size_t label = i - start;
    if (label == 0 || label > DNS_LABEL_MAX) return -WK_EINVAL;
    buf[out++] = (uint8_t)label;
    for (size_t k = start; k < i; k++) buf[out++] = (uint8_t)name[k];
    start = i + 1;
  }
  buf[out++] = 0;
  put16(buf + out, DNS_TYPE_A);
  put16(buf + out + 2, DNS_CLASS_IN);
  return (long)(out + 4);
}

/* The offset just past the name at msg[off], or 0 if it runs off the end. */
static size_t skip_name(const uint8_t *msg, size_t len, size_t off) {
  while (off < len) {
    uint8_t b = msg[off];
    if (b == 0) return off + 1;
    if ((b & 0xc0) == 0xc0) return off + 2 <= len ? off + 2 : 0; /* a pointer ends it */
    if (b & 0xc0) return 0;                                      /* reserved label types */
    off += 1u + b;
  }
  return 0;
}

int wk_dns_answer(const uint8_t *msg, size_t len, uint16_t id, uint8_t ip[4]) {
  if (len < DNS_HEADER || be16(msg) != id) return -WK_EAGAIN;
  uint16_t flags = be16(msg + 2);
  if (!(flags & DNS_FLAG_QR)) return -WK_EAGAIN;
  if (flags & DNS_RCODE_MASK) return -WK_ENOENT; /* NXDOMAIN (3), SERVFAIL, REFUSED, ... */
  uint16_t qd = be16(msg + 4), an = be16(msg + 6);
  size_t off = DNS_HEADER;
  for (uint16_t i = 0; i < qd; i++) {
    off = skip_name(msg, len, off);
    if (off == 0 || off + 4 > len) return -WK_EAGAIN;
    off += 4; /* type, class */
  }
  for (uint16_t i = 0; i < an; i++) {
    off = skip_name(msg, len, off);
    if (off == 0 || off + 10 > len) return -WK_EAGAIN;
    uint16_t type = be16(msg + off), cls = be16(msg + off + 2), rdlen = be16(msg + off + 8);
    off += 10;
    if (off + rdlen > len) return -WK_EAGAIN;
    if (type == DNS_TYPE_A && cls == DNS_CLASS_IN && rdlen == 4) {
      for (int k = 0; k < 4; k++) ip[k] = msg[off + k];
      return 0;
    }
    off += rdlen;
  }
  return -WK_ENOENT; /* the name exists, without an IPv4 address */
}
