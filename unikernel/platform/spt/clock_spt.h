/*
 * platform/spt/clock_spt.h - the spt clocks' set-up (clock_spt.c), for main_spt.c.
 */
#ifndef WK_CLOCK_SPT_H
#define WK_CLOCK_SPT_H

#include <stdint.h>

/* At start, before the sandbox is sealed: find the kernel's vDSO through the
 * auxiliary vector (the words after envp's NULL on the initial stack) so that
 * clock reads need no system call. Without one the clocks use clock_gettime. */
void wk_spt_clock_init(const uintptr_t *auxv);

#endif /* WK_CLOCK_SPT_H */
