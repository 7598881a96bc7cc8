// lowbit/kernels/matmul.hpp — the public matmul entry points on quantized weights.
//
//   gemv:       y = W x          W: N x K quantized, x: K, y: N       (decoding)
//   gemm:       Y = X W^T        X: M x K, Y: M x N                   (batches, prefill)
//   dequantize: out = W as f32 (input order, permutation undone)
//
// Inputs are views; outputs are caller-owned; work is split over output rows
// into tasks for the executor, so results are bit-identical for any executor
// and thread count. Errors (shapes, null pointers, overlapping buffers) return
// a status and leave the output untouched. NaN/Inf in activations propagate
// as in an f32 matmul.
//
// The fast paths first prepare the activations (gathered through the
// permutation, arranged for the weight width, quantized to int8 for the int8
// path) into a workspace: pass a matmul_workspace (the overloads taking one as
// the last argument) to keep allocation off the hot path; without one, a
// thread_local workspace of the calling thread is used, which allocates only
// when it must grow. Kernels: docs/kernels.md; the arch: kernels/arch.hpp.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "../core/status.hpp"
#include "../core/views.hpp"
#include "../pack/qmatrix.hpp"
#include "../parallel.hpp"
#include "arch.hpp"
#include "detail/dispatch.hpp"
#include "detail/reference.hpp"

namespace lowbit {

// Which arithmetic a matmul uses (docs/kernels.md):
//   automatic    dequant_fma (the accurate path; choose int8_dot explicitly for speed)
//   dequant_fma  codes -> f32 in registers, FMA with f32 activations (exact up to float rounding)
//   int8_dot     activations quantized per 32-block to int8, integer dot products (fastest, slightly lossy)
//   reference    the scalar reference (double accumulation), for tests
// Per-group schemes whose group is not a multiple of 32 run the reference for
// every path (the fast kernels need each 32-block inside one group).
enum class matmul_path : std::uint8_t { automatic, dequant_fma, int8_dot, reference };

struct matmul_options {
    matmul_path path = matmul_path::automatic;
};

// Scratch memory of the fast paths: prepared activations, ~(K + 32) * M * 4 bytes.
// Grows on demand, never shrinks; one workspace per concurrent call.
class matmul_workspace {
public:
    void* get(std::size_t bytes) {
        if (buf_.size() < bytes + 64) buf_.resize(bytes + 64);
        const auto p = reinterpret_cast<std::uintptr_t>(buf_.data());
        return buf_.data() + ((64 - (p & 63)) & 63);
    }
    std::size_t capacity() const noexcept { return buf_.size(); }

private:
    std::vector<unsigned char> buf_;
};

namespace detail {
// An output must not share memory with the weights it is computed from.
template <class S>
status check_output_apart(const qmatrix_view<S>& w, const void* out, std::size_t out_bytes, const char* name) noexcept {
    const std::size_t ns = w.n_scales();
    if (overlaps(out, out_bytes, w.codes, w.code_bytes()) ||
        overlaps(out, out_bytes, w.scales, ns * sizeof(typename S::scale_storage)) ||
        (w.zeros && overlaps(out, out_bytes, w.zeros, ns)) || (w.perm && overlaps(out, out_bytes, w.perm, w.cols * 4)))
        return status::error(errc::invalid_argument, "%s overlaps the weights (codes, scales, zeros or perm)", name);
    return {};
}
inline status check_path(const matmul_options& opt) noexcept {
    if (static_cast<int>(opt.path) > static_cast<int>(matmul_path::reference))
        return status::error(errc::invalid_argument, "options.path = %d is not a matmul_path (0..3)", static_cast<int>(opt.path));
    return {};
}

constexpr std::size_t rows_per_task = 64;  // fixed split: results never depend on the thread count

inline std::size_t round64(std::size_t n) noexcept { return (n + 63) & ~std::size_t{63}; }

// The calling thread's workspace; a nested call (a kernel started from inside a
// task on the same thread) gets a private one instead of clobbering it.
struct thread_workspace_guard {
    matmul_workspace own;
    matmul_workspace* ws;
    bool* busy;
    thread_workspace_guard() {
        static thread_local matmul_workspace tls;
        static thread_local bool in_use = false;
        busy = in_use ? nullptr : &in_use;
        ws = in_use ? &own : &tls;
        if (busy) *busy = true;
    }
    ~thread_workspace_guard() {
        if (busy) *busy = false;
    }
    thread_workspace_guard(const thread_workspace_guard&) = delete;
    thread_workspace_guard& operator=(const thread_workspace_guard&) = delete;
};

// The kernels see per_channel and per_group<G> as per_group_dynamic (per_channel
// is one group of K per row): the memory layout is identical and the kernels
// read the group size at run time, so every granularity but per_tensor shares
// one instantiation. This keeps code that dispatches over all schemes (the
// run-time twins) a third smaller and quicker to compile.
template <class S>
struct kernel_scheme {
    using type = std::conditional_t<S::gran == granularity::per_tensor, S,
                                    scheme<S::bits, per_group_dynamic, typename S::symmetry_type, typename S::scale_codec>>;
};
template <class S>
qmatrix_view<typename kernel_scheme<S>::type> kernel_view(const qmatrix_view<S>& w) noexcept {
    qmatrix_view<typename kernel_scheme<S>::type> v;
    v.codes = w.codes;
    v.scales = w.scales;
    v.zeros = w.zeros;
    v.perm = w.perm;
    v.rows = w.rows;
    v.cols = w.cols;
    v.group = w.group;
    v.row_bytes = w.row_bytes;
    return v;
}

// Activations the int8 path cannot quantize as they are: a NaN or +-Inf (its
// block step would be NaN/Inf and x/step a NaN, whose conversion to int8 is
// undefined), or a magnitude below 2^-120 (a block whose largest value is that
// small has a step whose reciprocal overflows). One branch-free pass over the
// row; such rows take prepare_i8_guarded.
inline bool i8_needs_guard(const float* x, std::size_t k) noexcept {
    std::uint32_t bad = 0;
    for (std::size_t i = 0; i < k; ++i) {
        std::uint32_t u;
        std::memcpy(&u, x + i, sizeof u);
        u &= 0x7fffffffu;
        bad |= static_cast<std::uint32_t>(u >= 0x7f800000u) | static_cast<std::uint32_t>(u - 1u < 0x037fffffu);
    }
    return bad != 0;
}

// The int8 preparation of a hostile row, with defined results: magnitudes
// below 2^-120 count as 0 (their products are below 2^-120 * |w| anyway); a
// row holding NaN or +-Inf makes every output it feeds NaN (as a NaN input
// of an f32 dot product does), by a NaN block step. Allocates: hostile rows
// are not the hot path.
template <int B, bool Sym>
void prepare_i8_guarded(const float* x, const std::int32_t* perm, const kdetail::act_geometry& g, std::int8_t* q, float* dxl,
                        std::int32_t* zq) {
    std::vector<float> clean(x, x + g.K);
    bool non_finite = false;
    for (float& v : clean) {
        if (!std::isfinite(v)) {
            non_finite = true;
            v = 0.0f;
        } else if (std::fabs(v) < 7.52316384526264e-37f) {  // 2^-120
            v = 0.0f;
        }
    }
    kdetail::prepare_i8<B, Sym>(clean.data(), perm, g, q, dxl, zq);
    if (non_finite)
        for (std::size_t i = 0; i < 4 * g.padded_blocks(); ++i) dxl[i] = std::numeric_limits<float>::quiet_NaN();
}

// Y(m, n) = y[m * ldy + n] = W[n,:] . X[m,:] through the fast paths (blocks_fit(w) holds).
template <class S, class Exec>
void matmul_fast(const qmatrix_view<S>& w, const float* x, std::size_t ldx, std::size_t M, float* y, std::size_t ldy,
                 Exec& exec, matmul_path path, matmul_workspace& ws) {
    constexpr int B = S::bits;
    const kdetail::act_geometry g = kdetail::act_geometry::of(w.cols);
    const std::size_t pad = g.padded(), pb = g.padded_blocks();
    const arch a = active_arch();
    const std::size_t n_tasks = (w.rows + rows_per_task - 1) / rows_per_task;
    if (path == matmul_path::int8_dot) {
        const std::size_t nl = 4 * pb;  // lanes per row
        const std::size_t q_bytes = round64(M * pad), l_bytes = round64(M * nl * sizeof(float));
        unsigned char* base = static_cast<unsigned char*>(ws.get(q_bytes + 2 * l_bytes + M * sizeof(kdetail::act_i8)));
        auto* q = reinterpret_cast<std::int8_t*>(base);
        auto* dxl = reinterpret_cast<float*>(base + q_bytes);
        auto* zq = reinterpret_cast<std::int32_t*>(base + q_bytes + l_bytes);
        auto* acts = reinterpret_cast<kdetail::act_i8*>(base + q_bytes + 2 * l_bytes);
        auto prep = [&](std::size_t m) {
            if (LOWBIT_UNLIKELY(i8_needs_guard(x + m * ldx, w.cols)))
                prepare_i8_guarded<B, S::is_symmetric>(x + m * ldx, w.perm, g, q + m * pad, dxl + m * nl, zq + m * nl);
            else
                kdetail::prepare_i8<B, S::is_symmetric>(x + m * ldx, w.perm, g, q + m * pad, dxl + m * nl, zq + m * nl);
            acts[m] = kdetail::act_i8{q + m * pad, dxl + m * nl, zq + m * nl};
        };
        if (M == 1) prep(0);
        else exec(M, prep);
        exec(n_tasks, [&](std::size_t t) {
            const std::size_t r0 = t * rows_per_task, r1 = r0 + rows_per_task < w.rows ? r0 + rows_per_task : w.rows;
            kdetail::int8_rows(a, w, r0, r1, acts, M, g, y, ldy);
        });
    } else {
        const std::size_t x_bytes = round64(M * pad * sizeof(float));
        unsigned char* base = static_cast<unsigned char*>(ws.get(x_bytes + M * sizeof(kdetail::act_f32)));
        auto* xa = reinterpret_cast<float*>(base);
        auto* acts = reinterpret_cast<kdetail::act_f32*>(base + x_bytes);
        auto prep = [&](std::size_t m) {
            kdetail::prepare_f32<B>(x + m * ldx, w.perm, g, xa + m * pad);
            acts[m] = kdetail::act_f32{xa + m * pad};
        };
        if (M == 1) prep(0);
        else exec(M, prep);
        exec(n_tasks, [&](std::size_t t) {
            const std::size_t r0 = t * rows_per_task, r1 = r0 + rows_per_task < w.rows ? r0 + rows_per_task : w.rows;
            kdetail::f32_rows(a, w, r0, r1, acts, M, g, y, ldy);
        });
    }
}
}  // namespace detail

template <class S, class Exec>
status gemv(const qmatrix_view<S>& w, span<const float> x, span<float> y, Exec&& exec, const matmul_options& opt,
            matmul_workspace& ws) {
    LOWBIT_TRY(w.validate());
    LOWBIT_TRY(detail::check_path(opt));
    if (x.size() != w.cols) return status::error(errc::shape_mismatch, "x has %zu elements, W has %zu columns", x.size(), w.cols);
    if (y.size() != w.rows) return status::error(errc::shape_mismatch, "y has %zu elements, W has %zu rows", y.size(), w.rows);
    if (!x.data() || !y.data()) return status::error(errc::invalid_argument, "x or y is null");
    if (detail::misaligned(x.data()) || detail::misaligned(y.data()))
        return status::error(errc::invalid_argument, "x or y is not aligned to a float");
    if (detail::overlaps(x.data(), x.size() * 4, y.data(), y.size() * 4))
        return status::error(errc::invalid_argument, "x and y overlap");
    LOWBIT_TRY(detail::check_output_apart(w, y.data(), y.size() * 4, "y"));
    if (opt.path != matmul_path::reference && kdetail::blocks_fit(detail::kernel_view(w))) {
        detail::matmul_fast(detail::kernel_view(w), x.data(), x.size(), 1, y.data(), y.size(), exec, opt.path, ws);
        return {};
    }
    const std::size_t n_tasks = (w.rows + detail::rows_per_task - 1) / detail::rows_per_task;
    exec(n_tasks, [&](std::size_t t) {
        const std::size_t r0 = t * detail::rows_per_task;
        const std::size_t r1 = r0 + detail::rows_per_task < w.rows ? r0 + detail::rows_per_task : w.rows;
        reference::gemv_rows(w, x.data(), y.data(), r0, r1);
    });
    return {};
}

template <class S, class Exec = serial_executor>
status gemv(const qmatrix_view<S>& w, span<const float> x, span<float> y, Exec&& exec = Exec{}, const matmul_options& opt = {}) {
    detail::thread_workspace_guard ws;
    return gemv(w, x, y, std::forward<Exec>(exec), opt, *ws.ws);
}

template <class S, class Exec>
status gemm(const qmatrix_view<S>& w, matrix_view<const float> x, matrix_view<float> y, Exec&& exec, const matmul_options& opt,
            matmul_workspace& ws) {
    LOWBIT_TRY(w.validate());
    LOWBIT_TRY(detail::check_path(opt));
    if (x.cols() != w.cols) return status::error(errc::shape_mismatch, "X has %zu columns, W has %zu", x.cols(), w.cols);
    if (y.rows() != x.rows() || y.cols() != w.rows)
        return status::error(errc::shape_mismatch, "Y is %zu x %zu, expected %zu x %zu", y.rows(), y.cols(), x.rows(), w.rows);
    if (x.rows() == 0) return {};
    if (!x.data() || !y.data()) return status::error(errc::invalid_argument, "X or Y is null");
    if (x.stride() < x.cols() || y.stride() < y.cols()) return status::error(errc::invalid_argument, "row stride < columns");
    if (detail::misaligned(x.data()) || detail::misaligned(y.data()))
        return status::error(errc::invalid_argument, "X or Y is not aligned to a float");
    if (detail::overlaps(x.data(), detail::view_bytes(x), y.data(), detail::view_bytes(y)))
        return status::error(errc::invalid_argument, "X and Y overlap");
    LOWBIT_TRY(detail::check_output_apart(w, y.data(), detail::view_bytes(y), "Y"));
    if (opt.path != matmul_path::reference && kdetail::blocks_fit(detail::kernel_view(w))) {
        detail::matmul_fast(detail::kernel_view(w), x.data(), x.stride(), x.rows(), y.data(), y.stride(), exec, opt.path, ws);
        return {};
    }
    const std::size_t n_tasks = (w.rows + detail::rows_per_task - 1) / detail::rows_per_task;
    exec(n_tasks, [&](std::size_t t) {
        const std::size_t n0 = t * detail::rows_per_task;
        const std::size_t n1 = n0 + detail::rows_per_task < w.rows ? n0 + detail::rows_per_task : w.rows;
        reference::gemm_cols(w, x, y, n0, n1);
    });
    return {};
}

template <class S, class Exec = serial_executor>
status gemm(const qmatrix_view<S>& w, matrix_view<const float> x, matrix_view<float> y, Exec&& exec = Exec{},
            const matmul_options& opt = {}) {
    detail::thread_workspace_guard ws;
    return gemm(w, x, y, std::forward<Exec>(exec), opt, *ws.ws);
}

template <class S, class Exec = serial_executor>
status dequantize(const qmatrix_view<S>& w, matrix_view<float> out, Exec&& exec = Exec{}) {
    LOWBIT_TRY(w.validate());
    if (out.rows() != w.rows || out.cols() != w.cols)
        return status::error(errc::shape_mismatch, "out is %zu x %zu, W is %zu x %zu", out.rows(), out.cols(), w.rows, w.cols);
    if (!out.data() || out.stride() < out.cols()) return status::error(errc::invalid_argument, "out is null or its stride < columns");
    if (detail::misaligned(out.data())) return status::error(errc::invalid_argument, "out is not aligned to a float");
    LOWBIT_TRY(detail::check_output_apart(w, out.data(), detail::view_bytes(out), "out"));
    const std::size_t n_tasks = (w.rows + detail::rows_per_task - 1) / detail::rows_per_task;
    exec(n_tasks, [&](std::size_t t) {
        const std::size_t r0 = t * detail::rows_per_task;
        reference::dequantize_rows(w, out, r0, r0 + detail::rows_per_task < w.rows ? r0 + detail::rows_per_task : w.rows);
    });
    return {};
}

// Owning-container conveniences (template deduction does not see conversions).
template <class S, class Exec = serial_executor>
status gemv(const qmatrix<S>& w, span<const float> x, span<float> y, Exec&& exec = Exec{}, const matmul_options& opt = {}) {
    return gemv(w.view(), x, y, std::forward<Exec>(exec), opt);
}
template <class S, class Exec = serial_executor>
status gemm(const qmatrix<S>& w, matrix_view<const float> x, matrix_view<float> y, Exec&& exec = Exec{},
            const matmul_options& opt = {}) {
    return gemm(w.view(), x, y, std::forward<Exec>(exec), opt);
}
template <class S, class Exec = serial_executor>
status dequantize(const qmatrix<S>& w, matrix_view<float> out, Exec&& exec = Exec{}) {
    return dequantize(w.view(), out, std::forward<Exec>(exec));
}

}  // namespace lowbit
