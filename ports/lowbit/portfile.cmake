# vcpkg overlay port for lowbit (header-only). docs/install.md shows how to use it:
#   vcpkg install lowbit --overlay-ports=<lowbit checkout>/ports
set(VCPKG_BUILD_TYPE release) # header-only: one configuration is enough

# Overlay use: the sources are the checkout this port lives in (ports/lowbit/../..).
# For a registry (curated or your own), replace this with a pinned download, e.g.
#   vcpkg_from_github(
#       OUT_SOURCE_PATH SOURCE_PATH
#       REPO <owner>/lowbit            # lowbit's public repository, once it has one
#       REF "v${VERSION}"
#       SHA512 0                       # vcpkg prints the real hash on the first run
#       HEAD_REF main
#   )
get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)
if(NOT EXISTS "${SOURCE_PATH}/include/lowbit/lowbit.hpp")
    message(FATAL_ERROR "lowbit: ${SOURCE_PATH} is not a lowbit checkout; use this port as an overlay from inside one")
endif()

vcpkg_cmake_configure(
    SOURCE_PATH "${SOURCE_PATH}"
    OPTIONS
        -DLOWBIT_BUILD_TESTS=OFF
        -DLOWBIT_BUILD_EXAMPLES=OFF
        -DLOWBIT_BUILD_BENCH=OFF
        -DLOWBIT_INSTALL=ON
)
vcpkg_cmake_install()
# lowbit installs its CMake package into share/cmake/lowbit; vcpkg wants share/lowbit.
vcpkg_cmake_config_fixup(CONFIG_PATH share/cmake/lowbit)

file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug")
file(GLOB LOWBIT_LEFTOVER "${CURRENT_PACKAGES_DIR}/share/cmake/*")
if(NOT LOWBIT_LEFTOVER)
    file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/share/cmake")
endif()

file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
