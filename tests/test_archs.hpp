// tests/test_archs.hpp — the kernel archs a test can force on this CPU, and a
// scope that forces one and restores automatic selection when it ends.
#pragma once

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <vector>

#include <lowbit/kernels/arch.hpp>

namespace lowbit_test {

// LOWBIT_TEST_ARCHS=<name>[,<name>...]: the kernel tests force these archs
// only (scripts/test-arm.sh's Cortex-A72 rerun: neon; the other bodies ran
// under `qemu -cpu max`). Unset or empty: every arch. The reference and the
// scalar models the results are compared with are not archs forced here.
inline bool arch_selected(lowbit::arch a) {
    const char* v = std::getenv("LOWBIT_TEST_ARCHS");
    if (!v || !*v) return true;
    return (std::string(",") + v + ",").find(std::string(",") + lowbit::arch_name(a) + ",") != std::string::npos;
}

// Every arch this CPU (and build) runs, least capable first; under
// LOWBIT_TEST_ARCHS those it names. Each name must be one of them: a rerun
// that forced nothing (a misspelt or unsupported arch) fails.
inline std::vector<lowbit::arch> runnable_archs() {
    using lowbit::arch;
    std::vector<arch> v;
    std::string all;
    for (arch a : {arch::scalar, arch::sse2, arch::avx2, arch::avx512, arch::avxvnni, arch::avx512vnni, arch::neon,
                   arch::neondot, arch::amx})
        if (lowbit::detail::cpu().has(a)) {
            all += std::string(",") + lowbit::arch_name(a);
            if (arch_selected(a)) v.push_back(a);
        }
    if (const char* want = std::getenv("LOWBIT_TEST_ARCHS"); want && *want) {
        const std::string w = std::string(",") + want;
        for (std::size_t b = 0; b < w.size();) {
            const std::size_t e = std::min(w.find(',', b + 1), w.size());
            const std::string name = w.substr(b, e - b);  // with its leading comma
            CAPTURE(name);
            CHECK_MESSAGE((all + ",").find(name + ",") != std::string::npos, "LOWBIT_TEST_ARCHS names an arch this CPU does not run");
            b = e;
        }
    }
    return v;
}

struct arch_scope {
    explicit arch_scope(lowbit::arch a) { REQUIRE(lowbit::force_arch(a).ok()); }
    ~arch_scope() { (void)lowbit::force_arch(lowbit::arch::automatic); }
    arch_scope(const arch_scope&) = delete;
    arch_scope& operator=(const arch_scope&) = delete;
};

}  // namespace lowbit_test
