/* Gravitational n-body: 64 bodies on a ring with small perturbations, symplectic Euler
 * steps, all-pairs forces in double precision. The checksum is the final energy, rounded.
 * argv[1] = steps. */
#include <math.h>

#include "kernel.h"

#define BODIES 64

typedef struct {
    double x, y, z, vx, vy, vz, m;
} body;

static double energy(const body *b) {
    double e = 0.0;
    for (int i = 0; i < BODIES; i++) {
        e += 0.5 * b[i].m * (b[i].vx * b[i].vx + b[i].vy * b[i].vy + b[i].vz * b[i].vz);
        for (int j = i + 1; j < BODIES; j++) {
            double dx = b[i].x - b[j].x, dy = b[i].y - b[j].y, dz = b[i].z - b[j].z;
            e -= b[i].m * b[j].m / sqrt(dx * dx + dy * dy + dz * dz + 0.01);
        }
    }
    return e;
}

int main(int argc, char **argv) {
    long steps = kernel_size(argc, argv, 8000);
    body b[BODIES];
    uint64_t seed = 3;
    for (int i = 0; i < BODIES; i++) {
        double angle = 6.283185307179586 * i / BODIES;
        double jitter = (double)(kernel_rand(&seed) % 1000) / 1e5;
        b[i].x = cos(angle) * (1.0 + jitter);
        b[i].y = sin(angle) * (1.0 - jitter);
        b[i].z = jitter;
        b[i].vx = -sin(angle) * 0.3;
        b[i].vy = cos(angle) * 0.3;
        b[i].vz = 0.0;
        b[i].m = 1.0 / BODIES + jitter / 100.0;
    }
    const double dt = 0.001;
    double t0 = kernel_now_ms();
    for (long s = 0; s < steps; s++) {
        for (int i = 0; i < BODIES; i++) {
            double ax = 0.0, ay = 0.0, az = 0.0;
            for (int j = 0; j < BODIES; j++) {
                double dx = b[j].x - b[i].x, dy = b[j].y - b[i].y, dz = b[j].z - b[i].z;
                double d2 = dx * dx + dy * dy + dz * dz + 0.01;
                double inv = b[j].m / (d2 * sqrt(d2));
                ax += dx * inv;
                ay += dy * inv;
                az += dz * inv;
            }
            b[i].vx += ax * dt;
            b[i].vy += ay * dt;
            b[i].vz += az * dt;
        }
        for (int i = 0; i < BODIES; i++) {
            b[i].x += b[i].vx * dt;
            b[i].y += b[i].vy * dt;
            b[i].z += b[i].vz * dt;
        }
    }
    uint64_t sum = (uint64_t)(int64_t)(energy(b) * 1e6);
    return kernel_report(sum, t0);
}
