// Tests of examples/llama/attention.hpp: the blocked causal attention against
// a plain double-precision softmax(Q K^T / sqrt(d)) V, on odd shapes (sizes
// that are not multiples of the blocks), grouped-query heads, the decode path
// over a long KV cache (split into key chunks), large scores, and the same
// bits at every thread count; each on the CPU's own path and, on x86, on the
// AVX2 one (linalg::gemm_acc and std::exp) too. Then avx512.hpp's exp and
// SwiGLU against std::exp.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

#include <lowbit/parallel.hpp>

#include "attention.hpp"
#include "avx512.hpp"

namespace {

struct case_data {
    llama::attention_dims dims;
    std::size_t first = 0, n = 0;  // query positions first .. first + n - 1
    std::vector<float> q, k, v;    // q: n rows of heads * hs; k, v: first + n rows of kv_heads * hs
};

// Uniform values in [-amp, amp) from a fixed xorshift stream.
void fill(std::vector<float>& x, std::uint64_t seed, float amp) {
    std::uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (float& f : x) {
        s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
        f = amp * (static_cast<float>((s * 0x2545F4914F6CDD1Dull) >> 40) / 8388608.0f - 1.0f);
    }
}

case_data make_case(std::size_t n, std::size_t hs, std::size_t group, std::size_t kv_heads, std::size_t first = 0,
                    float amp = 1.0f) {
    case_data c;
    c.dims = {group * kv_heads, kv_heads, hs};
    c.first = first, c.n = n;
    c.q.resize(n * c.dims.heads * hs);
    c.k.resize((first + n) * kv_heads * hs);
    c.v.resize(c.k.size());
    fill(c.q, n * 131 + hs + group, amp);
    fill(c.k, n * 17 + hs * 3 + group, amp);
    fill(c.v, n * 7 + hs * 5 + group, 1.0f);
    return c;
}

template <class Exec>
std::vector<float> run(const case_data& c, Exec& exec) {
    const std::size_t D = c.dims.heads * c.dims.head_size, KV = c.dims.kv_heads * c.dims.head_size;
    std::vector<float> out(c.n * D, -7.0f);
    llama::attention_io io;
    io.q = c.q.data(), io.q_stride = D;
    io.k = c.k.data(), io.v = c.v.data(), io.kv_stride = KV;
    io.out = out.data(), io.out_stride = D;
    llama::causal_attention(c.dims, io, c.first, c.n, exec);
    return out;
}

// The attention of case c in double (the outputs' layout).
std::vector<double> reference(const case_data& c) {
    const std::size_t hs = c.dims.head_size, G = c.dims.group();
    const std::size_t D = c.dims.heads * hs, KV = c.dims.kv_heads * hs;
    std::vector<double> ref(c.n * D), p;
    for (std::size_t i = 0; i < c.n; ++i) {
        const std::size_t keys = c.first + i + 1;
        for (std::size_t h = 0; h < c.dims.heads; ++h) {
            const float* q = c.q.data() + i * D + h * hs;
            const std::size_t off = h / G * hs;
            p.assign(keys, 0.0);
            double mx = -1e300, sum = 0;
            for (std::size_t u = 0; u < keys; ++u) {
                double d = 0;
                for (std::size_t j = 0; j < hs; ++j) d += static_cast<double>(q[j]) * c.k[u * KV + off + j];
                p[u] = d / std::sqrt(static_cast<double>(hs));
                mx = std::max(mx, p[u]);
            }
            for (double& x : p) sum += x = std::exp(x - mx);
            for (std::size_t j = 0; j < hs; ++j) {
                double o = 0;
                for (std::size_t u = 0; u < keys; ++u) o += p[u] * c.v[u * KV + off + j];
                ref[i * D + h * hs + j] = o / sum;
            }
        }
    }
    return ref;
}

// Largest |out - reference| over all outputs.
double worst_error(const std::vector<double>& ref, const std::vector<float>& out) {
    REQUIRE(out.size() == ref.size());
    double worst = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::fabs(ref[i] - out[i]));
    return worst;
}
double worst_error(const case_data& c, const std::vector<float>& out) { return worst_error(reference(c), out); }

// The arch paths a case runs on: this CPU's (automatic), and AVX2 when the
// CPU has something better (the attention's gemm_acc + std::exp path).
std::vector<lowbit::arch> arch_paths() {
    std::vector<lowbit::arch> out = {lowbit::arch::automatic};
    if (lowbit::detail::cpu().has(lowbit::arch::avx2) && lowbit::active_arch() != lowbit::arch::avx2) out.push_back(lowbit::arch::avx2);
    return out;
}

// Forces an arch for one scope, back to automatic at its end.
struct arch_scope {
    explicit arch_scope(lowbit::arch a) { REQUIRE(lowbit::force_arch(a).ok()); }
    ~arch_scope() { (void)lowbit::force_arch(lowbit::arch::automatic); }
};

// Distance in units in the last place between two floats of the same sign.
std::uint32_t ulps(float a, float b) {
    std::uint32_t x, y;
    std::memcpy(&x, &a, 4), std::memcpy(&y, &b, 4);
    return x > y ? x - y : y - x;
}

}  // namespace

TEST_CASE("causal attention: prefill matches a double-precision reference on odd shapes") {
    lowbit::thread_pool pool(2);
    // Each case and its double reference once, then every arch path on it.
    for (std::size_t n : {1, 31, 33, 257})
        for (std::size_t hs : {48, 64, 128})
            for (std::size_t group : {1, 4, 8}) {
                CAPTURE(n);
                CAPTURE(hs);
                CAPTURE(group);
                const case_data c = make_case(n, hs, group, 2);
                const std::vector<double> ref = reference(c);
                for (lowbit::arch path : arch_paths()) {
                    CAPTURE(lowbit::arch_name(path));
                    const arch_scope forced(path);
                    const std::vector<float> out = run(c, pool);
                    CHECK(worst_error(ref, out) < 2e-6);
                }
            }
}

TEST_CASE("causal attention: decode over a long cache (key chunks merged) matches the reference") {
    lowbit::thread_pool pool(2);
    // first >= 512 with one query block takes the key-chunk path; 1300 keys
    // make three chunks, the last one longer; n = 5 rows with group 1 mask
    // inside the last chunk.
    for (std::size_t first : {0, 511, 512, 1299})
        for (std::size_t n : {1, 5}) {
            CAPTURE(first);
            CAPTURE(n);
            const case_data c = make_case(n, 64, n == 1 ? 8 : 1, 4, first);
            const std::vector<double> ref = reference(c);
            for (lowbit::arch path : arch_paths()) {
                CAPTURE(lowbit::arch_name(path));
                const arch_scope forced(path);
                CHECK(worst_error(ref, run(c, pool)) < 2e-6);
            }
        }
}

TEST_CASE("causal attention: large scores stay finite (max-subtracted softmax)") {
    lowbit::serial_executor ex;
    // |q.k| / 8 up to 64 * 30 * 30 / 8 = 7200: exp of it overflows float
    for (lowbit::arch path : arch_paths())
    for (std::size_t first : {0, 700}) {
        CAPTURE(lowbit::arch_name(path));
        CAPTURE(first);
        const arch_scope forced(path);
        const case_data c = make_case(first ? 1 : 40, 64, 4, 2, first, 30.0f);
        const std::vector<float> out = run(c, ex);
        bool finite = true;
        for (float f : out) finite = finite && std::isfinite(f);
        CHECK(finite);
        // scores near 1000 carry a float rounding of ~1e-4 into the exponent
        CHECK(worst_error(c, out) < 1e-4);
    }
}

TEST_CASE("causal attention: the same bits at any thread count") {
    lowbit::serial_executor one;
    lowbit::thread_pool two(2), three(3);
    for (lowbit::arch path : arch_paths())
    for (std::size_t first : {0, 1000}) {
        CAPTURE(lowbit::arch_name(path));
        CAPTURE(first);
        const arch_scope forced(path);
        const case_data c = make_case(first ? 1 : 100, 64, 8, 2, first);
        const std::vector<float> a = run(c, one);
        CHECK(a == run(c, two));
        CHECK(a == run(c, three));
    }
}

#if LLAMA_AVX512
TEST_CASE("avx512.hpp: exp within 2 ulp of the exact value, the ends and NaN") {
    if (!llama::x86::use_avx512()) {
        MESSAGE("no AVX-512 on this CPU: exp16 not run");
        return;
    }
    // every 997th float bit pattern in [-104, 89] (~2.2 M values) plus the ends
    std::vector<float> x;
    for (std::uint32_t b = 0; b < 0xFF800000u; b += 997) {
        float f;
        std::memcpy(&f, &b, 4);
        if (f <= 89.0f) x.push_back(f);
        if (f <= 104.0f) x.push_back(-f);
    }
    const float inf = std::numeric_limits<float>::infinity();
    for (float f : {0.0f, -0.0f, 88.72283f, 88.7229f, -87.33654f, -103.0f, -150.0f, 100.0f, inf, -inf}) x.push_back(f);
    std::vector<float> y(x.size() + 1, -7.0f);
    llama::x86::exp_n(x.data(), y.data(), x.size());
    CHECK(y.back() == -7.0f);  // nothing past n written
    std::uint32_t worst = 0;
    double worst_sub = 0;
    std::size_t not_inf = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        const float want = static_cast<float>(std::exp(static_cast<double>(x[i])));
        if (want < std::numeric_limits<float>::min()) worst_sub = std::max(worst_sub, std::fabs(static_cast<double>(y[i]) - want));
        else if (std::isinf(want)) not_inf += y[i] != inf;
        else worst = std::max(worst, ulps(y[i], want));
    }
    CHECK(worst <= 2);  // 1 measured (every 13th float of the range, 5e8 values)
    CHECK(not_inf == 0);
    CHECK(worst_sub <= 2 * std::ldexp(1.0, -149));  // subnormal results: 2 of their units
    const float nan = std::numeric_limits<float>::quiet_NaN();
    float special[3] = {nan, -inf, inf}, out[3];
    llama::x86::exp_n(special, out, 3);
    CHECK(std::isnan(out[0]));
    CHECK(out[1] == 0.0f);
    CHECK(out[2] == inf);
}

TEST_CASE("avx512.hpp: SwiGLU matches the scalar formula") {
    if (!llama::x86::use_avx512()) {
        MESSAGE("no AVX-512 on this CPU: swiglu_n not run");
        return;
    }
    for (std::size_t n : {1, 15, 16, 17, 1000}) {
        CAPTURE(n);
        std::vector<float> g(n + 3), u(n + 3);
        fill(g, n, 12.0f);
        fill(u, n + 1, 2.0f);
        g[0] = 100.0f;  // exp(-g) underflows: silu(g) = g
        if (n > 1) g[1] = -100.0f;  // exp(-g) overflows: silu(g) = -0
        std::vector<float> want = g;
        for (std::size_t i = 0; i < n; ++i) want[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
        llama::x86::swiglu_n(g.data(), u.data(), n);
        double worst = 0;
        for (std::size_t i = 0; i < n + 3; ++i) worst = std::max(worst, std::fabs(static_cast<double>(g[i]) - want[i]) / std::max(1e-30, std::fabs(static_cast<double>(want[i]))));
        CHECK(worst < 1e-6);  // a few ulp of exp through the division; past n untouched
    }
}
TEST_CASE("avx512.hpp: RMSNorm matches a double-precision reference, in place too") {
    if (!llama::x86::use_avx512()) {
        MESSAGE("no AVX-512 on this CPU: rmsnorm_n not run");
        return;
    }
    for (std::size_t n : {1, 17, 64, 288, 2048}) {
        CAPTURE(n);
        std::vector<float> x(n), gain(n), out(n + 1, -7.0f);
        fill(x, n, 3.0f);
        fill(gain, n + 2, 1.5f);
        double ss = 0;
        for (float v : x) ss += static_cast<double>(v) * v;
        const double inv = 1.0 / std::sqrt(ss / static_cast<double>(n) + 1e-5);
        llama::x86::rmsnorm_n(x.data(), gain.data(), out.data(), n, 1e-5f);
        double worst = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const double want = gain[i] * (inv * x[i]);
            worst = std::max(worst, std::fabs(out[i] - want) / std::max(1e-30, std::fabs(want)));
        }
        CHECK(worst < 1e-6);
        CHECK(out[n] == -7.0f);  // nothing past n written
        std::vector<float> y = x;
        llama::x86::rmsnorm_n(y.data(), gain.data(), y.data(), n, 1e-5f);  // out == x, as forward's final norm
        CHECK(std::equal(y.begin(), y.end(), out.begin()));
    }
}
#endif
