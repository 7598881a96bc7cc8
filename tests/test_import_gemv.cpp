// Imported checkpoint matrices run through lowbit's kernels as they are: an
// act-order GPTQ matrix (input permutation), an AWQ one and a symmetric 3-bit
// one; gemv (every arch path lowbit picks here) against a double-precision
// product of the checkpoint formula's weights.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include <lowbit/formats/awq_checkpoint.hpp>
#include <lowbit/formats/gptq_checkpoint.hpp>
#include <lowbit/kernels.hpp>

#include "import_ckpt_gen.hpp"

namespace {

using namespace lowbit;
namespace ck = lowbit::checkpoint;

// y = W x with W from imported_qmatrix::dequantize_row (checked bit-exact
// against the formula in test_import.cpp), summed in double.
std::vector<double> reference(const ck::imported_qmatrix& m, const std::vector<float>& x, double* scale) {
    std::vector<double> y(m.rows());
    std::vector<float> row(m.cols());
    *scale = 0;
    for (std::size_t n = 0; n < m.rows(); ++n) {
        m.dequantize_row(n, row.data());
        double s = 0, a = 0;
        for (std::size_t k = 0; k < m.cols(); ++k) s += static_cast<double>(row[k]) * x[k], a += std::fabs(static_cast<double>(row[k]) * x[k]);
        y[n] = s;
        *scale = std::max(*scale, a);
    }
    return y;
}

template <class S>
void check_gemv(const ck::imported_qmatrix& m) {
    std::mt19937 rng(5);
    std::normal_distribution<float> nd;
    std::vector<float> x(m.cols()), y(m.rows());
    for (float& v : x) v = nd(rng);
    const auto v = storage_view<qmatrix_view<S>>(m.storage);
    REQUIRE(gemv(v, span<const float>(x.data(), x.size()), span<float>(y.data(), y.size())).ok());
    double scale = 0;
    const std::vector<double> want = reference(m, x, &scale);
    double worst = 0;
    for (std::size_t n = 0; n < y.size(); ++n) worst = std::max(worst, std::fabs(y[n] - want[n]));
    CHECK(worst <= 1e-5 * scale);  // f32 accumulation over K = 256 terms
}

// Bytes of a GPTQ / AWQ layer packed from random codes by the generator.
std::vector<std::uint8_t> gptq_bytes(std::size_t N, std::size_t K, std::size_t G, int b, bool v1, bool act_order, std::uint32_t seed) {
    using namespace import_gen;
    std::mt19937 rng(seed);
    const std::size_t groups = K / G;
    std::vector<std::uint32_t> qw(K * static_cast<std::size_t>(b) / 32 * N), col(K), qz;
    for (std::size_t n = 0; n < N; ++n) {
        for (auto& c : col) c = rng() % (1u << b);
        const auto w = gptq_pack(col, b);
        for (std::size_t r = 0; r < w.size(); ++r) qw[r * N + n] = w[r];
    }
    for (std::size_t g = 0; g < groups; ++g) {
        std::vector<std::uint32_t> z(N);
        for (auto& v : z) v = v1 ? (1u << (b - 1)) - 1 : rng() % (1u << b);  // v1 here: symmetric (stored 2^(b-1) - 1)
        const auto w = gptq_pack(z, b);
        qz.insert(qz.end(), w.begin(), w.end());
    }
    std::vector<std::uint16_t> s(groups * N);
    for (auto& v : s) v = random_scale(rng);
    std::vector<std::uint32_t> gi(K);
    for (std::size_t k = 0; k < K; ++k) gi[k] = static_cast<std::uint32_t>(k / G);
    if (act_order) std::shuffle(gi.begin(), gi.end(), rng);
    return safetensors_bytes({i32_tensor("l.qweight", {K * static_cast<std::size_t>(b) / 32, N}, qw),
                              i32_tensor("l.qzeros", {groups, N * static_cast<std::size_t>(b) / 32}, qz), f16_tensor("l.scales", {groups, N}, s),
                              i32_tensor("l.g_idx", {K}, gi)});
}

}  // namespace

TEST_CASE("imported GPTQ (act-order, asymmetric 4-bit; symmetric 3-bit) and AWQ matrices run through gemv") {
    {
        const auto bytes = gptq_bytes(64, 256, 32, 4, false, true, 80);
        auto f = safetensors::safetensors_file::parse(span<const std::uint8_t>(bytes.data(), bytes.size()));
        REQUIRE(f.ok());
        ck::gptq_config c;
        c.group_size = 32, c.sym = false, c.desc_act = true, c.format = ck::gptq_format::v2;
        auto m = ck::read_gptq(*f, "l", c);
        REQUIRE(m.ok());
        REQUIRE_FALSE(m->storage.perm.empty());
        check_gemv<scheme<4, per_group_dynamic, asymmetric, scale_f16>>(*m);
    }
    {
        const auto bytes = gptq_bytes(64, 256, 64, 3, true, false, 81);
        auto f = safetensors::safetensors_file::parse(span<const std::uint8_t>(bytes.data(), bytes.size()));
        REQUIRE(f.ok());
        ck::gptq_config c;
        c.bits = 3, c.group_size = 64;
        auto m = ck::read_gptq(*f, "l", c);
        REQUIRE(m.ok());
        check_gemv<scheme<3, per_group_dynamic, symmetric, scale_f16>>(*m);
    }
    {
        using namespace import_gen;
        std::mt19937 rng(82);
        const std::size_t K = 256, N = 64, W = N / 8, groups = K / 128;
        std::vector<std::uint32_t> qw(K * W), qz(groups * W);
        for (auto& v : qw) v = static_cast<std::uint32_t>(rng());
        for (auto& v : qz) v = static_cast<std::uint32_t>(rng());
        std::vector<std::uint16_t> s(groups * N);
        for (auto& v : s) v = random_scale(rng);
        const auto bytes = safetensors_bytes({i32_tensor("l.qweight", {K, W}, qw), i32_tensor("l.qzeros", {groups, W}, qz),
                                              f16_tensor("l.scales", {groups, N}, s)});
        auto f = safetensors::safetensors_file::parse(span<const std::uint8_t>(bytes.data(), bytes.size()));
        REQUIRE(f.ok());
        auto m = ck::read_awq(*f, "l", ck::awq_config{});
        REQUIRE(m.ok());
        check_gemv<scheme<4, per_group_dynamic, asymmetric, scale_f16>>(*m);
    }
}
