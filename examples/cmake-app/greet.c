#include "greet.h"

#include <stdio.h>

void greet(const char *who) { printf("hello from cmake-app, %s!\n", who); }
