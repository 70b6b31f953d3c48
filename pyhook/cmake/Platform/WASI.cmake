# CMake platform file for WASI (wasm32-wasi.cmake puts this folder on CMAKE_MODULE_PATH; CMake
# before 3.31 has no WASI platform of its own). WASI programs are static .wasm modules.
include(Platform/Generic)
set(CMAKE_EXECUTABLE_SUFFIX ".wasm")
