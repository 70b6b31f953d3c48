# Version of the wasmkiln CMake package: it must equal the Python package's version
# (pyproject.toml [project] version); tests/test_hooks.py checks that it does.
#
# Compatibility rule (0.x: every minor release may change the interface): a request for
# MAJOR.MINOR[.PATCH] is met by the same MAJOR.MINOR with a PATCH at least as high; a request
# for MAJOR alone by any release of that MAJOR that is not older.
set(PACKAGE_VERSION "0.1.0")

if(PACKAGE_FIND_VERSION_RANGE)
  # Ranges: accept when the version lies inside (CMake computed both ends for us).
  if(PACKAGE_VERSION VERSION_LESS PACKAGE_FIND_VERSION_MIN
      OR (PACKAGE_FIND_VERSION_RANGE_MAX STREQUAL "INCLUDE"
          AND PACKAGE_VERSION VERSION_GREATER PACKAGE_FIND_VERSION_MAX)
      OR (PACKAGE_FIND_VERSION_RANGE_MAX STREQUAL "EXCLUDE"
          AND PACKAGE_VERSION VERSION_GREATER_EQUAL PACKAGE_FIND_VERSION_MAX))
    set(PACKAGE_VERSION_COMPATIBLE FALSE)
  else()
    set(PACKAGE_VERSION_COMPATIBLE TRUE)
  endif()
elseif(PACKAGE_VERSION VERSION_LESS PACKAGE_FIND_VERSION)
  set(PACKAGE_VERSION_COMPATIBLE FALSE)
else()
  # Compare MAJOR.MINOR, or MAJOR alone when only that was asked for.
  if(PACKAGE_FIND_VERSION_COUNT EQUAL 1)
    string(REGEX MATCH "^[0-9]+" _wk_have "${PACKAGE_VERSION}")
  else()
    string(REGEX MATCH "^[0-9]+\\.[0-9]+" _wk_have "${PACKAGE_VERSION}")
  endif()
  string(REGEX MATCH "^[0-9]+(\\.[0-9]+)?" _wk_want "${PACKAGE_FIND_VERSION}")
  if(_wk_have VERSION_EQUAL _wk_want)
    set(PACKAGE_VERSION_COMPATIBLE TRUE)
  else()
    set(PACKAGE_VERSION_COMPATIBLE FALSE)
  endif()
  if(PACKAGE_VERSION VERSION_EQUAL PACKAGE_FIND_VERSION)
    set(PACKAGE_VERSION_EXACT TRUE)
  endif()
endif()
