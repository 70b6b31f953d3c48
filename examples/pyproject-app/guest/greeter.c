/* The guest program of pyproject-app: greets each argument with $GREETING. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  const char *greeting = getenv("GREETING");
  if (greeting == NULL) greeting = "Hi";
  printf("%s from pyproject-app:", greeting);
  for (int i = 1; i < argc; i++) printf(" %s", argv[i]);
  printf("\n");
  return 0;
}
