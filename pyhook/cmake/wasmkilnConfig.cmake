# wasmkiln's CMake package: pack WebAssembly modules into wasmkiln images from a CMake build.
#
#   find_package(wasmkiln CONFIG REQUIRED)      # cmake -Dwasmkiln_DIR=$(wasmkiln cmake-dir)
#   wasmkiln_add_image(NAME WASM <file or target> [TARGET triple] [PROFILE p] [OUTPUT path]
#                      [DIR d ...])
#
# The package is the folder `wasmkiln cmake-dir` prints (wasmkiln/pyhook/cmake in the installed
# wheel). It provides:
#   wasmkiln_add_image()      an add_custom_command that runs `wasmkiln build`, with the module
#                             (and wasmkiln itself) as DEPENDS and the image as OUTPUT, so the
#                             image is rebuilt when the module changes and only then; plus a
#                             custom target NAME (in ALL) with the image path in its
#                             WASMKILN_IMAGE property.
#   WASMKILN_EXECUTABLE       the `wasmkiln` command the images are built with (cache variable:
#                             the install this package came from, else the one on PATH).
#   wasmkiln_TOOLCHAIN_FILE   wasm32-wasi.cmake: C/C++ -> wasm32-wasi with clang + wasi-libc.
#   wasmkiln_TARGETS          the target triples this wasmkiln can build images for.
#   wasmkiln_VERSION          from wasmkilnConfigVersion.cmake.
#
# Images are built by the `wasmkiln` command rather than by rules that compile and link here
# because the compiler (wasmkiln.bridge) is Python; one code path builds every image, whether
# from the CLI, pip or CMake.

cmake_minimum_required(VERSION 3.20)

set(wasmkiln_TOOLCHAIN_FILE "${CMAKE_CURRENT_LIST_DIR}/wasm32-wasi.cmake")

# The installed wheel puts this file at <prefix>/lib/pythonX.Y/site-packages/wasmkiln/pyhook/cmake
# and the command at <prefix>/bin/wasmkiln: prefer the command of the same install.
get_filename_component(_wk_prefix_bin "${CMAKE_CURRENT_LIST_DIR}/../../../../../../bin" ABSOLUTE)
find_program(WASMKILN_EXECUTABLE NAMES wasmkiln HINTS "${_wk_prefix_bin}"
  NO_CMAKE_FIND_ROOT_PATH DOC "the wasmkiln command that builds images")
if(NOT WASMKILN_EXECUTABLE)
  set(wasmkiln_FOUND FALSE)
  string(CONCAT wasmkiln_NOT_FOUND_MESSAGE "the `wasmkiln` command is not on PATH (pip "
    "install wasmkiln, activate its virtual environment, or set WASMKILN_EXECUTABLE)")
  return()
endif()

# The runtime libraries of the install, when this package sits in it: images relink when they
# change (a reinstall). In a development checkout (pip install -e) they live elsewhere, and the
# dependency on the wasmkiln command (rewritten by every reinstall) stands in for them.
get_filename_component(_wk_runtime "${CMAKE_CURRENT_LIST_DIR}/../../_runtime" ABSOLUTE)
set(_WASMKILN_RUNTIME_DIR "${_wk_runtime}" CACHE INTERNAL "")

# Ask the command which targets exist and which are supported, once per configure.
execute_process(COMMAND "${WASMKILN_EXECUTABLE}" targets
  OUTPUT_VARIABLE _wk_targets_out ERROR_VARIABLE _wk_targets_err RESULT_VARIABLE _wk_rc)
if(NOT _wk_rc EQUAL 0)
  set(wasmkiln_FOUND FALSE)
  set(wasmkiln_NOT_FOUND_MESSAGE "`${WASMKILN_EXECUTABLE} targets` failed: ${_wk_targets_err}")
  return()
endif()
set(wasmkiln_TARGETS "")
set(_WASMKILN_UNSUPPORTED "")
string(REPLACE "\n" ";" _wk_lines "${_wk_targets_out}")
foreach(_wk_line IN LISTS _wk_lines)
  if(_wk_line MATCHES "^([a-z0-9_]+-[a-z0-9_]+) +[^ ]+ +[^ ]+ +(.*)$")
    set(_wk_triple "${CMAKE_MATCH_1}")  # the next MATCHES resets CMAKE_MATCH_*
    if(CMAKE_MATCH_2 MATCHES "^not yet")
      list(APPEND _WASMKILN_UNSUPPORTED "${_wk_triple}")
    else()
      list(APPEND wasmkiln_TARGETS "${_wk_triple}")
    endif()
  endif()
endforeach()

# wasmkiln_add_image(NAME WASM <file or target> [TARGET triple] [PROFILE p] [OUTPUT path]
#                    [INVOKE export] [DIR d ...] [LISTEN a ...] [PUBLISH p ...])
#
# NAME     a custom target (built by ALL) that stands for the image; the image is
#          ${CMAKE_CURRENT_BINARY_DIR}/NAME.img (kvm targets) or NAME.spt (spt targets) unless
#          OUTPUT says otherwise. Its property WASMKILN_IMAGE holds the path.
# WASM     a target of this project that builds the module (compiled with wasm32-wasi.cmake),
#          or a .wasm file (relative paths: the source folder, then the binary folder).
# TARGET   the target triple (default x86_64-kvm; `wasmkiln targets` lists them).
# PROFILE  dev (default) or release.
# INVOKE   a reactor's export to run instead of _start, after _initialize (`build --invoke`).
# DIR      folders to pack into the image, HOST or HOST::GUEST as `wasmkiln build --dir`
#          (HOST relative to the source folder); a change to any file under HOST rebuilds.
# LISTEN   ADDR:PORT listeners recorded in the image (`wasmkiln build --listen`).
# PUBLISH  [HOSTADDR:]HOSTPORT:GUESTPORT forwards recorded in the image (`build -p`):
#          `wasmkiln run IMAGE` opens what LISTEN/PUBLISH say unless it is given ports.
function(wasmkiln_add_image name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "WASM;TARGET;PROFILE;OUTPUT;INVOKE" "DIR;LISTEN;PUBLISH")
  set(_where "wasmkiln_add_image(${name})")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "${_where}: unexpected arguments ${arg_UNPARSED_ARGUMENTS} (takes WASM, "
      "TARGET, PROFILE, OUTPUT, INVOKE, DIR, LISTEN, PUBLISH)")
  endif()
  if(NOT arg_WASM)
    message(FATAL_ERROR "${_where}: WASM <file or target> is required")
  endif()
  if(NOT arg_TARGET)
    set(arg_TARGET x86_64-kvm)
  endif()
  if(NOT arg_PROFILE)
    set(arg_PROFILE dev)
  endif()
  if(arg_TARGET IN_LIST _WASMKILN_UNSUPPORTED)
    message(FATAL_ERROR "${_where}: target ${arg_TARGET} is not supported yet "
      "(`wasmkiln targets`)")
  elseif(NOT arg_TARGET IN_LIST wasmkiln_TARGETS)
    string(REPLACE ";" ", " _known "${wasmkiln_TARGETS}")
    message(FATAL_ERROR "${_where}: unknown target '${arg_TARGET}' (known targets: ${_known})")
  endif()
  if(NOT arg_PROFILE MATCHES "^(dev|release)$")
    message(FATAL_ERROR "${_where}: unknown profile '${arg_PROFILE}' (dev or release)")
  endif()
  set(_extra "")
  set(_dir_deps "")
  foreach(_spec IN LISTS arg_DIR)
    string(FIND "${_spec}" "::" _sep)
    if(_sep EQUAL -1)
      set(_host "${_spec}")
      set(_guest "${_spec}")
    else()
      string(SUBSTRING "${_spec}" 0 ${_sep} _host)
      math(EXPR _rest "${_sep} + 2")
      string(SUBSTRING "${_spec}" ${_rest} -1 _guest)
    endif()
    get_filename_component(_host "${_host}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_SOURCE_DIR}")
    if(NOT IS_DIRECTORY "${_host}")
      message(FATAL_ERROR "${_where}: DIR ${_spec}: ${_host} is not a folder")
    endif()
    file(GLOB_RECURSE _files CONFIGURE_DEPENDS "${_host}/*")
    list(APPEND _dir_deps ${_files})
    list(APPEND _extra --dir "${_host}::${_guest}")
  endforeach()
  if(arg_INVOKE)
    list(APPEND _extra --invoke "${arg_INVOKE}")
  endif()
  foreach(_spec IN LISTS arg_LISTEN)
    list(APPEND _extra --listen "${_spec}")
  endforeach()
  foreach(_spec IN LISTS arg_PUBLISH)
    list(APPEND _extra --publish "${_spec}")
  endforeach()

  if(TARGET "${arg_WASM}")
    if(NOT CMAKE_SYSTEM_PROCESSOR MATCHES "^wasm")
      message(FATAL_ERROR "${_where}: target ${arg_WASM} is built for ${CMAKE_SYSTEM_PROCESSOR}, "
        "not wasm32-wasi: configure with -DCMAKE_TOOLCHAIN_FILE=${wasmkiln_TOOLCHAIN_FILE}")
    endif()
    set(_wasm "$<TARGET_FILE:${arg_WASM}>")
    # Naming the target in DEPENDS orders the builds and reruns the command when the target
    # is relinked (CMake adds a file-level dependency for executables).
    set(_deps "${arg_WASM}")
  else()
    if(IS_ABSOLUTE "${arg_WASM}")
      set(_wasm "${arg_WASM}")
    elseif(EXISTS "${CMAKE_CURRENT_SOURCE_DIR}/${arg_WASM}")
      set(_wasm "${CMAKE_CURRENT_SOURCE_DIR}/${arg_WASM}")
    else()
      set(_wasm "${CMAKE_CURRENT_BINARY_DIR}/${arg_WASM}")
    endif()
    set(_deps "${_wasm}")
  endif()

  if(arg_TARGET MATCHES "-spt$")
    set(_suffix .spt)
  else()
    set(_suffix .img)
  endif()
  if(arg_OUTPUT)
    get_filename_component(_out "${arg_OUTPUT}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")
  else()
    set(_out "${CMAKE_CURRENT_BINARY_DIR}/${name}${_suffix}")
  endif()
  list(APPEND _deps "${WASMKILN_EXECUTABLE}")
  set(_lib "${_WASMKILN_RUNTIME_DIR}/${arg_TARGET}/libwasmkiln-${arg_TARGET}.a")
  if(EXISTS "${_lib}")
    list(APPEND _deps "${_lib}")
  endif()

  add_custom_command(
    OUTPUT "${_out}"
    COMMAND "${WASMKILN_EXECUTABLE}" build "${_wasm}" --target "${arg_TARGET}"
            --profile "${arg_PROFILE}" -o "${_out}" ${_extra}
    DEPENDS ${_deps} ${_dir_deps}
    COMMENT "wasmkiln: image ${name} (${arg_TARGET}, ${arg_PROFILE})"
    VERBATIM)
  add_custom_target("${name}" ALL DEPENDS "${_out}")
  set_target_properties("${name}" PROPERTIES WASMKILN_IMAGE "${_out}"
    WASMKILN_TARGET "${arg_TARGET}")
endfunction()

# wasmkiln_add_oci_image(NAME IMAGE <wasmkiln_add_image name> [HYPERVISOR qemu|firecracker]
#                        [TAG [REPO:]TAG] [OUTPUT dir])
# The x86_64-kvm image of IMAGE as an OCI image that urunc runs (docs/kubernetes.md): the
# layout in OUTPUT (default: NAME.oci in the build folder) and OUTPUT.tar, through
# `wasmkiln oci`, rewritten when the image is relinked.
function(wasmkiln_add_oci_image name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "IMAGE;HYPERVISOR;TAG;OUTPUT" "")
  set(_where "wasmkiln_add_oci_image(${name})")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "${_where}: unexpected arguments ${arg_UNPARSED_ARGUMENTS} (takes IMAGE, "
      "HYPERVISOR, TAG, OUTPUT)")
  endif()
  if(NOT arg_IMAGE OR NOT TARGET "${arg_IMAGE}")
    message(FATAL_ERROR "${_where}: IMAGE <name of a wasmkiln_add_image> is required")
  endif()
  get_target_property(_image "${arg_IMAGE}" WASMKILN_IMAGE)
  get_target_property(_target "${arg_IMAGE}" WASMKILN_TARGET)
  if(NOT _target STREQUAL "x86_64-kvm")
    message(FATAL_ERROR "${_where}: ${arg_IMAGE} is a ${_target} image; urunc runs x86_64-kvm")
  endif()
  if(NOT arg_HYPERVISOR)
    set(arg_HYPERVISOR qemu)
  endif()
  if(NOT arg_HYPERVISOR MATCHES "^(qemu|firecracker)$")
    message(FATAL_ERROR "${_where}: HYPERVISOR ${arg_HYPERVISOR}: qemu or firecracker")
  endif()
  if(NOT arg_TAG)
    set(arg_TAG latest)
  endif()
  if(arg_OUTPUT)
    get_filename_component(_out "${arg_OUTPUT}" ABSOLUTE BASE_DIR "${CMAKE_CURRENT_BINARY_DIR}")
  else()
    set(_out "${CMAKE_CURRENT_BINARY_DIR}/${name}.oci")
  endif()
  add_custom_command(
    OUTPUT "${_out}/index.json" "${_out}.tar"
    COMMAND "${WASMKILN_EXECUTABLE}" oci "${_image}" -o "${_out}" --hypervisor "${arg_HYPERVISOR}"
            --tag "${arg_TAG}"
    DEPENDS "${_image}" "${arg_IMAGE}" "${WASMKILN_EXECUTABLE}"
    COMMENT "wasmkiln: OCI image ${name} (${arg_HYPERVISOR}, ${arg_TAG})"
    VERBATIM)
  add_custom_target("${name}" ALL DEPENDS "${_out}/index.json" "${_out}.tar")
  set_target_properties("${name}" PROPERTIES WASMKILN_OCI_LAYOUT "${_out}")
endfunction()
