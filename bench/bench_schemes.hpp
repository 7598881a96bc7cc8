// bench/bench_schemes.hpp — the schemes every quantized benchmark runs: W8, W4,
// W3, W2 with groups of 32, 128 and per channel (symmetric, f16 scales), and W4
// with groups of 32 and bf16 or f32 scales (the same bodies, the scale type read
// at run time), named as runtime_scheme::name writes them (w4g32, w4g128, w4pc,
// w4g32-bf16, w4g32-f32).
#pragma once

#include <string>

#include "bench_common.hpp"

namespace bench {

template <class S>
std::string scheme_name() {
    char buf[32];
    S::runtime().name(buf, sizeof buf);
    return buf;
}

inline const char* bench_path_name(lowbit::matmul_path p) {
    return p == lowbit::matmul_path::int8_dot ? "int8" : p == lowbit::matmul_path::bf16_dot ? "bf16" : "fma";
}

// Calls f(S{}) for each benchmarked scheme.
template <class F>
void for_each_scheme(F&& f) {
    using namespace lowbit;
    f(scheme<4, per_group<32>>{});
    f(scheme<4, per_group<128>>{});
    f(scheme<4, per_channel>{});
    f(scheme<8, per_group<32>>{});
    f(scheme<8, per_group<128>>{});
    f(scheme<8, per_channel>{});
    f(scheme<3, per_group<32>>{});
    f(scheme<3, per_group<128>>{});
    f(scheme<3, per_channel>{});
    f(scheme<2, per_group<32>>{});
    f(scheme<2, per_group<128>>{});
    f(scheme<2, per_channel>{});
    f(scheme<4, per_group<32>, symmetric, scale_bf16>{});
    f(scheme<4, per_group<32>, symmetric, scale_f32>{});
}

}  // namespace bench
