/* Generated from bridge/abi.py by `python -m wasmkiln.bridge.abi`. DO NOT EDIT. */
#ifndef WK_ABI_LAYOUT_H
#define WK_ABI_LAYOUT_H
#define WK_ABI_VERSION 5
#define WK_PAGE_SIZE 65536
#define WK_MEMORY_GUARD 2147483648ull
#define WK_MEMORY_RESERVE 6442516480ull
#define WK_VMCTX_MEMORY 0
#define WK_VMCTX_FUNCS 8
#define WK_VMCTX_GLOBALS 16
#define WK_VMCTX_TABLES 24
#define WK_VMCTX_TYPE_IDS 32
#define WK_VMCTX_STACK_LIMIT 40
#define WK_VMCTX_BUILTINS 48
#define WK_VMCTX_INSTANCE 56
#define WK_VMCTX_MEMORIES 64
#define WK_VMCTX_TAGS 72
#define WK_VMCTX_EXN 80
#define WK_VMCTX_SIZE 88
#define WK_BUILTIN_TRAP 0
#define WK_BUILTIN_MEMORY_GROW 1
#define WK_BUILTIN_MEMORY_FILL 2
#define WK_BUILTIN_MEMORY_COPY 3
#define WK_BUILTIN_MEMORY_INIT 4
#define WK_BUILTIN_DATA_DROP 5
#define WK_BUILTIN_TABLE_GROW 6
#define WK_BUILTIN_TABLE_FILL 7
#define WK_BUILTIN_TABLE_COPY 8
#define WK_BUILTIN_TABLE_INIT 9
#define WK_BUILTIN_ELEM_DROP 10
#define WK_BUILTIN_EXN_NEW 11
#define WK_BUILTIN_EXN_REF 12
#define WK_BUILTIN_COUNT 13
#define WK_MEMORY_BASE 0
#define WK_MEMORY_SIZE 8
#define WK_MEMORY_STRUCT_SIZE 24
#define WK_FUNCREF_SIZE 32
#define WK_FUNCREF_CODE 0
#define WK_FUNCREF_VMCTX 8
#define WK_FUNCREF_TYPE_ID 16
#define WK_FUNCREF_HOST 24
#define WK_TABLE_STRUCT_SIZE 24
#define WK_TABLE_ELEMS 0
#define WK_TABLE_LEN 8
#define WK_GLOBAL_SIZE 16
#define WK_CONST_STACK 16
#define WK_EXN_TAG 0
#define WK_EXN_SIZE 8
#define WK_EXN_PAYLOAD 16
#define WK_TAG_STRUCT_SIZE 8
#define WK_EXN_REF_ESCAPE 0
#define WK_EXN_REF_HOLD 1
#define WK_EXN_REF_UNHOLD 2
#define WK_EXN_REF_DROP_HOLD 3
#define WK_EXN_REF_DROP 4
#define WK_TRAP_UNREACHABLE 1
#define WK_TRAP_INT_DIV_ZERO 2
#define WK_TRAP_INT_OVERFLOW 3
#define WK_TRAP_BAD_CONVERSION 4
#define WK_TRAP_MEM_OOB 5
#define WK_TRAP_TABLE_OOB 6
#define WK_TRAP_INDIRECT_SIG 7
#define WK_TRAP_UNINIT_ELEM 8
#define WK_TRAP_STACK_EXHAUSTED 9
#define WK_TRAP_UNKNOWN_IMPORT 10
#define WK_TRAP_NULL_REFERENCE 11
#define WK_TRAP_NULL_FUNC_REF 12
#define WK_TRAP_NULL_EXNREF 13
#define WK_TRAP_UNCAUGHT_EXCEPTION 14
#define WK_TRAP_EXN_OUT_OF_MEMORY 15
#define WK_TRAP_COUNT 16
#define WK_TRAP_MESSAGES { \
    "no trap", \
    "wasm `unreachable` instruction executed", \
    "integer divide by zero", \
    "integer overflow", \
    "invalid conversion to integer", \
    "out of bounds memory access", \
    "undefined element: out of bounds table access", \
    "indirect call type mismatch", \
    "uninitialized element", \
    "call stack exhausted", \
    "called an import that was not provided", \
    "null reference", \
    "null function reference", \
    "null exception reference", \
    "uncaught wasm exception", \
    "out of memory allocating a wasm exception", \
}
#endif
