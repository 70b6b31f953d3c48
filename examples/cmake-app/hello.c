/* cmake-app: greets each argument (or "world"), then reports how many it greeted. */
#include <stdio.h>

#include "greet.h"

int main(int argc, char **argv) {
  if (argc < 2) {
    greet("world");
    return 0;
  }
  for (int i = 1; i < argc; i++) greet(argv[i]);
  printf("greeted %d\n", argc - 1);
  return 0;
}
