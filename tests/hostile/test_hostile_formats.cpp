// Hostile input, formats family: GGUF block codecs (typed and run-time), GGUF
// reader/writer, safetensors, .npy, matmul on GGUF blocks. The readers' fuzzers
// (tests/fuzz) and the truncation / bit-flip tests (test_gguf_file.cpp,
// test_safetensors.cpp) cover hostile *files*; this file covers hostile
// *arguments*. docs/reliability.md.
#include <cmath>
#include <cstring>
#include <vector>

#include <lowbit/formats/codebook.hpp>
#include <lowbit/formats/gguf.hpp>
#include <lowbit/formats/gguf_blocks.hpp>
#include <lowbit/formats/gguf_matmul.hpp>
#include <lowbit/formats/npy.hpp>
#include <lowbit/formats/safetensors.hpp>

#include "hostile_util.hpp"
#include "test_util.hpp"

using namespace lowbit;
using namespace lowbit::gguf;
using namespace hostile;

namespace {
const gguf_type codec_types[] = {gguf_type::q4_0, gguf_type::q4_1, gguf_type::q5_0, gguf_type::q5_1, gguf_type::q8_0,
                                 gguf_type::q8_1, gguf_type::q2_K, gguf_type::q3_K, gguf_type::q4_K, gguf_type::q5_K,
                                 gguf_type::q6_K, gguf_type::q8_K, gguf_type::f16,  gguf_type::bf16, gguf_type::f32};
}  // namespace

TEST_CASE("hostile formats: block codecs on denormal, huge and mixed input") {
    for (gguf_type t : codec_types) {
        CAPTURE(type_name(t));
        const std::size_t k = 512, bytes = static_cast<std::size_t>(row_size(t, k));
        std::vector<unsigned char> q(bytes + 64);
        std::vector<float> x(k), y(k);
        // subnormals only: a group below ggml's 1e-15 threshold is all zeros
        for (std::size_t i = 0; i < k; ++i) x[i] = denorm_() * static_cast<float>(i % 17) * (i % 2 ? 1.0f : -1.0f);
        REQUIRE(quantize_row(t, x.data(), q.data(), k).ok());
        REQUIRE(dequantize_row(t, q.data(), y.data(), k).ok());
        for (std::size_t i = 0; i < k; ++i) CHECK(std::fabs(y[i] - x[i]) <= 1e-37f);
        // magnitudes up to f16's max: finite blocks that decode near the input
        auto g = lowbit_test::gaussian(k, 3);
        for (std::size_t i = 0; i < k; ++i) x[i] = g[i] * 20000.0f;
        x[7] = 65504.0f;
        x[300] = -65504.0f;
        REQUIRE(quantize_row(t, x.data(), q.data(), k).ok());
        REQUIRE(dequantize_row(t, q.data(), y.data(), k).ok());
        for (std::size_t i = 0; i < k; ++i) CHECK(std::isfinite(y[i]));
        // beyond: ggml stores an infinite f16 scale, and so do we (byte-exact); documented
        std::fill(x.begin(), x.end(), 1.0f);
        x[0] = huge_();
        CHECK(quantize_row(t, x.data(), q.data(), k).ok());
    }
}

TEST_CASE("hostile formats: block codecs refuse misaligned, overlapping and null buffers; output untouched") {
    std::vector<float> xv = lowbit_test::gaussian(256, 4);
    for (gguf_type t : codec_types) {
        CAPTURE(type_name(t));
        const std::int64_t k = 256;
        const std::size_t bytes = static_cast<std::size_t>(row_size(t, k));
        // misaligned float input
        sentinel xm(k * 4, 2), out(bytes);
        std::memcpy(xm.base(), xv.data(), k * 4);
        CHECK(says(quantize_row(t, xm.as<const float>(), out.base(), k), "aligned"));
        CHECK(out.untouched());
        // misaligned block output (the plain F16/BF16 rows are byte-wise and accept any address)
        sentinel om(bytes, 1);
        const status s = quantize_row(t, xv.data(), om.base(), k);
        if (t == gguf_type::f16 || t == gguf_type::bf16) {
            CHECK(s.ok());
        } else if (t != gguf_type::f32) {
            CHECK(says(s, "aligned"));
            CHECK(om.untouched());
            CHECK(says(dequantize_row(t, om.base(), reinterpret_cast<float*>(out.base()), k), "aligned"));
            CHECK(out.untouched());
        }
        // output overlapping the input
        std::vector<float> both(k + bytes / 4 + 16);
        std::copy(xv.begin(), xv.end(), both.begin());
        const std::vector<float> keep = both;
        CHECK(says(quantize_row(t, both.data(), both.data() + 8, k), "overlaps"));
        CHECK(both == keep);
        // null with k > 0; k = 0 with null is nothing to do
        CHECK(dequantize_row(t, nullptr, reinterpret_cast<float*>(out.base()), k).code() == errc::invalid_argument);
        CHECK(dequantize_row(t, out.base(), nullptr, k).code() == errc::invalid_argument);
        CHECK(quantize_row(t, nullptr, nullptr, 0).ok());
        CHECK(out.untouched());
        // input or output running past the top of the address space (session 38: the input was read)
        const auto top = static_cast<std::uintptr_t>(UINTPTR_MAX - 511) & ~std::uintptr_t(63);
        CHECK(says(quantize_row(t, reinterpret_cast<const float*>(top), out.base(), k), "runs past the address space"));
        CHECK(says(dequantize_row(t, out.base(), reinterpret_cast<float*>(top), k), "runs past the address space"));
        CHECK(out.untouched());
    }
    // importance-matrix quantization: shape overflow, misaligned weights
    std::vector<unsigned char> out(4096);
    CHECK(says(quantize(gguf_type::q4_K, xv.data(), out.data(), std::int64_t{1} << 60, 256, nullptr), "overflows"));
    sentinel qw(256 * 4, 1);
    CHECK(says(quantize(gguf_type::q4_K, xv.data(), out.data(), 1, 256, qw.as<const float>()), "aligned"));
    CHECK(says(quantize(gguf_type::q4_K, xv.data(), out.data(), 1, 256, reinterpret_cast<const float*>(UINTPTR_MAX - 511)),
               ": quant_weights (256 values) runs past the address space"));
    std::vector<float> qwn(256, 1.0f);
    qwn[5] = nan_();
    CHECK(quantize(gguf_type::q4_K, xv.data(), out.data(), 1, 256, qwn.data()).code() == errc::non_finite);
}

TEST_CASE("hostile formats: readers given a null buffer, and read_f32 into bad outputs") {
    CHECK(says(gguf_file::parse(span<const std::uint8_t>(nullptr, 100)).error(), "null"));
    CHECK(gguf_file::parse(span<const std::uint8_t>()).error().code() == errc::corrupt_data);
    CHECK(says(safetensors::safetensors_file::parse(span<const std::uint8_t>(nullptr, 100)).error(), "null"));
    CHECK(says(parse_npy(nullptr, 100).error(), "null"));
    CHECK(parse_npy(nullptr, 0).error().code() == errc::corrupt_data);
    CHECK(says(write_npy("/nonexistent-dir/x.npy", nullptr, {3, 4}), "null"));
    // buffers whose end wraps past the top of the address space (session 38, detail::check_span: they were read)
    const auto* top = reinterpret_cast<const std::uint8_t*>(static_cast<std::uintptr_t>(UINTPTR_MAX - 63) & ~std::uintptr_t(63));
    CHECK(says(gguf_file::parse(span<const std::uint8_t>(top, 100)).error(), "gguf: bytes (100 values) runs past the address space"));
    CHECK(says(safetensors::safetensors_file::parse(span<const std::uint8_t>(top, 100)).error(), "runs past the address space"));
    CHECK(says(parse_npy(top, 100).error(), "runs past the address space"));
    CHECK(says(write_npy("/nonexistent-dir/x.npy", reinterpret_cast<const float*>(top), {4, 4}), "write_npy: data (16 values) runs past"));

    // a valid safetensors file with one F32 tensor of 4 values
    std::string header = R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
    while (header.size() % 8) header += ' ';
    std::vector<std::uint8_t> file(8 + header.size() + 16);
    const std::uint64_t hl = header.size();
    for (int i = 0; i < 8; ++i) file[i] = static_cast<std::uint8_t>(hl >> (8 * i));
    std::memcpy(file.data() + 8, header.data(), header.size());
    const float vals[4] = {1.0f, nan_(), -inf_(), denorm_()};
    std::memcpy(file.data() + 8 + header.size(), vals, 16);
    auto st = safetensors::safetensors_file::parse(span<const std::uint8_t>(file.data(), file.size()));
    REQUIRE(st);
    const auto* t = st->find_tensor("w");
    REQUIRE(t);
    std::vector<float> out(4);
    REQUIRE(safetensors::read_f32(*t, span<float>(out)).ok());  // non-finite data is returned as stored
    CHECK(same_bits(out.data(), vals, 16));
    CHECK(says(safetensors::read_f32(*t, span<float>(nullptr, 4)), "null"));
    sentinel mis(16, 1);
    CHECK(says(safetensors::read_f32(*t, span<float>(mis.as<float>(), 4)), "aligned"));
    CHECK(mis.untouched());
    CHECK(safetensors::read_f32(*t, span<float>(out.data(), 3)).code() == errc::shape_mismatch);

    // gguf writer: a null chunk with a size
    gguf_writer wr;
    CHECK(says(wr.write_tensor_data(span<const std::uint8_t>(nullptr, 8)), "null"));
    CHECK(says(wr.write_tensor_data(span<const std::uint8_t>(top, 100)), "gguf_writer: chunk (100 values) runs past"));
}

TEST_CASE("hostile formats: matmul on GGUF blocks with hostile activations and buffers") {
    const std::size_t N = 8, K = 256;
    const auto w = lowbit_test::gaussian(N * K, 5);
    std::vector<unsigned char> rows(N * row_size(gguf_type::q4_K, K) + 2);
    REQUIRE(quantize(gguf_type::q4_K, w.data(), rows.data(), N, K, nullptr).ok());
    auto x = lowbit_test::gaussian(K, 6);
    sentinel ys(N * 4);
    const span<float> y(ys.as<float>(), N);
    // denormal activations: a zero block, finite zero outputs
    std::vector<float> xd(K, denorm_());
    std::vector<float> yd(N, 1.0f);
    REQUIRE(gemv(gguf_type::q4_K, rows.data(), N, K, span<const float>(xd), span<float>(yd)).ok());
    for (float v : yd) CHECK(v == 0.0f);
    // NaN / Inf activations cannot be quantized to Q8_K: refused, y untouched
    for (float bad : non_finite_values()) {
        x[100] = bad;
        CHECK(gemv(gguf_type::q4_K, rows.data(), N, K, span<const float>(x), y).code() == errc::non_finite);
    }
    x[100] = 0.5f;
    // misaligned x / weights, overlaps, nulls
    sentinel xm(K * 4, 1);
    std::memcpy(xm.base(), x.data(), K * 4);
    CHECK(says(gemv(gguf_type::q4_K, rows.data(), N, K, span<const float>(xm.as<const float>(), K), y), "aligned"));
    CHECK(says(gemv(gguf_type::q4_K, rows.data() + 1, N, K, span<const float>(x), y), "aligned"));
    CHECK(says(gemv(gguf_type::q4_K, rows.data(), N, K, span<const float>(x),
                    span<float>(reinterpret_cast<float*>(rows.data()), N)),
               "overlaps"));
    CHECK(says(gemv(gguf_type::q4_K, nullptr, N, K, span<const float>(x), y), "null"));
    CHECK(gemv(gguf_type::q4_K, rows.data(), N, 255, span<const float>(x.data(), 255), y).code() == errc::invalid_argument);
    CHECK(gemv(gguf_type::q4_K, rows.data(), N, 0, span<const float>(), y).code() == errc::invalid_argument);
    CHECK(says(gemv(gguf_type::q8_K, rows.data(), N, K, span<const float>(x), y), "not supported"));
    CHECK(ys.untouched());
    CHECK(gemm(gguf_type::q4_K, rows.data(), N, K, matrix_view<const float>(nullptr, 0, K), matrix_view<float>(nullptr, 0, N)).ok());
}

// Session 36 audit: codebook::weighted_error read x without checking it (a null x was dereferenced, a stride
// below k read overlapping rows); quantize and dequantize took views whose rows wrap the address space.
TEST_CASE("hostile formats: codebook entry points refuse null, short-stride, misaligned and wrapping views") {
    const std::size_t N = 4, K = 64;
    const auto w = lowbit_test::gaussian(N * K, 9);
    const matrix_view<const float> wv(w.data(), N, K);
    const auto g = codebook::nf_grid(4);
    auto q = codebook::quantize(wv, g);
    REQUIRE(q);
    CHECK(codebook::weighted_error(wv, q->view()));
    CHECK(says(codebook::weighted_error(matrix_view<const float>(nullptr, N, K), q->view()).error(), "null"));
    CHECK(says(codebook::weighted_error(matrix_view<const float>(w.data(), N, K, 3), q->view()).error(), "stride"));
    std::vector<float> imp(K, 1.0f);
    imp[7] = -1.0f;
    CHECK(says(codebook::weighted_error(wv, q->view(), imp.data()).error(), "importance[7]"));
    // an importance row that is misaligned, or wraps past the top of the address space (session 38; it was read)
    sentinel imis(K * 4, 1);
    CHECK(says(codebook::weighted_error(wv, q->view(), imis.as<const float>()).error(), "importance is not aligned"));
    const auto* itop = reinterpret_cast<const float*>(static_cast<std::uintptr_t>(UINTPTR_MAX - 63) & ~std::uintptr_t(63));
    CHECK(says(codebook::weighted_error(wv, q->view(), itop).error(), "importance (64 values) runs past the address space"));
    CHECK(says(codebook::quantize(matrix_view<const float>(w.data(), N, K, SIZE_MAX / 2), g).error(), "address space"));
    sentinel mis(N * K * 4, 2);
    CHECK(says(codebook::quantize(matrix_view<const float>(mis.as<const float>(), N, K), g).error(), "aligned"));
    sentinel y(N * K * 4);
    CHECK(says(codebook::dequantize(q->view(), matrix_view<float>(y.as<float>(), N, K, SIZE_MAX / 8)), "address space"));
    CHECK(y.untouched());
}
