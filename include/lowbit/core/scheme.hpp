// lowbit/core/scheme.hpp — what a quantized tensor is: bits, granularity,
// symmetry and how scales are stored. See docs/concepts.md for the math.
//
// Compile-time form:  scheme<4, per_group<128>, asymmetric, scale_f16>
// Run-time form:      runtime_scheme{4, granularity::per_group, 128, false, scale_type::f16}
// Every templated entry point has a twin taking runtime_scheme that switches
// onto the template (lowbit/runtime.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <type_traits>

#include "half.hpp"
#include "status.hpp"

namespace lowbit {

// ---- granularity: how many weights share one scale ----------------------------
enum class granularity : std::uint8_t {
    per_tensor,   // one scale for the whole N x K matrix
    per_channel,  // one scale per output row (group = K)
    per_group,    // one scale per G consecutive weights of a row (the last group of a row may be shorter)
};

struct per_tensor {
    static constexpr granularity kind = granularity::per_tensor;
    static constexpr int group = 0;
};
struct per_channel {
    static constexpr granularity kind = granularity::per_channel;
    static constexpr int group = 0;
};
template <int G>
struct per_group {
    static_assert(G >= 1, "group size must be positive");
    static constexpr granularity kind = granularity::per_group;
    static constexpr int group = G;
};
// Group size chosen at run time (tools, file formats). Kernels specialise on
// per_group<G> when G is known at compile time.
struct per_group_dynamic {
    static constexpr granularity kind = granularity::per_group;
    static constexpr int group = 0;
};

// ---- symmetry --------------------------------------------------------------------
// symmetric:  x ~ s * (u - 2^(b-1)), u in [1, 2^b - 1]: codes are signed values
//             in [-(2^(b-1) - 1), 2^(b-1) - 1] stored offset-binary. The range is
//             restricted (one code unused) so that q(-x) = -q(x).
//             1 bit is the exception: x ~ s * (u - 1/2), i.e. +-s/2 (binarisation).
// asymmetric: x ~ s * (u - z), u in [0, 2^b - 1], integer zero point z in the same
//             range, so that 0 is exactly representable.
struct symmetric {
    static constexpr bool is_symmetric = true;
};
struct asymmetric {
    static constexpr bool is_symmetric = false;
};

// ---- scale storage ----------------------------------------------------------------
enum class scale_type : std::uint8_t { f32, f16, bf16 };

struct scale_f32 {
    static constexpr scale_type value = scale_type::f32;
    using storage = float;
    static storage encode(float s) noexcept { return s; }
    static float decode(storage s) noexcept { return s; }
};
struct scale_f16 {
    static constexpr scale_type value = scale_type::f16;
    using storage = std::uint16_t;
    static storage encode(float s) noexcept { return f32_to_f16(s); }
    static float decode(storage s) noexcept { return f16_to_f32(s); }
};
struct scale_bf16 {
    static constexpr scale_type value = scale_type::bf16;
    using storage = std::uint16_t;
    static storage encode(float s) noexcept { return f32_to_bf16(s); }
    static float decode(storage s) noexcept { return bf16_to_f32(s); }
};

inline int scale_bits(scale_type t) noexcept { return t == scale_type::f32 ? 32 : 16; }
inline const char* scale_type_name(scale_type t) noexcept {
    return t == scale_type::f32 ? "f32" : t == scale_type::f16 ? "f16" : "bf16";
}

// Largest stored code and the constant zero point of symmetric schemes.
constexpr int max_code(int bits) noexcept { return (1 << bits) - 1; }
constexpr int min_code(int bits, bool symmetric) noexcept { return symmetric && bits > 1 ? 1 : 0; }
constexpr float symmetric_zero(int bits) noexcept { return bits == 1 ? 0.5f : static_cast<float>(1 << (bits - 1)); }

// ---- the run-time description ------------------------------------------------------
struct runtime_scheme {
    int bits = 4;
    granularity gran = granularity::per_group;
    int group = 128;  // used when gran == per_group
    bool symmetric = true;
    scale_type scale = scale_type::f16;

    status validate() const noexcept {
        if (bits < 1 || bits > 8) return status::error(errc::invalid_argument, "scheme.bits = %d, must be 1..8", bits);
        if (gran == granularity::per_group && group < 1)
            return status::error(errc::invalid_argument, "scheme.group = %d, must be >= 1 for per-group", group);
        if (static_cast<int>(gran) > 2)
            return status::error(errc::invalid_argument, "scheme.gran = %d is not a granularity (per_tensor 0, per_channel 1, per_group 2)",
                                 static_cast<int>(gran));
        if (static_cast<int>(scale) > 2)
            return status::error(errc::invalid_argument, "scheme.scale = %d is not a scale type (f32 0, f16 1, bf16 2)",
                                 static_cast<int>(scale));
        return {};
    }

    // Short name: w<bits>{g<G>|pc|pt}[a][-f32|-bf16], e.g. "w4g128", "w8pc", "w4g32a".
    void name(char* buf, std::size_t size) const noexcept {
        char g[24];
        if (gran == granularity::per_group) std::snprintf(g, sizeof g, "g%d", group);
        else std::snprintf(g, sizeof g, "%s", gran == granularity::per_channel ? "pc" : "pt");
        std::snprintf(buf, size, "w%d%s%s%s%s", bits, g, symmetric ? "" : "a", scale == scale_type::f16 ? "" : "-",
                      scale == scale_type::f16 ? "" : scale_type_name(scale));
    }
};

// Parse the short name written by runtime_scheme::name ("w4g32", "w8pc", "w4g128a-bf16").
// "w8" alone means per channel.
inline result<runtime_scheme> parse_scheme(const char* s) noexcept {
    runtime_scheme r;
    if (!s || (s[0] != 'w' && s[0] != 'W'))
        return status::error(errc::invalid_argument, "scheme \"%s\": must start with 'w' (e.g. w4g128)", s ? s : "(null)");
    const char* p = s + 1;
    if (*p < '1' || *p > '8') return status::error(errc::invalid_argument, "scheme \"%s\": bits must be 1..8", s);
    r.bits = *p++ - '0';
    r.gran = granularity::per_channel;
    if (*p == 'g') {
        ++p;
        long g = 0;
        if (*p < '0' || *p > '9') return status::error(errc::invalid_argument, "scheme \"%s\": group size missing after 'g'", s);
        while (*p >= '0' && *p <= '9' && g < 1000000000L) g = g * 10 + (*p++ - '0');
        if (g < 1 || g > 1 << 24) return status::error(errc::invalid_argument, "scheme \"%s\": group size out of range", s);
        r.gran = granularity::per_group;
        r.group = static_cast<int>(g);
    } else if (p[0] == 'p' && p[1] == 'c') {
        p += 2;
    } else if (p[0] == 'p' && p[1] == 't') {
        r.gran = granularity::per_tensor;
        p += 2;
    }
    if (*p == 'a') {
        r.symmetric = false;
        ++p;
    }
    if (*p == '-') {
        ++p;
        if (!std::strcmp(p, "f32")) r.scale = scale_type::f32;
        else if (!std::strcmp(p, "bf16")) r.scale = scale_type::bf16;
        else if (!std::strcmp(p, "f16")) r.scale = scale_type::f16;
        else return status::error(errc::invalid_argument, "scheme \"%s\": unknown scale type \"%s\"", s, p);
        p += std::strlen(p);
    }
    if (*p) return status::error(errc::invalid_argument, "scheme \"%s\": unexpected \"%s\"", s, p);
    return r;
}

// ---- the compile-time description --------------------------------------------------
template <int Bits, class Granularity = per_channel, class Symmetry = symmetric, class Scale = scale_f16>
struct scheme {
    static_assert(Bits >= 1 && Bits <= 8, "lowbit supports 1..8 bits");
    static constexpr int bits = Bits;
    using granularity_type = Granularity;
    using symmetry_type = Symmetry;
    using scale_codec = Scale;
    using scale_storage = typename Scale::storage;
    static constexpr granularity gran = Granularity::kind;
    static constexpr int static_group = Granularity::group;  // 0 unless per_group<G>
    static constexpr bool is_symmetric = Symmetry::is_symmetric;
    static constexpr scale_type scale = Scale::value;
    static constexpr int qmin = min_code(Bits, Symmetry::is_symmetric);
    static constexpr int qmax = max_code(Bits);

    static runtime_scheme runtime(int dynamic_group = 0) noexcept {
        runtime_scheme r;
        r.bits = Bits;
        r.gran = gran;
        r.group = static_group ? static_group : (gran == granularity::per_group ? dynamic_group : 0);
        r.symmetric = is_symmetric;
        r.scale = scale;
        return r;
    }
};

namespace detail {
// The one switch on a validated scheme's width (1..8): returns
// f(std::integral_constant<int, B>{}) for B = bits; the scheme visitors
// (visit_scheme, visit_kernel_scheme, visit_width) go through it.
template <class F>
status switch_width(int bits, F&& f) {
    switch (bits) {
        case 1: return f(std::integral_constant<int, 1>{});
        case 2: return f(std::integral_constant<int, 2>{});
        case 3: return f(std::integral_constant<int, 3>{});
        case 4: return f(std::integral_constant<int, 4>{});
        case 5: return f(std::integral_constant<int, 5>{});
        case 6: return f(std::integral_constant<int, 6>{});
        case 7: return f(std::integral_constant<int, 7>{});
        default: return f(std::integral_constant<int, 8>{});
    }
}
}  // namespace detail

}  // namespace lowbit
