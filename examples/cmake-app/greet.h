#ifndef GREET_H
#define GREET_H
/* Print one greeting line for `who` to stdout. */
void greet(const char *who);
#endif
