# Cross compile lowbit for AArch64 Linux with Debian's cross toolchain, and run
# the tests under qemu-user (docs/install.md, "Cross compiling for AArch64").
#
#   apt-get install g++-aarch64-linux-gnu qemu-user doctest-dev
#   cmake -S . -B build-arm -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake
#
# Options (cache variables):
#   LOWBIT_QEMU_CPU   the CPU qemu emulates for CTest (default: max, which has the
#                     Armv8.2 dot product; e.g. cortex-a72 has none)
#   LOWBIT_AARCH64_SYSROOT   the target's libraries (default /usr/aarch64-linux-gnu)
#
# The tests' header-only dependency (doctest) is architecture independent, but
# Debian installs it in /usr/include next to the host's C library headers, a
# directory the cross compiler must not search. So when it is not given
# (LOWBIT_DOCTEST_INCLUDE_DIR, or a CMAKE_PREFIX_PATH holding its CMake
# package), it is exposed through a directory of symlinks in the build tree
# that holds nothing else.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(LOWBIT_AARCH64_TRIPLE aarch64-linux-gnu)
if(NOT LOWBIT_AARCH64_SYSROOT)
  set(LOWBIT_AARCH64_SYSROOT /usr/${LOWBIT_AARCH64_TRIPLE})
endif()
set(CMAKE_C_COMPILER ${LOWBIT_AARCH64_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${LOWBIT_AARCH64_TRIPLE}-g++)

# Look for libraries and packages in the target's tree only (never the host's x86
# ones); programs (python3, qemu) on the host.
set(CMAKE_FIND_ROOT_PATH ${LOWBIT_AARCH64_SYSROOT})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

if(NOT LOWBIT_QEMU_CPU)
  set(LOWBIT_QEMU_CPU max)
endif()
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L ${LOWBIT_AARCH64_SYSROOT} -cpu ${LOWBIT_QEMU_CPU})

# The host's header-only packages, through symlinks (see above). Not inside
# try_compile projects, which need neither.
if(NOT CMAKE_PROJECT_NAME STREQUAL "CMAKE_TRY_COMPILE")
  set(_lowbit_host_inc ${CMAKE_BINARY_DIR}/host-headers)
  foreach(_lowbit_pkg doctest)
    string(TOUPPER ${_lowbit_pkg} _lowbit_var)
    if(NOT LOWBIT_${_lowbit_var}_INCLUDE_DIR AND EXISTS /usr/include/${_lowbit_pkg})
      file(MAKE_DIRECTORY ${_lowbit_host_inc})
      file(CREATE_LINK /usr/include/${_lowbit_pkg} ${_lowbit_host_inc}/${_lowbit_pkg} SYMBOLIC)
      set(LOWBIT_${_lowbit_var}_INCLUDE_DIR ${_lowbit_host_inc} CACHE PATH "${_lowbit_pkg} headers (host, architecture independent)")
    endif()
  endforeach()
endif()
