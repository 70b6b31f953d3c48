# The aarch64 runtime, cross-built: this same project configured again with
# WK_ARCH=aarch64 and the toolchain file cmake/aarch64-linux-gnu.cmake, as an
# ExternalProject in the build folder. Its library, linker script and
# target.json are installed next to the x86_64 targets (aarch64-kvm/), so the
# wheel carries the runtime of every target.
#
# Without the cross compiler (Debian: gcc-aarch64-linux-gnu) the install still
# succeeds for x86_64; `wasmkiln` then refuses --target aarch64-kvm, naming the
# package (pyhook/image/runtime.py).
option(WK_CROSS_AARCH64 "build the aarch64 runtime too (needs gcc-aarch64-linux-gnu)" ON)
find_program(WK_AARCH64_GCC aarch64-linux-gnu-gcc)
if(NOT WK_CROSS_AARCH64)
  return()
endif()
if(NOT WK_AARCH64_GCC)
  message(STATUS "wasmkiln: aarch64-linux-gnu-gcc not found: building without the aarch64-kvm "
    "runtime (Debian: apt-get install gcc-aarch64-linux-gnu)")
  return()
endif()
message(STATUS "wasmkiln: aarch64 runtime with ${WK_AARCH64_GCC}")

include(ExternalProject)
set(WK_AARCH64_BUILD ${CMAKE_CURRENT_BINARY_DIR}/aarch64)
# lwIP's sources include <limits.h> & co., which the cross compiler takes from Debian's aarch64
# libc headers (libc6-dev-arm64-cross, not pulled in by gcc-aarch64-linux-gnu): without them the
# aarch64 image is built without networking (the net layer's "none" variant).
if(EXISTS "/usr/aarch64-linux-gnu/include/limits.h")
  set(WK_AARCH64_LWIP "${LWIP_SOURCE_DIR}")
else()
  set(WK_AARCH64_LWIP "")
  message(STATUS "wasmkiln: no aarch64 libc headers (Debian: libc6-dev-arm64-cross): "
    "aarch64-kvm without networking")
endif()
ExternalProject_Add(wk_aarch64
  SOURCE_DIR ${CMAKE_CURRENT_SOURCE_DIR}
  BINARY_DIR ${WK_AARCH64_BUILD}
  CMAKE_ARGS
    -DWK_ARCH=aarch64
    -DCMAKE_TOOLCHAIN_FILE=${CMAKE_CURRENT_SOURCE_DIR}/cmake/aarch64-linux-gnu.cmake
    -DLWIP_SOURCE_DIR=${WK_AARCH64_LWIP}
    -DWASMKILN_FETCH_LWIP=OFF
    -DCMAKE_BUILD_TYPE=${CMAKE_BUILD_TYPE}
  INSTALL_COMMAND ""
  # Rebuild when any source changes (the sub-build tracks its own dependencies).
  BUILD_ALWAYS ON)
set(WK_AARCH64_DEST ${WK_RUNTIME_INSTALL_DIR}/aarch64-kvm)
install(FILES ${WK_AARCH64_BUILD}/unikernel/libwasmkiln-aarch64-kvm.a
  DESTINATION ${WK_AARCH64_DEST})
install(FILES unikernel/platform/kvm/link_aarch64.ld DESTINATION ${WK_AARCH64_DEST}
  RENAME link.ld)
# target.json plus "network", as for the x86_64 targets (unikernel/CMakeLists.txt): whether the
# sub-build had lwIP's source (this configure fetched it, and the aarch64 libc headers are there).
file(READ unikernel/platform/kvm/target_aarch64.json WK_AARCH64_SPEC)
if(WK_AARCH64_LWIP AND EXISTS "${WK_AARCH64_LWIP}/src/core/tcp.c")
  string(JSON WK_AARCH64_SPEC SET "${WK_AARCH64_SPEC}" network true)
else()
  string(JSON WK_AARCH64_SPEC SET "${WK_AARCH64_SPEC}" network false)
endif()
file(CONFIGURE OUTPUT ${WK_AARCH64_BUILD}/target.json CONTENT "${WK_AARCH64_SPEC}\n" @ONLY)
install(FILES ${WK_AARCH64_BUILD}/target.json DESTINATION ${WK_AARCH64_DEST})
# The spec runner's host agent for aarch64 Linux (platform/host/agent_host.c), when the
# aarch64 libc was there to build it (`wasmkiln wast --target aarch64`).
install(PROGRAMS ${WK_AARCH64_BUILD}/unikernel/platform/host/wasmkiln-host-agent
  DESTINATION ${WK_RUNTIME_INSTALL_DIR}/aarch64-host OPTIONAL)
