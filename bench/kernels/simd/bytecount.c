/* Byte classes counted 16 at a time, the inner loop of a line counter or a tokenizer's first
 * pass (memchr-style SIMD): over a 1 MiB buffer of text-like bytes, count newlines, spaces and
 * bytes >= 0x80, with i8x16 compares whose all-ones lanes are subtracted from per-lane
 * counters, spilled to 64-bit totals every 255 vectors. Repeated for N passes; checked first
 * against a scalar count. argv[1] = passes. */
#include "simd.h"

#define LEN (1 << 20)

static void count_vec(const uint8_t *buf, uint64_t out[3]) {
    for (long base = 0; base < LEN; base += 255 * 16) {
        long end = base + 255 * 16 < LEN ? base + 255 * 16 : LEN;
        u8x16 nl = {0}, sp = {0}, hi = {0};
        for (long i = base; i < end; i += 16) {
            u8x16 v;
            memcpy(&v, buf + i, 16);
            nl -= (u8x16)(v == 10);
            sp -= (u8x16)(v == 32);
            hi -= (u8x16)(v >= 128);
        }
        for (int k = 0; k < 16; k++) {
            out[0] += nl[k];
            out[1] += sp[k];
            out[2] += hi[k];
        }
    }
}

static void count_scalar(const uint8_t *buf, uint64_t out[3]) {
    for (long i = 0; i < LEN; i++) {
        out[0] += buf[i] == 10;
        out[1] += buf[i] == 32;
        out[2] += buf[i] >= 128;
    }
}

int main(int argc, char **argv) {
    long passes = kernel_size(argc, argv, 2000);
    uint8_t *buf = malloc(LEN);
    if (!buf) {
        return 1;
    }
    uint64_t seed = 3;
    for (long i = 0; i < LEN; i++) { /* letters, some spaces and newlines, a few high bytes */
        uint64_t r = kernel_rand(&seed) % 100;
        buf[i] = r < 15 ? 32 : r < 18 ? 10 : r < 21 ? (uint8_t)(128 + r) : (uint8_t)(97 + r % 26);
    }
    uint64_t v[3] = {0}, s[3] = {0};
    count_vec(buf, v);
    count_scalar(buf, s);
    if (memcmp(v, s, sizeof(v)) != 0) {
        fprintf(stderr, "bytecount: vector and scalar counts differ\n");
        return 2;
    }
    double t0 = kernel_now_ms();
    uint64_t sum = 0;
    for (long p = 0; p < passes; p++) {
        uint64_t c[3] = {0};
        buf[(p * 4099) % LEN] ^= 0x2a; /* one byte changes per pass: no pass can be skipped */
        count_vec(buf, c);
        sum = sum * 31 + c[0] * 1000003 + c[1] * 1009 + c[2];
    }
    return kernel_report(sum, t0);
}
