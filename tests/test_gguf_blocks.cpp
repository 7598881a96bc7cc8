// GGUF block formats (formats/gguf_blocks.hpp): byte-exact against ggml.
//
// This file is built twice (tests/CMakeLists.txt): at the project's flags, and
// at -O3 -march=native -ffp-contract=fast, where an unguarded K-quant search
// would be contracted into FMAs and stop matching ggml's bytes.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <lowbit/formats/gguf_blocks.hpp>
#include <lowbit/kernels/arch.hpp>

#include "golden.hpp"
#include "test_archs.hpp"

using namespace lowbit;
using namespace lowbit::gguf;
using namespace gguf_golden;

// Defined in test_gguf_blocks_noexcept.cpp, which is compiled with
// -fno-exceptions -fno-rtti: returns 0 when the codecs work there too.
int gguf_blocks_noexcept_smoke();

namespace {

struct golden_type {
    const char* file;  // file-name spelling
    gguf_type type;
};
const golden_type golden_types[] = {
    {"q4_0", gguf_type::q4_0}, {"q4_1", gguf_type::q4_1}, {"q5_0", gguf_type::q5_0}, {"q5_1", gguf_type::q5_1},
    {"q8_0", gguf_type::q8_0}, {"q2_K", gguf_type::q2_K}, {"q3_K", gguf_type::q3_K}, {"q4_K", gguf_type::q4_K},
    {"q5_K", gguf_type::q5_K}, {"q6_K", gguf_type::q6_K},
};

// The golden tests run on every arch this CPU runs (lowbit_test::runnable_archs,
// scalar first): the K-quants' sub-block search follows the kernels' arch (AVX2
// lanes, gguf_search_lanes.hpp). Automatic selection again when a case ends.
// The types whose search depends on the arch (the affine sub-block search,
// fit_affine_subblocks): the others run on the scalar arch only.
bool arch_dependent(gguf_type t) { return t == gguf_type::q2_K || t == gguf_type::q4_K || t == gguf_type::q5_K; }
std::uint32_t bits_of(float f) {
    std::uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    return u;
}

}  // namespace

TEST_CASE("gguf blocks: struct sizes and bits per weight") {
    CHECK(sizeof(block_q4_0) * 8.0 / block_q4_0::values == 4.5);
    CHECK(sizeof(block_q4_1) * 8.0 / block_q4_1::values == 5.0);
    CHECK(sizeof(block_q5_0) * 8.0 / block_q5_0::values == 5.5);
    CHECK(sizeof(block_q5_1) * 8.0 / block_q5_1::values == 6.0);
    CHECK(sizeof(block_q8_0) * 8.0 / block_q8_0::values == 8.5);
    CHECK(sizeof(block_q2_K) * 8.0 / block_q2_K::values == 2.625);
    CHECK(sizeof(block_q3_K) * 8.0 / block_q3_K::values == 3.4375);
    CHECK(sizeof(block_q4_K) * 8.0 / block_q4_K::values == 4.5);
    CHECK(sizeof(block_q5_K) * 8.0 / block_q5_K::values == 5.5);
    CHECK(sizeof(block_q6_K) * 8.0 / block_q6_K::values == 6.5625);
    CHECK(row_size(gguf_type::q4_K, 4096) == 16 * 144);
    CHECK(row_size(gguf_type::f16, 10) == 20);
    CHECK(has_row_codec(gguf_type::q6_K));
    CHECK_FALSE(has_row_codec(gguf_type::i32));
}

TEST_CASE("gguf blocks: quantize_row matches ggml's reference bytes for every type and input") {
    const lowbit_test::arch_scope restore(arch::automatic);  // and again when the case ends
    for (arch ar : lowbit_test::runnable_archs()) {
        REQUIRE(force_arch(ar).ok());
        INFO("arch ", arch_name(ar));
        for (const char* dist : distributions) {
            const std::vector<float> x = read_floats(golden_dir + dist + ".f32");
            REQUIRE_MESSAGE(x.size() == 4096, "missing or short input ", std::string(dist));
            for (const golden_type& t : golden_types) {
                if (ar != arch::scalar && !arch_dependent(t.type)) continue;
                const std::vector<unsigned char> want = read_bytes(golden_dir + dist + "." + t.file + ".bin");
                const auto k = static_cast<std::int64_t>(x.size());
                REQUIRE(want.size() == static_cast<std::size_t>(row_size(t.type, k)));
                std::vector<unsigned char> got(want.size(), 0xcd);
                const status st = quantize_row(t.type, x.data(), got.data(), k);
                INFO("type ", std::string(t.file), ", input ", std::string(dist));
                REQUIRE_MESSAGE(st.ok(), st.message());
                const long diff = first_difference(got.data(), want.data(), want.size());
                INFO("first differing byte ", diff, " (block ", diff / static_cast<long>(type_size(t.type)), ")");
                CHECK(diff == -1);

                // The typed importance-matrix entry point without weights is the reference quantizer.
                std::vector<unsigned char> again(want.size(), 0xcd);
                REQUIRE(quantize(t.type, x.data(), again.data(), 4, k / 4, nullptr).ok());
                CHECK(first_difference(again.data(), want.data(), want.size()) == -1);
            }
        }
    }
}

TEST_CASE("gguf blocks: dequantize_row matches ggml's floats bit for bit") {
    for (const char* dist : distributions) {
        for (const golden_type& t : golden_types) {
            const std::vector<unsigned char> blocks = read_bytes(golden_dir + dist + "." + t.file + ".bin");
            const std::vector<float> want = read_floats(golden_dir + dist + "." + t.file + ".deq.f32");
            REQUIRE(want.size() == 4096);
            std::vector<float> got(want.size(), -1.0f);
            INFO("type ", std::string(t.file), ", input ", std::string(dist));
            REQUIRE(dequantize_row(t.type, blocks.data(), got.data(), static_cast<std::int64_t>(got.size())).ok());
            std::size_t mismatches = 0;
            std::size_t first = 0;
            for (std::size_t i = 0; i < got.size(); ++i) {
                if (bits_of(got[i]) != bits_of(want[i]) && mismatches++ == 0) first = i;
            }
            INFO("first mismatch at ", first);
            CHECK(mismatches == 0);
        }
    }
}

TEST_CASE("gguf blocks: typed entry points agree with the runtime dispatch") {
    const std::vector<float> x = read_floats(golden_dir + "gaussian.f32");
    REQUIRE(x.size() == 4096);
    std::vector<block_q4_K> q4k(16);
    std::vector<unsigned char> viaswitch(16 * sizeof(block_q4_K));
    REQUIRE(quantize_row_q4_K(x.data(), q4k.data(), 4096).ok());
    REQUIRE(quantize_row(gguf_type::q4_K, x.data(), viaswitch.data(), 4096).ok());
    CHECK(std::memcmp(q4k.data(), viaswitch.data(), viaswitch.size()) == 0);
    std::vector<float> a(4096), b(4096);
    REQUIRE(dequantize_row_q4_K(q4k.data(), a.data(), 4096).ok());
    REQUIRE(dequantize_row(gguf_type::q4_K, viaswitch.data(), b.data(), 4096).ok());
    CHECK(std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
}

// Q8_1 and Q8_K have no goldens; check them against a direct reading of
// their definition (docs/formats.md).
TEST_CASE("gguf blocks: Q8_1 follows its definition") {
    const std::vector<float> x = read_floats(golden_dir + "laplace.f32");
    REQUIRE(x.size() == 4096);
    std::vector<block_q8_1> q(128);
    REQUIRE(quantize_row_q8_1(x.data(), q.data(), 4096).ok());
    std::vector<float> back(4096);
    REQUIRE(dequantize_row_q8_1(q.data(), back.data(), 4096).ok());
    for (int b = 0; b < 128; ++b) {
        const float* xb = x.data() + 32 * b;
        float amax = 0.0f;
        for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(xb[j]));
        const float d = amax / 127.0f;  // the f32 scale; the block keeps it as f16
        CHECK(q[b].d == f32_to_f16(d));
        int sum = 0;
        for (int j = 0; j < 32; ++j) {
            const int want = static_cast<int>(std::round(xb[j] * (1.0f / d)));
            CHECK(q[b].qs[j] == want);
            sum += want;
            CHECK(bits_of(back[32 * b + j]) == bits_of(static_cast<float>(q[b].qs[j]) * f16_to_f32(q[b].d)));
        }
        CHECK(q[b].s == f32_to_f16(static_cast<float>(sum) * d));
    }
    // Q8_0 is the same code computation without the sum.
    std::vector<block_q8_0> q0(128);
    REQUIRE(quantize_row_q8_0(x.data(), q0.data(), 4096).ok());
    for (int b = 0; b < 128; ++b) {
        CHECK(q0[b].d == q[b].d);
        CHECK(std::memcmp(q0[b].qs, q[b].qs, 32) == 0);
    }
}

TEST_CASE("gguf blocks: Q8_K follows its definition") {
    for (const char* dist : {"gaussian", "negative", "outlier", "zeros"}) {
        INFO("input ", std::string(dist));
        const std::vector<float> x = read_floats(golden_dir + dist + ".f32");
        REQUIRE(x.size() == 4096);
        std::vector<block_q8_K> q(16);
        REQUIRE(quantize_row_q8_K(x.data(), q.data(), 4096).ok());
        std::vector<float> back(4096);
        REQUIRE(dequantize_row_q8_K(q.data(), back.data(), 4096).ok());
        for (int b = 0; b < 16; ++b) {
            const float* xb = x.data() + 256 * b;
            float amax = 0.0f, max = 0.0f;  // signed value of largest magnitude, first one wins
            for (int j = 0; j < 256; ++j) {
                if (std::fabs(xb[j]) > amax) {
                    amax = std::fabs(xb[j]);
                    max = xb[j];
                }
            }
            if (amax == 0.0f) {
                CHECK(q[b].d == 0.0f);
                for (int j = 0; j < 256; ++j) CHECK(q[b].qs[j] == 0);
                for (int g = 0; g < 16; ++g) CHECK(q[b].bsums[g] == 0);
                continue;
            }
            const float iscale = -127.0f / max;  // largest magnitude -> -127
            CHECK(bits_of(q[b].d) == bits_of(1.0f / iscale));
            for (int g = 0; g < 16; ++g) {
                int sum = 0;
                for (int i = 0; i < 16; ++i) {
                    const int j = 16 * g + i;
                    const float scaled = iscale * xb[j];
                    const int want = std::min(127, static_cast<int>(std::nearbyint(scaled)));  // ties to even
                    CHECK(q[b].qs[j] == want);
                    sum += q[b].qs[j];
                    CHECK(bits_of(back[j + 256 * b]) == bits_of(q[b].d * static_cast<float>(q[b].qs[j])));
                }
                CHECK(q[b].bsums[g] == sum);
            }
        }
    }
}

TEST_CASE("gguf blocks: plain F32/F16/BF16 rows through the dispatch") {
    const float x[4] = {1.0f, -2.5f, 65504.0f, 1e-8f};
    std::uint16_t h[4];
    float back[4];
    REQUIRE(quantize_row(gguf_type::f16, x, h, 4).ok());
    CHECK(h[0] == 0x3c00);
    CHECK(h[2] == 0x7bff);
    REQUIRE(dequantize_row(gguf_type::f16, h, back, 4).ok());
    CHECK(back[1] == -2.5f);
    REQUIRE(quantize_row(gguf_type::bf16, x, h, 4).ok());
    CHECK(h[0] == 0x3f80);
    float f[4];
    REQUIRE(quantize_row(gguf_type::f32, x, f, 4).ok());
    CHECK(std::memcmp(f, x, sizeof x) == 0);
}

TEST_CASE("gguf blocks: bad lengths, NaN and Inf give a status and leave the output untouched") {
    std::vector<float> x(512, 0.25f);
    std::vector<unsigned char> out(4 * sizeof(block_q8_K), 0xab);
    auto untouched = [&] {
        for (unsigned char c : out) {
            if (c != 0xab) return false;
        }
        return true;
    };

    for (const golden_type& t : golden_types) {
        INFO("type ", std::string(t.file));
        const auto block = static_cast<std::int64_t>(type_block_size(t.type));
        status st = quantize_row(t.type, x.data(), out.data(), block + 1);
        CHECK(st.code() == errc::shape_mismatch);
        CHECK(std::string(st.message()).find("multiple of the block size") != std::string::npos);
        CHECK(untouched());

        std::vector<float> bad = x;
        bad[static_cast<std::size_t>(block) + 3] = std::numeric_limits<float>::quiet_NaN();
        st = quantize_row(t.type, bad.data(), out.data(), 2 * block);
        CHECK(st.code() == errc::non_finite);
        CHECK(std::string(st.message()).find("NaN") != std::string::npos);
        CHECK(untouched());

        bad[static_cast<std::size_t>(block) + 3] = -std::numeric_limits<float>::infinity();
        st = quantize_row(t.type, bad.data(), out.data(), 2 * block);
        CHECK(st.code() == errc::non_finite);
        CHECK(untouched());

        st = quantize(t.type, x.data(), out.data(), 1, block, x.data());  // finite weights
        CHECK(st.ok());
        std::fill(out.begin(), out.end(), static_cast<unsigned char>(0xab));
        st = quantize(t.type, x.data(), out.data(), 1, 2 * block, bad.data());  // weights hold -Inf
        if (t.type != gguf_type::q8_0) {
            CHECK(st.code() == errc::non_finite);
            CHECK(untouched());
        }
        std::fill(out.begin(), out.end(), static_cast<unsigned char>(0xab));

        float y[8];
        st = dequantize_row(t.type, out.data(), y, block - 1);
        CHECK(st.code() == errc::shape_mismatch);
        CHECK(quantize_row(t.type, x.data(), out.data(), -block).code() == errc::invalid_argument);
        CHECK(quantize_row(t.type, nullptr, out.data(), block).code() == errc::invalid_argument);
        CHECK(quantize_row(t.type, x.data(), out.data(), 0).ok());  // nothing to do is fine
    }
    const status st = quantize_row_q4_0(x.data(), reinterpret_cast<block_q4_0*>(out.data()), 33);
    CHECK(st.code() == errc::shape_mismatch);
    CHECK(quantize_row(gguf_type::i32, x.data(), out.data(), 256).code() == errc::unsupported);
    CHECK(dequantize_row(gguf_type::i8, out.data(), x.data(), 256).code() == errc::unsupported);
}

TEST_CASE("gguf blocks: importance-matrix quantization matches ggml's bytes") {
    // Goldens made by make_imatrix_goldens.c (this data folder) with ggml's
    // quantize_<type>(src, dst, 4 rows, 1024 per row, weights).
    const std::vector<float> w = read_floats(golden_dir + "imatrix_weights.f32");
    REQUIRE(w.size() == 1024);
    const golden_type weighted[] = {
        {"q4_0", gguf_type::q4_0}, {"q4_1", gguf_type::q4_1}, {"q5_0", gguf_type::q5_0},
        {"q5_1", gguf_type::q5_1}, {"q2_K", gguf_type::q2_K}, {"q3_K", gguf_type::q3_K},
        {"q4_K", gguf_type::q4_K}, {"q5_K", gguf_type::q5_K}, {"q6_K", gguf_type::q6_K},
    };
    const lowbit_test::arch_scope restore(arch::automatic);  // and again when the case ends
    for (arch ar : lowbit_test::runnable_archs()) {
        REQUIRE(force_arch(ar).ok());
        INFO("arch ", arch_name(ar));
        for (const char* dist : distributions) {
            const std::vector<float> x = read_floats(golden_dir + dist + ".f32");
            REQUIRE(x.size() == 4096);
            for (const golden_type& t : weighted) {
                if (ar != arch::scalar && !arch_dependent(t.type)) continue;
                INFO("type ", std::string(t.file), ", input ", std::string(dist));
                const std::vector<unsigned char> want = read_bytes(golden_dir + dist + "." + t.file + ".imatrix.bin");
                REQUIRE(want.size() == static_cast<std::size_t>(row_size(t.type, 4096)));
                std::vector<unsigned char> got(want.size(), 0xcd);
                const status st = quantize(t.type, x.data(), got.data(), 4, 1024, w.data());
                REQUIRE_MESSAGE(st.ok(), st.message());
                const long diff = first_difference(got.data(), want.data(), want.size());
                INFO("first differing byte ", diff, " (block ", diff / static_cast<long>(type_size(t.type)), ")");
                CHECK(diff == -1);
            }
        }
    }
    // The typed entry point is the same function.
    const std::vector<float> x = read_floats(golden_dir + "laplace.f32");
    std::vector<block_q3_K> q3(16);
    REQUIRE(quantize_q3_K(x.data(), q3.data(), 4, 1024, w.data()).ok());
    const std::vector<unsigned char> want = read_bytes(golden_dir + "laplace.q3_K.imatrix.bin");
    REQUIRE(want.size() == q3.size() * sizeof(block_q3_K));
    CHECK(std::memcmp(q3.data(), want.data(), want.size()) == 0);
}

TEST_CASE("gguf blocks: Q8_1 and Q8_K match ggml's reference bytes") {
    for (const char* dist : distributions) {
        INFO("input ", std::string(dist));
        const std::vector<float> x = read_floats(golden_dir + dist + ".f32");
        REQUIRE(x.size() == 4096);
        for (const golden_type& t : {golden_type{"q8_1", gguf_type::q8_1}, golden_type{"q8_K", gguf_type::q8_K}}) {
            INFO("type ", std::string(t.file));
            const std::vector<unsigned char> want = read_bytes(golden_dir + dist + "." + t.file + ".bin");
            REQUIRE(want.size() == static_cast<std::size_t>(row_size(t.type, 4096)));
            std::vector<unsigned char> got(want.size(), 0xcd);
            REQUIRE(quantize_row(t.type, x.data(), got.data(), 4096).ok());
            CHECK(first_difference(got.data(), want.data(), want.size()) == -1);
        }
    }
}

TEST_CASE("gguf blocks: importance-weighted quantization is sane") {
    // Beyond the goldens: uneven weights on other shapes still give a faithful result.
    const std::vector<float> x = read_floats(golden_dir + "gaussian.f32");
    REQUIRE(x.size() == 4096);
    std::vector<float> w(512);
    for (std::size_t i = 0; i < w.size(); ++i) w[i] = (i % 7 == 0) ? 20.0f : 1.0f;
    for (const golden_type& t : golden_types) {
        INFO("type ", std::string(t.file));
        std::vector<unsigned char> q(static_cast<std::size_t>(row_size(t.type, 4096)));
        REQUIRE(quantize(t.type, x.data(), q.data(), 8, 512, w.data()).ok());
        std::vector<float> back(4096);
        REQUIRE(dequantize_row(t.type, q.data(), back.data(), 4096).ok());
        double err = 0.0, energy = 0.0;
        for (std::size_t i = 0; i < x.size(); ++i) {
            err += (back[i] - x[i]) * (back[i] - x[i]);
            energy += x[i] * x[i];
        }
        const double sqnr_db = 10.0 * std::log10(energy / err);
        CHECK(sqnr_db > 5.0);  // Q2_K sits near 9 dB on Gaussian data, Q8_0 near 40 dB
    }
}

TEST_CASE("gguf blocks: the codecs build and run with -fno-exceptions -fno-rtti") {
    CHECK(gguf_blocks_noexcept_smoke() == 0);
}
