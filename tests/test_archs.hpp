// tests/test_archs.hpp — the kernel archs a test can force on this CPU, and a
// scope that forces one and restores automatic selection when it ends.
#pragma once

#include <doctest/doctest.h>

#include <vector>

#include <lowbit/kernels/arch.hpp>

namespace lowbit_test {

// Every arch this CPU (and build) runs, least capable first.
inline std::vector<lowbit::arch> runnable_archs() {
    using lowbit::arch;
    std::vector<arch> v;
    for (arch a : {arch::scalar, arch::sse2, arch::avx2, arch::avx512, arch::avxvnni, arch::avx512vnni, arch::neon,
                   arch::neondot, arch::amx})
        if (lowbit::detail::cpu().has(a)) v.push_back(a);
    return v;
}

struct arch_scope {
    explicit arch_scope(lowbit::arch a) { REQUIRE(lowbit::force_arch(a).ok()); }
    ~arch_scope() { (void)lowbit::force_arch(lowbit::arch::automatic); }
    arch_scope(const arch_scope&) = delete;
    arch_scope& operator=(const arch_scope&) = delete;
};

}  // namespace lowbit_test
