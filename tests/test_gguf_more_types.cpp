// IQ4_NL, IQ4_XS, TQ1_0, TQ2_0 and MXFP4 (formats/gguf_iquants.hpp,
// gguf_ternary.hpp, gguf_mxfp4.hpp): byte-exact against ggml's goldens, their
// tables checked against their definitions, and hostile input refused.
// Part of test_gguf_blocks and test_gguf_blocks_native (the latter at -O3
// -march=native -ffp-contract=fast, where an unguarded search would change bytes).
#include <doctest/doctest.h>

#include <cmath>
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

struct new_type {
    const char* file;
    gguf_type type;
    bool uses_imatrix;  // ggml's quantize_<t> reads the weights
};
const new_type new_types[] = {
    {"iq4_nl", gguf_type::iq4_nl, true}, {"iq4_xs", gguf_type::iq4_xs, true}, {"tq1_0", gguf_type::tq1_0, false},
    {"tq2_0", gguf_type::tq2_0, false},  {"mxfp4", gguf_type::mxfp4, false},
};

// IQ4_NL's reference quantizer leaves an all-zero block's codes to whatever its
// buffer held, so ggml's bytes for the all-zero input are undefined: no golden.
bool has_reference_golden(const new_type& t, const char* dist) {
    return !(t.type == gguf_type::iq4_nl && std::string(dist) == "zeros");
}

}  // namespace

TEST_CASE("gguf new types: geometry agrees with ggml") {
    CHECK(sizeof(block_iq4_nl) * 8.0 / block_iq4_nl::values == 4.5);
    CHECK(sizeof(block_iq4_xs) * 8.0 / block_iq4_xs::values == 4.25);
    CHECK(sizeof(block_tq1_0) * 8.0 / block_tq1_0::values == 1.6875);
    CHECK(sizeof(block_tq2_0) * 8.0 / block_tq2_0::values == 2.0625);
    CHECK(sizeof(block_mxfp4) * 8.0 / block_mxfp4::values == 4.25);
    for (const new_type& t : new_types) CHECK(has_row_codec(t.type));
}

TEST_CASE("gguf new types: quantize_row and quantize match ggml's bytes, with and without an imatrix") {
    const std::vector<float> w = read_floats(golden_dir + "imatrix_weights.f32");
    REQUIRE(w.size() == 1024);
    for (const char* dist : distributions) {
        const std::vector<float> x = read_floats(golden_dir + dist + ".f32");
        REQUIRE(x.size() == 4096);
        for (const new_type& t : new_types) {
            INFO("type ", std::string(t.file), ", input ", std::string(dist));
            const std::size_t bytes = static_cast<std::size_t>(row_size(t.type, 4096));
            const std::string stem = golden_dir + dist + "." + t.file;
            // Reference quantizer (ggml's quantize_row_<t>_ref).
            const std::vector<unsigned char> ref = read_bytes(stem + ".bin");
            if (has_reference_golden(t, dist)) {
                REQUIRE(ref.size() == bytes);
                std::vector<unsigned char> got(bytes, 0xcd);
                const status st = quantize_row(t.type, x.data(), got.data(), 4096);
                REQUIRE_MESSAGE(st.ok(), st.message());
                const long d = first_difference(got.data(), ref.data(), bytes);
                INFO("first differing byte ", d, " (block ", d / static_cast<long>(type_size(t.type)), ")");
                CHECK(d == -1);
            }
            // ggml's quantize_<t> without weights: for IQ4_NL a different search (.noimatrix.bin).
            const std::vector<unsigned char> plain =
                t.type == gguf_type::iq4_nl ? read_bytes(stem + ".noimatrix.bin") : ref;
            REQUIRE(plain.size() == bytes);
            std::vector<unsigned char> got(bytes, 0xcd);
            status st = quantize(t.type, x.data(), got.data(), 4, 1024, nullptr);
            REQUIRE_MESSAGE(st.ok(), st.message());
            long d = first_difference(got.data(), plain.data(), bytes);
            INFO("without imatrix: first differing byte ", d);
            CHECK(d == -1);
            // With the importance weights (ignored by ggml for TQ1_0, TQ2_0, MXFP4).
            const std::vector<unsigned char> weighted = t.uses_imatrix ? read_bytes(stem + ".imatrix.bin") : ref;
            REQUIRE(weighted.size() == bytes);
            std::fill(got.begin(), got.end(), static_cast<unsigned char>(0xcd));
            st = quantize(t.type, x.data(), got.data(), 4, 1024, w.data());
            REQUIRE_MESSAGE(st.ok(), st.message());
            d = first_difference(got.data(), weighted.data(), bytes);
            INFO("with imatrix: first differing byte ", d);
            CHECK(d == -1);
        }
    }
}

TEST_CASE("gguf new types: dequantize_row matches ggml's floats bit for bit") {
    for (const char* dist : distributions) {
        for (const new_type& t : new_types) {
            if (!has_reference_golden(t, dist)) continue;
            INFO("type ", std::string(t.file), ", input ", std::string(dist));
            const std::vector<unsigned char> blocks = read_bytes(golden_dir + dist + "." + t.file + ".bin");
            const std::vector<float> want = read_floats(golden_dir + dist + "." + t.file + ".deq.f32");
            REQUIRE(want.size() == 4096);
            std::vector<float> got(4096, -1.0f);
            REQUIRE(dequantize_row(t.type, blocks.data(), got.data(), 4096).ok());
            CHECK(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)) == 0);
        }
    }
}

TEST_CASE("gguf new types: typed entry points are the dispatch's") {
    const std::vector<float> x = read_floats(golden_dir + "laplace.f32");
    REQUIRE(x.size() == 4096);
    std::vector<block_iq4_xs> xs(16);
    REQUIRE(quantize_row_iq4_xs(x.data(), xs.data(), 4096).ok());
    CHECK(std::memcmp(xs.data(), read_bytes(golden_dir + "laplace.iq4_xs.bin").data(), xs.size() * sizeof(block_iq4_xs)) == 0);
    std::vector<block_tq1_0> t1(16);
    REQUIRE(quantize_tq1_0(x.data(), t1.data(), 4, 1024, nullptr).ok());
    CHECK(std::memcmp(t1.data(), read_bytes(golden_dir + "laplace.tq1_0.bin").data(), t1.size() * sizeof(block_tq1_0)) == 0);
    std::vector<block_mxfp4> mx(128);
    REQUIRE(quantize_row_mxfp4(x.data(), mx.data(), 4096).ok());
    std::vector<float> y(4096);
    REQUIRE(dequantize_row_mxfp4(mx.data(), y.data(), 4096).ok());
    CHECK(std::memcmp(y.data(), read_floats(golden_dir + "laplace.mxfp4.deq.f32").data(), 4096 * sizeof(float)) == 0);
}

TEST_CASE("gguf new types: the level tables follow their definitions") {
    // IQ4: strictly ascending, so nearest-level search by bracketing is well defined.
    for (int i = 1; i < 16; ++i) CHECK(iq4nl_levels[i - 1] < iq4nl_levels[i]);
    CHECK(iq4nl_levels[0] == -127);  // the level the scale search starts on
    // MXFP4: code = sign bit 3, exponent bits 1-2, mantissa bit 0 of E2M1 (bias 1;
    // exponent 0 is subnormal: 0.5 * m). Stored doubled, as integers.
    for (int c = 0; c < 16; ++c) {
        const int e = (c >> 1) & 3, m = c & 1;
        const double mag = e == 0 ? 0.5 * m : std::ldexp(1.0 + 0.5 * m, e - 1);
        const double v = (c & 8) ? -mag : mag;
        CHECK(mxfp4_levels[c] == static_cast<int>(2 * v));
    }
    // E8M0 halved: 2^(e - 128) for every exponent byte.
    for (int e = 0; e < 256; ++e) CHECK(gguf::detail::e8m0_half(static_cast<std::uint8_t>(e)) == std::ldexp(1.0f, e - 128));
}

TEST_CASE("gguf new types: TQ1_0's base-3 bytes give back every trit") {
    // All 3^5 five-trit groups and 3^4 four-trit groups survive pack and unpack.
    for (int v = 0; v < 243; ++v) {
        int t[5];
        for (int i = 0, r = v; i < 5; ++i, r /= 3) t[4 - i] = r % 3;
        const std::uint8_t b = gguf::detail::pack_trits(t, 5);
        for (int i = 0; i < 5; ++i) CHECK(gguf::detail::unpack_trit(b, i) == t[i]);
        if (v < 81) {
            const std::uint8_t b4 = gguf::detail::pack_trits(t + 1, 4);
            for (int i = 0; i < 4; ++i) CHECK(gguf::detail::unpack_trit(b4, i) == t[1 + i]);
        }
    }
}

TEST_CASE("gguf new types: round trips") {
    const std::vector<float> x = read_floats(golden_dir + "gaussian.f32");
    REQUIRE(x.size() == 4096);
    for (const new_type& t : new_types) {
        INFO("type ", std::string(t.file));
        const std::size_t bytes = static_cast<std::size_t>(row_size(t.type, 4096));
        std::vector<unsigned char> q(bytes), q2(bytes);
        std::vector<float> y(4096), y2(4096);
        REQUIRE(quantize(t.type, x.data(), q.data(), 4, 1024, nullptr).ok());
        REQUIRE(dequantize_row(t.type, q.data(), y.data(), 4096).ok());
        // Decoded values are on the format's grid: quantizing them again reproduces them.
        REQUIRE(quantize(t.type, y.data(), q2.data(), 4, 1024, nullptr).ok());
        REQUIRE(dequantize_row(t.type, q2.data(), y2.data(), 4096).ok());
        if (t.type != gguf_type::iq4_xs && t.type != gguf_type::iq4_nl) {
            CHECK(std::memcmp(y.data(), y2.data(), 4096 * sizeof(float)) == 0);
        }
        double err = 0, ref = 0;
        for (int i = 0; i < 4096; ++i) {
            err += (y[i] - x[i]) * (y[i] - x[i]);
            ref += x[i] * x[i];
        }
        const double rel = std::sqrt(err / ref);
        // Relative RMS error measured on this input: IQ4_NL 0.076, IQ4_XS 0.077,
        // MXFP4 0.112, TQ1_0/TQ2_0 0.786 (three levels scaled to the block's
        // largest value: most Gaussian values round to 0). Bounds leave room.
        const double bound = (t.type == gguf_type::tq1_0 || t.type == gguf_type::tq2_0) ? 0.85
                             : t.type == gguf_type::mxfp4                                 ? 0.15
                                                                                          : 0.10;
        CHECK(rel < bound);
    }
    // Ternary values decode to exactly -d, 0 or d.
    std::vector<block_tq2_0> t2(16);
    REQUIRE(quantize_row_tq2_0(x.data(), t2.data(), 4096).ok());
    std::vector<float> y(4096);
    REQUIRE(dequantize_row_tq2_0(t2.data(), y.data(), 4096).ok());
    for (int i = 0; i < 4096; ++i) {
        const float d = lowbit::f16_to_f32(t2[static_cast<std::size_t>(i / 256)].d);
        CHECK((y[i] == 0.0f || y[i] == d || y[i] == -d));
    }
    // The all-zero input through IQ4_NL's reference quantizer: scale 0, all zeros back.
    const std::vector<float> zeros(4096, 0.0f);
    std::vector<block_iq4_nl> nl(128);
    REQUIRE(quantize_row_iq4_nl(zeros.data(), nl.data(), 4096).ok());
    REQUIRE(dequantize_row_iq4_nl(nl.data(), y.data(), 4096).ok());
    for (const block_iq4_nl& b : nl) CHECK(b.d == 0);
    for (float v : y) CHECK(v == 0.0f);
}

TEST_CASE("gguf new types: hostile input gives a status and writes nothing") {
    std::vector<float> x(1024, 0.25f);
    std::vector<unsigned char> out(8 * 256, 0xab);
    auto untouched = [&] {
        for (unsigned char c : out)
            if (c != 0xab) return false;
        return true;
    };
    for (const new_type& t : new_types) {
        INFO("type ", std::string(t.file));
        const auto block = static_cast<std::int64_t>(type_block_size(t.type));
        status st = quantize_row(t.type, x.data(), out.data(), block + 1);
        CHECK(st.code() == errc::shape_mismatch);
        CHECK(std::string(st.message()).find("multiple of the block size") != std::string::npos);
        st = quantize(t.type, x.data(), out.data(), 2, block + 16, nullptr);
        CHECK(st.code() == errc::shape_mismatch);
        CHECK(std::string(st.message()).find("n_per_row") != std::string::npos);
        CHECK(untouched());

        std::vector<float> bad = x;
        bad[static_cast<std::size_t>(block) + 3] = std::numeric_limits<float>::quiet_NaN();
        st = quantize_row(t.type, bad.data(), out.data(), 2 * block);
        CHECK(st.code() == errc::non_finite);
        CHECK(std::string(st.message()).find("NaN") != std::string::npos);
        st = quantize(t.type, bad.data(), out.data(), 2, block, nullptr);
        CHECK(st.code() == errc::non_finite);
        CHECK(untouched());
        // NaN/Inf weights are refused even by the types that ignore them.
        bad[static_cast<std::size_t>(block) + 3] = std::numeric_limits<float>::infinity();
        st = quantize(t.type, x.data(), out.data(), 1, 2 * block, bad.data());
        CHECK(st.code() == errc::non_finite);
        CHECK(std::string(st.message()).find("quant_weights") != std::string::npos);
        CHECK(untouched());

        CHECK(quantize(t.type, x.data(), out.data(), -1, block, nullptr).code() == errc::invalid_argument);
        CHECK(quantize_row(t.type, nullptr, out.data(), block).code() == errc::invalid_argument);
        CHECK(quantize_row(t.type, x.data(), nullptr, block).code() == errc::invalid_argument);
        CHECK(quantize_row(t.type, x.data(), out.data(), -block).code() == errc::invalid_argument);
        CHECK(quantize(t.type, x.data(), out.data(), std::int64_t{1} << 40, std::int64_t{1} << 30, nullptr).code() ==
              errc::invalid_argument);  // nrow * n_per_row overflows
        // In place (output over the input) is refused.
        CHECK(quantize_row(t.type, x.data(), x.data(), block).code() == errc::invalid_argument);
        CHECK(untouched());
        float y[8];
        CHECK(dequantize_row(t.type, out.data(), y, block - 1).code() == errc::shape_mismatch);
        CHECK(quantize_row(t.type, x.data(), out.data(), 0).ok());
        CHECK(untouched());
    }
}

TEST_CASE("gguf new types: MXFP4's exponent follows log2f just below a power of two") {
    // 128 * (1 - 2^-24) is below 2^7, but its float log2 rounds to 7.0, so ggml
    // (and lowbit) pick e = 7 - 2 + 127 = 132, not 131. The data-never-seen
    // check (docs/formats.md) compared such blocks with ggml byte for byte.
    std::vector<float> x(32, 0.0f);
    x[5] = std::nextafter(128.0f, 0.0f);
    block_mxfp4 b{};
    REQUIRE(quantize_row_mxfp4(x.data(), &b, 32).ok());
    CHECK(b.e == 132);
    x[5] = -0.5f;  // exactly 2^-1: e = -1 - 2 + 127
    REQUIRE(quantize_row_mxfp4(x.data(), &b, 32).ok());
    CHECK(b.e == 124);
    CHECK((b.qs[5] & 0xf) == 14);  // -0.5 = -8 * 2^(124 - 128): level -8 is code 14
    CHECK(b.qs[0] == 0);             // zeros take code 0 (+0), the first of the two zero codes
}

TEST_CASE("gguf new types: magnitudes up to f16's max give finite blocks, mixed with tiny sub-blocks") {
    // The project's rule for every GGUF codec (docs/reliability.md): inputs up
    // to +-65504 decode to finite values; beyond that the f16 scales overflow
    // exactly as ggml's do. Here a super-block mixes 2^-20-sized sub-blocks
    // with ones at f16's max, so IQ4_XS's 6-bit sub-scales span their range.
    std::vector<float> x(1024);
    for (std::size_t i = 0; i < x.size(); ++i) {
        const float mag = (i / 32) % 3 == 0 ? std::ldexp(1.0f, -20) : 20000.0f;
        x[i] = mag * static_cast<float>(static_cast<int>(i % 13) - 6) / 6.0f;
    }
    x[40] = 65504.0f;
    x[999] = -65504.0f;
    for (const new_type& t : new_types) {
        INFO("type ", std::string(t.file));
        std::vector<unsigned char> q(static_cast<std::size_t>(row_size(t.type, 1024)));
        std::vector<float> y(1024);
        REQUIRE(quantize(t.type, x.data(), q.data(), 1, 1024, nullptr).ok());
        REQUIRE(dequantize_row(t.type, q.data(), y.data(), 1024).ok());
        bool finite = true;
        for (float v : y) finite = finite && std::isfinite(v);
        CHECK(finite);
        CHECK(std::fabs(y[40] - 65504.0f) < 0.35f * 65504.0f);
    }
}

TEST_CASE("gguf new types: subnormal rows decode to (near) zero") {
    // Below 2^-126 the scales underflow (TQ: 1/amax is Inf, lround of Inf/NaN
    // as in ggml; MXFP4: the exponent's low byte, as ggml's cast). Whatever
    // the bytes, every value decodes within 1e-37 of its input.
    std::vector<float> x(512);
    for (std::size_t i = 0; i < x.size(); ++i)
        x[i] = std::numeric_limits<float>::denorm_min() * static_cast<float>(i % 17) * (i % 2 ? 1.0f : -1.0f);
    for (const new_type& t : new_types) {
        INFO("type ", std::string(t.file));
        std::vector<unsigned char> q(static_cast<std::size_t>(row_size(t.type, 512)));
        std::vector<float> y(512);
        REQUIRE(quantize_row(t.type, x.data(), q.data(), 512).ok());
        REQUIRE(dequantize_row(t.type, q.data(), y.data(), 512).ok());
        bool close = true;
        for (std::size_t i = 0; i < x.size(); ++i) close = close && std::fabs(y[i] - x[i]) <= 1e-37f;
        CHECK(close);
    }
}
