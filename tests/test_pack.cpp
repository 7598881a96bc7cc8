// Packing layer: dense bit packing for every width and length, the documented
// bit order, qmatrix views over external memory.
#include <doctest/doctest.h>

#include <algorithm>

#include <cstring>
#include <random>
#include <vector>

#include <lowbit/pack.hpp>

#include "test_util.hpp"

using namespace lowbit;

TEST_CASE_TEMPLATE("pack/unpack round trip for every length 0..130", B, std::integral_constant<int, 1>,
                   std::integral_constant<int, 2>, std::integral_constant<int, 3>, std::integral_constant<int, 4>,
                   std::integral_constant<int, 5>, std::integral_constant<int, 6>, std::integral_constant<int, 7>,
                   std::integral_constant<int, 8>) {
    constexpr int bits = B::value;
    std::mt19937 rng(bits);
    for (std::size_t n = 0; n <= 130; ++n) {
        std::vector<std::uint8_t> codes(n), back(n, 0xff);
        for (auto& c : codes) c = static_cast<std::uint8_t>(rng() & ((1u << bits) - 1));
        std::vector<std::uint8_t> packed(packed_bytes(n, bits) + 1, 0xEE);  // +1: a canary byte
        pack_codes<bits>(codes.data(), n, packed.data());
        CHECK(packed.back() == 0xEE);  // nothing written past packed_bytes
        unpack_codes<bits>(packed.data(), n, back.data());
        REQUIRE(back == codes);
        for (std::size_t i = 0; i < n; ++i) REQUIRE(get_code<bits>(packed.data(), i) == codes[i]);
        // the run-time twins give the same bytes
        std::vector<std::uint8_t> packed2(packed_bytes(n, bits));
        REQUIRE(pack_codes(bits, codes.data(), n, packed2.data()).ok());
        CHECK(std::equal(packed2.begin(), packed2.end(), packed.begin()));  // (memcmp of an empty, null vector is UB)
    }
}

TEST_CASE("bit order is little-endian within the stream") {
    const std::uint8_t c4[] = {0x1, 0x2, 0x3};
    std::uint8_t p4[2] = {};
    pack_codes<4>(c4, 3, p4);
    CHECK(p4[0] == 0x21);  // code 0 in the low nibble
    CHECK(p4[1] == 0x03);  // unused high bits are zero
    const std::uint8_t c3[] = {0x5, 0x3, 0x6};  // 101, 011, 110
    std::uint8_t p3[2] = {};
    pack_codes<3>(c3, 3, p3);
    // stream bits: 1 0 1 | 1 1 0 | 0 1 1 -> byte0 = 0b10011101, byte1 = 0b1
    CHECK(p3[0] == 0x9D);
    CHECK(p3[1] == 0x01);
    const std::uint8_t c1[] = {1, 0, 0, 0, 0, 0, 0, 1, 1};
    std::uint8_t p1[2] = {};
    pack_codes<1>(c1, 9, p1);
    CHECK(p1[0] == 0x81);
    CHECK(p1[1] == 0x01);
    CHECK(!pack_codes(9, c1, 9, p1).ok());
    CHECK(!unpack_codes(0, p1, 9, p1).ok());
}

TEST_CASE("pack_codes masks codes wider than the width") {
    const std::uint8_t c[] = {0xF3, 0x1C};
    std::uint8_t p[1] = {};
    pack_codes<2>(c, 2, p);
    CHECK(p[0] == 0x03);  // 0b11 | 0b00 << 2
}

TEST_CASE("qmatrix_view over caller memory with padded rows") {
    using S = scheme<5, per_group<16>, asymmetric, scale_f32>;
    const std::size_t rows = 3, cols = 40;
    auto layout = qlayout::make(S::runtime(), rows, cols);
    REQUIRE(layout);
    CHECK(layout->groups_per_row == 3);
    CHECK(layout->row_bytes == 25);
    const std::size_t row_bytes = 32;  // caller pads rows to 32 bytes
    std::vector<std::uint8_t> codes(rows * row_bytes, 0xCC), zeros(layout->n_zeros);
    std::vector<float> scales(layout->n_scales);
    qmatrix_mut_view<S> mv;
    mv.codes = codes.data();
    mv.scales = scales.data();
    mv.zeros = zeros.data();
    mv.rows = rows;
    mv.cols = cols;
    mv.group = 16;
    mv.row_bytes = row_bytes;
    const std::vector<float> w = lowbit_test::gaussian(rows * cols, 3);
    REQUIRE(quantize_into<S>(matrix_view<const float>(w.data(), rows, cols), mv).ok());
    auto owned = quantize<S>(matrix_view<const float>(w.data(), rows, cols));
    REQUIRE(owned);
    const qmatrix_view<S> a = mv, b = owned->view();
    for (std::size_t r = 0; r < rows; ++r) {
        CHECK(std::memcmp(a.row(r), b.row(r), 25) == 0);
        for (std::size_t i = 25; i < row_bytes; ++i) CHECK(a.row(r)[i] == 0);  // padding cleared
        for (std::size_t c = 0; c < cols; ++c) CHECK(a.value(r, c) == b.value(r, c));
    }
    // inconsistent views are rejected
    qmatrix_view<S> bad = a;
    bad.row_bytes = 10;
    CHECK(!bad.validate().ok());
    bad = a;
    bad.group = 8;
    CHECK(!bad.validate().ok());  // static group 16
    bad = a;
    bad.zeros = nullptr;
    CHECK(!bad.validate().ok());
}
