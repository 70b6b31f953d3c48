/*
 * platform/host/internal_host.h - shared between the host platform's files.
 */
#ifndef WK_INTERNAL_HOST_H
#define WK_INTERNAL_HOST_H

#include <stddef.h>

/* Replace the last error message (bounded copy of len bytes). */
void wk_host_set_error(const char *msg, size_t len);

#endif /* WK_INTERNAL_HOST_H */
