/* Sorting N pseudo-random uint32: a top-down merge sort with an insertion sort for short
 * runs, written here (no qsort, so the libc does not decide the result). The output is
 * checked to be ordered and folded into the checksum. argv[1] = N. */
#include <string.h>

#include "kernel.h"

static void insertion(uint32_t *a, long n) {
    for (long i = 1; i < n; i++) {
        uint32_t v = a[i];
        long j = i - 1;
        while (j >= 0 && a[j] > v) {
            a[j + 1] = a[j];
            j--;
        }
        a[j + 1] = v;
    }
}

/* Sorts a[0..n) using tmp[0..n) as scratch. */
static void merge_sort(uint32_t *a, uint32_t *tmp, long n) {
    if (n <= 24) {
        insertion(a, n);
        return;
    }
    long half = n / 2;
    merge_sort(a, tmp, half);
    merge_sort(a + half, tmp, n - half);
    if (a[half - 1] <= a[half]) {
        return;
    }
    memcpy(tmp, a, sizeof(uint32_t) * (size_t)half);
    long i = 0, j = half, k = 0;
    while (i < half && j < n) {
        a[k++] = tmp[i] <= a[j] ? tmp[i++] : a[j++];
    }
    while (i < half) {
        a[k++] = tmp[i++];
    }
}

int main(int argc, char **argv) {
    long n = kernel_size(argc, argv, 3 * 1000 * 1000);
    uint32_t *a = malloc(sizeof(uint32_t) * (size_t)n);
    uint32_t *tmp = malloc(sizeof(uint32_t) * (size_t)n);
    if (!a || !tmp) {
        return 1;
    }
    uint64_t seed = 11;
    for (long i = 0; i < n; i++) {
        a[i] = (uint32_t)(kernel_rand(&seed) >> 32);
    }
    double t0 = kernel_now_ms();
    merge_sort(a, tmp, n);
    uint64_t sum = 0;
    for (long i = 0; i < n; i++) {
        if (i > 0 && a[i - 1] > a[i]) {
            fprintf(stderr, "sort: not ordered at %ld\n", i);
            return 2;
        }
        sum = sum * 1000003 + a[i];
    }
    return kernel_report(sum, t0);
}
