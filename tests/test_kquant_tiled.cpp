// The tiled K-quant layout (layout::tiled_kquant, issue 19, docs/redesign.md
// step 6): Q4_K / Q5_K / Q6_K blocks to tiles and back byte for byte, the one
// validator, the int8 kernels of every arch against the scalar model bit for
// bit, every arch the CPU runs reaching its own entry through the front door
// (LOWBIT_FORCE_ARCH; on AArch64 the NEON and sdot copies, counted), and the
// model against the blocks' f32 decode within the activations' int8 rounding. Part of the test_kernels_tiled binary (with lowbit::compiled
// the entries come from the library).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <lowbit/formats/gguf_row_dispatch.hpp>
#include <lowbit/formats/tiled_kquant.hpp>
#include <lowbit/formats/tiled_kquant_matmul.hpp>
#include <lowbit/formats/weights_gguf_writer.hpp>
#if !defined(__aarch64__)
#include <lowbit/weights/repack.hpp>
#endif

#include "test_archs.hpp"
#include "test_entries.hpp"
#include "test_util.hpp"

namespace {

using namespace lowbit;
using gguf::gguf_type;

// f16 bits the blocks' d and dmin take besides random normal ones: max, min
// normal, min subnormal, zeros, one, negative max.
const std::uint16_t extreme_f16[] = {0x7bff, 0x0400, 0x0001, 0x0000, 0x8000, 0x3c00, 0xfbff};

std::size_t block_bytes(gguf_type t) { return gguf::type_size(t); }

// rows x cols of random blocks of type t. Codes and sub-block bytes random;
// Q4_K/Q5_K scale/min bytes enumerate every 6-bit value over the rows; d and
// dmin random in [2^-12, 2^-4) with every extreme_f16 value somewhere
// (`extremes`; `nonfinite` adds Inf and NaN bit patterns, for the round trip).
std::vector<std::uint8_t> random_blocks(gguf_type t, std::size_t rows, std::size_t cols, std::uint32_t seed, bool extremes,
                                        bool nonfinite = false) {
    std::mt19937 rng(seed);
    const std::size_t supers = cols / 256, bb = block_bytes(t);
    std::vector<std::uint8_t> out(rows * supers * bb);
    for (auto& b : out) b = static_cast<std::uint8_t>(rng());
    std::size_t k = 0;
    for (std::size_t r = 0; r < rows; ++r)
        for (std::size_t s = 0; s < supers; ++s, ++k) {
            std::uint8_t* blk = out.data() + (r * supers + s) * bb;
            auto f16 = [&](std::size_t salt) -> std::uint16_t {
                if (nonfinite && (k + salt) % 11 == 3) return (k % 2) ? 0x7c00 : 0x7e01;
                if (extremes && (k + salt) % 3 == 0) return extreme_f16[(k / 3 + salt) % (sizeof extreme_f16 / 2)];
                return static_cast<std::uint16_t>(((3 + rng() % 8) << 10) | (rng() & 0x3ff) | (rng() % 2 ? 0x8000 : 0));
            };
            if (t == gguf_type::q6_K) {
                const std::uint16_t d = f16(0);
                std::memcpy(blk + 208, &d, 2);
            } else {
                const std::uint16_t d = f16(0), dm = f16(1);
                std::memcpy(blk, &d, 2);
                std::memcpy(blk + 2, &dm, 2);
                std::uint8_t sc[8], mn[8];
                for (int j = 0; j < 8; ++j) {
                    sc[j] = static_cast<std::uint8_t>((8 * k + j) % 64);
                    mn[j] = static_cast<std::uint8_t>((8 * k + j + 29) % 64);
                }
                gguf::detail::pack_scales_k4(sc, mn, blk + 4);
            }
        }
    return out;
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

const gguf_type kq_types[] = {gguf_type::q4_K, gguf_type::q5_K, gguf_type::q6_K};

// ggml K-quant blocks to tiles and back. x86: through the run-time repack (its
// K-quant routes). AArch64 (scripts/test-arm.sh): the layout's own converters,
// which repack calls for these routes; repack's other routes, which the
// header-only cross build would compile (~50 CPU-s), are arch-independent and
// checked on x86 (docs/history/test-command.md, session 23).
result<weights> to_tiles(const weights_view& g) {
#if defined(__aarch64__)
    return kquant::to_tiled(g);
#else
    return repack(g, layout::tiled_kquant);
#endif
}
result<weights> to_blocks(const weights_view& t) {
#if defined(__aarch64__)
    return kquant::from_tiled(t);
#else
    return repack(t, layout::ggml);
#endif
}

TEST_CASE("tiled K-quant: blocks -> tiles -> blocks is byte for byte, every field, padded rows") {
    std::uint32_t seed = 1;
    for (gguf_type t : kq_types)
        for (std::size_t rows : {1, 15, 16, 17, 40})
            for (std::size_t cols : {256, 768}) {
                CAPTURE(gguf::type_name(t));
                CAPTURE(rows);
                CAPTURE(cols);
                const std::vector<std::uint8_t> blocks = random_blocks(t, rows, cols, ++seed, true, true);
                auto g = make_ggml_weights(t, blocks.data(), rows, cols);
                REQUIRE(g);
                auto tw = to_tiles(*g);
                REQUIRE(tw);
                const weights_view v = tw->view();
                CHECK(v.lay() == layout::tiled_kquant);
                CHECK(v.ggml_type() == t);
                const std::size_t tiles = (rows + 15) / 16, bits = static_cast<std::size_t>(kquant_bits(t));
                CHECK(v.code_bytes() == tiles * (cols / 32) * 64 * bits);
                CHECK(v.zero_bytes() == tiles * (cols / 32) * 32);
                CHECK(v.scale_bytes() == tiles * (cols / 256) * kquant_fields(t) * 16 * 2);
                auto back = to_blocks(v);
                REQUIRE(back);
                CHECK(back->view().ggml_type() == t);
                REQUIRE(back->view().code_bytes() == blocks.size());
                CHECK(std::memcmp(back->view().codes(), blocks.data(), blocks.size()) == 0);
                // padded rows of the last tile: zero codes, bytes and scales
                if (rows % 16) {
                    bool zero = true;
                    const auto* sc = static_cast<const std::uint16_t*>(v.scales());
                    for (std::size_t i = 0; i < v.scale_bytes() / 2; ++i)
                        if (i / 16 >= (tiles - 1) * (cols / 256) * kquant_fields(t) && i % 16 >= rows % 16) zero = zero && sc[i] == 0;
                    CHECK(zero);
                }
            }
}

TEST_CASE("tiled K-quant: the validator and repack refuse what the layout cannot hold") {
    const std::vector<std::uint8_t> blocks = random_blocks(gguf_type::q4_K, 3, 512, 9, false);
    weights_desc d;
    d.lay = layout::tiled_kquant;
    d.ggml = gguf_type::q4_K;
    d.rows = 3;
    d.cols = 512;
    alignas(4) static std::uint8_t buf[4096] = {};
    d.codes = buf;
    d.scales = buf;
    d.zeros = buf;
    CHECK(make_weights(d));
    weights_desc e = d;
    e.cols = 300;
    CHECK(make_weights(e).error().code() == errc::invalid_argument);
    e.cols = 0;
    CHECK(make_weights(e).error().code() == errc::shape_mismatch);
    e = d;
    e.ggml = gguf_type::q4_0;
    CHECK(make_weights(e).error().code() == errc::unsupported);
    e = d;
    e.ggml = gguf_type::q8_K;
    CHECK(make_weights(e).error().code() == errc::unsupported);
    e = d;
    e.zeros = nullptr;
    CHECK(make_weights(e).error().code() == errc::invalid_argument);
    e = d;
    e.scales = buf + 1;
    CHECK(make_weights(e).error().code() == errc::invalid_argument);
    e = d;
    e.rows = std::size_t{1} << 41;
    CHECK(make_weights(e).error().code() == errc::invalid_argument);
    // repack: only ggml K-quant blocks <-> tiled_kquant
    auto g = make_ggml_weights(gguf_type::q4_K, blocks.data(), 3, 512);
    REQUIRE(g);
    auto tw = to_tiles(*g);
    REQUIRE(tw);
#if !defined(__aarch64__)
    CHECK(repack(tw->view(), layout::dense).error().code() == errc::unsupported);
    CHECK(repack(tw->view(), layout::tiled).error().code() == errc::unsupported);
    std::vector<std::uint8_t> q40(3 * 512 / 32 * 18, 0);
    auto g0 = make_ggml_weights(gguf_type::q4_0, q40.data(), 3, 512);
    REQUIRE(g0);
    CHECK(repack(*g0, layout::tiled_kquant).error().code() == errc::unsupported);
#endif
    CHECK(kquant::from_tiled(*g).error().code() == errc::invalid_argument);
    gguf::gguf_writer gw;
    weights_gguf_writer wr(gw);  // a load-time layout: files hold the ggml blocks
    CHECK(wr.declare("t", tw->view()).code() == errc::unsupported);
#if !defined(__aarch64__)
    auto same = repack(tw->view(), layout::tiled_kquant);  // a copy
    REQUIRE(same);
    CHECK(std::memcmp(same->view().codes(), tw->view().codes(), tw->view().code_bytes()) == 0);
#endif
}

// The family's scalar int8 entry (the model).
const kernel_entry* model_entry(const weights_view& w) {
    for (const kernel_entry& e : kquant::kernels(w.ggml_type()))
        if (e.key.path == matmul_path::int8_dot && e.key.a == arch::scalar) return &e;
    return nullptr;
}

TEST_CASE("tiled K-quant: every int8 entry the CPU runs equals the model bit for bit (M 1..33, N not a multiple of 16)") {
    std::uint32_t seed = 100;
    for (gguf_type t : kq_types)
        for (const auto& nk : {std::pair<std::size_t, std::size_t>{37, 512}, {16, 256}, {5, 2048}, {81, 256}}) {
            const std::size_t n = nk.first, k = nk.second;
            CAPTURE(gguf::type_name(t));
            CAPTURE(n);
            CAPTURE(k);
            const std::vector<std::uint8_t> blocks = random_blocks(t, n, k, ++seed, true);
            auto g = make_ggml_weights(t, blocks.data(), n, k);
            REQUIRE(g);
            auto tw = to_tiles(*g);
            REQUIRE(tw);
            const weights_view w = tw->view();
            const kernel_entry* model = model_entry(w);
            REQUIRE(model != nullptr);
            for (std::size_t M : {1, 2, 3, 4, 5, 7, 9, 33}) {
                CAPTURE(M);
                std::vector<float> X = lowbit_test::gaussian(M * k, ++seed, 2.0f);
                if (M > 2)
                    for (std::size_t c = 0; c < k; ++c) X[2 * k + c] = c % 3 ? 127.0f : -127.0f;  // extreme codes
                if (M > 4)
                    for (std::size_t c = 0; c < k; ++c) X[3 * k + c] = 0.0f;  // zero blocks
                const std::vector<float> Y_model = lowbit_test::run_entry_direct(*model, w, X, M);
                int ran = 0;
                for (const kernel_entry& e : kquant::kernels(t)) {
                    if (e.key.path != matmul_path::int8_dot || !lowbit::detail::cpu().has(e.body) || !needs_met(e)) continue;
                    char name[64];
                    kernel_name(e, name, sizeof name);
                    const std::string name_s = name;
                    CAPTURE(name_s);
                    CHECK(same_bits(lowbit_test::run_entry_direct(e, w, X, M), Y_model));
                    ++ran;
                }
                CHECK(ran >= 1);
            }
        }
}

// How often the AArch64 copies' K-quant kernels ran (arm/tiled_kquant_body.inl
// counts them; visible where this TU parses the bodies): the entries equal the
// model bit for bit, so only the counts show which copy a call reached.
struct kq_arm_runs {
    unsigned long long neon = 0, dot = 0;
};
kq_arm_runs count_kq_arm_runs() {
    kq_arm_runs r;
#if defined(LOWBIT_HAVE_ARM_KERNELS)
    r.neon = kdetail::neon::tiled_runs().kq.load();
    r.dot = kdetail::neondot::tiled_runs().kq.load();
#endif
    return r;
}

// Whether the family lists an int8 entry for arch a that this CPU can run.
bool has_own_entry(gguf_type t, arch a) {
    for (const kernel_entry& e : kquant::kernels(t))
        if (e.key.path == matmul_path::int8_dot && e.key.a == a && needs_met(e)) return true;
    return false;
}

// Issue 15's acceptance: no (layout, type, path) runs scalar-only on a SIMD
// arch. A build with the AArch64 bodies (the condition of
// kernels/detail/entries.hpp) lists neon and neondot entries. Every arch this
// CPU runs is forced: one the family lists must run its own entry (no
// fallback), one it does not (sse2: no int8 body) must report the fallback;
// either way the results equal the model, GEMV and GEMM. With no arch forced,
// the automatic arch's entry runs (scripts/test-arm.sh: neondot under
// `qemu -cpu max`, neon on a Cortex-A72).
TEST_CASE("tiled K-quant: every arch the CPU runs reaches its own entry through the front door") {
#if defined(__aarch64__) && (defined(__GNUC__) || defined(__clang__)) && !defined(LOWBIT_NO_ARM_KERNELS)
    for (gguf_type t : kq_types) {
        CHECK(has_own_entry(t, arch::neon));
        CHECK(has_own_entry(t, arch::neondot));
    }
#endif
    std::uint32_t seed = 500;
    for (gguf_type t : kq_types) {
        const std::size_t n = 37, k = 512;
        CAPTURE(gguf::type_name(t));
        const std::vector<std::uint8_t> blocks = random_blocks(t, n, k, ++seed, true);
        auto g = make_ggml_weights(t, blocks.data(), n, k);
        REQUIRE(g);
        auto tw = to_tiles(*g);
        REQUIRE(tw);
        const weights_view w = tw->view();
        for (std::size_t M : {1, 3}) {
            CAPTURE(M);
            const std::vector<float> X = lowbit_test::gaussian(M * k, ++seed, 1.0f);
            const std::vector<float> Y_model = lowbit_test::run_entry_direct(*model_entry(w), w, X, M);
            std::vector<arch> archs = lowbit_test::runnable_archs();
            archs.push_back(arch::automatic);
            for (arch a : archs) {
                const std::string arch_s = arch_name(a);
                CAPTURE(arch_s);
                lowbit_test::arch_scope s(a);
                const arch ran_as = active_arch();
                const bool own = has_own_entry(t, ran_as);
                std::vector<float> Y(M * n, -3.0f);
                matmul_info info;
                matmul_options opt;
                opt.info = &info;
                opt.allow_fallback = !own;
                [[maybe_unused]] const kq_arm_runs before = count_kq_arm_runs();
                const status st = M == 1 ? kquant::gemv(w, span<const float>(X.data(), k), span<float>(Y.data(), n), serial_executor{}, opt)
                                         : kquant::gemm(w, matrix_view<const float>(X.data(), M, k), matrix_view<float>(Y.data(), M, n),
                                                        serial_executor{}, opt);
                REQUIRE(st.ok());
                REQUIRE(info.entry != nullptr);
                CHECK(info.fell_back == !own);
                if (own) CHECK(info.entry->key.a == ran_as);
                CHECK(same_bits(Y, Y_model));
#if defined(LOWBIT_HAVE_ARM_KERNELS) && LOWBIT_ARM_DOT_COPY
                const kq_arm_runs after = count_kq_arm_runs();
                CHECK((after.neon > before.neon) == (ran_as == arch::neon));
                CHECK((after.dot > before.dot) == (ran_as == arch::neondot));
#elif defined(LOWBIT_HAVE_ARM_KERNELS)  // one copy serves both
                const kq_arm_runs after = count_kq_arm_runs();
                CHECK((after.neon > before.neon) == (ran_as == arch::neon || ran_as == arch::neondot));
#endif
            }
        }
    }
}

TEST_CASE("tiled K-quant: the model is the blocks' f32 decode times x, within the int8 rounding of x") {
    std::uint32_t seed = 300;
    for (gguf_type t : kq_types) {
        const std::size_t n = 21, k = 768, M = 3;
        CAPTURE(gguf::type_name(t));
        const std::vector<std::uint8_t> blocks = random_blocks(t, n, k, ++seed, false);
        auto g = make_ggml_weights(t, blocks.data(), n, k);
        REQUIRE(g);
        std::vector<float> W(n * k);
        for (std::size_t r = 0; r < n; ++r)
            REQUIRE(gguf::dequantize_row(t, blocks.data() + r * (k / 256) * block_bytes(t), W.data() + r * k, static_cast<std::int64_t>(k)).ok());
        auto tw = to_tiles(*g);
        REQUIRE(tw);
        const std::vector<float> X = lowbit_test::gaussian(M * k, ++seed, 1.0f);
        std::vector<float> Y(M * n);
        matmul_info info;
        matmul_options opt;
        opt.info = &info;
        REQUIRE(kquant::gemm(tw->view(), matrix_view<const float>(X.data(), M, k), matrix_view<float>(Y.data(), M, n), serial_executor{}, opt).ok());
        CHECK(std::string(info.kernel).find("/tiled_kquant/i8/") != std::string::npos);
        const std::vector<float> Y_model = lowbit_test::run_entry_direct(*model_entry(tw->view()), tw->view(), X, M);
        REQUIRE(info.entry != nullptr);
        CHECK(same_bits(Y, lowbit_test::run_entry_direct(*info.entry, tw->view(), X, M)));  // the front door ran its entry
        for (std::size_t m = 0; m < M; ++m)
            for (std::size_t r = 0; r < n; ++r) {
                double exact = 0, bound = 0, mag = 0;
                for (std::size_t b = 0; b < k / 32; ++b) {
                    float amax = 0;
                    for (std::size_t c = 0; c < 32; ++c) amax = std::fmax(amax, std::fabs(X[m * k + 32 * b + c]));
                    for (std::size_t c = 0; c < 32; ++c) {
                        const double wv = W[r * k + 32 * b + c];
                        exact += wv * X[m * k + 32 * b + c];
                        bound += std::fabs(wv) * amax / 127.0 * 0.5;  // |x - dx q| <= dx / 2
                        mag += std::fabs(wv * X[m * k + 32 * b + c]);
                    }
                }
                CAPTURE(r);
                CHECK(std::fabs(Y_model[m * n + r] - exact) <= bound * 1.01 + mag * 1e-5);
            }
    }
}

}  // namespace
