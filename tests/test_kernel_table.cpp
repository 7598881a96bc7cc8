// The kernel table (kernels/table.hpp): every entry of the dense and tiled
// families of a grid of kernel schemes (every width, both symmetries, every
// scale type, per-tensor and per-group) and of every ggml weight type is run
// through the front door with its arch forced, must be the entry the lookup
// picks (no fallback), and must equal its scalar model (int8 paths and ggml
// blocks: bit for bit) or the double reference (f32 paths: within 1e-5 of
// sum |w x|), on shapes with tails (rows not a multiple of the task, K at
// block edges, M = 1..5, with and without a permutation). Fallbacks are
// reported and can be refused. An entry that the lookup never picks on this
// CPU because an earlier one of its key (the same body with a CPU feature
// more, e.g. the VBMI lattice copies) is preferred is run directly, without
// the lookup, and must give the same bits too.
//
// The grid's entries are the ones lowbit::compiled built (detail::family_of on
// a weights_view, run through the weights_view front door), not copies
// instantiated here: the optimised code checked is the code the tools and every
// other test link (scripts/test.sh builds the library -O1), and this TU no longer
// compiles every kernel of ten schemes a second time (108 -> 29 CPU-s at -O2;
// docs/history/test-command.md, session 19 second pass). The typed front doors (qmatrix_view,
// tiled_view) are checked below on one scheme, w4 symmetric f16 per group, whose
// kernels this TU instantiates (LOWBIT_INLINE_KERNELS, tests/CMakeLists.txt): in
// this program that scheme's kernel code is this TU's copy (the linker keeps the
// first object's), the grid's others the library's. test_kernel_table_lib.cpp, a
// TU without LOWBIT_INLINE_KERNELS, checks that the typed front doors of a
// compiled-mode TU run the library's table of that scheme, which lists the
// same entries as this TU's own; and, for ten typed schemes (every width,
// granularity, symmetry and scale type: LOWBIT_TEST_LIB_SCHEMES), that that
// TU's typed gemv and gemm run the entry that the run-time dispatch runs for
// the same weights, with the same bits.
#include <doctest/doctest.h>

#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <lowbit/formats/gguf_matmul.hpp>
#include <lowbit/kernels/kernel_list.hpp>
#include <lowbit/kernels/tiled_matmul.hpp>
#include <lowbit/kernels/weights_matmul.hpp>
#include <lowbit/weights/convert.hpp>
#include <lowbit/weights/repack.hpp>

#include "test_entries.hpp"
#include "test_kernel_table_lib.hpp"
#include "test_kernels_common.hpp"
#include "test_util.hpp"

using namespace lowbit;
using kt::arch_scope;

namespace {

bool runnable(arch a) { return detail::cpu().has(a); }

// Whether the lookup takes an earlier entry of e's key on this CPU (then e never runs through the front door).
bool shadowed(span<const kernel_entry> fam, const kernel_entry& e) {
    for (const kernel_entry& f : fam) {
        if (&f == &e) return false;
        if (f.key.path == e.key.path && f.key.a == e.key.a && needs_met(f)) return true;
    }
    return false;
}

std::string name_of(const kernel_entry& e) {
    char buf[64];
    kernel_name(e, buf, sizeof buf);
    return buf;
}

struct case_shape {
    std::size_t N, K, M;
};
// Rows around the 64-row task (and 16-row tile), K at and around 32-blocks, M = 1..5,
// and M = 13: the x86 register blocks of 8 (f32 tiled) and 6 (int8 tiled) rows with
// their tails.
const std::vector<case_shape>& table_shapes() {
    static const std::vector<case_shape> s = {{1, 32, 1},   {17, 33, 2},  {63, 64, 3}, {65, 96, 1},
                                              {130, 255, 4}, {64, 257, 5}, {3, 31, 2},  {33, 96, 13}};
    return s;
}

// Runs one entry through the typed front door with its arch forced; checks the
// lookup chose it. Returns Y (M x N).
template <class View>
std::vector<float> run_entry(const kernel_entry& e, const View& w, const std::vector<float>& X, std::size_t M, std::size_t N,
                             std::size_t K) {
    arch_scope s(e.key.a);
    std::vector<float> Y(M * N, -3.0f);
    matmul_info info;
    matmul_options o;
    o.path = e.key.path;
    o.info = &info;
    o.allow_fallback = false;
    const status st = M == 1 ? gemv(w, span<const float>(X.data(), K), span<float>(Y.data(), N), serial_executor{}, o)
                             : gemm(w, matrix_view<const float>(X.data(), M, K), matrix_view<float>(Y.data(), M, N), serial_executor{}, o);
    REQUIRE(st.ok());
    CHECK(info.entry == &e);
    CHECK_FALSE(info.fell_back);
    CHECK(name_of(e) == info.kernel);
    return Y;
}

// An entry the lookup passes over on this CPU for an earlier one of its key
// (on an AMX-BF16 CPU the vdpbf16ps entry listed under amx after the tile
// entry): run directly, as the table would run it (tests/test_entries.hpp).
std::vector<float> run_shadowed(const kernel_entry& e, const weights_view& w, const std::vector<float>& X, std::size_t M) {
    return lowbit_test::run_entry_direct(e, w, X, M);
}

// Every entry of one family against the family's scalar models and the reference.
template <class View>
void check_family(span<const kernel_entry> fam, const View& w, std::size_t N, std::size_t K, std::size_t M, unsigned seed,
                  const std::vector<double>& tol, int& checked) {
    const auto xv = kt::random_vec(M * K, seed);
    std::vector<float> X(xv.begin(), xv.end());
    const kernel_entry* model_i8 = nullptr;
    const kernel_entry* model_bf16 = nullptr;
    const kernel_entry* reference = nullptr;
    for (const kernel_entry& e : fam) {
        if (e.key.a == arch::scalar && e.key.path == matmul_path::int8_dot) model_i8 = &e;
        if (e.key.a == arch::scalar && e.key.path == matmul_path::bf16_dot) model_bf16 = &e;
        if (e.key.path == matmul_path::reference) reference = &e;
    }
    REQUIRE(model_i8 != nullptr);
    REQUIRE(model_bf16 != nullptr);
    REQUIRE(reference != nullptr);
    const auto yref = run_entry(*reference, w, X, M, N, K);
    const auto ymodel = run_entry(*model_i8, w, X, M, N, K);
    const auto ybf16 = run_entry(*model_bf16, w, X, M, N, K);
    // The bf16 model against the reference: each activation moves by at most
    // 2^-8 of itself (round to nearest even, 8 significant bits), plus float rounding.
    for (std::size_t i = 0; i < M * N; ++i)
        REQUIRE(std::fabs(static_cast<double>(ybf16[i]) - yref[i]) <= (1.001 / 256 + kt::f32_rel_tol) * tol[i] + 1e-30);
    for (const kernel_entry& e : fam) {
        if (!runnable(e.key.a)) continue;
        const std::string nm = name_of(e);
        CAPTURE(nm);
        if (!needs_met(e)) {  // e.g. the vdpbf16ps entries on a CPU without AVX512_BF16
            static bool said = false;
            if (!said) MESSAGE("skipped entries that need a CPU feature this machine lacks, e.g. " << nm);
            said = true;
            continue;
        }
        const auto y = shadowed(fam, e) ? run_shadowed(e, w, X, M) : run_entry(e, w, X, M, N, K);
        ++checked;
        for (std::size_t m = 0; m < M; ++m)
            for (std::size_t r = 0; r < N; ++r) {
                CAPTURE(m);
                CAPTURE(r);
                const std::size_t i = m * N + r;
                if (e.key.path == matmul_path::int8_dot) REQUIRE(kt::same_bits(y[i], ymodel[i]));
                else if (e.key.path == matmul_path::dequant_fma)
                    REQUIRE(std::fabs(static_cast<double>(y[i]) - yref[i]) <= kt::f32_rel_tol * tol[i] + 1e-30);
                else if (e.key.path == matmul_path::bf16_dot && e.needs == 0)  // an f32 body on rounded activations: the model's bits
                    REQUIRE(std::fabs(static_cast<double>(y[i]) - ybf16[i]) <= (e.key.lay == layout::dense ? kt::f32_rel_tol * 1.01 * tol[i] + 1e-30 : 0.0));
                else if (e.key.path == matmul_path::bf16_dot)  // vdpbf16ps: the model up to the order of the f32 sums
                    REQUIRE(std::fabs(static_cast<double>(y[i]) - ybf16[i]) <= kt::f32_rel_tol * 1.01 * tol[i] + 1e-30);
                else REQUIRE(kt::same_bits(y[i], yref[i]));
            }
    }
}

// sum_k |w_rk x_mk| per output (the f32 tolerance scale).
template <class S>
std::vector<double> abs_dots(const qmatrix<S>& q, const std::vector<float>& X, std::size_t M) {
    std::vector<double> t;
    for (std::size_t m = 0; m < M; ++m) {
        const auto d = kt::abs_dot(q, X.data() + m * q.cols());
        t.insert(t.end(), d.begin(), d.end());
    }
    return t;
}

// The family lowbit::compiled holds for w (its layout must be lay).
span<const kernel_entry> library_family(const weights_view& w, layout lay) {
    REQUIRE(w.lay() == lay);
    const detail::kernel_family f = detail::family_of(w);
    REQUIRE(f.count > 0);
    return span<const kernel_entry>(f.begin, f.count);
}

template <class S>
void check_scheme() {
    unsigned seed = 11;
    int checked = 0;
    for (const auto& sh : table_shapes())
        for (int perm = 0; perm < 2; ++perm) {
            CAPTURE(sh.N);
            CAPTURE(sh.K);
            CAPTURE(sh.M);
            CAPTURE(perm);
            const auto q = kt::make_matrix<S>(sh.N, sh.K, seed++, perm != 0);
            const auto xv = kt::random_vec(sh.M * sh.K, seed);
            const auto tol = abs_dots(q, std::vector<float>(xv.begin(), xv.end()), sh.M);
            const auto wd = to_weights(q.view());
            REQUIRE(wd.ok());
            check_family(library_family(*wd, layout::dense), *wd, sh.N, sh.K, sh.M, seed, tol, checked);
            const auto t = repack(*wd, layout::tiled);
            REQUIRE(t.ok());
            const weights_view wt = t->view();
            check_family(library_family(wt, layout::tiled), wt, sh.N, sh.K, sh.M, seed, tol, checked);
            ++seed;
        }
    CHECK(checked > 0);
}

}  // namespace

TEST_CASE_TEMPLATE("kernel table: every dense and tiled entry equals its scalar model or the reference", S,
                   scheme<1, per_group_dynamic>, scheme<2, per_tensor, asymmetric, scale_f32>,
                   scheme<3, per_group_dynamic, symmetric, scale_bf16>, scheme<4, per_group_dynamic>,
                   scheme<4, per_tensor, asymmetric>, scheme<5, per_group_dynamic, asymmetric, scale_bf16>,
                   scheme<6, per_group_dynamic, symmetric, scale_f32>, scheme<7, per_group_dynamic, asymmetric>,
                   scheme<8, per_group_dynamic>, scheme<8, per_tensor, asymmetric, scale_f32>) {
    check_scheme<S>();
}

TEST_CASE("kernel table: every ggml entry equals the scalar one bit for bit") {
    for (auto t : ggml_kernel_types) {
        const std::string tn = gguf::type_name(t);
        CAPTURE(tn);
        const auto fam = gguf::kernels(t);
        REQUIRE(fam.size() >= 2);
        for (std::size_t N : {1, 31, 33, 70})
            for (std::size_t M : {1, 2, 5}) {
                // IQ1_S/IQ1_M: 41 super-blocks a row, so that the plain AVX-512 copies (shadowed by the
                // VBMI ones on a VBMI CPU, run here directly) cross their chunks of 16 and groups of 8
                const bool iq1 = t == gguf::gguf_type::iq1_s || t == gguf::gguf_type::iq1_m;
                const std::size_t K = gguf::type_block_size(t) * (iq1 ? 41 : 2);
                const auto wf = lowbit_test::gaussian(N * K, static_cast<unsigned>(N + M));
                std::vector<std::uint8_t> rows(N * gguf::row_size(t, K));
                std::vector<float> imatrix(K);  // for the i-quants that need one
                for (std::size_t j = 0; j < K; ++j) imatrix[j] = 0.5f + static_cast<float>((j * 7) % 13) / 8.0f;
                REQUIRE(gguf::quantize(t, wf.data(), rows.data(), static_cast<std::int64_t>(N), static_cast<std::int64_t>(K),
                                       gguf::requires_imatrix(t) ? imatrix.data() : nullptr)
                            .ok());
                const auto X = lowbit_test::gaussian(M * K, static_cast<unsigned>(7 * N + M));
                auto run = [&](const kernel_entry& e) {
                    arch_scope s(e.key.a);
                    std::vector<float> Y(M * N, -3.0f);
                    matmul_info info;
                    matmul_options o;
                    o.path = e.key.path;
                    o.info = &info;
                    o.allow_fallback = false;
                    REQUIRE(gguf::gemm(t, rows.data(), N, K, matrix_view<const float>(X.data(), M, K), matrix_view<float>(Y.data(), M, N),
                                       serial_executor{}, o)
                                .ok());
                    CHECK(info.entry == &e);
                    CHECK_FALSE(info.fell_back);
                    return Y;
                };
                const auto y0 = run(fam[0]);  // the scalar reference entry
                for (const kernel_entry& e : fam) {
                    if (!runnable(e.key.a)) continue;
                    const std::string nm = name_of(e);
                    CAPTURE(nm);
                    if (!needs_met(e)) {
                        MESSAGE("skipped " << nm << ": this CPU lacks a feature it needs");
                        continue;
                    }
                    const auto y = shadowed(fam, e) ? lowbit_test::run_entry_direct(e, *gguf::detail::ggml_view(t, rows.data(), N, K), X, M) : run(e);
                    for (std::size_t i = 0; i < y.size(); ++i) REQUIRE(kt::same_bits(y[i], y0[i]));
                }
            }
    }
}

TEST_CASE("kernel table: names say weights, layout, path and arch") {
    using S = scheme<4, per_group<32>>;
    bool saw_tiled_i8_scalar = false;
    for (const kernel_entry& e : tiled_kernels<S>())
        if (e.key.path == matmul_path::int8_dot && e.key.a == arch::scalar) {
            CHECK(name_of(e) == "w4-sym-f16/tiled/i8/scalar");
            saw_tiled_i8_scalar = true;
        }
    CHECK(saw_tiled_i8_scalar);
    using P = scheme<8, per_tensor, asymmetric, scale_bf16>;
    const auto q8 = kt::make_matrix<P>(4, 32, 1, false);
    const auto w8 = to_weights(q8.view());
    REQUIRE(w8.ok());
    for (const kernel_entry& e : library_family(*w8, layout::dense))
        if (e.key.path == matmul_path::reference) CHECK(name_of(e) == "w8pt-asym-bf16/dense/ref/scalar");
    CHECK(name_of(gguf::kernels(gguf::gguf_type::q6_K)[1]) == "Q6_K/ggml/i8/scalar");
    CHECK(fallback_arch(arch::avx512vnni) == arch::avx512);
    CHECK(fallback_arch(arch::avxvnni) == arch::avx2);
    CHECK(fallback_arch(arch::avx2) == arch::sse2);
    CHECK(fallback_arch(arch::sse2) == arch::scalar);
    CHECK(fallback_arch(arch::neondot) == arch::neon);
    CHECK(fallback_arch(arch::neon) == arch::scalar);
}

TEST_CASE("kernel table: a fallback is reported, and refused when the options say so") {
    using S = scheme<4, per_group<32>>;
    const auto q = kt::make_matrix<S>(40, 96, 3, true);
    const auto xv = kt::random_vec(96, 4);
    std::vector<float> y(40, 5.0f);
    matmul_info info;
    matmul_options o;
    o.info = &info;
    o.path = matmul_path::int8_dot;
    {  // sse2 has no int8 kernel: the scalar model runs, and says so
        arch_scope s(arch::sse2);
        REQUIRE(gemv(q.view(), span<const float>(xv), span<float>(y), serial_executor{}, o).ok());
        CHECK(info.fell_back);
        CHECK(info.wanted == arch::sse2);
        CHECK(std::string(info.kernel) == "w4-sym-f16/dense/i8/scalar");
        o.allow_fallback = false;
        std::fill(y.begin(), y.end(), 5.0f);
        const status st = gemv(q.view(), span<const float>(xv), span<float>(y), serial_executor{}, o);
        CHECK(st.code() == errc::unsupported);
        CHECK(std::string(st.message()).find("allow_fallback") != std::string::npos);
        for (float v : y) CHECK(v == 5.0f);  // untouched
        o.allow_fallback = true;
    }
    {  // the f32 path of sse2 is its own (the portable 4-lane body)
        arch_scope s(arch::sse2);
        o.path = matmul_path::dequant_fma;
        REQUIRE(gemv(q.view(), span<const float>(xv), span<float>(y), serial_executor{}, o).ok());
        CHECK_FALSE(info.fell_back);
    }
    {  // groups of 16: the small-group kernels, no fallback
        using G = scheme<4, per_group<16>>;
        const auto g = kt::make_matrix<G>(40, 96, 5, false);
        o.path = matmul_path::int8_dot;
        REQUIRE(gemv(g.view(), span<const float>(xv), span<float>(y), serial_executor{}, o).ok());
        CHECK(info.entry->key.path == matmul_path::int8_dot);
        CHECK(info.fell_back == (info.entry->key.a != active_arch()));
    }
    {  // groups of 12 (not a multiple of 8): only the reference reads them, for every path
        using G = scheme<4, per_group<12>>;
        const auto g = kt::make_matrix<G>(40, 96, 5, false);
        o.path = matmul_path::int8_dot;
        REQUIRE(gemv(g.view(), span<const float>(xv), span<float>(y), serial_executor{}, o).ok());
        CHECK(info.fell_back);
        CHECK(std::string(info.kernel) == "w4-sym-f16/dense/ref/scalar");
        o.allow_fallback = false;
        CHECK(gemv(g.view(), span<const float>(xv), span<float>(y), serial_executor{}, o).code() == errc::unsupported);
        o.path = matmul_path::reference;  // asked for: not a fallback
        REQUIRE(gemv(g.view(), span<const float>(xv), span<float>(y), serial_executor{}, o).ok());
        CHECK_FALSE(info.fell_back);
        o.allow_fallback = true;
    }
    {  // ggml blocks have no sse2 kernel: the scalar model runs, reported
        arch_scope s(arch::sse2);
        const std::size_t K = 64, N = 8;
        const auto wf = lowbit_test::gaussian(N * K, 9);
        std::vector<std::uint8_t> rows(N * gguf::row_size(gguf::gguf_type::q8_0, K));
        REQUIRE(gguf::quantize(gguf::gguf_type::q8_0, wf.data(), rows.data(), N, K, nullptr).ok());
        std::vector<float> yg(N);
        matmul_options og;
        og.info = &info;
        REQUIRE(gguf::gemv(gguf::gguf_type::q8_0, rows.data(), N, K, span<const float>(xv.data(), K), span<float>(yg), serial_executor{}, og)
                    .ok());
        CHECK(info.fell_back);
        CHECK(std::string(info.kernel) == "Q8_0/ggml/i8/scalar");
        og.path = matmul_path::dequant_fma;
        CHECK(gguf::gemv(gguf::gguf_type::q8_0, rows.data(), N, K, span<const float>(xv.data(), K), span<float>(yg), serial_executor{}, og)
                  .code() == errc::unsupported);
    }
}

// The bf16 path: never automatic; its vdpbf16ps entries need AVX512_BF16 and
// the lookup passes over them where it is absent, down the chain to the avx2
// entry (the f32 body on rounded activations), reported; sse2 on the tiled
// layout falls back to the scalar model; ggml blocks refuse the path.
TEST_CASE("kernel table: the bf16 path's entries, fallbacks and refusals") {
    using S = scheme<4, per_group<32>>;
    const auto q = kt::make_matrix<S>(40, 96, 3, false);
    auto t = repack_tiled(q.view());
    REQUIRE(t.ok());
    const auto xv = kt::random_vec(96, 4);
    std::vector<float> y(40, 5.0f);
    matmul_info info;
    matmul_options o;
    o.info = &info;
    o.path = matmul_path::bf16_dot;
    if (runnable(arch::avx512vnni)) {
        arch_scope s(arch::avx512vnni);
        REQUIRE(gemv(t->view(), span<const float>(xv), span<float>(y), serial_executor{}, o).ok());
        if (detail::cpu().avx512bf16) {
            CHECK_FALSE(info.fell_back);
            CHECK(std::string(info.kernel) == "w4-sym-f16/tiled/bf16/avx512+bf16");
        } else {
            MESSAGE("this CPU lacks AVX512_BF16: the bf16 path runs the avx2 entry, reported as a fallback");
            CHECK(info.fell_back);
            CHECK(std::string(info.kernel) == "w4-sym-f16/tiled/bf16/avx2");
        }
    }
    {
        arch_scope s(arch::sse2);
        REQUIRE(gemv(t->view(), span<const float>(xv), span<float>(y), serial_executor{}, o).ok());
        CHECK(info.fell_back);
        CHECK(std::string(info.kernel) == "w4-sym-f16/tiled/bf16/scalar");
        REQUIRE(gemv(q.view(), span<const float>(xv), span<float>(y), serial_executor{}, o).ok());
        CHECK_FALSE(info.fell_back);  // the dense layout's sse2 f32 body serves it
        CHECK(std::string(info.kernel) == "w4-sym-f16/dense/bf16/sse2");
    }
    {  // automatic stays the f32 path
        matmul_options a;
        a.info = &info;
        REQUIRE(gemv(t->view(), span<const float>(xv), span<float>(y), serial_executor{}, a).ok());
        CHECK(info.entry->key.path == matmul_path::dequant_fma);
    }
    {
        const std::size_t K = 64, N = 8;
        const auto wf = lowbit_test::gaussian(N * K, 9);
        std::vector<std::uint8_t> rows(N * gguf::row_size(gguf::gguf_type::q8_0, K));
        REQUIRE(gguf::quantize(gguf::gguf_type::q8_0, wf.data(), rows.data(), N, K, nullptr).ok());
        std::vector<float> yg(N);
        const status st =
            gguf::gemv(gguf::gguf_type::q8_0, rows.data(), N, K, span<const float>(xv.data(), K), span<float>(yg), serial_executor{}, o);
        CHECK(st.code() == errc::unsupported);
        CHECK(std::string(st.message()).find("bf16_dot") != std::string::npos);
    }
}

TEST_CASE("kernel table: the typed front doors take weights validated once, by make_weights") {
    using S = scheme<4, per_group<32>>;
    const auto q = kt::make_matrix<S>(20, 64, 6, true);
    auto t = repack_tiled(q.view());
    REQUIRE(t.ok());
    std::vector<std::int32_t> bad(t->perm);
    bad[3] = 64;  // out of range: the kernels would read x[64]
    tiled_view<S> tv = t->view();
    tv.perm = bad.data();
    const auto xv = kt::random_vec(64, 1);
    std::vector<float> y(20, 2.0f);
    for (auto path : {matmul_path::dequant_fma, matmul_path::int8_dot, matmul_path::reference, matmul_path::bf16_dot})
        for (arch a : kt::runnable_archs()) {
            arch_scope s(a);
            matmul_options o;
            o.path = path;
            CHECK(gemv(tv, span<const float>(xv), span<float>(y), serial_executor{}, o).code() == errc::invalid_argument);
        }
    for (float v : y) CHECK(v == 2.0f);
}

namespace {
bool within(const kernel_entry* e, span<const kernel_entry> f) { return e >= f.data() && e < f.data() + f.size(); }

void same_entries(span<const kernel_entry> own, span<const kernel_entry> lib) {
    REQUIRE(own.size() == lib.size());
    for (std::size_t i = 0; i < own.size(); ++i) {
        char a[64], b[64];
        kernel_name(own[i], a, sizeof a);
        kernel_name(lib[i], b, sizeof b);
        CAPTURE(a);
        CHECK(std::string(a) == b);
        CHECK(own[i].key.a == lib[i].key.a);  // (the name has the body's arch, not the key's)
        CHECK(own[i].key.path == lib[i].key.path);
        CHECK(own[i].body == lib[i].body);
        CHECK(own[i].needs == lib[i].needs);
        CHECK(own[i].rows_per_task == lib[i].rows_per_task);
        CHECK((own[i].prepare == nullptr) == (lib[i].prepare == nullptr));
    }
}
}  // namespace

TEST_CASE("kernel table: a compiled-mode TU's typed front doors run the library's family, the same entries as an own copy") {
    using S = lowbit_test::lib_scheme;
    const span<const kernel_entry> own_d = dense_kernels<S>(), own_t = tiled_kernels<S>();
    using L = lowbit_test::lib_typed<S>;
    const span<const kernel_entry> lib_d = L::dense_kernels(), lib_t = L::tiled_kernels();
    // The other TU's family is the one the run-time dispatch (and family_of) gives the scheme.
    const detail::kernel_family rd = detail::layout_family<layout::dense>(S::runtime()), rt = detail::layout_family<layout::tiled>(S::runtime());
    CHECK(lib_d.data() == rd.begin);
    CHECK(lib_t.data() == rt.begin);
#if defined(LOWBIT_COMPILED)
    // LOWBIT_INLINE_KERNELS: this TU's tables are other objects than the library's (own_kernels names).
    CHECK(own_d.data() != lib_d.data());
    CHECK(own_t.data() != lib_t.data());
#else
    // Header-only: one inline table per scheme, shared by both TUs.
    CHECK(own_d.data() == lib_d.data());
    CHECK(own_t.data() == lib_t.data());
#endif
    same_entries(own_d, lib_d);
    same_entries(own_t, lib_t);

    const std::size_t N = 70, K = 96, M = 3;
    const auto q = kt::make_matrix<S>(N, K, 11, true, true);
    auto t = repack_tiled(q.view());
    REQUIRE(t.ok());
    const auto X = kt::random_vec(M * K, 12, true);
    for (auto path : {matmul_path::dequant_fma, matmul_path::int8_dot, matmul_path::reference, matmul_path::bf16_dot})
        for (arch a : kt::runnable_archs()) {
            CAPTURE(path_name(path));
            CAPTURE(arch_name(a));
            arch_scope s(a);
            for (int tiled = 0; tiled < 2; ++tiled) {
                std::vector<float> y_own(M * N, -1.0f), y_lib(M * N, -2.0f);
                matmul_info i_own, i_lib;
                matmul_options o;
                o.path = path;
                o.info = &i_own;
                const matrix_view<const float> x(X.data(), M, K);
                if (tiled) REQUIRE(gemm(t->view(), x, matrix_view<float>(y_own.data(), M, N), serial_executor{}, o).ok());
                else REQUIRE(gemm(q.view(), x, matrix_view<float>(y_own.data(), M, N), serial_executor{}, o).ok());
                o.info = &i_lib;
                if (tiled) REQUIRE(L::gemm(t->view(), x, matrix_view<float>(y_lib.data(), M, N), o).ok());
                else REQUIRE(L::gemm(q.view(), x, matrix_view<float>(y_lib.data(), M, N), o).ok());
                // Each TU ran an entry of its own family: the same position, the same bits.
                const span<const kernel_entry> own = tiled ? own_t : own_d, lib = tiled ? lib_t : lib_d;
                REQUIRE(within(i_own.entry, own));
                REQUIRE(within(i_lib.entry, lib));
                CHECK(i_own.entry - own.data() == i_lib.entry - lib.data());
                CHECK(std::string(i_own.kernel) == i_lib.kernel);
                for (std::size_t i = 0; i < y_own.size(); ++i) REQUIRE(kt::same_bits(y_own[i], y_lib[i]));
            }
        }
}

namespace {
// One typed scheme's gemv (m = 1) or gemm (m rows) in test_kernel_table_lib.cpp
// on the dense (tiled = false) or the tiled view of the weights below.
using typed_run = std::function<status(bool tiled, std::size_t m, const float* x, float* y, const matmul_options& o)>;

// The typed front doors of a compiled-mode TU (lib_dense, lib_tiled, run)
// against this TU's weights_view front door, which runs detail::family_of's
// family (compiled mode: the library's; header-only: the one inline copy):
// the typed front door must map its scheme back to that family (typed_family,
// kernel_scheme) and so run the very entry the run-time dispatch runs, bit
// for bit. Not a template: the ten schemes share these checks' code.
void check_typed_front_doors(span<const kernel_entry> lib_dense, span<const kernel_entry> lib_tiled, const weights_view& wd,
                             const weights_view& wt, const typed_run& run, unsigned seed) {
    const detail::kernel_family fd = detail::family_of(wd), ft = detail::family_of(wt);
    CHECK(lib_dense.data() == fd.begin);
    CHECK(lib_dense.size() == fd.count);
    CHECK(lib_tiled.data() == ft.begin);
    CHECK(lib_tiled.size() == ft.count);
    const std::size_t N = wd.rows(), K = wd.cols(), M = 3;
    const auto X = kt::random_vec(M * K, seed, true);
    for (auto path : {matmul_path::dequant_fma, matmul_path::int8_dot, matmul_path::reference, matmul_path::bf16_dot})
        for (arch a : kt::runnable_archs())
            for (int tiled = 0; tiled < 2; ++tiled)
                for (const std::size_t m : {std::size_t(1), M}) {  // 1: gemv
                    CAPTURE(path_name(path));
                    CAPTURE(arch_name(a));
                    CAPTURE(tiled);
                    CAPTURE(m);
                    arch_scope s(a);
                    std::vector<float> y_lib(m * N, -1.0f), y_run(m * N, -2.0f);
                    matmul_info i_lib, i_run;
                    matmul_options o;
                    o.path = path;
                    o.info = &i_lib;
                    REQUIRE(run(tiled != 0, m, X.data(), y_lib.data(), o).ok());
                    o.info = &i_run;
                    const weights_view& w = tiled ? wt : wd;
                    if (m == 1) REQUIRE(gemv(w, span<const float>(X.data(), K), span<float>(y_run), serial_executor{}, o).ok());
                    else REQUIRE(gemm(w, matrix_view<const float>(X.data(), m, K), matrix_view<float>(y_run.data(), m, N), serial_executor{}, o).ok());
                    REQUIRE(i_lib.entry != nullptr);
                    CHECK(i_lib.entry == i_run.entry);
                    CHECK(i_lib.fell_back == i_run.fell_back);
                    for (std::size_t i = 0; i < y_lib.size(); ++i) REQUIRE(kt::same_bits(y_lib[i], y_run[i]));
                }
}
}  // namespace

TEST_CASE_TEMPLATE("kernel table: a compiled-mode TU's typed gemv and gemm, every width, granularity, symmetry and scale, run "
                   "the run-time dispatch's entry with its bits",
                   S, LOWBIT_TEST_LIB_SCHEMES) {
    using L = lowbit_test::lib_typed<S>;
    const std::size_t N = 70, K = 200;  // K: a partial 32-block, and a partial last group for groups of 64
    // The weights come from the run-time twins (quantize, repack: the
    // library's in compiled mode), the typed views from them by as_qmatrix /
    // as_tiled, so that this TU instantiates no quantize<S> or packer for the
    // ten schemes. Adversarial values (zeros, spikes of 1e4) and a permutation.
    const auto W = kt::random_vec(N * K, 30 + S::bits, true);
    const auto aq = quantize(S::runtime(64), matrix_view<const float>(W.data(), N, K));
    REQUIRE(aq.ok());
    const auto w0 = to_weights(*aq);
    REQUIRE(w0.ok());
    auto qv = as_qmatrix<S>(*w0);
    REQUIRE(qv.ok());
    std::vector<std::int32_t> perm(K);
    for (std::size_t c = 0; c < K; ++c) perm[c] = static_cast<std::int32_t>((c * 7 + 3) % K);  // 7 is prime to 200
    qv->perm = perm.data();
    const auto wd = to_weights(*qv);
    REQUIRE(wd.ok());
    const auto t = repack(*wd, layout::tiled);
    REQUIRE(t.ok());
    const weights_view wt = t->view();
    const auto tv = as_tiled<S>(wt);
    REQUIRE(tv.ok());
    CHECK(tv->perm != nullptr);  // repack kept the permutation
    const typed_run run = [&](bool tiled, std::size_t m, const float* x, float* y, const matmul_options& o) {
        if (m == 1) {
            const span<const float> xs(x, K);
            const span<float> ys(y, N);
            return tiled ? L::gemv(*tv, xs, ys, o) : L::gemv(*qv, xs, ys, o);
        }
        const matrix_view<const float> xm(x, m, K);
        const matrix_view<float> ym(y, m, N);
        return tiled ? L::gemm(*tv, xm, ym, o) : L::gemm(*qv, xm, ym, o);
    };
    check_typed_front_doors(L::dense_kernels(), L::tiled_kernels(), *wd, wt, run, 31 + S::bits);
}
