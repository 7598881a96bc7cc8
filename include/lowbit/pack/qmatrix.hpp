// lowbit/pack/qmatrix.hpp — a quantized N x K weight: packed codes, scales and
// zero points, as views over any memory and as an owning container; and
// round-to-nearest quantization into it. Layout: docs/formats.md, "qmatrix".
//
//   codes   N rows of ceil(K*b/8) bytes (row_bytes may be larger: padding),
//           dense little-endian bit order (bitpack.hpp)
//   scales  per_tensor: 1;  otherwise N * groups_per_row, row-major
//   zeros   asymmetric only, same count as scales, one byte each
//   perm    optional, K input indices: column j of the codes holds input perm[j]
//           (GPTQ act-order). Kernels gather x[perm[j]].
// Group g of a row covers columns [g*G, min((g+1)*G, K)): the last group of a
// row may be shorter when G does not divide K. per_channel and per_tensor use G = K.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "../core/scheme.hpp"
#include "../core/status.hpp"
#include "../core/views.hpp"
#include "../parallel.hpp"
#include "../quant/calibrate.hpp"
#include "../quant/params.hpp"
#include "../weights/weights_view.hpp"
#include "bitpack.hpp"

namespace lowbit {

// Sizes of the arrays of an N x K matrix under a scheme.
struct qlayout {
    std::size_t rows = 0, cols = 0;
    int group = 0;  // elements per group along a row
    std::size_t groups_per_row = 0;
    std::size_t row_bytes = 0;
    std::size_t n_scales = 0;
    std::size_t n_zeros = 0;

    std::size_t code_bytes() const noexcept { return rows * row_bytes; }

    static result<qlayout> make(const runtime_scheme& s, std::size_t rows, std::size_t cols) noexcept {
        LOWBIT_TRY(s.validate());
        if (rows == 0 || cols == 0)
            return status::error(errc::shape_mismatch, "matrix is empty (%zu x %zu)", rows, cols);
        if (cols > (std::size_t{1} << 40) || rows > (std::size_t{1} << 40) || rows * cols > (std::size_t{1} << 46))
            return status::error(errc::invalid_argument, "matrix %zu x %zu is too large", rows, cols);
        qlayout l;
        l.rows = rows;
        l.cols = cols;
        l.group = s.gran == granularity::per_group ? s.group : static_cast<int>(std::min<std::size_t>(cols, 1u << 30));
        if (s.gran != granularity::per_group && cols > (1u << 30))
            return status::error(errc::invalid_argument, "per-channel row length %zu is too large", cols);
        l.groups_per_row = (cols + static_cast<std::size_t>(l.group) - 1) / static_cast<std::size_t>(l.group);
        l.row_bytes = packed_bytes(cols, s.bits);
        l.n_scales = s.gran == granularity::per_tensor ? 1 : rows * l.groups_per_row;
        l.n_zeros = s.symmetric ? 0 : l.n_scales;
        return l;
    }
};


// Read-only view; any memory (mmap'd file, arena) can back it.
template <class S>
struct qmatrix_view {
    using scheme_type = S;
    using scale_storage = typename S::scale_storage;

    const std::uint8_t* codes = nullptr;
    const scale_storage* scales = nullptr;
    const std::uint8_t* zeros = nullptr;   // null for symmetric schemes
    const std::int32_t* perm = nullptr;    // null: identity
    std::size_t rows = 0, cols = 0;
    int group = 0;
    std::size_t row_bytes = 0;

    std::size_t groups_per_row() const noexcept { return (cols + static_cast<std::size_t>(group) - 1) / static_cast<std::size_t>(group); }
    std::size_t scale_index(std::size_t r, std::size_t g) const noexcept {
        return S::gran == granularity::per_tensor ? 0 : r * groups_per_row() + g;
    }
    float scale(std::size_t r, std::size_t g) const noexcept { return S::scale_codec::decode(scales[scale_index(r, g)]); }
    float zero(std::size_t r, std::size_t g) const noexcept {
        return S::is_symmetric ? symmetric_zero(S::bits) : static_cast<float>(zeros[scale_index(r, g)]);
    }
    const std::uint8_t* row(std::size_t r) const noexcept { return codes + r * row_bytes; }
    std::uint8_t code(std::size_t r, std::size_t c) const noexcept { return get_code<S::bits>(row(r), c); }
    float value(std::size_t r, std::size_t c) const noexcept {
        const std::size_t g = c / static_cast<std::size_t>(group);
        return dequantize_value(code(r, c), scale(r, g), zero(r, g));
    }

    // Checks that the fields describe a consistent matrix (not the data itself).
    // The static group is the typed view's own check; the rest is the dense
    // layout's one validator (weights/weights_view.hpp).
    status validate() const noexcept {
        if (S::static_group && group != S::static_group)
            return status::error(errc::invalid_argument, "qmatrix.group = %d but the scheme's group is %d", group, S::static_group);
        return layout_traits<layout::dense>::validate(desc(), "qmatrix");
    }
    // The run-time description of these fields (not validated).
    weights_desc desc() const noexcept { return detail::typed_view_desc(layout::dense, S::runtime(group), *this, row_bytes); }

    // Bytes of each array (for overlap checks).
    std::size_t n_scales() const noexcept { return S::gran == granularity::per_tensor ? 1 : rows * groups_per_row(); }
    std::size_t code_bytes() const noexcept { return rows * row_bytes; }
};

// Writable view: where quantize_into writes.
template <class S>
struct qmatrix_mut_view {
    using scheme_type = S;
    using scale_storage = typename S::scale_storage;
    std::uint8_t* codes = nullptr;
    scale_storage* scales = nullptr;
    std::uint8_t* zeros = nullptr;
    std::int32_t* perm = nullptr;
    std::size_t rows = 0, cols = 0;
    int group = 0;
    std::size_t row_bytes = 0;

    // (qmatrix_view's fields are in this order.)
    operator qmatrix_view<S>() const noexcept { return {codes, scales, zeros, perm, rows, cols, group, row_bytes}; }
};

// Scheme-independent owned storage, shared by qmatrix<S> and the run-time any_qmatrix.
struct qstorage {
    std::vector<std::uint8_t> codes;
    std::vector<float> scales_f32;        // used when the scale type is f32
    std::vector<std::uint16_t> scales_16;  // used when it is f16 or bf16
    std::vector<std::uint8_t> zeros;
    std::vector<std::int32_t> perm;
    qlayout layout;

    // Bytes held (codes + scales + zeros + permutation).
    std::size_t bytes() const noexcept {
        return codes.size() + scales_f32.size() * 4 + scales_16.size() * 2 + zeros.size() + perm.size() * 4;
    }
};

// A view (View = qmatrix_view<S> or qmatrix_mut_view<S>) of storage laid out for S.
template <class View, class Storage>
View storage_view(Storage& st) noexcept {
    using S = typename View::scheme_type;
    View v;
    v.codes = st.codes.data();
    if constexpr (S::scale == scale_type::f32) v.scales = st.scales_f32.data();
    else v.scales = st.scales_16.data();
    v.zeros = S::is_symmetric ? nullptr : st.zeros.data();
    v.perm = st.perm.empty() ? nullptr : st.perm.data();
    v.rows = st.layout.rows;
    v.cols = st.layout.cols;
    v.group = st.layout.group;
    v.row_bytes = st.layout.row_bytes;
    return v;
}

// Owning quantized matrix.
template <class S>
class qmatrix {
public:
    using scheme_type = S;
    using scale_storage = typename S::scale_storage;

    qmatrix() = default;
    // Zero-filled storage for the given shape (group: for per_group_dynamic).
    static result<qmatrix> allocate(std::size_t rows, std::size_t cols, int group = 0) {
        auto l = qlayout::make(S::runtime(group), rows, cols);
        if (!l) return l.error();
        qmatrix q;
        q.st_.layout = *l;
        // resize, not assign: GCC 12 warns (-Wnonnull, falsely) on assign(0, value)
        q.st_.codes.resize(l->code_bytes());
        if constexpr (S::scale == scale_type::f32) q.st_.scales_f32.resize(l->n_scales);
        else q.st_.scales_16.resize(l->n_scales);
        q.st_.zeros.resize(l->n_zeros);
        return q;
    }
    static qmatrix from_storage(qstorage&& s) noexcept {
        qmatrix q;
        q.st_ = std::move(s);
        return q;
    }
    qstorage release() && noexcept { return std::move(st_); }

    std::size_t rows() const noexcept { return st_.layout.rows; }
    std::size_t cols() const noexcept { return st_.layout.cols; }
    int group() const noexcept { return st_.layout.group; }
    const qlayout& layout() const noexcept { return st_.layout; }
    const std::vector<std::int32_t>& perm() const noexcept { return st_.perm; }
    void set_perm(std::vector<std::int32_t> p) { st_.perm = std::move(p); }

    qmatrix_view<S> view() const noexcept { return storage_view<qmatrix_view<S>>(st_); }
    operator qmatrix_view<S>() const noexcept { return view(); }
    qmatrix_mut_view<S> mut_view() noexcept { return storage_view<qmatrix_mut_view<S>>(st_); }
    const qstorage& storage() const noexcept { return st_; }

    // Bytes held (codes + scales + zeros + permutation).
    std::size_t bytes() const noexcept { return st_.bytes(); }

private:
    qstorage st_;
};

// Options of round-to-nearest quantization.
struct quantize_options {
    calibration calib{};
    int group = 0;  // group size for per_group_dynamic schemes
};

namespace detail {
// Check a view can be read (not null unless empty, stride >= cols, float
// aligned) and its values are finite; report the first offender. With lo/hi,
// also return the range of w widened to include 0 (quantize_into needs it, in
// the same pass). Every algorithm checks its float inputs through here.
inline status check_finite(matrix_view<const float> w, const char* name, float* lo = nullptr, float* hi = nullptr) noexcept {
    LOWBIT_TRY(check_view(w, name));
    float mn = 0.0f, mx = 0.0f;
    for (std::size_t r = 0; r < w.rows(); ++r) {
        const float* row = w.row(r);
        for (std::size_t c = 0; c < w.cols(); ++c) {
            if (!std::isfinite(row[c]))
                return status::error(errc::non_finite, "%s(%zu, %zu) = %g is not finite", name, r, c, static_cast<double>(row[c]));
            mn = std::min(mn, row[c]);
            mx = std::max(mx, row[c]);
        }
    }
    if (lo) *lo = mn;
    if (hi) *hi = mx;
    return {};
}

template <class S>
inline status check_shape(matrix_view<const float> w, const qmatrix_mut_view<S>& out) noexcept {
    if (w.empty()) return status::error(errc::shape_mismatch, "w is empty (%zu x %zu)", w.rows(), w.cols());
    LOWBIT_TRY(check_view(w, "w"));
    if (out.rows != w.rows() || out.cols != w.cols())
        return status::error(errc::shape_mismatch, "w is %zu x %zu but the output qmatrix is %zu x %zu", w.rows(), w.cols(),
                             out.rows, out.cols);
    const qmatrix_view<S> v = out;
    LOWBIT_TRY(v.validate());
    const std::size_t wb = view_bytes(w), ns = v.n_scales();
    if (overlaps(w.data(), wb, out.codes, v.code_bytes()) ||
        overlaps(w.data(), wb, out.scales, ns * sizeof(typename S::scale_storage)) ||
        (!S::is_symmetric && overlaps(w.data(), wb, out.zeros, ns)))
        return status::error(errc::invalid_argument, "the output qmatrix's arrays overlap w");
    return {};
}
}  // namespace detail

namespace detail {
// The destination of quantize_into with the scheme as values: one
// implementation for all schemes (quantization is not the hot path, and tools
// that switch over every scheme stay quick to compile).
struct raw_qdest {
    std::uint8_t* codes;
    void* scales;  // float* or std::uint16_t* depending on the scale type
    std::uint8_t* zeros;
    std::size_t rows, cols, row_bytes, group, groups_per_row;
    bool per_tensor;

    void store(std::size_t idx, const qparams& p, scale_type st, bool symmetric) const noexcept {
        if (st == scale_type::f32) static_cast<float*>(scales)[idx] = bits_to_f32(p.stored_scale);
        else static_cast<std::uint16_t*>(scales)[idx] = static_cast<std::uint16_t>(p.stored_scale);
        if (!symmetric) zeros[idx] = p.stored_zero;
    }
    std::size_t index(std::size_t r, std::size_t g) const noexcept { return per_tensor ? 0 : r * groups_per_row + g; }
};

// Whether every group's step fits the scale type. Only f16 scales can fail
// (largest 65504; f32 and bf16 steps are capped so that every level stays
// finite, quant/params.hpp); calibrated steps never exceed the group's min-max
// step, so checking that one suffices. The whole range [lo, hi] of w decides
// in one step when it fits; otherwise the first group that does not is named.
// group 0: per tensor.
inline status check_steps_fit(matrix_view<const float> w, float lo, float hi, const runtime_scheme& rs, std::size_t group) noexcept {
    if (std::isfinite(params_for_range(lo, hi, rs.bits, rs.symmetric, rs.scale).scale)) return {};
    if (group == 0)
        return status::error(errc::invalid_argument, "w spans [%g, %g]: the %d-bit per-tensor step overflows %s scales (use f32 scales or bf16 scales)",
                             static_cast<double>(lo), static_cast<double>(hi), rs.bits, scale_type_name(rs.scale));
    for (std::size_t r = 0; r < w.rows(); ++r)
        for (std::size_t c0 = 0, g = 0; c0 < w.cols(); c0 += group, ++g) {
            const std::size_t c1 = std::min(w.cols(), c0 + group);
            const auto mm = std::minmax_element(w.row(r) + c0, w.row(r) + c1);
            if (!std::isfinite(params_for_range(*mm.first, *mm.second, rs.bits, rs.symmetric, rs.scale).scale))
                return status::error(errc::invalid_argument,
                                     "w row %zu, group %zu (columns %zu..%zu) spans [%g, %g]: the %d-bit step overflows %s scales "
                                     "(use f32 scales or bf16 scales)",
                                     r, g, c0, c1 - 1, static_cast<double>(*mm.first), static_cast<double>(*mm.second), rs.bits,
                                     scale_type_name(rs.scale));
        }
    return {};
}

template <class Exec>
status quantize_rows(matrix_view<const float> w, float lo, float hi, const raw_qdest& out, const runtime_scheme& rs,
                     const calibration& calib, Exec& exec) {
    LOWBIT_TRY(check_steps_fit(w, lo, hi, rs, out.per_tensor ? 0 : out.group));

    const bool pct = calib.kind == calibration::method::percentile;
    qparams tensor_params;
    if (out.per_tensor) {
        std::vector<float> scratch(pct ? w.rows() * w.cols() : 0);
        tensor_params = calibrate_block({w.data(), w.rows(), w.cols(), w.stride()}, calib, rs.bits, rs.symmetric, rs.scale,
                                        scratch.data());
        out.store(0, tensor_params, rs.scale, rs.symmetric);
    }
    const std::size_t G = out.group;
    const std::size_t rows_per_task = std::max<std::size_t>(1, 65536 / w.cols());
    const std::size_t n_tasks = (w.rows() + rows_per_task - 1) / rows_per_task;
    exec(n_tasks, [&](std::size_t t) {
        std::vector<float> scratch(pct ? G : 0);
        std::vector<std::uint8_t> codes(w.cols());
        // The row's whole groups calibrated together (calibrate_groups: the MSE
        // search runs several at once), a last short one on its own.
        const std::size_t whole = out.per_tensor ? 0 : w.cols() / G;
        std::vector<qparams> params(whole);
        const std::size_t r_end = std::min(w.rows(), (t + 1) * rows_per_task);
        for (std::size_t r = t * rows_per_task; r < r_end; ++r) {
            const float* x = w.row(r);
            if (whole > 0) calibrate_groups(x, whole, G, calib, rs.bits, rs.symmetric, rs.scale, scratch.data(), params.data());
            for (std::size_t g = 0; g < out.groups_per_row; ++g) {
                const std::size_t c0 = g * G, n = std::min(G, w.cols() - c0);
                qparams p = tensor_params;
                if (!out.per_tensor) {
                    p = g < whole ? params[g] : calibrate_block({x + c0, 1, n, n}, calib, rs.bits, rs.symmetric, rs.scale, scratch.data());
                    out.store(out.index(r, g), p, rs.scale, rs.symmetric);
                }
                for (std::size_t c = c0; c < c0 + n; ++c) codes[c] = quantize_value(x[c], p.scale, p.zero, rs.bits, rs.symmetric);
            }
            std::uint8_t* dst = out.codes + r * out.row_bytes;
            const std::size_t used = packed_bytes(w.cols(), rs.bits);
            (void)pack_codes(rs.bits, codes.data(), w.cols(), dst);
            std::memset(dst + used, 0, out.row_bytes - used);
        }
    });
    return {};
}
}  // namespace detail

// Quantize w (N x K) into caller-provided storage with round-to-nearest and the
// chosen calibration. On error nothing is written. Rows are split over the executor.
template <class S, class Exec = serial_executor>
status quantize_into(matrix_view<const float> w, qmatrix_mut_view<S> out, const calibration& calib = {}, Exec&& exec = Exec{}) {
    LOWBIT_TRY(calib.validate());
    LOWBIT_TRY(detail::check_shape(w, out));
    float lo = 0.0f, hi = 0.0f;
    LOWBIT_TRY(detail::check_finite(w, "w", &lo, &hi));
    const qmatrix_view<S> v = out;
    const detail::raw_qdest dest{out.codes, out.scales, out.zeros, out.rows, out.cols, out.row_bytes,
                                 static_cast<std::size_t>(out.group), v.groups_per_row(), S::gran == granularity::per_tensor};
    return detail::quantize_rows(w, lo, hi, dest, S::runtime(out.group), calib, exec);
}

// Quantize into a new qmatrix.
template <class S, class Exec = serial_executor>
result<qmatrix<S>> quantize(matrix_view<const float> w, const quantize_options& opt = {}, Exec&& exec = Exec{}) {
    const int group = S::static_group ? S::static_group : opt.group;
    if (S::gran == granularity::per_group && !S::static_group && group < 1)
        return status::error(errc::invalid_argument, "options.group = %d: per_group_dynamic needs a group size >= 1", group);
    auto q = qmatrix<S>::allocate(w.rows(), w.cols(), group);
    if (!q) return q.error();
    LOWBIT_TRY(quantize_into<S>(w, q->mut_view(), opt.calib, std::forward<Exec>(exec)));
    return q;
}
template <class S, class Exec = serial_executor>
result<qmatrix<S>> quantize(matrix_view<const float> w, const calibration& calib, Exec&& exec = Exec{}) {
    quantize_options o;
    o.calib = calib;
    return quantize<S>(w, o, std::forward<Exec>(exec));
}

}  // namespace lowbit
