// QAT run-time twins: each equals its template for the scheme it switches to.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <lowbit/qat.hpp>
#include <lowbit/runtime.hpp>  // dequantize(any_qmatrix): qat/ does not include the kernels

using namespace lowbit;

namespace {
std::vector<float> random_weights(std::size_t n) {
    std::vector<float> v(n);
    std::uint32_t s = 99;
    for (auto& x : v) {
        s = s * 1664525u + 1013904223u;
        x = (static_cast<float>(s >> 8) / 16777216.0f - 0.5f) * 0.2f;
    }
    return v;
}
}  // namespace

TEST_CASE("runtime twins of fake_quantize, backward, init and export match the templates") {
    const std::size_t N = 6, K = 40;
    const auto w = random_weights(N * K);
    for (const char* name : {"w3g16a", "w2pc", "w4pt-bf16", "w1pc-f32"}) {
        CAPTURE(name);
        auto rs = parse_scheme(name);
        REQUIRE(rs);
        auto l = qlayout::make(*rs, N, K);
        REQUIRE(l);
        std::vector<float> steps(l->n_scales), fq(N * K), gw(N * K), gs(l->n_scales), deq(N * K);
        std::vector<std::uint8_t> zeros(l->n_zeros);
        REQUIRE(qat::lsq_init(*rs, {w.data(), N, K}, steps, zeros).ok());
        REQUIRE(qat::project_steps(*rs, steps).ok());
        REQUIRE(qat::fake_quantize(*rs, {w.data(), N, K}, steps, zeros, {fq.data(), N, K}).ok());
        REQUIRE(qat::fake_quantize_backward(*rs, {w.data(), N, K}, steps, zeros, {w.data(), N, K}, {gw.data(), N, K}, gs).ok());
        auto q = qat::export_qmatrix(*rs, {w.data(), N, K}, steps, zeros);
        REQUIRE(q);
        REQUIRE(dequantize(*q, matrix_view<float>(deq.data(), N, K)).ok());
        CHECK(std::memcmp(fq.data(), deq.data(), fq.size() * sizeof(float)) == 0);

        // The same through the template of one scheme.
        if (std::string(name) == "w3g16a") {
            using S = scheme<3, per_group_dynamic, asymmetric, scale_f16>;
            qat::fq_options o;
            o.group = 16;
            std::vector<float> steps2(l->n_scales), fq2(N * K);
            std::vector<std::uint8_t> zeros2(l->n_zeros);
            REQUIRE(qat::lsq_init<S>({w.data(), N, K}, steps2, zeros2, o).ok());
            CHECK(steps2 == steps);
            CHECK(zeros2 == zeros);
            REQUIRE(qat::fake_quantize<S>({w.data(), N, K}, steps2, zeros2, {fq2.data(), N, K}, o).ok());
            CHECK(std::memcmp(fq.data(), fq2.data(), fq.size() * sizeof(float)) == 0);
        }
        std::vector<float> cs(l->n_scales);
        std::vector<std::uint8_t> cz(l->n_zeros);
        REQUIRE(qat::calibrated_init(*rs, {w.data(), N, K}, calibrate::mse{}, cs, cz).ok());
        auto ref = quantize(*rs, matrix_view<const float>(w.data(), N, K), calibrate::mse{});
        REQUIRE(ref);
        REQUIRE(qat::fake_quantize(*rs, {w.data(), N, K}, cs, cz, {fq.data(), N, K}).ok());
        REQUIRE(dequantize(*ref, matrix_view<float>(deq.data(), N, K)).ok());
        CHECK(std::memcmp(fq.data(), deq.data(), fq.size() * sizeof(float)) == 0);
    }
    runtime_scheme bad;
    bad.bits = 9;
    std::vector<float> s(1, 0.1f), o(N * K);
    CHECK(qat::fake_quantize(bad, {w.data(), N, K}, s, {}, {o.data(), N, K}).code() == errc::invalid_argument);
}
