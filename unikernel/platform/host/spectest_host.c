/*
 * platform/host/spectest_host.c - the functions of the spec tests' `spectest`
 * module. They print nothing: the spec only needs them to exist with these
 * signatures (the runner provides spectest's globals, table and memory).
 */
#include <string.h>

#include "instance_core.h"
#include "wk/abi.h"
#include "wk/host.h"

static void print(wk_vmctx *vm) { (void)vm; }
static void print_i32(wk_vmctx *vm, int32_t a) { (void)vm, (void)a; }
static void print_i64(wk_vmctx *vm, int64_t a) { (void)vm, (void)a; }
static void print_f32(wk_vmctx *vm, float a) { (void)vm, (void)a; }
static void print_f64(wk_vmctx *vm, double a) { (void)vm, (void)a; }
static void print_i32_f32(wk_vmctx *vm, int32_t a, float b) { (void)vm, (void)a, (void)b; }
static void print_f64_f64(wk_vmctx *vm, double a, double b) { (void)vm, (void)a, (void)b; }

static const struct {
  const char *name;
  const char *sig; /* wk_module.type_sigs spelling */
  void *code;
} funcs[] = {
    {"print", ":", (void *)print},
    {"print_i32", "i:", (void *)print_i32},
    {"print_i64", "I:", (void *)print_i64},
    {"print_f32", "f:", (void *)print_f32},
    {"print_f64", "F:", (void *)print_f64},
    {"print_i32_f32", "if:", (void *)print_i32_f32},
    {"print_f64_f64", "FF:", (void *)print_f64_f64},
};
#define NFUNCS (sizeof funcs / sizeof funcs[0])

static wk_vmctx no_vmctx; /* the functions ignore their vmctx */
static wk_funcref records[NFUNCS];

wk_funcref *wk_host_spectest_func(const char *name) {
  for (size_t i = 0; i < NFUNCS; i++) {
    if (strcmp(funcs[i].name, name) != 0) continue;
    records[i].code = NULL; /* host code: the importer binds it to its adapter */
    records[i].host = funcs[i].code;
    records[i].vmctx = &no_vmctx;
    records[i].type_id = wk_type_id(funcs[i].sig); /* the registry is process-wide */
    return &records[i];
  }
  return NULL;
}
