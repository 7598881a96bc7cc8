// The K-quant sub-block search in SIMD lanes (fit_affine_subblocks,
// formats/gguf_blocks.hpp's K-quant codecs) against the scalar fit_affine,
// bit for bit, on every arch this CPU runs, for every (n, nmax, rmin, rdelta,
// nstep, use_mad) the Q2_K / Q4_K / Q5_K codecs use, on random and
// adversarial sub-blocks. docs/formats.md, "How the K-quant scales are chosen".
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <lowbit/formats/gguf_blocks.hpp>
#include <lowbit/kernels/arch.hpp>

#include "test_archs.hpp"

using namespace lowbit;

namespace {

struct search_args {
    const char* who;
    int n, nmax;
    float rmin, rdelta;
    int nstep;
    bool use_mad;
    bool imatrix;  // weights from an importance matrix (else the codec's own rule)
};
// Every call the codecs make (gguf_kquant_grids.hpp).
const search_args callers[] = {
    {"Q2_K", 16, 3, -0.5f, 0.1f, 15, true, false},    {"Q2_K imatrix", 16, 3, -0.9f, 0.05f, 36, false, true},
    {"Q4_K", 32, 15, -1.0f, 0.1f, 20, false, false},  {"Q4_K imatrix", 32, 15, -0.9f, 0.05f, 36, false, true},
    {"Q5_K", 32, 31, -0.5f, 0.1f, 15, false, false},  {"Q5_K imatrix", 32, 31, -0.9f, 0.05f, 36, false, true},
};

std::uint32_t bits_of(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

// Sub-block contents, each kind of adversarial block at least once per batch of 8.
void fill_subblock(int kind, int n, std::mt19937& rng, float* x) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
    switch (kind % 12) {
        case 0: for (int i = 0; i < n; ++i) x[i] = normal(rng); break;
        case 1: for (int i = 0; i < n; ++i) x[i] = 1.5f; break;                 // constant, positive
        case 2: for (int i = 0; i < n; ++i) x[i] = -0.75f; break;               // constant, negative
        case 3: for (int i = 0; i < n; ++i) x[i] = 0.0f; break;                 // zeros
        case 4: for (int i = 0; i < n; ++i) x[i] = 0.01f * normal(rng);         // one outlier
                x[static_cast<int>(rng() % static_cast<unsigned>(n))] = 40.0f; break;
        case 5: for (int i = 0; i < n; ++i) x[i] = -std::fabs(normal(rng)) - 0.1f; break;  // all negative
        case 6: for (int i = 0; i < n; ++i) x[i] = std::fabs(normal(rng)) + 0.1f; break;   // all positive
        case 7: for (int i = 0; i < n; ++i) x[i] = uni(rng) * 1e-39f; break;              // denormals
        case 8: for (int i = 0; i < n; ++i) x[i] = uni(rng) * 6.0e4f; break;              // huge (f16 range)
        case 9: for (int i = 0; i < n; ++i) x[i] = uni(rng) * 1e30f; break;               // huge (f32)
        case 10: for (int i = 0; i < n; ++i) x[i] = (i % 2 ? -0.0f : 0.0f); x[n - 1] = 1e-20f; break;  // signed zeros, one tiny
        default: for (int i = 0; i < n; ++i) x[i] = static_cast<float>(static_cast<int>(rng() % 7) - 3) * 0.25f; break;  // ties
    }
}

void fill_weights(const search_args& a, int kind, std::mt19937& rng, const float* x, float* w) {
    std::uniform_real_distribution<float> uni(0.0f, 2.0f);
    for (int i = 0; i < a.n; ++i) {
        if (!a.imatrix) w[i] = a.use_mad ? std::fabs(x[i]) : std::fabs(x[i]) + 0.5f;
        else w[i] = uni(rng) * std::sqrt(0.1f + x[i] * x[i]);
    }
    if (kind % 3 == 0) {  // some weights zero
        for (int i = 0; i < a.n; i += 3) w[i] = 0.0f;
    }
    if (kind % 13 == 5) {  // every weight zero
        for (int i = 0; i < a.n; ++i) w[i] = 0.0f;
    }
}

}  // namespace

TEST_CASE("gguf search lanes: fit_affine_subblocks equals fit_affine bit for bit on every arch") {
    const lowbit_test::arch_scope restore(arch::automatic);  // and again when the case ends
    std::mt19937 rng(20261206);
    const std::vector<arch> archs = lowbit_test::runnable_archs();  // scalar first
    // Each round draws every kind of sub-block (kind = 5 round + 7 j, mod 12).
    const int rounds = std::getenv("LOWBIT_TEST_REDUCED") ? 6 : 16;
    int lanes_seen = 0;
    for (const search_args& a : callers) {
        for (int count : {8, 16, 11, 3}) {
            for (int round = 0; round < rounds; ++round) {
                std::vector<float> x(static_cast<std::size_t>(count * a.n)), w(x.size());
                for (int j = 0; j < count; ++j) {
                    const int kind = round * 5 + j * 7;
                    fill_subblock(kind, a.n, rng, x.data() + a.n * j);
                    fill_weights(a, kind, rng, x.data() + a.n * j, w.data() + a.n * j);
                }
                // The reference: the scalar search, one sub-block at a time.
                std::vector<std::uint8_t> want_L(x.size()), aux(static_cast<std::size_t>(a.n));
                std::vector<float> want_scale(static_cast<std::size_t>(count)), want_min(want_scale.size());
                for (int j = 0; j < count; ++j) {
                    want_scale[j] = gguf::detail::fit_affine(a.n, a.nmax, x.data() + a.n * j, w.data() + a.n * j,
                                                             want_L.data() + a.n * j, aux.data(), &want_min[j], a.rmin,
                                                             a.rdelta, a.nstep, a.use_mad);
                }
                for (arch ar : archs) {
                    REQUIRE(force_arch(ar).ok());
                    if (gguf::detail::fit_affine_lanes_on(ar) && count >= 8) ++lanes_seen;
                    std::vector<std::uint8_t> L(x.size(), 0xcd);
                    std::vector<float> scale(want_scale.size(), -1.0f), neg_min(want_scale.size(), -1.0f);
                    gguf::detail::fit_affine_subblocks(count, a.n, a.nmax, x.data(), w.data(), L.data(), scale.data(),
                                                       neg_min.data(), a.rmin, a.rdelta, a.nstep, a.use_mad);
                    for (int j = 0; j < count; ++j) {
                        INFO(a.who, ", arch ", arch_name(ar), ", count ", count, ", round ", round, ", sub-block ", j);
                        CHECK(bits_of(scale[j]) == bits_of(want_scale[j]));
                        CHECK(bits_of(neg_min[j]) == bits_of(want_min[j]));
                        CHECK(std::memcmp(L.data() + a.n * j, want_L.data() + a.n * j, static_cast<std::size_t>(a.n)) == 0);
                    }
                }
            }
        }
    }
    // On a CPU with AVX2 the lanes must have run (not only the scalar loop).
    const bool has_avx2 = force_arch(arch::avx2).ok();
    (void)force_arch(arch::automatic);
    if (has_avx2) CHECK(lanes_seen > 0);
}
