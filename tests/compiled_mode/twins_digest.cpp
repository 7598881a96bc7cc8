// Runs every run-time twin and the kernel table's walk on fixed inputs and
// prints what must not depend on how lowbit was built: built header-only and
// against lowbit::compiled (tests/CMakeLists.txt, compiled_mode_same), the two
// outputs must be identical. The fast paths' outputs are checked here against
// the reference (their last bits may differ with the optimisation level);
// everything else is printed exactly (FNV-1a of the bytes), except the output
// SQNR, to 3 decimals: measured, its last bits differ between the -O0 and -O2
// builds of the same code (relative 1e-8), the weight SQNR's do not.
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <lowbit/algo/awq.hpp>
#include <lowbit/algo/gptq.hpp>
#include <lowbit/algo/hqq.hpp>
#include <lowbit/kernels/kernel_list.hpp>
#include <lowbit/runtime.hpp>

namespace {

std::uint64_t fnv(const void* p, std::size_t n, std::uint64_t h = 1469598103934665603ull) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

std::uint64_t fnv_storage(const lowbit::qstorage& st) {
    std::uint64_t h = fnv(st.codes.data(), st.codes.size());
    h = fnv(st.scales_f32.data(), st.scales_f32.size() * 4, h);
    h = fnv(st.scales_16.data(), st.scales_16.size() * 2, h);
    h = fnv(st.zeros.data(), st.zeros.size(), h);
    return fnv(st.perm.data(), st.perm.size() * 4, h);
}

std::vector<float> fixed_values(std::size_t n, std::uint32_t seed) {
    std::vector<float> v(n);
    std::uint32_t s = seed;
    for (auto& x : v) {
        s = s * 1664525u + 1013904223u;
        x = static_cast<float>(static_cast<int>(s >> 8) % 2001 - 1000) / 500.0f;
    }
    return v;
}

int failures = 0;
void fail(const char* what, const char* scheme) {
    std::printf("FAIL %s (%s)\n", what, scheme);
    ++failures;
}

void run(const char* name) {
    using namespace lowbit;
    const std::size_t N = 70, K = 128, M = 3;
    const std::vector<float> w = fixed_values(N * K, 1), x = fixed_values(M * K, 2);
    auto rs = parse_scheme(name);
    if (!rs) return fail("parse_scheme", name);
    auto q = quantize(*rs, matrix_view<const float>(w.data(), N, K), calibration{});
    if (!q) return fail("quantize", name);
    const std::uint64_t h = fnv_storage(q->storage);
    std::vector<float> d(N * K);
    if (!dequantize(*q, matrix_view<float>(d.data(), N, K))) return fail("dequantize", name);
    auto rep = measure(matrix_view<const float>(w.data(), N, K), *q, matrix_view<const float>(x.data(), M, K));
    if (!rep) return fail("measure", name);
    std::vector<float> ref(M * N), y(M * N);
    matmul_options o;
    o.path = matmul_path::reference;
    if (!gemm(*q, matrix_view<const float>(x.data(), M, K), matrix_view<float>(ref.data(), M, N), serial_executor{}, o))
        return fail("gemm reference", name);
    std::printf("%-14s quantized %016" PRIx64 " dequantized %016" PRIx64 " reference gemm %016" PRIx64
                " sqnr %.17g / %.3f bytes %zu\n",
                name, h, fnv(d.data(), d.size() * 4), fnv(ref.data(), ref.size() * 4), rep->weight.sqnr_db, rep->output.sqnr_db,
                rep->bytes);
    // The algorithms' twins (algo/: compiled once per width in lowbit::compiled).
    const matrix_view<const float> wv(w.data(), N, K), xv(x.data(), M, K);
    hessian hs(K);
    if (!hs.add_batch(xv)) return fail("hessian", name);
    gptq_options go;
    go.act_order = true;
    // Each prints its result's digest, or the message of a scheme it refuses
    // (HQQ: symmetric schemes; GPTQ: per-tensor), the same in both builds.
    auto digest = [](const auto& r) -> std::string {
        if (!r) return r.error().message();
        char buf[20];
        std::snprintf(buf, sizeof buf, "%016" PRIx64, fnv_storage(r->q.storage));
        return buf;
    };
    auto g = gptq_quantize(*rs, wv, hs, go);
    auto hq = hqq_quantize(*rs, wv);
    auto aw = awq_quantize(*rs, wv, xv);
    const std::uint64_t awq_scales = aw ? fnv(aw->scales.data(), aw->scales.size() * 4) : 0;
    std::printf("%-14s gptq %s | hqq %s | awq %s %016" PRIx64 "\n", name, digest(g).c_str(), digest(hq).c_str(), digest(aw).c_str(),
                awq_scales);
    // The fast paths against the reference: f32 within float rounding; i8 within
    // what rounding the activations to int8 can move (half a step of the row's
    // largest |x| / 127 per weight, bounded here by a whole step).
    std::vector<double> f32_tol(M * N), i8_tol(M * N);
    for (std::size_t m = 0; m < M; ++m) {
        double amax = 0;
        for (std::size_t c = 0; c < K; ++c) amax = std::fmax(amax, std::fabs(x[m * K + c]));
        for (std::size_t r = 0; r < N; ++r) {
            double sum_dx = 0, sum_d = 0;
            for (std::size_t c = 0; c < K; ++c) {
                sum_dx += std::fabs(static_cast<double>(d[r * K + c]) * x[m * K + c]);
                sum_d += std::fabs(d[r * K + c]);
            }
            f32_tol[m * N + r] = 1e-4 * (1.0 + sum_dx);  // K float roundings: 128 * 6e-8
            i8_tol[m * N + r] = sum_d * amax / 127.0 + 1e-4 * (1.0 + sum_dx);
        }
    }
    const matmul_path paths[] = {matmul_path::dequant_fma, matmul_path::int8_dot};
    for (matmul_path p : paths) {
        o.path = p;
        const std::vector<double>& tol = p == matmul_path::dequant_fma ? f32_tol : i8_tol;
        if (!gemm(*q, matrix_view<const float>(x.data(), M, K), matrix_view<float>(y.data(), M, N), serial_executor{}, o))
            return fail("gemm", name);
        for (std::size_t i = 0; i < y.size(); ++i)
            if (std::fabs(y[i] - ref[i]) > tol[i]) return fail("gemm against the reference", name);
        if (!gemv(*q, span<const float>(x.data(), K), span<float>(y.data(), N), serial_executor{}, o)) return fail("gemv", name);
        for (std::size_t i = 0; i < N; ++i)
            if (std::fabs(y[i] - ref[i]) > tol[i]) return fail("gemv against the reference", name);
    }
}

}  // namespace

int main() {
    // Every scheme shape (group sizes, per-channel, per-tensor, asymmetric, each
    // scale type) of each width this program instantiates: tests/CMakeLists.txt
    // builds both copies with the same LOWBIT_WIDTHS (the header-only copy then
    // compiles an eighth of the dispatch per width left out).
    const char* shapes[] = {"g32", "g64a", "pc", "pt-f32", "g128a-bf16", "g32a-f32", "pta-bf16"};
    for (int b = 1; b <= 8; ++b) {
        if (!lowbit::detail::width_compiled(b)) continue;
        for (const char* shape : shapes) {
            char name[32];
            std::snprintf(name, sizeof name, "w%d%s", b, shape);
            run(name);
        }
    }
#if !defined(LOWBIT_COMPILED)
    // Header-only, the widths left out of LOWBIT_WIDTHS are refused by the twins
    // and absent from the table (prints nothing: the two copies' outputs match).
    for (int b = 1; b <= 8; ++b) {
        if (lowbit::detail::width_compiled(b)) continue;
        char name[16];
        std::snprintf(name, sizeof name, "w%dg32", b);
        const std::vector<float> w = fixed_values(4 * 64, 3);
        auto q = lowbit::quantize(*lowbit::parse_scheme(name), lowbit::matrix_view<const float>(w.data(), 4, 64));
        if (q || q.error().code() != lowbit::errc::unsupported) fail("a width left out is refused", name);
        const lowbit::matrix_view<const float> wv(w.data(), 4, 64);
        lowbit::hessian hs(64);
        auto g = lowbit::gptq_quantize(*lowbit::parse_scheme(name), wv, hs);
        auto hq = lowbit::hqq_quantize(*lowbit::parse_scheme(name), wv);
        auto aw = lowbit::awq_quantize(*lowbit::parse_scheme(name), wv, wv);
        if (g || g.error().code() != lowbit::errc::unsupported || hq || hq.error().code() != lowbit::errc::unsupported || aw ||
            aw.error().code() != lowbit::errc::unsupported)
            fail("a width left out is refused by gptq / hqq / awq", name);
        lowbit::for_each_kernel([&](const lowbit::kernel_entry& e) {
            if (lowbit::is_scheme_layout(e.key.lay) && e.key.bits_or_type == b) fail("a width left out is not in the table", name);
        });
    }
#endif
    // The table as the run-time lookup walks it: entries in order (the dense and
    // tiled ones of this program's widths), each found again by its key.
    std::size_t n = 0;
    std::uint64_t names = 1469598103934665603ull;
    lowbit::for_each_kernel([&](const lowbit::kernel_entry& e) {
        if (lowbit::is_scheme_layout(e.key.lay) && !lowbit::detail::width_compiled(e.key.bits_or_type)) return;
        char name[64];
        lowbit::kernel_name(e, name, sizeof name);
        names = fnv(name, std::strlen(name), names);
        if (lowbit::lookup(e.key) == nullptr) fail("lookup of a listed entry", name);
        ++n;
    });
    std::printf("kernel table: %zu entries, names %016" PRIx64 "\n", n, names);
    if (failures) std::printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
