// The lattice i-quants IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S, IQ1_S, IQ1_M
// (formats/gguf_iq_lattice.hpp, gguf_iq_grids.hpp): decoding bit-exact against
// ggml's goldens, the grid tables checked against their definition, hostile
// input refused. Part of test_gguf_blocks and test_gguf_blocks_native.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <lowbit/formats/gguf_blocks.hpp>

#include "golden.hpp"

using namespace lowbit;
using namespace lowbit::gguf;
using namespace gguf_golden;

namespace {

struct lattice_type {
    const char* file;
    gguf_type type;
    double bpw;
    bool encodes;  // lowbit has the encoder (byte-exact on every golden)
};
const lattice_type lattice_types[] = {
    {"iq2_xxs", gguf_type::iq2_xxs, 2.0625, true}, {"iq2_xs", gguf_type::iq2_xs, 2.3125, true},
    {"iq2_s", gguf_type::iq2_s, 2.5625, true},     {"iq3_xxs", gguf_type::iq3_xxs, 3.0625, true},
    {"iq3_s", gguf_type::iq3_s, 3.4375, true},      {"iq1_s", gguf_type::iq1_s, 1.5625, true},
    {"iq1_m", gguf_type::iq1_m, 1.75, true},
};

template <std::size_t N>
bool strictly_ascending(const std::uint16_t (&v)[N]) {
    for (std::size_t i = 1; i < N; ++i)
        if (!(v[i - 1] < v[i])) return false;
    return true;
}
// Every coordinate of every point uses a level that exists (< n_levels), and
// no bits above the point's coordinates are set.
template <std::size_t N>
bool coordinates_in_range(const std::uint16_t (&v)[N], int bits, int coords, int n_levels) {
    for (std::uint16_t p : v) {
        if (p >> (bits * coords)) return false;
        for (int i = 0; i < coords; ++i)
            if (((p >> (bits * i)) & ((1 << bits) - 1)) >= n_levels) return false;
    }
    return true;
}

}  // namespace

TEST_CASE("gguf lattice i-quants: geometry agrees with ggml") {
    for (const lattice_type& t : lattice_types) {
        INFO("type ", t.file);
        CHECK(static_cast<double>(type_size(t.type)) * 8.0 / static_cast<double>(type_block_size(t.type)) == t.bpw);
        CHECK(has_row_decoder(t.type));
        CHECK(has_row_codec(t.type) == t.encodes);  // no encoder: refused (see the hostile-input case)
    }
}

TEST_CASE("gguf lattice i-quants: the grids follow their definition") {
    using namespace iq_grids;
    CHECK(strictly_ascending(iq2xxs_index));
    CHECK(strictly_ascending(iq2xs_index));
    CHECK(strictly_ascending(iq2s_index));
    CHECK(strictly_ascending(iq3xxs_index));
    CHECK(strictly_ascending(iq3s_index));
    CHECK(strictly_ascending(iq1s_index));
    CHECK(coordinates_in_range(iq2xxs_index, 2, 8, 3));
    CHECK(coordinates_in_range(iq2xs_index, 2, 8, 3));
    CHECK(coordinates_in_range(iq2s_index, 2, 8, 3));
    CHECK(coordinates_in_range(iq1s_index, 2, 8, 3));
    CHECK(coordinates_in_range(iq3xxs_index, 3, 4, 8));
    CHECK(coordinates_in_range(iq3s_index, 3, 4, 8));
    // The all-lowest point is first in the two smallest grids.
    CHECK(iq2xxs_index[0] == 0);
    CHECK(iq3xxs_index[0] == 0);
    // IQ3_S's levels are the odd numbers 1..15; IQ3_XXS's are 8l + 4 but for the last, 62.
    for (int l = 0; l < 8; ++l) CHECK(iq3s_levels[l] == 2 * l + 1);
    for (int l = 0; l < 7; ++l) CHECK(iq3xxs_levels[l] == 8 * l + 4);
    CHECK(iq3xxs_levels[7] == 62);
    // Sign bytes: ggml's ksigns_iq2xs has an even number of set bits in every entry.
    for (unsigned s = 0; s < 128; ++s) {
        const unsigned b = iq_sign_byte(s);
        CHECK((b & 127u) == s);
        int set = 0;
        for (unsigned v = b; v; v >>= 1) set += static_cast<int>(v & 1u);
        CHECK(set % 2 == 0);
    }
    CHECK(iq_sign_byte(1) == 129);  // spot checks against ggml's table
    CHECK(iq_sign_byte(3) == 3);
    CHECK(iq_sign_byte(127) == 255);
}

TEST_CASE("gguf lattice i-quants: dequantize_row matches ggml's floats bit for bit") {
    // Goldens: ggml's quantize_<t> with the importance weights, then ggml's
    // dequantize_row_<t> of those bytes (tests/data/gguf_golden/README.md).
    for (const char* input : distributions) {
        for (const lattice_type& t : lattice_types) {
            INFO("type ", t.file, ", input ", input);
            const std::string stem = golden_dir + input + "." + t.file + ".imatrix";
            const std::vector<unsigned char> blocks = read_bytes(stem + ".bin");
            const std::vector<float> want = read_floats(stem + ".deq.f32");
            REQUIRE(blocks.size() == static_cast<std::size_t>(row_size(t.type, 4096)));
            REQUIRE(want.size() == 4096);
            std::vector<float> got(4096, -1.0f);
            const status st = dequantize_row(t.type, blocks.data(), got.data(), 4096);
            REQUIRE_MESSAGE(st.ok(), st.message());
            std::size_t first = 4096;
            for (std::size_t i = 0; i < 4096 && first == 4096; ++i)
                if (std::memcmp(&got[i], &want[i], sizeof(float)) != 0) first = i;
            INFO("first differing value ", first);
            CHECK(first == 4096);
        }
    }
}

TEST_CASE("gguf lattice i-quants: quantize matches ggml's bytes, with and without an imatrix") {
    const std::vector<float> w = read_floats(golden_dir + "imatrix_weights.f32");
    REQUIRE(w.size() == 1024);
    for (const char* input : distributions) {
        const std::vector<float> x = read_floats(golden_dir + input + ".f32");
        REQUIRE(x.size() == 4096);
        for (const lattice_type& t : lattice_types) {
            if (!t.encodes) continue;
            INFO("type ", t.file, ", input ", input);
            const std::size_t bytes = static_cast<std::size_t>(row_size(t.type, 4096));
            const std::string stem = golden_dir + input + "." + t.file;
            auto first_diff = [&](const std::vector<unsigned char>& got, const std::vector<unsigned char>& want) {
                return first_difference(got.data(), want.data(), bytes);
            };
            std::vector<unsigned char> got(bytes, 0xcd);
            status st;
            long d;
            if (requires_imatrix(t.type)) {
                // ggml has no quantizer without weights for these: refused, nothing written.
                st = quantize(t.type, x.data(), got.data(), 4, 1024, nullptr);
                CHECK(st.code() == errc::invalid_argument);
                CHECK(std::string(st.message()).find("importance matrix") != std::string::npos);
                CHECK(quantize_row(t.type, x.data(), got.data(), 4096).code() == errc::invalid_argument);
                CHECK(std::count(got.begin(), got.end(), static_cast<unsigned char>(0xcd)) == static_cast<long>(bytes));
            } else {
                // Without weights: quantize_row (ggml's _ref) and quantize(…, nullptr) give the same bytes.
                const std::vector<unsigned char> plain = read_bytes(stem + ".bin");
                REQUIRE(plain.size() == bytes);
                st = quantize_row(t.type, x.data(), got.data(), 4096);
                REQUIRE_MESSAGE(st.ok(), st.message());
                d = first_diff(got, plain);
                INFO("quantize_row: first differing byte ", d, " (block ", d / static_cast<long>(type_size(t.type)), ")");
                CHECK(d == -1);
                std::fill(got.begin(), got.end(), static_cast<unsigned char>(0xcd));
                st = quantize(t.type, x.data(), got.data(), 4, 1024, nullptr);
                REQUIRE_MESSAGE(st.ok(), st.message());
                d = first_diff(got, plain);
                INFO("quantize without weights: first differing byte ", d);
                CHECK(d == -1);
            }
            // With the importance weights (4 rows of 1024, every row weighted alike).
            const std::vector<unsigned char> weighted = read_bytes(stem + ".imatrix.bin");
            REQUIRE(weighted.size() == bytes);
            std::fill(got.begin(), got.end(), static_cast<unsigned char>(0xcd));
            st = quantize(t.type, x.data(), got.data(), 4, 1024, w.data());
            REQUIRE_MESSAGE(st.ok(), st.message());
            d = first_diff(got, weighted);
            INFO("quantize with weights: first differing byte ", d, " (block ", d / static_cast<long>(type_size(t.type)), ")");
            CHECK(d == -1);
        }
    }
}

TEST_CASE("gguf lattice i-quants: typed entry points are the dispatch's") {
    const std::vector<unsigned char> b = read_bytes(golden_dir + "laplace.iq3_s.imatrix.bin");
    REQUIRE(b.size() == 16 * sizeof(block_iq3_s));
    std::vector<block_iq3_s> blocks(16);
    std::memcpy(blocks.data(), b.data(), b.size());
    std::vector<float> y(4096), y2(4096);
    REQUIRE(dequantize_row_iq3_s(blocks.data(), y.data(), 4096).ok());
    REQUIRE(dequantize_row(gguf_type::iq3_s, blocks.data(), y2.data(), 4096).ok());
    CHECK(std::memcmp(y.data(), y2.data(), 4096 * sizeof(float)) == 0);
    std::vector<block_iq1_m> m(1);
    CHECK(dequantize_row_iq1_m(m.data(), y.data(), 256).ok());
}

TEST_CASE("gguf lattice i-quants: any bytes decode to finite values; bad decode requests are refused") {
    // A hostile file can hold any bytes: every index is in range by
    // construction (the grids are as long as the index fields allow), and only
    // an f16 scale of Inf/NaN can give non-finite values, as in ggml.
    std::vector<unsigned char> bytes(2 * 256);
    std::uint32_t s = 12345;
    for (unsigned char& c : bytes) {
        s = s * 1664525u + 1013904223u;
        c = static_cast<unsigned char>(s >> 24);
    }
    for (const lattice_type& t : lattice_types) {
        INFO("type ", t.file);
        std::vector<unsigned char> q(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(type_size(t.type)));
        // A finite f16 scale (IQ1_M keeps it in the scales' top nibbles: 0x3c00 = 1.0).
        if (t.type == gguf_type::iq1_m) {
            const unsigned char hi[4] = {0x0, 0x0, 0xc, 0x3};
            for (int i = 0; i < 4; ++i) q[48 + 2 * i + 1] = static_cast<unsigned char>((q[48 + 2 * i + 1] & 0x0f) | hi[i] << 4);
        } else {
            q[0] = 0x00;
            q[1] = 0x3c;
        }
        std::vector<float> y(256, -7.0f);
        REQUIRE(dequantize_row(t.type, q.data(), y.data(), 256).ok());
        bool finite = true, bounded = true;
        for (float v : y) {
            finite = finite && std::isfinite(v);
            bounded = bounded && std::fabs(v) <= 62.0f * 15.5f;  // largest level times largest sub-scale
        }
        CHECK(finite);
        CHECK(bounded);

        // Truncated or mis-sized rows and null buffers: a status, nothing written.
        std::fill(y.begin(), y.end(), -7.0f);
        status st = dequantize_row(t.type, q.data(), y.data(), 255);
        CHECK(st.code() == errc::shape_mismatch);
        CHECK(std::string(st.message()).find("block size") != std::string::npos);
        CHECK(dequantize_row(t.type, nullptr, y.data(), 256).code() == errc::invalid_argument);
        CHECK(dequantize_row(t.type, q.data(), nullptr, 256).code() == errc::invalid_argument);
        CHECK(dequantize_row(t.type, q.data(), y.data(), -256).code() == errc::invalid_argument);
        bool untouched = true;
        for (float v : y) untouched = untouched && v == -7.0f;
        CHECK(untouched);
        CHECK(dequantize_row(t.type, q.data(), y.data(), 0).ok());
    }
}

TEST_CASE("gguf lattice i-quants: encoders refuse bad input and write nothing") {
    std::vector<float> x(512, 0.25f);
    const std::vector<float> weights(512, 1.0f);
    std::vector<unsigned char> out(2 * 128, 0xab);
    auto untouched = [&] {
        for (unsigned char c : out)
            if (c != 0xab) return false;
        return true;
    };
    for (const lattice_type& t : lattice_types) {
        if (!t.encodes) continue;
        INFO("type ", t.file);
        const float* wts = weights.data();  // every type accepts weights
        status st = quantize(t.type, x.data(), out.data(), 1, 384, wts);
        CHECK(st.code() == errc::shape_mismatch);
        CHECK(std::string(st.message()).find("n_per_row") != std::string::npos);
        std::vector<float> bad = x;
        bad[300] = std::numeric_limits<float>::quiet_NaN();
        st = quantize(t.type, bad.data(), out.data(), 1, 512, wts);
        CHECK(st.code() == errc::non_finite);
        CHECK(std::string(st.message()).find("NaN") != std::string::npos);
        bad[300] = -std::numeric_limits<float>::infinity();
        st = quantize(t.type, x.data(), out.data(), 1, 512, bad.data());
        CHECK(st.code() == errc::non_finite);
        CHECK(std::string(st.message()).find("quant_weights") != std::string::npos);
        CHECK(quantize(t.type, x.data(), out.data(), -1, 256, wts).code() == errc::invalid_argument);
        CHECK(quantize(t.type, x.data(), nullptr, 1, 256, wts).code() == errc::invalid_argument);
        CHECK(quantize(t.type, x.data(), x.data(), 1, 256, wts).code() == errc::invalid_argument);  // in place
        if (!requires_imatrix(t.type)) {
            CHECK(quantize_row(t.type, x.data(), out.data(), 300).code() == errc::shape_mismatch);
            bad[300] = std::numeric_limits<float>::quiet_NaN();
            CHECK(quantize_row(t.type, bad.data(), out.data(), 512).code() == errc::non_finite);
            CHECK(quantize_row(t.type, x.data(), out.data(), 0).ok());
        }
        CHECK(untouched());
        CHECK(quantize(t.type, x.data(), out.data(), 0, 256, wts).ok());
        CHECK(untouched());
    }
}

TEST_CASE("gguf lattice i-quants: round trips") {
    const std::vector<float> x = read_floats(golden_dir + "gaussian.f32");
    const std::vector<float> w = read_floats(golden_dir + "imatrix_weights.f32");
    REQUIRE(x.size() == 4096);
    REQUIRE(w.size() == 1024);
    for (const lattice_type& t : lattice_types) {
        if (!t.encodes) continue;
        INFO("type ", t.file);
        std::vector<unsigned char> q(static_cast<std::size_t>(row_size(t.type, 4096)));
        std::vector<float> y(4096);
        for (const float* weights : {static_cast<const float*>(nullptr), w.data()}) {
            if (!weights && requires_imatrix(t.type)) continue;
            REQUIRE(quantize(t.type, x.data(), q.data(), 4, 1024, weights).ok());
            REQUIRE(dequantize_row(t.type, q.data(), y.data(), 4096).ok());
            double err = 0, ref = 0;
            int flips = 0;
            for (int i = 0; i < 4096; ++i) {
                err += (y[i] - x[i]) * (y[i] - x[i]);
                ref += x[i] * x[i];
                // IQ3_XXS may flip the sign of its cheapest value per 8; IQ3_S keeps every sign.
                if (y[i] != 0.0f && (y[i] < 0.0f) != (x[i] < 0.0f)) ++flips;
            }
            const double rel = std::sqrt(err / ref);
            // Relative RMS error measured on this input, without / with the
            // weights: IQ3_XXS 0.213 / 0.186, IQ3_S 0.168 / 0.140, IQ2_S
            // 0.265 / 0.256, IQ2_XS − / 0.310, IQ2_XXS − / 0.350, IQ1_S − / 0.501,
            // IQ1_M 0.590 / 0.480. Bounds leave room.
            const double bound = t.type == gguf_type::iq3_xxs ? 0.23
                                 : t.type == gguf_type::iq3_s ? 0.19
                                 : t.type == gguf_type::iq2_s ? 0.29
                                 : t.type == gguf_type::iq2_xs ? 0.33
                                 : t.type == gguf_type::iq2_xxs ? 0.37
                                 : t.type == gguf_type::iq1_s   ? 0.53
                                                                : 0.62;
            CHECK(rel < bound);
            // Types that store all 8 signs (IQ3_S, IQ2_S) keep every sign; the
            // other IQ2/IQ3 types flip at most one value per 8. (IQ1 stores no signs.)
            if (t.type == gguf_type::iq3_s || t.type == gguf_type::iq2_s) CHECK(flips == 0);
            if (t.type != gguf_type::iq1_s && t.type != gguf_type::iq1_m) CHECK(flips <= 4096 / 8);
        }
    }
    // The all-zero input: scale 0, every byte 0, zeros back.
    const std::vector<float> zeros(512, 0.0f);
    std::vector<block_iq3_s> s(2);
    std::memset(s.data(), 0x77, 2 * sizeof(block_iq3_s));
    REQUIRE(quantize_row_iq3_s(zeros.data(), s.data(), 512).ok());
    const auto* bytes = reinterpret_cast<const unsigned char*>(s.data());
    bool all_zero = true;
    for (std::size_t i = 0; i < 2 * sizeof(block_iq3_s); ++i) all_zero = all_zero && bytes[i] == 0;
    CHECK(all_zero);
}
