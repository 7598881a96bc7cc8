// lowbit/qat/fake_quant.hpp — quantization-aware training: fake quantization
// forward, straight-through (STE) and LSQ backward, LSQ initialisation, PACT.
// Framework-agnostic functions over views; math and conventions: docs/qat.md.
//
// Forward (the same quantizer as the rest of lowbit, quant/params.hpp):
//   u = clamp(round(x / s) + z, qmin, qmax)     ŷ = s * (u - z)
// with s the *stored* step: a learned step s_learned is used as
//   s = decode(encode(s_learned))                       (stored_step<S>)
// i.e. rounded to the scheme's scale type (f16/bf16/f32) in every forward, so
// the codes and values simulated in training are exactly those export_qmatrix
// (qat/export.hpp) writes and lowbit's kernels read. The gradient passes
// through that rounding unchanged (a straight-through estimate, like round()).
//
// Backward, with v = x / s and the clip range (lo, hi) = (qmin - z, qmax - z)
// (symmetric b >= 2: ±(2^(b-1) - 1); 1 bit: ±1/2; asymmetric: (-z, 2^b - 1 - z)):
//   STE / LSQ (Esser et al. 2020, eqs. 3 and 5):
//     ∂ŷ/∂x = 1                    if lo < v < hi,  else 0
//     ∂ŷ/∂s = round(v) - v          if lo < v < hi
//             lo  (= -Qn)           if v <= lo
//             hi  (=  Qp)           if v >= hi
//   i.e. ∂ŷ/∂s = (u - z) - [lo < v < hi] * v, which also covers 1 bit (±1/2 - v
//   inside, ±1/2 outside). The step gradient is summed over the elements that
//   share the step and multiplied by g = 1 / sqrt(N * Qp) (LSQ's gradient
//   scale; N = elements sharing the step), unless the caller gives its own g.
//   The zero point of asymmetric schemes is an integer and is not learned.
//   LSQ initialisation: s = 2 * mean|x| / sqrt(Qp).
//   PACT (Choi et al. 2018) for activations: y = round(clip(x, 0, α) / s) * s,
//   s = α / (2^b - 1);  ∂y/∂x = [0 <= x < α],  ∂y/∂α = [x >= α].
//
// Granularity: one step per tensor, per output row (channel) or per group of
// G consecutive inputs, laid out exactly as qmatrix scales (row-major N x
// groups_per_row; per tensor: one). Zero points (asymmetric) likewise, as bytes.
//
// Inputs are not scanned for NaN (the hot path stays one pass), but every value
// has a defined result on every code path: NaN takes the lowest code and +-Inf
// the extreme codes (quantize_value), so the forward output is finite.
#pragma once

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "../core/scheme.hpp"
#include "../core/status.hpp"
#include "../core/views.hpp"
#include "../pack/qmatrix.hpp"
#include "../parallel.hpp"
#include "../quant/calibrate.hpp"
#include "../quant/params.hpp"
#include "detail/fake_quant_simd.hpp"

namespace lowbit {
namespace qat {

// Which code path the element loops take. Both give bit-identical values and
// input gradients; step-gradient sums agree up to float reassociation.
enum class fq_path : std::uint8_t { automatic, scalar };

struct fq_options {
    int group = 0;  // group size for per_group_dynamic schemes
    fq_path path = fq_path::automatic;
};

struct fq_backward_options : fq_options {
    // Multiplier of the summed step gradient. 0: LSQ's g = 1 / sqrt(N * Qp).
    float step_grad_scale = 0.0f;
};

// ---- constants and step storage ------------------------------------------------------

// LSQ's Qp: the largest positive level in units of the step. Symmetric: 2^(b-1) - 1
// (1 bit: 1, so that s/2 = mean|x| as in XNOR-Net); asymmetric (unsigned, as LSQ for
// activations): 2^b - 1.
template <int Bits, bool Symmetric>
constexpr float lsq_qp() noexcept {
    return Symmetric ? (Bits == 1 ? 1.0f : static_cast<float>((1 << (Bits - 1)) - 1)) : static_cast<float>(max_code(Bits));
}

// The step as the scheme stores it, decoded: what forward uses and export writes.
template <class S>
inline float stored_step(float s) noexcept {
    return S::scale_codec::decode(S::scale_codec::encode(s));
}

// Smallest and largest steps a scheme's scale type holds as positive finite
// values whose decoded float is normal (f16: 2^-24 .. 65504; bf16, f32: FLT_MIN .. ).
template <class S>
constexpr float min_step() noexcept {
    return S::scale == scale_type::f16 ? 5.9604644775390625e-08f : FLT_MIN;
}
template <class S>
constexpr float max_step() noexcept {
    return S::scale == scale_type::f16 ? 65504.0f : S::scale == scale_type::bf16 ? 3.3895313892515355e+38f : FLT_MAX;
}

// Keep learned steps usable after an optimiser update: clamp to [min_step, max_step].
// A non-finite step is an error (a diverged optimiser), reported by index.
template <class S>
inline status project_steps(span<float> steps) noexcept {
    for (std::size_t i = 0; i < steps.size(); ++i) {
        if (!std::isfinite(steps[i]))
            return status::error(errc::non_finite, "steps[%zu] = %g is not finite", i, static_cast<double>(steps[i]));
        steps[i] = std::min(std::max(steps[i], min_step<S>()), max_step<S>());
    }
    return {};
}

namespace detail {

// ---- segment kernels: n contiguous values sharing (s, z) ---------------------------------

template <int Bits, bool Symmetric>
inline void forward_scalar(const float* x, std::size_t n, float s, float z, float* y) noexcept {
    for (std::size_t i = 0; i < n; ++i) y[i] = dequantize_value(quantize_value<Bits, Symmetric>(x[i], s, z), s, z);
}

template <int Bits, bool Symmetric>
inline void forward_segment(const float* x, std::size_t n, float s, float z, float* y, fq_path path) noexcept {
    std::size_t i = 0;
    if constexpr (simd_available) {
        if (path != fq_path::scalar && s > 0.0f && n >= lanes) i = forward_simd<Bits, Symmetric>(x, n, s, z, y);
    }
    forward_scalar<Bits, Symmetric>(x + i, n - i, s, z, y + i);
}

// The clip range of v = x / s: (qmin - z, qmax - z).
template <int Bits, bool Symmetric>
constexpr float clip_lo(float z) noexcept {
    return static_cast<float>(min_code(Bits, Symmetric)) - z;
}
template <int Bits>
constexpr float clip_hi(float z) noexcept {
    return static_cast<float>(max_code(Bits)) - z;
}

// STE input gradient into gx (if not null) and the raw step-gradient sum
// sum_i gy_i * dŷ_i/ds (if want_sum; else 0). s > 0. gx may alias gy.
template <int Bits, bool Symmetric>
inline float backward_scalar(const float* x, const float* gy, std::size_t n, float s, float z, float* gx,
                             bool want_sum) noexcept {
    const float lo = clip_lo<Bits, Symmetric>(z), hi = clip_hi<Bits>(z);
    float sum = 0.0f;
    for (std::size_t i = 0; i < n; ++i) {
        const float v = x[i] / s;
        const bool inside = v > lo && v < hi;
        const float g = gy[i];
        if (want_sum) {
            const float q = static_cast<float>(quantize_value<Bits, Symmetric>(x[i], s, z)) - z;
            sum += g * (q - (inside ? v : 0.0f));
        }
        if (gx) gx[i] = inside ? g : 0.0f;
    }
    return sum;
}

template <int Bits, bool Symmetric>
inline float backward_segment(const float* x, const float* gy, std::size_t n, float s, float z, float* gx, bool want_sum,
                              fq_path path) noexcept {
    std::size_t i = 0;
    float sum = 0.0f;
    if constexpr (simd_available) {
        if (path != fq_path::scalar && n >= lanes) {
            float lane_sums[lanes];
            i = backward_simd<Bits, Symmetric>(x, gy, n, s, z, clip_lo<Bits, Symmetric>(z), clip_hi<Bits>(z), gx,
                                               want_sum ? lane_sums : nullptr);
            if (want_sum)
                for (std::size_t l = 0; l < lanes; ++l) sum += lane_sums[l];
        }
    }
    return sum + backward_scalar<Bits, Symmetric>(x + i, gy + i, n - i, s, z, gx ? gx + i : nullptr, want_sum);
}

// ---- argument checks shared by the matrix-level functions ----------------------------------

template <class S>
inline result<qlayout> step_layout(std::size_t rows, std::size_t cols, int group) noexcept {
    const int g = S::static_group ? S::static_group : group;
    if (S::gran == granularity::per_group && g < 1)
        return status::error(errc::invalid_argument, "options.group = %d: per_group_dynamic needs a group size >= 1", group);
    return qlayout::make(S::runtime(g), rows, cols);
}

// An fq_path from the caller (a value cast from an int, or unset memory, is refused).
inline status check_path(fq_path p, const char* name) noexcept {
    if (static_cast<int>(p) > static_cast<int>(fq_path::scalar))
        return status::error(errc::invalid_argument, "%s = %d is not an fq_path (automatic 0, scalar 1)", name, static_cast<int>(p));
    return {};
}

inline status check_matrix(matrix_view<const float> m, const char* name) noexcept {
    if (m.empty()) return status::error(errc::shape_mismatch, "%s is empty (%zu x %zu)", name, m.rows(), m.cols());
    return lowbit::detail::check_view(m, name);
}

// An output may be its input exactly (in place), but not overlap it otherwise:
// rows written before they are read would be read back modified.
inline status check_in_place(matrix_view<const float> in, matrix_view<const float> out, const char* in_name,
                             const char* out_name) noexcept {
    const bool same = in.data() == out.data() && in.stride() == out.stride();
    if (!same && lowbit::detail::overlaps(in.data(), lowbit::detail::view_bytes(in), out.data(), lowbit::detail::view_bytes(out)))
        return status::error(errc::invalid_argument, "%s overlaps %s without being the same view (in place)", out_name, in_name);
    return {};
}
inline status check_span_in_place(span<const float> in, span<const float> out, const char* in_name, const char* out_name) noexcept {
    LOWBIT_TRY(lowbit::detail::check_span(in, in_name));
    LOWBIT_TRY(lowbit::detail::check_span(out, out_name));
    if (in.data() != out.data() && lowbit::detail::overlaps(in.data(), in.size() * 4, out.data(), out.size() * 4))
        return status::error(errc::invalid_argument, "%s overlaps %s without being the same array (in place)", out_name, in_name);
    return {};
}

// A backward pass's spans: grad_y as long as x, grad_x empty (not wanted) or
// as long too, each valid, grad_x either grad_y itself or apart from it.
inline status check_backward_spans(span<const float> x, span<const float> grad_y, span<const float> grad_x) noexcept {
    if (grad_y.size() != x.size())
        return status::error(errc::shape_mismatch, "grad_y has %zu elements, x has %zu", grad_y.size(), x.size());
    if (!grad_x.empty() && grad_x.size() != x.size())
        return status::error(errc::shape_mismatch, "grad_x has %zu elements, x has %zu", grad_x.size(), x.size());
    LOWBIT_TRY(check_span_in_place(x, x, "x", "x"));
    return check_span_in_place(grad_y, grad_x, "grad_y", "grad_x");
}

inline status check_same_shape(matrix_view<const float> a, matrix_view<const float> b, const char* name) noexcept {
    if (a.rows() != b.rows() || a.cols() != b.cols())
        return status::error(errc::shape_mismatch, "%s is %zu x %zu, w is %zu x %zu", name, b.rows(), b.cols(), a.rows(), a.cols());
    return check_matrix(b, name);
}

// The initialisers' (lsq_init, calibrated_init) checks of w and of the steps and
// zeros they fill; the steps' layout on success.
template <class S>
result<qlayout> init_layout(matrix_view<const float> w, span<float> steps, span<std::uint8_t> zeros, const fq_options& opt) {
    LOWBIT_TRY(check_matrix(w, "w"));
    auto l = step_layout<S>(w.rows(), w.cols(), opt.group);
    if (!l) return l.error();
    if (steps.size() != l->n_scales)
        return status::error(errc::shape_mismatch, "steps has %zu elements, the scheme needs %zu", steps.size(), l->n_scales);
    if (!S::is_symmetric && zeros.size() != l->n_zeros)
        return status::error(errc::shape_mismatch, "zeros has %zu elements, the scheme needs %zu", zeros.size(), l->n_zeros);
    LOWBIT_TRY(lowbit::detail::check_finite(w, "w"));
    return l;
}

// Steps and zeros have the qmatrix scale layout; steps are positive and finite once stored.
template <class S>
inline status check_steps(const qlayout& l, span<const float> steps, span<const std::uint8_t> zeros) noexcept {
    if (steps.size() != l.n_scales)
        return status::error(errc::shape_mismatch, "steps has %zu elements, the scheme needs %zu", steps.size(), l.n_scales);
    if (!S::is_symmetric && zeros.size() != l.n_zeros)
        return status::error(errc::shape_mismatch, "zeros has %zu elements, the scheme needs %zu", zeros.size(), l.n_zeros);
    LOWBIT_TRY(lowbit::detail::check_span(steps, "steps"));
    LOWBIT_TRY(lowbit::detail::check_span(zeros, "zeros"));
    if (S::is_symmetric && !zeros.empty())
        return status::error(errc::invalid_argument, "zeros has %zu elements, a symmetric scheme has none", zeros.size());
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const float s = stored_step<S>(steps[i]);
        if (!(s > 0.0f) || !std::isfinite(s))
            return status::error(errc::invalid_argument, "steps[%zu] = %g is stored as %g: steps must be positive and finite",
                                 i, static_cast<double>(steps[i]), static_cast<double>(s));
    }
    for (std::size_t i = 0; i < zeros.size(); ++i)
        if (zeros[i] > max_code(S::bits))
            return status::error(errc::invalid_argument, "zeros[%zu] = %d exceeds the largest %d-bit code", i, zeros[i], S::bits);
    return {};
}

template <class S>
inline std::size_t step_index(const qlayout& l, std::size_t r, std::size_t g) noexcept {
    return S::gran == granularity::per_tensor ? 0 : r * l.groups_per_row + g;
}

template <class S>
inline float zero_of(span<const std::uint8_t> zeros, std::size_t idx) noexcept {
    if constexpr (S::is_symmetric) {
        (void)zeros;
        (void)idx;
        return symmetric_zero(S::bits);
    } else {
        return static_cast<float>(zeros[idx]);
    }
}

// Rows per task: about 64k elements, as quantize_into.
inline std::size_t rows_per_task(std::size_t cols) noexcept { return std::max<std::size_t>(1, 65536 / cols); }

// Calls f(r, g, c0, n, idx) for every group of rows [r0, r1).
template <class F>
inline void for_groups(const qlayout& l, bool per_tensor, std::size_t r0, std::size_t r1, F&& f) {
    const std::size_t G = static_cast<std::size_t>(l.group);
    for (std::size_t r = r0; r < r1; ++r)
        for (std::size_t g = 0; g < l.groups_per_row; ++g) {
            const std::size_t c0 = g * G;
            f(r, g, c0, std::min(G, l.cols - c0), per_tensor ? 0 : r * l.groups_per_row + g);
        }
}

}  // namespace detail

// ---- forward -----------------------------------------------------------------------------

// out = fake-quantized w (N x K) with the given learned steps (stored-rounded here)
// and zero points (asymmetric only; empty for symmetric). out may be w itself.
template <class S, class Exec = serial_executor>
status fake_quantize(matrix_view<const float> w, span<const float> steps, span<const std::uint8_t> zeros, matrix_view<float> out,
                     const fq_options& opt = {}, Exec&& exec = Exec{}) {
    LOWBIT_TRY(detail::check_path(opt.path, "options.path"));
    LOWBIT_TRY(detail::check_matrix(w, "w"));
    LOWBIT_TRY(detail::check_same_shape(w, out, "out"));
    auto l = detail::step_layout<S>(w.rows(), w.cols(), opt.group);
    if (!l) return l.error();
    LOWBIT_TRY(detail::check_steps<S>(*l, steps, zeros));
    LOWBIT_TRY(detail::check_in_place(w, out, "w", "out"));
    const std::size_t per = detail::rows_per_task(w.cols());
    exec((w.rows() + per - 1) / per, [&](std::size_t t) {
        detail::for_groups(*l, S::gran == granularity::per_tensor, t * per, std::min(w.rows(), (t + 1) * per),
                           [&](std::size_t r, std::size_t, std::size_t c0, std::size_t n, std::size_t idx) {
                               detail::forward_segment<S::bits, S::is_symmetric>(w.row(r) + c0, n, stored_step<S>(steps[idx]),
                                                                                 detail::zero_of<S>(zeros, idx),
                                                                                 out.row(r) + c0, opt.path);
                           });
    });
    return {};
}

// ---- backward ----------------------------------------------------------------------------

// Given grad_out = ∂L/∂ŷ, writes grad_w = ∂L/∂w by the STE (skipped when grad_w has
// no data; may alias grad_out) and, when grad_steps is not empty, the LSQ step
// gradient grad_steps[i] = g_i * sum over the step's elements of grad_out * ∂ŷ/∂s.
// Both outputs are overwritten, not accumulated.
template <class S, class Exec = serial_executor>
status fake_quantize_backward(matrix_view<const float> w, span<const float> steps, span<const std::uint8_t> zeros,
                              matrix_view<const float> grad_out, matrix_view<float> grad_w, span<float> grad_steps,
                              const fq_backward_options& opt = {}, Exec&& exec = Exec{}) {
    LOWBIT_TRY(detail::check_path(opt.path, "options.path"));
    LOWBIT_TRY(detail::check_matrix(w, "w"));
    LOWBIT_TRY(detail::check_same_shape(w, grad_out, "grad_out"));
    const bool want_gw = grad_w.data() != nullptr;
    if (want_gw) LOWBIT_TRY(detail::check_same_shape(w, grad_w, "grad_w"));
    auto l = detail::step_layout<S>(w.rows(), w.cols(), opt.group);
    if (!l) return l.error();
    LOWBIT_TRY(detail::check_steps<S>(*l, steps, zeros));
    if (want_gw) LOWBIT_TRY(detail::check_in_place(grad_out, grad_w, "grad_out", "grad_w"));
    const bool want_gs = !grad_steps.empty();
    LOWBIT_TRY(lowbit::detail::check_span(grad_steps, "grad_steps"));
    if (want_gs && grad_steps.size() != l->n_scales)
        return status::error(errc::shape_mismatch, "grad_steps has %zu elements, the scheme needs %zu", grad_steps.size(),
                             l->n_scales);
    if (!std::isfinite(opt.step_grad_scale))
        return status::error(errc::invalid_argument, "options.step_grad_scale is not finite");

    constexpr bool per_tensor = S::gran == granularity::per_tensor;
    constexpr float qp = lsq_qp<S::bits, S::is_symmetric>();
    auto grad_scale = [&](std::size_t n) {
        return opt.step_grad_scale != 0.0f ? opt.step_grad_scale : static_cast<float>(1.0 / std::sqrt(static_cast<double>(n) * qp));
    };
    // Per tensor, rows are summed in a fixed order after the tasks (any executor, same result).
    std::vector<double> row_sums(per_tensor && want_gs ? w.rows() : 0);
    const std::size_t per = detail::rows_per_task(w.cols());
    exec((w.rows() + per - 1) / per, [&](std::size_t t) {
        detail::for_groups(*l, per_tensor, t * per, std::min(w.rows(), (t + 1) * per),
                           [&](std::size_t r, std::size_t, std::size_t c0, std::size_t n, std::size_t idx) {
                               const float sum = detail::backward_segment<S::bits, S::is_symmetric>(
                                   w.row(r) + c0, grad_out.row(r) + c0, n, stored_step<S>(steps[idx]),
                                   detail::zero_of<S>(zeros, idx), want_gw ? grad_w.row(r) + c0 : nullptr, want_gs, opt.path);
                               if (!want_gs) return;
                               if (per_tensor) row_sums[r] += sum;
                               else grad_steps[idx] = grad_scale(n) * sum;
                           });
    });
    if (per_tensor && want_gs) {
        double total = 0.0;
        for (double v : row_sums) total += v;
        grad_steps[0] = grad_scale(w.rows() * w.cols()) * static_cast<float>(total);
    }
    return {};
}

// ---- initialisation ------------------------------------------------------------------------

// LSQ initialisation, one step per group: s = 2 mean|x| / sqrt(Qp) (never below
// min_step). Asymmetric schemes centre the codes on the group's mid-range m:
// s = 2 mean|x - m| / sqrt(2^(b-1)), z = clamp(round(2^(b-1) - m / s), 0, 2^b - 1).
template <class S>
status lsq_init(matrix_view<const float> w, span<float> steps, span<std::uint8_t> zeros, const fq_options& opt = {}) {
    LOWBIT_TRY(detail::check_path(opt.path, "options.path"));
    auto l = detail::init_layout<S>(w, steps, zeros, opt);
    if (!l) return l.error();
    constexpr bool per_tensor = S::gran == granularity::per_tensor;
    const std::size_t n_acc = per_tensor ? 1 : l->n_scales;
    std::vector<double> sum_abs(n_acc, 0.0), count(n_acc, 0.0);
    std::vector<float> lo(n_acc, 0.0f), hi(n_acc, 0.0f);
    // Mid-range per step first (asymmetric), then mean |x - m|.
    detail::for_groups(*l, per_tensor, 0, w.rows(), [&](std::size_t r, std::size_t, std::size_t c0, std::size_t n, std::size_t idx) {
        for (std::size_t c = c0; c < c0 + n; ++c) {
            const float x = w(r, c);
            if (count[idx] == 0.0 && c == c0) lo[idx] = hi[idx] = x;
            lo[idx] = std::min(lo[idx], x);
            hi[idx] = std::max(hi[idx], x);
        }
        count[idx] += static_cast<double>(n);
    });
    std::vector<float> mid(n_acc, 0.0f);
    if (!S::is_symmetric)
        for (std::size_t i = 0; i < n_acc; ++i) mid[i] = 0.5f * (lo[i] + hi[i]);
    detail::for_groups(*l, per_tensor, 0, w.rows(), [&](std::size_t r, std::size_t, std::size_t c0, std::size_t n, std::size_t idx) {
        for (std::size_t c = c0; c < c0 + n; ++c) sum_abs[idx] += std::fabs(static_cast<double>(w(r, c)) - mid[idx]);
    });
    constexpr double qp = S::is_symmetric ? static_cast<double>(lsq_qp<S::bits, true>()) : static_cast<double>(1 << (S::bits - 1));
    for (std::size_t i = 0; i < n_acc; ++i) {
        const float s = static_cast<float>(2.0 * sum_abs[i] / count[i] / std::sqrt(qp));
        steps[i] = std::min(std::max(s, min_step<S>()), max_step<S>());
        if (!S::is_symmetric) {
            const float z = std::nearbyint(static_cast<float>(1 << (S::bits - 1)) - mid[i] / stored_step<S>(steps[i]));
            zeros[i] = static_cast<std::uint8_t>(std::min(std::max(z, 0.0f), static_cast<float>(max_code(S::bits))));
        }
    }
    return {};
}

// Steps (and zeros) from lowbit's own calibration (RTN's scale search): fake
// quantization with them reproduces lowbit::quantize<S>(w, calib) exactly, so QAT
// starts from the PTQ model. All-zero groups get min_step (their values stay 0).
template <class S>
status calibrated_init(matrix_view<const float> w, const calibration& calib, span<float> steps, span<std::uint8_t> zeros,
                       const fq_options& opt = {}) {
    LOWBIT_TRY(detail::check_path(opt.path, "options.path"));
    LOWBIT_TRY(calib.validate());
    auto l = detail::init_layout<S>(w, steps, zeros, opt);
    if (!l) return l.error();
    using codec = typename S::scale_codec;
    auto set = [&](std::size_t idx, const group_params<codec>& p) {
        if (!std::isfinite(p.scale))
            return status::error(errc::invalid_argument, "the step of group %zu overflows %s scales", idx, scale_type_name(S::scale));
        steps[idx] = p.scale > 0.0f ? p.scale : min_step<S>();
        if (!S::is_symmetric) zeros[idx] = p.stored_zero;
        return status{};
    };
    std::vector<float> scratch;
    if (S::gran == granularity::per_tensor) {
        if (calib.kind == calibration::method::percentile) scratch.resize(w.rows() * w.cols());
        return set(0, calibrate_block<S::bits, S::is_symmetric, codec>({w.data(), w.rows(), w.cols(), w.stride()}, calib,
                                                                       scratch.data()));
    }
    if (calib.kind == calibration::method::percentile) scratch.resize(static_cast<std::size_t>(l->group));
    status st;
    detail::for_groups(*l, false, 0, w.rows(), [&](std::size_t r, std::size_t, std::size_t c0, std::size_t n, std::size_t idx) {
        if (!st.ok()) return;
        st = set(idx, calibrate_block<S::bits, S::is_symmetric, codec>({w.row(r) + c0, 1, n, n}, calib, scratch.data()));
    });
    return st;
}

// ---- flat tensors (activations) ----------------------------------------------------------

// y = fake-quantized x with one step and zero point used as given (no storage
// rounding: activation scales are not stored in a qmatrix). step > 0.
template <int Bits, bool Symmetric>
status fake_quantize_values(span<const float> x, float step, float zero, span<float> y, fq_path path = fq_path::automatic) noexcept {
    LOWBIT_TRY(detail::check_path(path, "path"));
    if (y.size() != x.size()) return status::error(errc::shape_mismatch, "y has %zu elements, x has %zu", y.size(), x.size());
    LOWBIT_TRY(detail::check_span_in_place(x, y, "x", "y"));
    if (!(step > 0.0f) || !std::isfinite(step))
        return status::error(errc::invalid_argument, "step = %g, must be positive and finite", static_cast<double>(step));
    detail::forward_segment<Bits, Symmetric>(x.data(), x.size(), step, zero, y.data(), path);
    return {};
}

// STE input gradient of fake_quantize_values into grad_x (may alias grad_y; skipped
// when empty); returns the raw step gradient sum_i grad_y_i * ∂ŷ_i/∂s (multiply by
// LSQ's g yourself).
template <int Bits, bool Symmetric>
result<float> fake_quantize_values_backward(span<const float> x, float step, float zero, span<const float> grad_y,
                                            span<float> grad_x, fq_path path = fq_path::automatic) noexcept {
    LOWBIT_TRY(detail::check_path(path, "path"));
    LOWBIT_TRY(detail::check_backward_spans(x, grad_y, grad_x));
    if (!(step > 0.0f) || !std::isfinite(step))
        return status::error(errc::invalid_argument, "step = %g, must be positive and finite", static_cast<double>(step));
    return detail::backward_segment<Bits, Symmetric>(x.data(), grad_y.data(), x.size(), step, zero,
                                                     grad_x.empty() ? nullptr : grad_x.data(), true, path);
}

// ---- PACT: learned clipping of non-negative activations -------------------------------------

// y = round(clip(x, 0, alpha) / s) * s with s = alpha / (2^b - 1): lowbit's
// asymmetric quantizer with zero point 0, so the codes are those of a
// scheme<Bits, ..., asymmetric> with that step.
template <int Bits>
status pact_forward(span<const float> x, float alpha, span<float> y, fq_path path = fq_path::automatic) noexcept {
    if (!(alpha > 0.0f) || !std::isfinite(alpha))
        return status::error(errc::invalid_argument, "alpha = %g, must be positive and finite", static_cast<double>(alpha));
    return fake_quantize_values<Bits, false>(x, alpha / static_cast<float>(max_code(Bits)), 0.0f, y, path);
}

// PACT backward: grad_x = grad_y * [0 <= x < alpha] (skipped when grad_x is
// empty; may alias grad_y); returns ∂L/∂alpha = sum grad_y * [x >= alpha].
// Add the gradient of PACT's L2 penalty on alpha yourself.
template <int Bits>
result<float> pact_backward(span<const float> x, float alpha, span<const float> grad_y, span<float> grad_x) noexcept {
    LOWBIT_TRY(detail::check_backward_spans(x, grad_y, grad_x));
    if (!(alpha > 0.0f) || !std::isfinite(alpha))
        return status::error(errc::invalid_argument, "alpha = %g, must be positive and finite", static_cast<double>(alpha));
    double ga = 0.0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        const float g = grad_y[i];
        if (x[i] >= alpha) ga += g;
        if (!grad_x.empty()) grad_x[i] = (x[i] >= 0.0f && x[i] < alpha) ? g : 0.0f;
    }
    return static_cast<float>(ga);
}

}  // namespace qat
}  // namespace lowbit
