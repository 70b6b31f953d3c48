# Toolchain file for the aarch64 runtime (unikernel/ with WK_ARCH=aarch64):
# Debian's gcc-aarch64-linux-gnu, used freestanding (-nostdlib, no libc).
# Why GCC and not clang-14 --target=aarch64-none-elf: the runtime relies on
# __builtin_setjmp/__builtin_longjmp (core/instance_core.c), which clang 14
# does not implement for AArch64, and the x86_64 runtime is built by GCC too,
# so both targets share one compiler's flags, builtins and warnings.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_ASM_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_AR aarch64-linux-gnu-ar)
set(CMAKE_RANLIB aarch64-linux-gnu-ranlib)
# A freestanding compiler cannot link a test program: test with a static library.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
