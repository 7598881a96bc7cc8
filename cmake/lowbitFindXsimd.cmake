# lowbit_find_xsimd(): find xsimd and make the target `xsimd` usable.
#
# - xsimd rejects version ranges across majors, so we ask for any version and
#   check the supported range (8.1 .. 14.x) ourselves.
# - Debian's xsimd 8.1 config exports `xsimd` with INTERFACE_LINK_LIBRARIES
#   "xtl", a dependency that does not exist: consumers then fail to link with
#   "-lxtl". We drop that item when no xtl target exists.
# - Without an xsimd CMake config (vendored headers) we fall back to the header.
macro(lowbit_find_xsimd)
  if(NOT TARGET xsimd)
    find_package(xsimd CONFIG QUIET)
  endif()
  if(NOT TARGET xsimd)
    find_path(LOWBIT_XSIMD_INCLUDE_DIR xsimd/xsimd.hpp)
    if(NOT LOWBIT_XSIMD_INCLUDE_DIR)
      message(FATAL_ERROR "lowbit: xsimd not found. Install it (Debian: apt-get install libxsimd-dev; "
                          "vcpkg/conan: xsimd) or set CMAKE_PREFIX_PATH / LOWBIT_XSIMD_INCLUDE_DIR.")
    endif()
    add_library(xsimd INTERFACE IMPORTED)
    set_target_properties(xsimd PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${LOWBIT_XSIMD_INCLUDE_DIR}")
  endif()
  if(DEFINED xsimd_VERSION AND NOT "${xsimd_VERSION}" STREQUAL "")
    if(xsimd_VERSION VERSION_LESS 8.1 OR xsimd_VERSION VERSION_GREATER_EQUAL 15)
      message(FATAL_ERROR "lowbit: xsimd ${xsimd_VERSION} found; lowbit supports xsimd 8.1 to 14.x")
    endif()
  endif()
  get_target_property(_lowbit_xsimd_links xsimd INTERFACE_LINK_LIBRARIES)
  if(_lowbit_xsimd_links AND NOT TARGET xtl)
    list(REMOVE_ITEM _lowbit_xsimd_links xtl)
    set_target_properties(xsimd PROPERTIES INTERFACE_LINK_LIBRARIES "${_lowbit_xsimd_links}")
  endif()
  unset(_lowbit_xsimd_links)
endmacro()
