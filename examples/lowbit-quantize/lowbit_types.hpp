// lowbit_types.hpp — lowbit schemes as lowbit-quantize types (--type w4g128,
// --tensor-type 'ffn_down=w8pc'): the shape a tensor takes in OUT, and the
// quantization of one tensor with round to nearest or HQQ (GPTQ
// runs inside the calibration, calibrate.hpp). Such a tensor is written as
// lowbit weights (docs/formats.md, "lowbit weights in GGUF") through
// weights_gguf_writer, which the reader hands back as views into the mapped
// file; docs/tools.md, "lowbit schemes", is the manual.
//
// Codebook types (cb4, cb3, cb4-nf, cb3-nf: formats/codebook.hpp) are
// quantized here too (codebook::quantize on the NF or the learned grid; GPTQ
// on the grid in calibrate.hpp) and stored as codebook weights.
//
// The names (w4g128, cb4, ...) are parsed by tensor_rules.hpp (parse_lowbit_type).
#pragma once

#include <cstddef>
#include <cstring>
#include <utility>
#include <vector>

#include <lowbit/algo/hqq.hpp>
#include <lowbit/core/scheme.hpp>
#include <lowbit/formats/codebook.hpp>
#include <lowbit/quant/metrics.hpp>
#include <lowbit/runtime.hpp>
#include <lowbit/weights/repack.hpp>

#include "tensor_rules.hpp"

namespace lbq {

// How the tensors given a lowbit scheme are quantized: --method rtn (round to
// nearest, min/max range), gptq (calibrate.hpp) or hqq (asymmetric schemes).
enum class lowbit_method { rtn, gptq, hqq };

// The weights a rows x cols tensor becomes under `s`, as OUT stores them
// (pointers are placeholders): the tiled layout the kernels run when it can
// hold the scheme's groups (a multiple of 32, or the whole row), else dense.
// A pure function of the shape, so that OUT's header is written before the
// first tensor is quantized.
// Codebook types: their blocks (the grid, known only once quantized, is a
// stand-in here; weights_gguf_writer writes the real one with the blocks).
inline lowbit::result<lowbit::weights_view> lowbit_file_shape(const lowbit_type& t, std::size_t rows, std::size_t cols) {
    if (t.codebook) {
        lowbit::weights_desc d;
        d.lay = lowbit::layout::codebook;
        d.scheme.bits = t.codebook;
        d.rows = rows;
        d.cols = cols;
        const lowbit::codebook::grid g = lowbit::codebook::nf_grid(t.codebook);
        std::memcpy(d.grid, g.levels, sizeof d.grid);
        return lowbit::make_weights_shape(d);
    }
    const lowbit::runtime_scheme& s = t.scheme;
    auto l = lowbit::qlayout::make(s, rows, cols);
    if (!l) return l.error();
    lowbit::weights_desc d;
    d.scheme = s;
    d.rows = rows;
    d.cols = cols;
    d.group = l->group;
    d.row_bytes = l->row_bytes;
    d.lay = lowbit::layout::tiled;
    if (auto t = lowbit::make_weights_shape(d)) return t;
    d.lay = lowbit::layout::dense;
    return lowbit::make_weights_shape(d);
}

// `q` in the layout lowbit_file_shape chose for its shape (a copy either way:
// the caller then frees q).
inline lowbit::result<lowbit::weights> lowbit_file_form(const lowbit::any_qmatrix& q) {
    auto dense = lowbit::to_weights(q);
    if (!dense) return dense.error();
    lowbit_type t;
    t.scheme = dense->scheme();
    auto shape = lowbit_file_shape(t, dense->rows(), dense->cols());
    if (!shape) return shape.error();
    return lowbit::repack(*dense, shape->lay());
}

// Round to nearest (min/max range) or HQQ, on rows x cols floats in `w`.
template <class Exec>
lowbit::result<lowbit::any_qmatrix> quantize_lowbit(const lowbit::runtime_scheme& s, lowbit_method m, const float* w, std::size_t rows,
                                                    std::size_t cols, Exec& exec) {
    const lowbit::matrix_view<const float> wv(w, rows, cols);
    if (m == lowbit_method::hqq) {
        auto r = lowbit::hqq_quantize(s, wv, lowbit::hqq_options{}, exec);
        if (!r) return r.error();
        return std::move(r->q);
    }
    return lowbit::quantize(s, wv, lowbit::calibration{}, exec);
}

// Adds (w, what q decodes to) to *acc and, when `decoded` is non-null, leaves
// the decoded values there (rows x cols).
template <class Exec>
lowbit::status measure_lowbit(const lowbit::any_qmatrix& q, const float* w, lowbit::error_accumulator* acc, std::vector<float>* decoded,
                              Exec& exec) {
    const std::size_t rows = q.storage.layout.rows, cols = q.storage.layout.cols;
    std::vector<float> local;
    std::vector<float>& y = decoded ? *decoded : local;
    y.resize(rows * cols);
    LOWBIT_TRY(lowbit::dequantize(q, lowbit::matrix_view<float>(y.data(), rows, cols), exec));
    for (std::size_t i = 0; i < y.size(); ++i) acc->add(w[i], y[i]);
    return {};
}

// Codebook weights of w (rows x cols) for codebook type t: on the NF grid,
// or on one learned from w by k-means weighted by `importance` (cols values:
// an imatrix; null: 1); each block's scale chosen for the same weights
// (codebook::quantize). *grid_out, when given, gets the grid.
inline lowbit::result<lowbit::weights> quantize_codebook(const lowbit_type& t, const float* w, std::size_t rows, std::size_t cols,
                                                         const float* importance, lowbit::codebook::grid* grid_out = nullptr) {
    const lowbit::matrix_view<const float> wv(w, rows, cols);
    lowbit::codebook::grid g = lowbit::codebook::nf_grid(t.codebook);
    if (!t.nf) {
        auto l = lowbit::codebook::learn_grid(wv, t.codebook, importance);
        if (!l) return l.error();
        g = *l;
    }
    if (grid_out) *grid_out = g;
    return lowbit::codebook::quantize(wv, g, importance);
}

// measure_lowbit for codebook weights.
inline lowbit::status measure_codebook(const lowbit::weights_view& q, const float* w, lowbit::error_accumulator* acc,
                                       std::vector<float>* decoded) {
    std::vector<float> local;
    std::vector<float>& y = decoded ? *decoded : local;
    y.resize(q.rows() * q.cols());
    LOWBIT_TRY(lowbit::codebook::dequantize(q, lowbit::matrix_view<float>(y.data(), q.rows(), q.cols())));
    for (std::size_t i = 0; i < y.size(); ++i) acc->add(w[i], y[i]);
    return {};
}

}  // namespace lbq
