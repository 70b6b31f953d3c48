/* Dense matrix multiply, C = A * B, N x N doubles, i-k-j loop order (the inner loop streams
 * rows of B and C, so it is the vectorisable form). argv[1] = N. */
#include "kernel.h"

int main(int argc, char **argv) {
    long n = kernel_size(argc, argv, 640);
    double *a = malloc(sizeof(double) * n * n);
    double *b = malloc(sizeof(double) * n * n);
    double *c = calloc((size_t)(n * n), sizeof(double));
    if (!a || !b || !c) {
        return 1;
    }
    uint64_t seed = 42;
    for (long i = 0; i < n * n; i++) {
        a[i] = (double)(kernel_rand(&seed) % 1000) / 500.0 - 1.0;
        b[i] = (double)(kernel_rand(&seed) % 1000) / 500.0 - 1.0;
    }
    double t0 = kernel_now_ms();
    for (long i = 0; i < n; i++) {
        double *ci = c + i * n;
        for (long k = 0; k < n; k++) {
            double aik = a[i * n + k];
            const double *bk = b + k * n;
            for (long j = 0; j < n; j++) {
                ci[j] += aik * bk[j];
            }
        }
    }
    /* Fold the result into an integer checksum by rounding, so the last-bit differences
     * that FMA contraction could cause on one side do not count. */
    uint64_t sum = 0;
    for (long i = 0; i < n * n; i++) {
        sum = sum * 31 + (uint64_t)(int64_t)(c[i] * 1000.0);
    }
    return kernel_report(sum, t0);
}
