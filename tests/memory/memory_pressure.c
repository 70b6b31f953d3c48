/*
 * memory_pressure.c - linear memory and the kernel heap share the guest's RAM
 * (tests/test_memory.py). Writes a file of argv[1] MiB into the writable
 * layer of the preopen "/data" and reads it back; then grows linear memory
 * 1 MiB at a time (malloc) until memory.grow fails; then tries to write a
 * second file of argv[1] MiB. Prints what happened; exits 0 unless data came
 * back wrong (the runtime must fail cleanly, never corrupt or crash).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int write_file(const char *path, size_t mib, unsigned seed) {
  FILE *f = fopen(path, "wb");
  if (!f) return errno;
  static unsigned char chunk[65536];
  for (size_t i = 0; i < mib * 16; i++) {
    for (size_t j = 0; j < sizeof chunk; j++) chunk[j] = (unsigned char)(seed + i * 31 + j);
    if (fwrite(chunk, 1, sizeof chunk, f) != sizeof chunk) {
      int e = errno ? errno : EIO;
      fclose(f);
      return e;
    }
  }
  if (fclose(f) != 0) return errno ? errno : EIO;
  return 0;
}

static int check_file(const char *path, size_t mib, unsigned seed) {
  FILE *f = fopen(path, "rb");
  if (!f) return -1;
  static unsigned char chunk[65536];
  for (size_t i = 0; i < mib * 16; i++) {
    if (fread(chunk, 1, sizeof chunk, f) != sizeof chunk) return -2;
    for (size_t j = 0; j < sizeof chunk; j++)
      if (chunk[j] != (unsigned char)(seed + i * 31 + j)) return -3;
  }
  fclose(f);
  return 0;
}

int main(int argc, char **argv) {
  size_t mib = argc > 1 ? (size_t)atoi(argv[1]) : 4;
  int e = write_file("/data/first.bin", mib, 7);
  printf("first file: %s\n", e ? strerror(e) : "written");
  if (!e && check_file("/data/first.bin", mib, 7) != 0) {
    printf("first file: CORRUPT\n");
    return 1;
  }
  /* Kept in a global and summed below, so the compiler cannot drop the mallocs. */
  static unsigned char *kept[4096];
  size_t chunks = 0;
  while (chunks < 4096) { /* 4 GiB: all a wasm32 memory can hold */
    unsigned char *p = malloc(1 << 20);
    if (!p) break;
    p[0] = p[(1 << 20) - 1] = (unsigned char)(chunks + 1); /* touch both ends */
    kept[chunks++] = p;
  }
  unsigned sum = 0;
  for (size_t i = 0; i < chunks; i++) sum += kept[i][0] + kept[i][(1 << 20) - 1];
  unsigned want = 0;
  for (size_t i = 0; i < chunks; i++) want += 2 * (unsigned char)(i + 1);
  if (sum != want) {
    printf("linear memory: CORRUPT\n");
    return 1;
  }
  printf("grew linear memory by %zu MiB\n", chunks);
  e = write_file("/data/second.bin", mib, 9);
  printf("second file: %s\n", e ? "failed" : "written");
  if (!e && check_file("/data/second.bin", mib, 9) != 0) {
    printf("second file: CORRUPT\n");
    return 1;
  }
  if (check_file("/data/first.bin", mib, 7) != 0) {
    printf("first file: CORRUPT after the memory grew\n");
    return 1;
  }
  printf("done\n");
  return 0;
}
