// Kernels, part 3: the tiled kernel layout (pack/tiled.hpp) is a pure,
// reversible repack for every width, granularity, tile height and shape.
#include <doctest/doctest.h>

#include <cstring>

#include <lowbit/pack/tiled.hpp>

#include "test_kernels_common.hpp"

using namespace lowbit;

static_assert(planes_of(8).count == 2 && planes_of(8).width[1] == 4, "8 = 4 + 4");
static_assert(planes_of(7).count == 3 && planes_of(7).shift[2] == 6, "7 = 4 + 2 + 1");
static_assert(planes_of(5).count == 2 && planes_of(5).width[1] == 1, "5 = 4 + 1");
static_assert(planes_of(3).count == 2 && planes_of(3).width[0] == 2, "3 = 2 + 1");

template <class S, int R>
void check_round_trip() {
    for (const auto& sh : kt::shapes()) {
        CAPTURE(sh.N);
        CAPTURE(sh.K);
        const auto q = kt::make_matrix<S>(sh.N, sh.K, static_cast<unsigned>(sh.N * 31 + sh.K), sh.K % 2 == 1);
        auto t = repack_tiled<R>(q.view());
        REQUIRE(t.ok());
        CHECK(t->codes.size() == t->tiles * t->chunks * R * 32 * S::bits);
        // R rows of one chunk are adjacent, and a plane holds each code's bits unsplit.
        if (sh.N > 1 && R > 1) CHECK(t->chunk(0, 0, 1) == t->chunk(0, 0, 0) + 32 * S::bits);
        auto back = unpack_tiled(*t);
        REQUIRE(back.ok());
        const auto a = q.view(), b = back->view();
        REQUIRE(b.rows == a.rows);
        REQUIRE(b.cols == a.cols);
        REQUIRE(b.row_bytes == a.row_bytes);
        CHECK(std::memcmp(a.codes, b.codes, a.rows * a.row_bytes) == 0);
        const std::size_t ns = q.layout().n_scales;
        CHECK(std::memcmp(a.scales, b.scales, ns * sizeof(typename S::scale_storage)) == 0);
        if (!S::is_symmetric) CHECK(std::memcmp(a.zeros, b.zeros, ns) == 0);
        CHECK(q.perm() == back->perm());
        // The same matrix: gemv through both agrees bit for bit.
        const auto x = kt::random_vec(sh.K, 9);
        std::vector<float> y1(sh.N), y2(sh.N);
        REQUIRE(gemv(q, span<const float>(x), span<float>(y1)).ok());
        REQUIRE(gemv(*back, span<const float>(x), span<float>(y2)).ok());
        CHECK(std::memcmp(y1.data(), y2.data(), sh.N * 4) == 0);
    }
}

TEST_CASE_TEMPLATE("tiled layout: repack and unpack are exact inverses", S, scheme<1, per_group<32>>,
                   scheme<2, per_channel, asymmetric>, scheme<3, per_group<64>>, scheme<4, per_group<32>, asymmetric>,
                   scheme<5, per_tensor>, scheme<6, per_group<128>, symmetric, scale_bf16>, scheme<7, per_channel>,
                   scheme<8, per_group<32>, asymmetric, scale_f32>) {
    check_round_trip<S, 4>();
    check_round_trip<S, 1>();
    check_round_trip<S, 7>();
}

TEST_CASE("tiled layout: planes put the low bits first") {
    using S = scheme<3, per_channel>;
    auto q = qmatrix<S>::allocate(1, 256);
    REQUIRE(q.ok());
    std::uint8_t codes[256];
    for (int c = 0; c < 256; ++c) codes[c] = static_cast<std::uint8_t>(c % 8);
    pack_codes<3>(codes, 256, q->mut_view().codes);
    auto t = repack_tiled<4>(q->view());
    REQUIRE(t.ok());
    const std::uint8_t* ch = t->chunk(0, 0, 0);
    // plane 0: 2-bit low parts, four codes per byte: codes 0..3 = 0,1,2,3 -> 0b11100100
    CHECK(ch[0] == 0xe4);
    // plane 1 (after 64 bytes): bit 2 of codes 0..7 = 0,0,0,0,1,1,1,1 -> 0xf0
    CHECK(ch[64] == 0xf0);
}
