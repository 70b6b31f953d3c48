/*
 * file_tail.c - reads a packed file that may be larger than the default guest RAM
 * (tests/test_memory.py, issue 14 bug 3): prints its size, the sum of one byte per MiB
 * (every MiB of the file is reached), and its last 8 bytes.
 */
#include <stdio.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: file_tail FILE\n");
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  struct stat st;
  if (!f || fstat(fileno(f), &st) != 0) {
    perror(argv[1]);
    return 1;
  }
  unsigned long sum = 0;
  for (long long at = 0; at < (long long)st.st_size; at += 1 << 20) {
    if (fseek(f, (long)at, SEEK_SET) != 0) return 1;
    sum += (unsigned)fgetc(f);
  }
  char tail[64] = {0};
  long n = st.st_size < 8 ? (long)st.st_size : 8;
  if (fseek(f, -n, SEEK_END) != 0 || fread(tail, 1, (size_t)n, f) != (size_t)n) return 1;
  printf("size %lld sum %lu tail %s", (long long)st.st_size, sum, tail);
  return fclose(f) != 0;
}
