// Weights, one description for every layout (weights/): make_weights is the
// one validator per layout and refuses bad fields (including a tiled
// permutation outside [0, cols)); the typed views convert to weights_view and
// back only to their own scheme; repack converts between dense, tiled and
// ggml blocks without changing a bit.
#include <doctest/doctest.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <lowbit/formats/codebook.hpp>
#include <lowbit/formats/gguf_blocks.hpp>
#include <lowbit/weights.hpp>
#include <lowbit/weights/repack.hpp>

#include "test_kernels_common.hpp"

using namespace lowbit;

namespace {

bool same_bytes(const void* a, const void* b, std::size_t n) { return n == 0 || std::memcmp(a, b, n) == 0; }

// An error whose message holds `what`.
bool says(const status& s, const char* what) { return !s.ok() && std::string(s.message()).find(what) != std::string::npos; }

// Two weights hold the same fields and the same bytes in every array.
void check_same(const weights_view& a, const weights_view& b) {
    REQUIRE(a.lay() == b.lay());
    REQUIRE(a.rows() == b.rows());
    REQUIRE(a.cols() == b.cols());
    REQUIRE(a.group() == b.group());
    REQUIRE(a.row_bytes() == b.row_bytes());
    REQUIRE(a.code_bytes() == b.code_bytes());
    REQUIRE(a.scale_bytes() == b.scale_bytes());
    REQUIRE(a.zero_bytes() == b.zero_bytes());
    REQUIRE(a.perm_bytes() == b.perm_bytes());
    CHECK(same_bytes(a.codes(), b.codes(), a.code_bytes()));
    CHECK(same_bytes(a.scales(), b.scales(), a.scale_bytes()));
    CHECK(same_bytes(a.zeros(), b.zeros(), a.zero_bytes()));
    CHECK(same_bytes(a.perm(), b.perm(), a.perm_bytes()));
}

// Random ggml rows of type t whose f16 scales are finite.
std::vector<std::uint8_t> random_ggml(gguf::gguf_type t, std::size_t rows, std::size_t cols, unsigned seed) {
    const std::size_t bb = gguf::type_size(t), n = rows * cols / 32;
    std::vector<std::uint8_t> data(n * bb);
    std::mt19937 rng(seed);
    for (auto& b : data) b = static_cast<std::uint8_t>(rng());
    for (std::size_t i = 0; i < n; ++i) {
        const std::uint16_t d = f32_to_f16(std::ldexp(1.0f + static_cast<float>(rng() % 100) / 100.0f, -static_cast<int>(rng() % 8)));
        std::memcpy(data.data() + i * bb, &d, 2);
    }
    return data;
}

}  // namespace

TEST_CASE("weights: the dense validator refuses bad fields with a status naming them") {
    using S = scheme<4, per_group<32>>;
    const auto q = kt::make_matrix<S>(5, 64, 1, true);
    auto ok = to_weights(q.view());
    REQUIRE(ok.ok());
    CHECK(ok->lay() == layout::dense);
    CHECK(ok->group() == 32);
    CHECK(ok->bytes() == q.bytes());

    weights_desc d = q.view().desc();
    REQUIRE(make_weights(d).ok());
    auto bad = [&](auto edit, errc want) {
        weights_desc e = d;
        edit(e);
        auto r = make_weights(e);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code() == want);
        CHECK(std::strlen(r.error().message()) > 10);
    };
    bad([](weights_desc& e) { e.rows = 0; }, errc::shape_mismatch);
    bad([](weights_desc& e) { e.codes = nullptr; }, errc::invalid_argument);
    bad([](weights_desc& e) { e.scales = nullptr; }, errc::invalid_argument);
    bad([](weights_desc& e) { e.row_bytes = 31; }, errc::invalid_argument);
    bad([](weights_desc& e) { e.group = 48; }, errc::invalid_argument);  // scheme says 32
    bad([](weights_desc& e) { e.scheme.bits = 9; }, errc::invalid_argument);
    bad([](weights_desc& e) { e.scales = static_cast<const std::uint8_t*>(e.scales) + 1; }, errc::invalid_argument);
    bad([](weights_desc& e) { e.lay = static_cast<layout>(7); }, errc::invalid_argument);
    std::vector<std::int32_t> perm(q.perm());
    perm[63] = 64;
    bad([&](weights_desc& e) { e.perm = perm.data(); }, errc::invalid_argument);
    perm[63] = -1;
    bad([&](weights_desc& e) { e.perm = perm.data(); }, errc::invalid_argument);
    weights_desc a = d;
    a.scheme.symmetric = false;  // asymmetric needs zeros
    CHECK_FALSE(make_weights(a).ok());
    // The typed view runs the same validator.
    qmatrix_view<S> v = q.view();
    v.perm = perm.data();
    CHECK_FALSE(v.validate().ok());
    CHECK_FALSE(to_weights(v).ok());
    v = q.view();
    v.group = 64;
    CHECK_FALSE(to_weights(v).ok());
}

TEST_CASE("weights: the tiled validator checks the permutation (issue 15) and the group rule") {
    using S = scheme<4, per_group<32>, asymmetric>;
    const auto q = kt::make_matrix<S>(20, 96, 2, true);
    auto t = repack_tiled(q.view());
    REQUIRE(t.ok());
    REQUIRE(to_weights(t->view()).ok());
    std::vector<std::int32_t> perm(t->perm);
    perm[5] = 96;  // one past the end: the kernels would read x[96]
    tiled_view<S> v = t->view();
    v.perm = perm.data();
    CHECK(v.validate().code() == errc::invalid_argument);
    CHECK(to_weights(v).error().code() == errc::invalid_argument);
    weights_desc d = t->view().desc();
    d.perm = perm.data();
    CHECK(make_weights(d).error().code() == errc::invalid_argument);
    perm[5] = -7;
    CHECK_FALSE(make_weights(d).ok());
    // a permutation, scales or codes ending past the top of the address space (session 38; perm was read)
    const auto top = static_cast<std::uintptr_t>(UINTPTR_MAX - 63) & ~std::uintptr_t(63);  // 64 bytes below the end
    d.perm = reinterpret_cast<const std::int32_t*>(top);
    CHECK(says(make_weights(d).error(), "weights: perm (96 values) runs past the address space"));
    d.perm = nullptr;
    CHECK(make_weights(d).ok());
    weights_desc wr = d;
    wr.scales = reinterpret_cast<const void*>(top);
    CHECK(says(make_weights(wr).error(), "run past the address space"));
    wr = d;
    wr.codes = reinterpret_cast<const std::uint8_t*>(top);
    CHECK(says(make_weights(wr).error(), "run past the address space"));
    d.zeros = nullptr;
    CHECK_FALSE(make_weights(d).ok());
    // Groups must hold whole 32-blocks unless one group spans the row.
    weights_desc g = t->view().desc();
    g.scheme.group = g.group = 48;
    CHECK(make_weights(g).error().code() == errc::unsupported);
    g.scheme.group = g.group = 128;  // >= cols: one group per row
    CHECK(make_weights(g).ok());
    // The stored geometry of a typed view must be the shape's.
    v = t->view();
    v.blocks += 1;
    CHECK_FALSE(v.validate().ok());
}

TEST_CASE("weights: the ggml validator") {
    const auto data = random_ggml(gguf::gguf_type::q4_0, 3, 64, 3);
    auto w = make_ggml_weights(gguf::gguf_type::q4_0, data.data(), 3, 64);
    REQUIRE(w.ok());
    CHECK(w->row_bytes() == 36);
    CHECK(w->code_bytes() == data.size());
    CHECK(make_ggml_weights(gguf::gguf_type::q4_0, data.data(), 3, 48).error().code() == errc::invalid_argument);
    CHECK(make_ggml_weights(gguf::gguf_type::q4_0, nullptr, 3, 64).error().code() == errc::invalid_argument);
    CHECK(make_ggml_weights(gguf::gguf_type::q4_0, data.data() + 1, 3, 64).error().code() == errc::invalid_argument);
    CHECK(make_ggml_weights(gguf::gguf_type::q4_0, data.data(), 0, 64).error().code() == errc::shape_mismatch);
    CHECK(make_ggml_weights(gguf::gguf_type::f32, data.data(), 3, 64).error().code() == errc::unsupported);
    CHECK(make_ggml_weights(static_cast<gguf::gguf_type>(4), data.data(), 3, 64).error().code() == errc::unsupported);
    weights_desc d = w->desc();
    d.row_bytes = 40;
    CHECK_FALSE(make_weights(d).ok());
    // Blocks whose end wraps past the top of the address space (session 38): refused before any kernel reads them.
    const auto* top = reinterpret_cast<const void*>(static_cast<std::uintptr_t>(UINTPTR_MAX - 63) & ~std::uintptr_t(63));
    CHECK(says(make_ggml_weights(gguf::gguf_type::q4_0, top, 3, 64).error(), "run past the address space"));
}

TEST_CASE_TEMPLATE("weights: typed views convert and come back only as their own scheme", S, scheme<3, per_group<64>>,
                   scheme<8, per_channel, asymmetric, scale_f32>, scheme<2, per_tensor, symmetric, scale_bf16>,
                   scheme<5, per_group_dynamic, asymmetric>) {
    const auto q = kt::make_matrix<S>(17, 130, 4, true);
    auto w = to_weights(q.view());
    REQUIRE(w.ok());
    auto back = as_qmatrix<S>(*w);
    REQUIRE(back.ok());
    CHECK(back->codes == q.view().codes);
    CHECK(back->scales == q.view().scales);
    CHECK(back->row_bytes == q.view().row_bytes);
    CHECK(back->group == q.view().group);
    CHECK_FALSE(as_qmatrix<scheme<S::bits == 8 ? 7 : S::bits + 1, typename S::granularity_type, typename S::symmetry_type,
                                  typename S::scale_codec>>(*w)
                     .ok());
    CHECK_FALSE(as_tiled<S>(*w).ok());
    const weights own = to_weights(q);
    check_same(own.view(), *w);
    weights moved = own;  // copies and moves re-point the view at their own arrays
    CHECK(moved.view().codes() != own.view().codes());
    check_same(moved.view(), own.view());
    const weights m2 = std::move(moved);
    check_same(m2.view(), own.view());
    CHECK(moved.empty());
}

TEST_CASE_TEMPLATE("repack: dense -> tiled -> dense is exact and tiled equals repack_tiled", S, scheme<1, per_group<32>>,
                   scheme<3, per_channel, asymmetric>, scheme<4, per_group<64>, symmetric, scale_f32>,
                   scheme<6, per_tensor, asymmetric, scale_bf16>, scheme<7, per_group_dynamic>, scheme<8, per_group<128>, asymmetric>) {
    for (const auto& sh : kt::shapes()) {
        if (S::gran == granularity::per_group && S::static_group && static_cast<std::size_t>(S::static_group) < sh.K &&
            S::static_group % 32)
            continue;
        CAPTURE(sh.N);
        CAPTURE(sh.K);
        const auto q = kt::make_matrix<S>(sh.N, sh.K, static_cast<unsigned>(sh.N + sh.K), sh.K % 2 == 0);
        auto w = to_weights(q.view());
        REQUIRE(w.ok());
        auto t = repack(*w, layout::tiled);
        REQUIRE(t.ok());
        CHECK(t->view().lay() == layout::tiled);
        auto typed = repack_tiled(q.view());
        REQUIRE(typed.ok());
        auto tv = to_weights(typed->view());
        REQUIRE(tv.ok());
        check_same(t->view(), *tv);
        auto as = as_tiled<S>(t->view());
        REQUIRE(as.ok());
        CHECK(as->tiles == typed->tiles);
        CHECK(as->blocks_per_group == typed->blocks_per_group);
        auto d = repack(t->view(), layout::dense);
        REQUIRE(d.ok());
        check_same(d->view(), *w);
        auto same = repack(*w, layout::dense);  // a copy
        REQUIRE(same.ok());
        check_same(same->view(), *w);
    }
}

TEST_CASE("repack: ggml Q4_0 / Q5_0 / Q8_0 <-> dense is lossless and keeps ggml's values") {
    for (auto t : {gguf::gguf_type::q4_0, gguf::gguf_type::q5_0, gguf::gguf_type::q8_0}) {
        CAPTURE(gguf::type_name(t));
        const std::size_t rows = 7, cols = 96;
        const auto data = random_ggml(t, rows, cols, 5 + static_cast<unsigned>(t));
        auto g = make_ggml_weights(t, data.data(), rows, cols);
        REQUIRE(g.ok());
        auto d = repack(*g, layout::dense);
        REQUIRE(d.ok());
        const weights_view dv = d->view();
        CHECK(dv.scheme().bits == (t == gguf::gguf_type::q4_0 ? 4 : t == gguf::gguf_type::q5_0 ? 5 : 8));
        CHECK(dv.group() == 32);
        CHECK(dv.code_bytes() + dv.scale_bytes() == data.size());  // exactly the blocks' bytes
        // Every value equals ggml's dequantization.
        std::vector<float> ref(cols);
        auto check_values = [&](auto tag) {
            using S = decltype(tag);
            auto qv = as_qmatrix<S>(dv);
            REQUIRE(qv.ok());
            for (std::size_t r = 0; r < rows; ++r) {
                REQUIRE(gguf::dequantize_row(t, data.data() + r * g->row_bytes(), ref.data(), static_cast<std::int64_t>(cols)).ok());
                for (std::size_t c = 0; c < cols; ++c) REQUIRE(qv->value(r, c) == ref[c]);
            }
        };
        if (t == gguf::gguf_type::q4_0) check_values(scheme<4, per_group<32>>{});
        else if (t == gguf::gguf_type::q5_0) check_values(scheme<5, per_group<32>>{});
        else check_values(scheme<8, per_group<32>>{});
        auto back = repack(dv, layout::ggml);
        REQUIRE(back.ok());
        CHECK(back->view().ggml_type() == t);
        check_same(back->view(), *g);
        auto tiled_w = repack(*g, layout::tiled);  // ggml -> tiled -> ggml
        REQUIRE(tiled_w.ok());
        auto back2 = repack(tiled_w->view(), layout::ggml);
        REQUIRE(back2.ok());
        check_same(back2->view(), *g);
    }
}

TEST_CASE("repack: conversions without an exact form are refused") {
    const auto k = random_ggml(gguf::gguf_type::q4_0, 1, 256, 9);  // any bytes: only the type matters here
    std::vector<std::uint8_t> qk(gguf::type_size(gguf::gguf_type::q4_K));
    auto g = make_ggml_weights(gguf::gguf_type::q4_K, qk.data(), 1, 256);
    REQUIRE(g.ok());
    CHECK(repack(*g, layout::dense).error().code() == errc::unsupported);
    CHECK(repack(*g, layout::tiled).error().code() == errc::unsupported);
    using S = scheme<4, per_group<64>>;
    const auto q = kt::make_matrix<S>(3, 128, 6, false);
    CHECK(repack(*to_weights(q.view()), layout::ggml).error().code() == errc::unsupported);
    using P = scheme<4, per_group<32>>;
    const auto p = kt::make_matrix<P>(3, 128, 6, true);
    CHECK(repack(*to_weights(p.view()), layout::ggml).error().code() == errc::unsupported);  // a permutation
    CHECK(repack(*to_weights(p.view()), static_cast<layout>(9)).error().code() == errc::invalid_argument);
    using G = scheme<4, per_group<16>>;
    const auto q16 = kt::make_matrix<G>(3, 64, 7, false);
    CHECK(repack(*to_weights(q16.view()), layout::tiled).error().code() == errc::unsupported);
    // codebook weights (here on NF4, not IQ4_NL's grid) have one other layout,
    // tiled_codebook (both ways, lossless: test_codebook.cpp checks the bytes);
    // ggml IQ4_NL <-> codebook: test_codebook_tiled.cpp
    std::vector<float> x(4 * 64);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(static_cast<int>(i * 37 % 29) - 14) / 7.0f;
    auto cw = codebook::quantize(matrix_view<const float>(x.data(), 4, 64), codebook::nf_grid(4));
    REQUIRE(cw.ok());
    for (layout to : {layout::dense, layout::tiled, layout::ggml})
        CHECK(repack(cw->view(), to).error().code() == errc::unsupported);
    CHECK(repack(*to_weights(q.view()), layout::codebook).error().code() == errc::unsupported);
    CHECK(repack(*to_weights(q.view()), layout::tiled_codebook).error().code() == errc::unsupported);
    auto tcw = repack(cw->view(), layout::tiled_codebook);
    REQUIRE(tcw.ok());
    CHECK(tcw->view().lay() == layout::tiled_codebook);
    for (layout to : {layout::dense, layout::tiled, layout::ggml})
        CHECK(repack(tcw->view(), to).error().code() == errc::unsupported);
    auto back = repack(tcw->view(), layout::codebook);
    REQUIRE(back.ok());
    REQUIRE(back->view().code_bytes() == cw->view().code_bytes());
    CHECK(std::memcmp(back->view().codes(), cw->view().codes(), cw->view().code_bytes()) == 0);
    CHECK(repack(cw->view(), layout::codebook).ok());  // a copy
    // IQ4_NL blocks are a codebook, not a dense scheme: the refusal says where they go
    const auto nl = random_ggml(gguf::gguf_type::iq4_nl, 2, 64, 10);
    auto gnl = make_ggml_weights(gguf::gguf_type::iq4_nl, nl.data(), 2, 64);
    REQUIRE(gnl.ok());
    for (layout to : {layout::dense, layout::tiled, layout::tiled_kquant}) {
        auto r = repack(*gnl, to);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code() == errc::unsupported);
    }
    CHECK(std::string(repack(*gnl, layout::dense).error().message()).find("codebook") != std::string::npos);
    CHECK(repack(*gnl, layout::tiled_codebook).ok());
    (void)k;
}
