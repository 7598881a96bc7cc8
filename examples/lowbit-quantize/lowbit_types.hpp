// lowbit_types.hpp — lowbit schemes as lowbit-quantize types (--type w4g128,
// --tensor-type 'ffn_down=w8pc'): the shape a tensor takes in OUT, and the
// quantization of one tensor with round to nearest or HQQ (GPTQ
// runs inside the calibration, calibrate.hpp). Such a tensor is written as
// lowbit weights (docs/formats.md, "lowbit weights in GGUF") through
// weights_gguf_writer, which the reader hands back as views into the mapped
// file; docs/tools.md, "lowbit schemes", is the manual.
//
// The names (w4g128, ...) are parsed by tensor_rules.hpp (parse_lowbit_type).
#pragma once

#include <cstddef>
#include <utility>
#include <vector>

#include <lowbit/algo/hqq.hpp>
#include <lowbit/core/scheme.hpp>
#include <lowbit/quant/metrics.hpp>
#include <lowbit/runtime.hpp>
#include <lowbit/weights/repack.hpp>

namespace lbq {

// How the tensors given a lowbit scheme are quantized: --method rtn (round to
// nearest, min/max range), gptq (calibrate.hpp) or hqq (asymmetric schemes).
enum class lowbit_method { rtn, gptq, hqq };

// The weights a rows x cols tensor becomes under `s`, as OUT stores them
// (pointers are placeholders): the tiled layout the kernels run when it can
// hold the scheme's groups (a multiple of 32, or the whole row), else dense.
// A pure function of the shape, so that OUT's header is written before the
// first tensor is quantized.
inline lowbit::result<lowbit::weights_view> lowbit_file_shape(const lowbit::runtime_scheme& s, std::size_t rows, std::size_t cols) {
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
    auto shape = lowbit_file_shape(dense->scheme(), dense->rows(), dense->cols());
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

}  // namespace lbq
