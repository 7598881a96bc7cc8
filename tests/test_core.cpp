// Core layer: fp16/bf16 conversion, status/result, scheme names.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

#include <lowbit/core.hpp>

using namespace lowbit;

namespace {
// Exact reference rounding via double arithmetic: the nearest binary16 value,
// ties to even, found by scanning candidates around the value.
double f16_value(std::uint16_t h) { return static_cast<double>(f16_to_f32(h)); }
}  // namespace

TEST_CASE("f16: every half value round-trips through float") {
    for (std::uint32_t h = 0; h < 0x10000u; ++h) {
        const float f = f16_to_f32(static_cast<std::uint16_t>(h));
        const std::uint16_t back = f32_to_f16(f);
        if (std::isnan(f)) {
            CHECK((back & 0x7c00u) == 0x7c00u);
            CHECK((back & 0x3ffu) != 0);
        } else {
            REQUIRE(back == h);
        }
    }
}

TEST_CASE("f16: round to nearest even, subnormals, overflow") {
    CHECK(f32_to_f16(0.0f) == 0x0000);
    CHECK(f32_to_f16(-0.0f) == 0x8000);
    CHECK(f32_to_f16(1.0f) == 0x3c00);
    CHECK(f32_to_f16(65504.0f) == 0x7bff);
    CHECK(f32_to_f16(65519.99f) == 0x7bff);
    CHECK(f32_to_f16(65520.0f) == 0x7c00);  // tie between 65504 (odd) and Inf: to even = Inf
    CHECK(f32_to_f16(1e9f) == 0x7c00);
    CHECK(f32_to_f16(-std::numeric_limits<float>::infinity()) == 0xfc00);
    CHECK(f32_to_f16(std::ldexp(1.0f, -24)) == 0x0001);  // smallest subnormal
    CHECK(f32_to_f16(std::ldexp(1.0f, -25)) == 0x0000);  // half of it: tie to even (0)
    CHECK(f32_to_f16(std::ldexp(3.0f, -26)) == 0x0001);  // 0.75 ulp rounds up
    CHECK(f32_to_f16(std::ldexp(3.0f, -25)) == 0x0002);  // 1.5 ulp: tie to even (2)
    CHECK(f32_to_f16(std::ldexp(5.0f, -25)) == 0x0002);  // 2.5 ulp: tie to even (2)
    CHECK(f32_to_f16(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);           // tie -> even
    CHECK(f32_to_f16(1.0f + std::ldexp(3.0f, -11)) == 0x3c02);           // tie -> even (up)
    CHECK(f32_to_f16(std::numeric_limits<float>::denorm_min()) == 0x0000);
    // Random values: the result is the nearest half (checked against neighbours).
    std::uint32_t state = 12345;
    for (int i = 0; i < 200000; ++i) {
        state = state * 1664525u + 1013904223u;
        const float x = bits_to_f32((state & 0x807fffffu) | ((100u + (state >> 24) % 42u) << 23));
        const std::uint16_t h = f32_to_f16(x);
        const double err = std::fabs(f16_value(h) - x);
        const std::uint16_t up = static_cast<std::uint16_t>(h + 1), dn = static_cast<std::uint16_t>(h - 1);
        if ((up & 0x7c00u) != 0x7c00u) REQUIRE(err <= std::fabs(f16_value(up) - x));
        if ((h & 0x7fffu) != 0) REQUIRE(err <= std::fabs(f16_value(dn) - x));
    }
}

TEST_CASE("bf16: round to nearest even, NaN stays NaN") {
    CHECK(f32_to_bf16(1.0f) == 0x3f80);
    CHECK(bf16_to_f32(0x3f80) == 1.0f);
    CHECK(f32_to_bf16(bits_to_f32(0x3f808000u)) == 0x3f80);  // tie, even stays
    CHECK(f32_to_bf16(bits_to_f32(0x3f818000u)) == 0x3f82);  // tie, odd rounds up
    CHECK(f32_to_bf16(bits_to_f32(0x3f808001u)) == 0x3f81);
    CHECK(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
    CHECK(std::isnan(bf16_to_f32(f32_to_bf16(bits_to_f32(0x7f800001u)))));  // signalling NaN with low payload
    CHECK(f32_to_bf16(std::numeric_limits<float>::max()) == 0x7f80);      // rounds to Inf
}

TEST_CASE("status and result carry a message, work without exceptions") {
    status ok;
    CHECK(ok.ok());
    status e = status::error(errc::shape_mismatch, "x has %d elements, expected %d", 3, 4);
    CHECK(!e.ok());
    CHECK(e.code() == errc::shape_mismatch);
    CHECK(std::string(e.message()) == "x has 3 elements, expected 4");
    result<std::string> r = std::string("hello");
    REQUIRE(r);
    CHECK(*r == "hello");
    result<std::string> bad = status::error(errc::invalid_argument, "nope");
    CHECK(!bad);
    CHECK(std::string(bad.error().message()) == "nope");
    result<std::string> copy = r;
    CHECK(copy->size() == 5);
    copy = bad;
    CHECK(!copy);
}

TEST_CASE("scheme names round-trip through parse_scheme") {
    const char* names[] = {"w4g128", "w8pc", "w2g32a", "w1pt", "w3g64-f32", "w5pc-bf16", "w6g7a"};
    for (const char* n : names) {
        auto r = parse_scheme(n);
        REQUIRE_MESSAGE(r, n);
        char buf[64];
        r->name(buf, sizeof buf);
        CHECK(std::string(buf) == n);
    }
    auto w8 = parse_scheme("w8");
    REQUIRE(w8);
    CHECK(w8->gran == granularity::per_channel);
    CHECK(!parse_scheme("w9"));
    CHECK(!parse_scheme("x4"));
    CHECK(!parse_scheme("w4g0"));
    CHECK(!parse_scheme("w4g"));
    CHECK(!parse_scheme("w4g32-f64"));
    CHECK(!parse_scheme(nullptr));
    using S = scheme<4, per_group<128>, asymmetric, scale_bf16>;
    CHECK(S::qmin == 0);
    CHECK(S::qmax == 15);
    CHECK(scheme<4>::qmin == 1);
    CHECK(S::runtime().group == 128);
    CHECK(S::runtime().validate().ok());
}
