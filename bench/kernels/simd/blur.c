/* 3x3 box blur of a W x W 8-bit grey image, ping-ponged between two buffers for P passes:
 * each interior pixel becomes the sum of its 3x3 neighbourhood times 7/64 (about 1/9, in 16-bit
 * arithmetic), the border is copied. The vertical sums are a plain C loop that clang's
 * auto-vectoriser turns into v128.load8x8_u and i16x8.add; the horizontal step is written with
 * u16x8 vectors (clang-14 leaves that loop scalar), narrowed to bytes at the end. The checksum hashes the final image.
 * argv[1] = passes over a 1024 x 1024 image. */
#include "simd.h"

#define W 1024

static inline uint8_t blur_px(const uint16_t *col, int x) {
    return (uint8_t)(((uint16_t)(col[x - 1] + col[x] + col[x + 1]) * 7u) >> 6);
}

static void blur_row(uint8_t *restrict out, const uint8_t *restrict up,
                     const uint8_t *restrict mid, const uint8_t *restrict down) {
    uint16_t col[W];
    for (int x = 0; x < W; x++) { /* auto-vectorised: load8x8_u, i16x8.add */
        col[x] = (uint16_t)(up[x] + mid[x] + down[x]);
    }
    out[0] = mid[0];
    int x = 1;
    for (; x + 8 <= W - 1; x += 8) { /* explicit: clang-14 does not vectorise this one */
        u16x8 l, c, r;
        memcpy(&l, col + x - 1, 16);
        memcpy(&c, col + x, 16);
        memcpy(&r, col + x + 1, 16);
        u16x8 h = ((l + c + r) * 7) >> 6;
        u8x8 px = __builtin_convertvector(h, u8x8);
        memcpy(out + x, &px, 8);
    }
    for (; x < W - 1; x++) {
        out[x] = blur_px(col, x);
    }
    out[W - 1] = mid[W - 1];
}

int main(int argc, char **argv) {
    long passes = kernel_size(argc, argv, 500);
    uint8_t *img = kernel_random_bytes(W * W, 5), *tmp = malloc(W * W);
    if (!img || !tmp) {
        return 1;
    }
    double t0 = kernel_now_ms();
    for (long p = 0; p < passes; p++) {
        memcpy(tmp, img, W);
        for (int y = 1; y < W - 1; y++) {
            blur_row(tmp + y * W, img + (y - 1) * W, img + y * W, img + (y + 1) * W);
        }
        memcpy(tmp + (W - 1) * W, img + (W - 1) * W, W);
        uint8_t *t = img;
        img = tmp;
        tmp = t;
    }
    uint64_t sum = 0;
    for (long i = 0; i < W * W; i += 8) {
        uint64_t x;
        memcpy(&x, img + i, 8);
        sum = (sum ^ x) * UINT64_C(0x100000001B3);
    }
    return kernel_report(sum, t0);
}
