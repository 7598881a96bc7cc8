// lowbit/kernels/detail/amx_permission.hpp — asks Linux, once, for the right
// to use the AMX tile registers (docs/kernels.md, "AMX").
//
// Linux enables AMX's tile data state lazily: XCR0 has the bits, but the first
// tile instruction of a process that has not asked traps (SIGILL through XFD).
// A process asks with arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA); the
// kernel refuses where the signal stack (sigaltstack) would be too small for
// the 8 KiB of tile data or where the feature is off. Included by arch.hpp only
// (the public headers name no OS interface).
#pragma once

#if defined(__linux__) && (defined(__x86_64__) || defined(_M_X64))
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace lowbit {
namespace detail {

// True when this process may execute tile instructions. Asked at most once
// (thread-safe static); the answer is kept.
inline bool request_amx_permission() noexcept {
#if defined(__linux__) && (defined(__x86_64__) || defined(_M_X64)) && defined(SYS_arch_prctl)
    static const bool granted = [] {
        constexpr long arch_get_xcomp_perm = 0x1022, arch_req_xcomp_perm = 0x1023;  // asm/prctl.h
        constexpr unsigned long xfeature_xtiledata = 18;                           // XCR0 bit of the tile data
        if (syscall(SYS_arch_prctl, arch_req_xcomp_perm, xfeature_xtiledata) != 0) return false;
        unsigned long mask = 0;  // what the process holds now: the request can succeed and grant nothing only on a broken kernel
        if (syscall(SYS_arch_prctl, arch_get_xcomp_perm, &mask) != 0) return false;
        return ((mask >> xfeature_xtiledata) & 1) != 0;
    }();
    return granted;
#else
    return false;  // other OSes: not known to need or grant a request; AMX stays off
#endif
}

}  // namespace detail
}  // namespace lowbit
