/* Sieve of Eratosthenes over [0, N), one byte per number, repeated until 8 passes; the
 * checksum is the prime count and the sum of the last primes. argv[1] = N. */
#include <string.h>

#include "kernel.h"

int main(int argc, char **argv) {
    long n = kernel_size(argc, argv, 8 * 1000 * 1000);
    uint8_t *composite = malloc((size_t)n);
    if (!composite) {
        return 1;
    }
    double t0 = kernel_now_ms();
    uint64_t sum = 0;
    for (int pass = 0; pass < 8; pass++) {
        memset(composite, 0, (size_t)n);
        composite[0] = composite[1] = 1;
        for (long p = 2; p * p < n; p++) {
            if (!composite[p]) {
                for (long m = p * p; m < n; m += p) {
                    composite[m] = 1;
                }
            }
        }
        uint64_t count = 0, tail = 0;
        for (long i = 0; i < n; i++) {
            if (!composite[i]) {
                count++;
                tail = tail * 3 + (uint64_t)i;
            }
        }
        sum += count ^ tail;
    }
    return kernel_report(sum, t0);
}
