# wasmkiln's CMake toolchain file: compile C (and C++) to wasm32-wasi with clang and wasi-libc.
#
#   cmake -DCMAKE_TOOLCHAIN_FILE=$(wasmkiln cmake-dir)/wasm32-wasi.cmake ...
#
# or, in the project itself before project(): set(CMAKE_TOOLCHAIN_FILE ...) (see
# examples/cmake-app). Executables get the .wasm suffix (Platform/WASI.cmake, next to this
# file); everything links statically.
#
# Which clang: WASI_CLANG (cache or environment variable) if set, else the first of clang-14 ..
# clang-19 and clang on PATH. Which sysroot: WASI_SYSROOT (cache or environment; a wasi-sdk or
# wasi-libc install, with include/ and lib/), else the compiler's built-in one: Debian's clang
# finds wasi-libc (package wasi-libc) in /usr/include/wasm32-wasi and /usr/lib/wasm32-wasi
# without any flag. A missing piece stops the configure with what to install, instead of a
# failing compiler check later.
#
# CMake reads a toolchain file several times (once per try_compile), so this file only sets
# variables and checks; it keeps no state of its own.

set(CMAKE_SYSTEM_NAME WASI)      # Platform/WASI.cmake here: Generic (static) + the .wasm suffix
list(APPEND CMAKE_MODULE_PATH "${CMAKE_CURRENT_LIST_DIR}")
list(REMOVE_DUPLICATES CMAKE_MODULE_PATH)
set(CMAKE_SYSTEM_PROCESSOR wasm32)
set(WASMKILN_WASI_TOOLCHAIN ON)  # wasmkiln_add_image checks this

set(_wk_hint "Debian: apt-get install clang-14 lld-14 wasi-libc libclang-rt-14-dev-wasm32")

if(NOT WASI_CLANG AND DEFINED ENV{WASI_CLANG})
  set(WASI_CLANG "$ENV{WASI_CLANG}")
endif()
if(NOT WASI_CLANG)
  find_program(WASI_CLANG NAMES clang-14 clang-15 clang-16 clang-17 clang-18 clang-19 clang
    NO_CMAKE_FIND_ROOT_PATH DOC "clang used to compile to wasm32-wasi")
endif()
if(NOT WASI_CLANG)
  message(FATAL_ERROR "wasmkiln: no clang found to compile to wasm32-wasi (set WASI_CLANG, "
    "or install one; ${_wk_hint})")
endif()
if(NOT IS_ABSOLUTE "${WASI_CLANG}")
  unset(_wk_clang_path CACHE)  # (NO_CACHE needs CMake 3.21)
  find_program(_wk_clang_path NAMES "${WASI_CLANG}" NO_CMAKE_FIND_ROOT_PATH)
  if(_wk_clang_path)
    set(WASI_CLANG "${_wk_clang_path}")
  endif()
  unset(_wk_clang_path CACHE)
endif()
if(NOT EXISTS "${WASI_CLANG}")
  message(FATAL_ERROR "wasmkiln: WASI_CLANG=${WASI_CLANG} does not exist; ${_wk_hint}")
endif()

if(NOT WASI_SYSROOT AND DEFINED ENV{WASI_SYSROOT})
  set(WASI_SYSROOT "$ENV{WASI_SYSROOT}")
endif()
if(WASI_SYSROOT)
  if(NOT EXISTS "${WASI_SYSROOT}/include/wasm32-wasi/stdio.h"
      AND NOT EXISTS "${WASI_SYSROOT}/include/stdio.h")
    message(FATAL_ERROR "wasmkiln: WASI_SYSROOT=${WASI_SYSROOT} holds no wasi-libc headers")
  endif()
  set(CMAKE_SYSROOT "${WASI_SYSROOT}")
elseif(NOT EXISTS "/usr/include/wasm32-wasi/stdio.h")
  message(FATAL_ERROR "wasmkiln: wasi-libc is not installed (no /usr/include/wasm32-wasi; or "
    "set WASI_SYSROOT to a wasi-sdk/wasi-libc sysroot); ${_wk_hint}")
endif()

# The linker clang calls for wasm32 (Debian names it wasm-ld-14 after clang-14).
get_filename_component(_wk_clang_name "${WASI_CLANG}" NAME)
string(REGEX MATCH "-[0-9]+$" _wk_version_suffix "${_wk_clang_name}")
find_program(WASI_WASM_LD NAMES wasm-ld${_wk_version_suffix} wasm-ld NO_CMAKE_FIND_ROOT_PATH
  DOC "wasm-ld, the wasm32 linker clang runs")
if(NOT WASI_WASM_LD)
  message(FATAL_ERROR "wasmkiln: wasm-ld${_wk_version_suffix} (lld) is not installed; "
    "${_wk_hint}")
endif()

string(REGEX REPLACE "clang(-[0-9]+)?$" "clang++\\1" _wk_clangxx "${WASI_CLANG}")
set(CMAKE_C_COMPILER "${WASI_CLANG}")
set(CMAKE_CXX_COMPILER "${_wk_clangxx}")
set(CMAKE_ASM_COMPILER "${WASI_CLANG}")
set(CMAKE_C_COMPILER_TARGET wasm32-wasi)
set(CMAKE_CXX_COMPILER_TARGET wasm32-wasi)
set(CMAKE_ASM_COMPILER_TARGET wasm32-wasi)

# Only the sysroot (if any) holds target libraries and headers; programs come from the host.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)  # wasmkiln's own package lives on the host
