/*
 * platform/spt/dns_spt.h - the DNS messages of spt's name lookup on the
 * host's sockets (sock_spt.c hs_resolve): one A question out, its answer in.
 * Only the message format (RFC 1035 section 4); the sockets are sock_spt.c's.
 */
#ifndef WK_DNS_SPT_H
#define WK_DNS_SPT_H

#include <stddef.h>
#include <stdint.h>

/* A UDP DNS message without EDNS (RFC 1035 4.2.1). */
#define WK_DNS_UDP_MAX 512

/* Writes the query "A record of name, recursion desired" with identifier id
 * into buf (cap bytes): its length, or -WK_EINVAL (empty, longer than 255, an
 * empty label or one longer than 63) or -WK_ENAMETOOLONG (does not fit cap).
 * One trailing dot is allowed. */
long wk_dns_query(uint8_t *buf, size_t cap, const char *name, uint16_t id);

/* Reads msg (len bytes) as the answer to the query with identifier id:
 * 0 and ip = the first A record's address; -WK_ENOENT when the server says
 * the name does not exist, has no A record, or fails (any nonzero RCODE);
 * -WK_EAGAIN when msg is not that answer (another id, not a response,
 * malformed): keep waiting. */
int wk_dns_answer(const uint8_t *msg, size_t len, uint16_t id, uint8_t ip[4]);

#endif /* WK_DNS_SPT_H */
