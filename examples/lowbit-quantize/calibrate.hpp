// calibrate.hpp — calibration from the model itself, and the calibrated
// methods of lowbit-quantize (--method imatrix | gptq | awq | awq+gptq, --imatrix-out).
//
// The model runs in f32 with lowbit-llama's forward pass (prefill_layer in
// examples/llama/prefill.hpp), one layer at a time over every calibration
// chunk, true-sequential: the residual stream of all chunks (chunks x ctx x
// dim floats) is the only state kept between layers, so layer i sees the
// outputs of layers < i as they are after quantization. Per layer:
//   1. load its weights (f32, from the mmap'd input),
//   2. pass 1 in float: the rows_tap hook sees the input of each linear group
//      (q/k/v share one, gate/up share one, o, down) and accumulates
//        - the imatrix: sum of x^2 per input column and the token count, as
//          llama-imatrix does (per token row, every token of every chunk);
//        - the GPTQ Hessian X^T X (gptq, awq, awq+gptq), and for awq sum |x|;
//      and keeps the held-back chunk's rows for the layer-output error;
//      (awq, awq+gptq: then AWQ's scales are searched, folded into the
//      layer and the statistics transformed, detail::awq_layer),
//   3. quantize its seven weights with the type the recipe chose,
//   4. pass 2 with the decoded quantized weights: the stream for layer i + 1.
// After the last layer, gptq also quantizes output.weight, whose input is
// output_norm of the (quantized) model's final stream (detail::gptq_output).
// Memory: the stream, one layer's f32 weights, activations of one chunk, and
// per tap point a K x K Hessian. With a calib_io, the input pages of a loaded
// layer are handed back and each layer's quantized bytes are set aside on disk
// until OUT is written (docs/ptq.md: the 1B-shaped figure).
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <lowbit/algo/awq.hpp>
#include <lowbit/algo/gptq_codebook.hpp>
#include <lowbit/algo/gptq_gguf.hpp>
#include <lowbit/algo/smoothquant.hpp>
#include <lowbit/formats/gguf_blocks.hpp>
#include <lowbit/parallel.hpp>
#include <lowbit/quant/metrics.hpp>

#include "awq_fold.hpp"
#include "calib_text.hpp"
#include "embd_hessian.hpp"
#include "files.hpp"
#include "lowbit_types.hpp"
#include "gguf_io.hpp"  // examples/llama: read_config
#include "prefill.hpp"  // examples/llama: prefill_layer, rows_tap
#include "progress.hpp"
#include "tensor_rules.hpp"

namespace lbq {

// awq: AWQ's scales folded into the model (awq_fold.hpp), then the imatrix-weighted
// quantizer (lowbit schemes: round to nearest on their grid); awq_gptq: the same
// scales, then GPTQ; smoothquant: SmoothQuant's scales from max |x| and max |w|
// folded the same way, then round to nearest.
enum class quant_method { rtn, imatrix, gptq, awq, awq_gptq, smoothquant };

inline const char* method_name(quant_method m) {
    return m == quant_method::rtn       ? "rtn"
           : m == quant_method::imatrix ? "imatrix"
           : m == quant_method::gptq    ? "gptq"
           : m == quant_method::awq     ? "awq"
           : m == quant_method::awq_gptq ? "awq+gptq"
                                        : "smoothquant";
}
inline bool uses_gptq(quant_method m) { return m == quant_method::gptq || m == quant_method::awq_gptq; }
inline bool uses_awq(quant_method m) { return m == quant_method::awq || m == quant_method::awq_gptq; }
// Methods that fold per-channel scales into the norms and previous linears (awq_fold.hpp).
inline bool folds_scales(quant_method m) { return uses_awq(m) || m == quant_method::smoothquant; }

struct calib_options {
    std::string text;                 // --calib
    std::size_t max_tokens = 16384;   // --calib-tokens
    std::size_t ctx = 256;            // --calib-ctx
    quant_method method = quant_method::rtn;
    bool act_order = false;           // --act-order
    bool static_grids = false;        // --static-grids
    float percdamp = 0.01f;           // --damp
    bool refit = false;               // --refit: re-fit each block's f16 scales after the sweep (gguf_refit.hpp)
    bool refit_sub = false;           // --refit-sub: K-quants' sub-block scales/mins too (gguf_block_refine.hpp)
    bool refit_codes = false;         // --refit-codes: and single codes
    int refit_rounds = 4;             // --refit-rounds
    bool embd_hessian = false;        // --embd-hessian: GPTQ on token_embd.weight too (embd_hessian.hpp)
    bool awq_clip = false;            // --awq-clip: awq's clip search per ggml block (awq_clip_gguf)
    float sq_alpha = 0.5f;            // --sq-alpha: SmoothQuant's migration strength
    std::size_t probe_chunks = 1;     // --probe-chunks: held-back chunks the --bpw sensitivity measures on (calibrate(): 1)
};

// One tensor as calibration left it.
struct calibrated_tensor {
    gguf_type type = gguf_type::f32;
    std::vector<std::uint8_t> data;   // bytes for OUT (empty: written by the plain converter)
    lowbit::error_accumulator acc;    // weights vs what the bytes decode to
    double out_err = NAN, rtn_out_err = NAN;  // relative layer-output error on the held-back chunk
    std::string how;                  // "gptq", "rtn+imatrix", "rtn: GPTQ does not cover F16", ...
    lowbit::weights lowbit;           // a lowbit scheme's weights, as OUT stores them (then `data` is empty)
    // `data` moved to the spill file (calib_io::spill) once its layer was done.
    bool spilled = false;
    std::uint64_t spilled_at = 0, spilled_size = 0;
};

// One llama-imatrix entry: a weight's input statistics.
struct imatrix_stat {
    std::vector<float> sum2;  // sum of x^2 per input column
    float count = 0;          // tokens
};

// What calibrate() may do with the files so that its memory stays that of one
// layer: hand back the input pages of a tensor it has read (done_with), and put
// each layer's quantized bytes aside on disk (spill) until OUT is written.
struct calib_io {
    std::function<void(const source_tensor&)> done_with;
    spill_file* spill = nullptr;
};

struct calibration {
    std::map<std::string, calibrated_tensor> tensors;
    std::map<std::string, imatrix_stat> imatrix;  // by weight name (blk.* only, as llama-imatrix)
    std::size_t chunks = 0, ctx = 0, text_tokens = 0, held_tokens = 0;
};

namespace detail {

// Rows of a source tensor as f32 (HF row order applied); refuses NaN/Inf.
inline status load_f32(const source_tensor& t, std::vector<float>& out) {
    const std::uint64_t rows = t.rows(), k = t.row_length();
    const std::size_t in_row = static_cast<std::size_t>(t.n_bytes / rows);
    out.resize(static_cast<std::size_t>(rows * k));
    std::vector<std::uint8_t> tmp(in_row);  // aligned for the codecs' 16/32-bit fields
    for (std::uint64_t r = 0; r < rows; ++r) {
        std::memcpy(tmp.data(), t.data + t.source_row(r) * in_row, in_row);
        float* y = out.data() + r * k;
        LOWBIT_TRY(gguf::dequantize_row(t.desc.type, tmp.data(), y, static_cast<std::int64_t>(k)));
        for (std::uint64_t i = 0; i < k; ++i)
            if (!std::isfinite(y[i]))
                return status::error(errc::non_finite, "tensor '%s': value at row %llu, column %llu is not finite", t.desc.name.c_str(),
                                     static_cast<unsigned long long>(r), static_cast<unsigned long long>(i));
    }
    return status();
}

// Input statistics of one tap point over the calibration chunks.
struct tap_stats {
    std::vector<double> sum2;
    std::vector<double> abs_sum;  // sum of |x| per column (awq: AWQ's x_mean)
    std::vector<float> abs_max;   // max |x| per column (smoothquant)
    std::uint64_t count = 0;
    lowbit::hessian h;
    std::vector<float> held;  // the held-back chunk's rows
    std::size_t held_rows = 0;
};

// sum over rows of |A x|^2 for A = (B - W) (or W when B is null), x the held rows.
template <class Exec>
double output_energy(const float* w, const float* b, std::size_t rows, std::size_t k, const tap_stats& s, Exec& exec) {
    std::vector<float> d(w, w + rows * k);
    if (b)
        for (std::size_t i = 0; i < d.size(); ++i) d[i] = b[i] - w[i];
    std::vector<float> y(s.held_rows * rows);
    llama::float_gemm(d.data(), s.held.data(), y.data(), s.held_rows, rows, k, exec);
    double e = 0;
    for (float v : y) e += static_cast<double>(v) * v;
    return e;
}

inline status decode_rows(gguf_type t, const std::vector<std::uint8_t>& bytes, std::size_t rows, std::size_t k, std::vector<float>& dec) {
    const std::size_t row_size = static_cast<std::size_t>(gguf::row_size(t, static_cast<std::int64_t>(k)));
    dec.resize(rows * k);
    for (std::size_t r = 0; r < rows; ++r)
        LOWBIT_TRY(gguf::dequantize_row(t, bytes.data() + r * row_size, dec.data() + r * k, static_cast<std::int64_t>(k)));
    return status();
}

// ggml's plain quantizer (llama-quantize without an imatrix) on w: its bytes,
// what they decode to, and the relative layer-output error on the held rows.
template <class Exec>
status rtn_quantize(gguf_type t, const std::vector<float>& w, std::size_t rows, std::size_t k, const tap_stats& s,
                    std::vector<std::uint8_t>& bytes, std::vector<float>& dec, double& rel_err, Exec& exec) {
    bytes.resize(rows * static_cast<std::size_t>(gguf::row_size(t, static_cast<std::int64_t>(k))));
    LOWBIT_TRY(gguf::quantize(t, w.data(), bytes.data(), static_cast<std::int64_t>(rows), static_cast<std::int64_t>(k), nullptr));
    LOWBIT_TRY(decode_rows(t, bytes, rows, k, dec));
    rel_err = output_energy(w.data(), dec.data(), rows, k, s, exec) / output_energy(w.data(), nullptr, rows, k, s, exec);
    return status();
}

}  // namespace detail

// quantize_calibrated for a tensor given a codebook type (d.lowbit->codebook):
// importance = the imatrix (mean x^2 per input column); the grid NF or learned
// with that importance (lowbit_types.hpp, quantize_codebook); then GPTQ on the
// grid (gptq_quantize_codebook, its block scales importance-weighted; --damp,
// --act-order) for gptq, or the importance-weighted rounding for imatrix.
template <class Exec>
status quantize_calibrated_codebook(const std::string& name, const decision& d, quant_method method, const calib_options& o,
                                    const detail::tap_stats& s, std::vector<float>& w, std::size_t rows, std::size_t k, calibrated_tensor* out,
                                    Exec& exec) {
    auto named = [&](const char* what, const status& e) { return status::error(e.code(), "tensor '%s': %s%s", name.c_str(), what, e.message()); };
    const double ref = detail::output_energy(w.data(), nullptr, rows, k, s, exec);
    std::vector<float> importance(k);
    for (std::size_t j = 0; j < k; ++j) importance[j] = static_cast<float>(s.sum2[j] / static_cast<double>(std::max<std::uint64_t>(s.count, 1)));
    lowbit::codebook::grid grid;
    auto rtn = quantize_codebook(*d.lowbit, w.data(), rows, k, importance.data(), &grid);
    if (!rtn) return named("", rtn.error());
    std::vector<float> dec;
    lowbit::error_accumulator rtn_acc;
    LOWBIT_TRY(measure_codebook(rtn->view(), w.data(), &rtn_acc, &dec));
    out->rtn_out_err = detail::output_energy(w.data(), dec.data(), rows, k, s, exec) / ref;
    const char* grid_name = d.lowbit->nf ? "NF grid" : "learned grid";
    if (uses_gptq(method)) {
        lowbit::gptq_codebook_options g;
        g.percdamp = o.percdamp;
        g.act_order = o.act_order;
        g.importance = lowbit::span<const float>(importance.data(), importance.size());
        auto r = lowbit::gptq_quantize_codebook(lowbit::matrix_view<const float>(w.data(), rows, k), s.h, grid, g, exec);
        if (!r) return named("GPTQ: ", r.error());
        LOWBIT_TRY(measure_codebook(r->w.view(), w.data(), &out->acc, &dec));
        out->lowbit = std::move(r->w);
        out->how = std::string(o.act_order ? "gptq act-order, " : "gptq, ") + grid_name;
    } else {  // imatrix: the importance-weighted rounding, already in dec
        out->acc = rtn_acc;
        out->lowbit = std::move(*rtn);
        out->how = std::string("rtn+imatrix, ") + grid_name;
    }
    out->out_err = detail::output_energy(w.data(), dec.data(), rows, k, s, exec) / ref;
    w.swap(dec);
    return status();
}

// quantize_calibrated for a tensor given a lowbit scheme (d.lowbit): GPTQ
// on the scheme's grid (lowbit::gptq_quantize; --act-order, --static-grids as
// its static_groups, --damp) for gptq and awq+gptq, round to nearest for awq
// and smoothquant (their scales are already folded into w), measured against
// round to nearest of w.
template <class Exec>
status quantize_calibrated_lowbit(const std::string& name, const decision& d, quant_method method, const calib_options& o,
                                  const detail::tap_stats& s, std::vector<float>& w, std::size_t rows, std::size_t k, calibrated_tensor* out,
                                  Exec& exec) {
    if (d.lowbit->codebook) return quantize_calibrated_codebook(name, d, method, o, s, w, rows, k, out, exec);
    const double ref = detail::output_energy(w.data(), nullptr, rows, k, s, exec);
    std::vector<float> dec;
    lowbit::error_accumulator rtn_acc;
    auto rtn = quantize_lowbit(d.lowbit->scheme, lowbit_method::rtn, w.data(), rows, k, exec);
    if (!rtn) return status::error(rtn.error().code(), "tensor '%s': %s", name.c_str(), rtn.error().message());
    LOWBIT_TRY(measure_lowbit(*rtn, w.data(), &rtn_acc, &dec, exec));
    out->rtn_out_err = detail::output_energy(w.data(), dec.data(), rows, k, s, exec) / ref;
    lowbit::any_qmatrix q;
    if (uses_gptq(method)) {
        lowbit::gptq_options g;
        g.percdamp = o.percdamp;
        g.act_order = o.act_order;
        g.static_groups = o.static_grids;
        auto r = lowbit::gptq_quantize(d.lowbit->scheme, lowbit::matrix_view<const float>(w.data(), rows, k), s.h, g, exec);
        if (!r) return status::error(r.error().code(), "tensor '%s': GPTQ: %s", name.c_str(), r.error().message());
        LOWBIT_TRY(measure_lowbit(r->q, w.data(), &out->acc, &dec, exec));
        q = std::move(r->q);
        out->how = std::string(uses_awq(method) ? "awq+" : "") + (o.act_order ? "gptq act-order" : o.static_grids ? "gptq static-groups" : "gptq");
    } else {  // awq, smoothquant: rtn of the scaled weights, already in dec
        out->acc = rtn_acc;
        q = std::move(*rtn);
        out->how = std::string(method_name(method)) + ", rtn";
    }
    out->out_err = detail::output_energy(w.data(), dec.data(), rows, k, s, exec) / ref;
    auto f = lowbit_file_form(q);
    if (!f) return status::error(f.error().code(), "tensor '%s': %s", name.c_str(), f.error().message());
    out->lowbit = std::move(*f);
    w.swap(dec);
    return status();
}

// The GPTQ options of a ggml-type weight from the tool's (every type GPTQ
// writes has the re-fits: the lattice IQ3_S / IQ3_XXS through
// algo/gguf_lattice_refine.hpp).
inline lowbit::gptq_gguf_options gptq_options_for(const calib_options& o, const std::vector<float>& importance) {
    lowbit::gptq_gguf_options g;
    g.percdamp = o.percdamp;
    g.act_order = o.act_order;
    g.refit_scales = o.refit;
    g.refine = o.refit_sub;
    g.refine_options.codes = o.refit_codes;
    g.refine_options.rounds = o.refit_rounds;
    g.importance = span<const float>(importance.data(), importance.size());
    return g;
}

// Quantizes one weight (rows x k floats in `w`) to d.type with `method`,
// replacing `w` by what the bytes decode to.
template <class Exec>
status quantize_calibrated(const std::string& name, const decision& d, quant_method method, const calib_options& o,
                           const detail::tap_stats& s, std::vector<float>& w, std::size_t rows, std::size_t k, calibrated_tensor* out,
                           Exec& exec) {
    if (d.lowbit) return quantize_calibrated_lowbit(name, d, method, o, s, w, rows, k, out, exec);
    out->type = d.type;
    const auto K = static_cast<std::int64_t>(k);
    const std::size_t row_size = static_cast<std::size_t>(gguf::row_size(d.type, K));
    std::vector<float> importance(k);
    for (std::size_t j = 0; j < k; ++j) importance[j] = static_cast<float>(s.sum2[j] / static_cast<double>(std::max<std::uint64_t>(s.count, 1)));
    const bool quantized = gguf::is_quantized(d.type);
    const double ref = detail::output_energy(w.data(), nullptr, rows, k, s, exec);

    std::vector<std::uint8_t> rtn;
    std::vector<float> dec;
    LOWBIT_TRY(detail::rtn_quantize(d.type, w, rows, k, s, rtn, dec, out->rtn_out_err, exec));
    auto decode = [&](const std::vector<std::uint8_t>& bytes) { return detail::decode_rows(d.type, bytes, rows, k, dec); };

    if (!quantized) {
        out->how = std::string("kept ") + gguf::type_name(d.type);
        out->data = std::move(rtn);
    } else if (uses_gptq(method) && lowbit::gptq_gguf_supports(d.type)) {
        lowbit::gptq_gguf_options g = gptq_options_for(o, importance);
        g.static_grids = o.static_grids;
        auto r = lowbit::gptq_quantize_gguf(d.type, lowbit::matrix_view<const float>(w.data(), rows, k), s.h, g, exec);
        if (!r) return status::error(r.error().code(), "tensor '%s': GPTQ: %s", name.c_str(), r.error().message());
        out->data = std::move(r->data);
        out->how = std::string(uses_awq(method) ? "awq+" : "") + (o.act_order ? "gptq act-order" : "gptq");
        if (o.refit || o.refit_sub)
            out->how += std::string(o.refit_codes ? " refit-codes " : o.refit_sub ? " refit-sub " : " refit ") + std::to_string(r->refit_rows) +
                        "/" + std::to_string(rows);
    } else {
        out->data.resize(rows * row_size);
        const float* qw = method == quant_method::rtn || method == quant_method::smoothquant ? nullptr : importance.data();
        // --awq-clip: the clamped copy is quantized; the errors stay measured against w.
        std::vector<float> clipped;
        std::size_t n_clipped = 0;
        if (method == quant_method::awq && o.awq_clip) {
            clipped = w;
            auto r = lowbit::awq_clip_gguf(d.type, lowbit::matrix_view<float>(clipped.data(), rows, k), s.h.matrix(),
                                           span<const float>(importance.data(), k), 20, 0.5f, exec);
            if (!r) return status::error(r.error().code(), "tensor '%s': awq clip: %s", name.c_str(), r.error().message());
            n_clipped = *r;
        }
        LOWBIT_TRY(gguf::quantize(d.type, clipped.empty() ? w.data() : clipped.data(), out->data.data(), static_cast<std::int64_t>(rows), K, qw));
        out->how = method == quant_method::rtn       ? "rtn"
                   : method == quant_method::imatrix ? "rtn+imatrix"
                   : method == quant_method::awq     ? "awq, rtn+imatrix"
                   : method == quant_method::smoothquant ? "smoothquant, rtn"
                                                     : std::string("rtn+imatrix: GPTQ does not cover ") + gguf::type_name(d.type);
        if (!clipped.empty()) out->how += ", clipped " + std::to_string(n_clipped) + "/" + std::to_string(rows * k / gguf::type_block_size(d.type)) + " blocks";
    }
    LOWBIT_TRY(decode(out->data));
    out->out_err = detail::output_energy(w.data(), dec.data(), rows, k, s, exec) / ref;
    for (std::size_t i = 0; i < w.size(); ++i) out->acc.add(w[i], dec[i]);
    w.swap(dec);
    return status();
}

namespace detail {

// The statistics of output.weight's input, output_norm (gains g) of the final
// residual stream: imatrix sums and H over the n_cal chunks, the held chunk's rows.
template <class Exec>
status output_stats(const std::vector<float>& g, const llama::config& c, const std::vector<float>& stream, std::size_t n_cal, std::size_t ctx,
                    tap_stats& s, Exec& exec, std::size_t n_held = 1) {
    const std::size_t D = static_cast<std::size_t>(c.dim);
    s.sum2.assign(D, 0.0);
    s.h = lowbit::hessian(D);
    std::vector<float> xb(ctx * D);
    for (std::size_t ch = 0; ch < n_cal + n_held; ++ch) {
        for (std::size_t t = 0; t < ctx; ++t)
            llama::rmsnorm(stream.data() + (ch * ctx + t) * D, g.data(), xb.data() + t * D, c.dim, c.norm_eps);
        if (ch >= n_cal) {  // the held-back chunks: the layer-output error
            if (ch == n_cal) s.held.clear(), s.held_rows = 0;
            s.held.insert(s.held.end(), xb.begin(), xb.end());
            s.held_rows += ctx;
            continue;
        }
        for (std::size_t t = 0; t < ctx; ++t)
            for (std::size_t j = 0; j < D; ++j) s.sum2[j] += static_cast<double>(xb[t * D + j]) * xb[t * D + j];
        s.count += ctx;
        LOWBIT_TRY(s.h.add_batch(lowbit::matrix_view<const float>(xb.data(), ctx, D), exec));
    }
    return status();
}

// output.weight under GPTQ as well: its input is output_norm of the final
// residual stream (the quantized layers' output), which the layer loop leaves
// in `stream`. llama-imatrix does not record output.weight, so the imatrix
// method leaves it to round-to-nearest as llama-quantize does; GPTQ needs only
// this H. Tied embeddings (no output.weight) have nothing to do.
template <class Exec>
status gptq_output(const model_source& src, const std::vector<decision>& plan, const std::map<std::string, std::size_t>& by_name,
                   const llama::config& c, const calib_options& o, const std::vector<float>& stream, std::size_t n_cal, std::size_t ctx,
                   calibration& out, progress& p, Exec& exec) {
    const auto iw = by_name.find("output.weight"), in = by_name.find("output_norm.weight");
    if (iw == by_name.end() || in == by_name.end() || !plan[iw->second].convert) return status();
    const source_tensor& tw = src.tensors[iw->second];
    const std::size_t D = static_cast<std::size_t>(c.dim);
    std::vector<float> g, w;
    LOWBIT_TRY(load_f32(src.tensors[in->second], g));
    if (g.size() != D || tw.row_length() != D)
        return status::error(errc::shape_mismatch, "output_norm.weight has %zu values and output.weight rows of %llu, expected %zu", g.size(),
                             static_cast<unsigned long long>(tw.row_length()), D);
    LOWBIT_TRY(load_f32(tw, w));
    tap_stats s;
    LOWBIT_TRY(output_stats(g, c, stream, n_cal, ctx, s, exec));
    const double t0 = p.elapsed();
    calibrated_tensor& ct = out.tensors["output.weight"];
    LOWBIT_TRY(quantize_calibrated("output.weight", plan[iw->second], o.method, o, s, w, static_cast<std::size_t>(tw.rows()), D, &ct, exec));
    p.line("output.weight: %s, layer-output error %.3e (rtn %.3e), %.1f s", ct.how.c_str(), ct.out_err, ct.rtn_out_err, p.elapsed() - t0);
    return status();
}

// GPTQ on token_embd.weight against the first-order Hessian of embd_hessian.hpp,
// whose per-layer terms the layer loop added to `eh`; this adds output_norm /
// output.weight's (none with tied embeddings) and quantizes the embedding with
// the options of the other weights (refit, refine). Its layer-output error is
// not defined (no input), so the table shows none.
template <class Exec>
status gptq_embedding(const model_source& src, const std::vector<decision>& plan, const std::map<std::string, std::size_t>& by_name,
                      const llama::config& c, const calib_options& o, const std::vector<float>& stream, std::size_t n_cal, std::size_t ctx,
                      embd_hessian& eh, calibration& out, progress& p, Exec& exec) {
    const auto ie = by_name.find("token_embd.weight");
    if (ie == by_name.end() || !plan[ie->second].convert || !lowbit::gptq_gguf_supports(plan[ie->second].type)) return status();
    const std::size_t D = static_cast<std::size_t>(c.dim);
    const auto iw = by_name.find("output.weight"), in = by_name.find("output_norm.weight");
    if (iw != by_name.end() && in != by_name.end()) {
        std::vector<float> g, w;
        LOWBIT_TRY(load_f32(src.tensors[in->second], g));
        LOWBIT_TRY(load_f32(src.tensors[iw->second], w));
        if (g.size() != D || w.size() % D != 0)
            return status::error(errc::shape_mismatch, "output_norm.weight has %zu values, output.weight %zu, expected rows of %zu", g.size(),
                                 w.size(), D);
        const double ms = stream_mean_square(stream.data(), n_cal * ctx, D);
        if (ms > 0.0) eh.add(w.data(), w.size() / D, g.data(), 1.0 / ms);
    }
    const double t0 = p.elapsed();
    const std::vector<float> hm = eh.matrix();
    auto hs = lowbit::hessian::from_matrix(lowbit::matrix_view<const float>(hm.data(), D, D), static_cast<double>(n_cal * ctx));
    if (!hs) return status::error(hs.error().code(), "token_embd.weight: Hessian: %s", hs.error().message());
    std::vector<float> w, imp(D);
    LOWBIT_TRY(load_f32(src.tensors[ie->second], w));
    if (w.size() % D != 0) return status::error(errc::shape_mismatch, "token_embd.weight has %zu values, not rows of %zu", w.size(), D);
    const std::size_t rows = w.size() / D;
    for (std::size_t j = 0; j < D; ++j) imp[j] = static_cast<float>(eh.h[j * D + j]);
    const decision& d = plan[ie->second];
    const lowbit::gptq_gguf_options g = gptq_options_for(o, imp);
    auto r = lowbit::gptq_quantize_gguf(d.type, lowbit::matrix_view<const float>(w.data(), rows, D), *hs, g, exec);
    if (!r) return status::error(r.error().code(), "tensor 'token_embd.weight': GPTQ: %s", r.error().message());
    calibrated_tensor& ct = out.tensors["token_embd.weight"];
    ct.type = d.type;
    ct.data = std::move(r->data);
    std::vector<float> dec(D);
    for (std::size_t i = 0; i < rows; ++i) {
        LOWBIT_TRY(gguf::dequantize_row(d.type, ct.data.data() + i * r->row_size, dec.data(), static_cast<std::int64_t>(D)));
        for (std::size_t j = 0; j < D; ++j) ct.acc.add(w[i * D + j], dec[j]);
    }
    ct.how = "gptq, embedding Hessian (first order, from the weights)";
    p.line("token_embd.weight: %s, H-weighted error %.4e -> %.4e after the re-fit, %.1f s", ct.how.c_str(), r->refit_loss_before,
           r->refit_loss_after, p.elapsed() - t0);
    return status();
}

// f(value) for every entry of a name-keyed map whose name starts with `prefix`.
template <class Map, class F>
void for_prefix(Map& m, const std::string& prefix, F&& f) {
    for (auto it = m.lower_bound(prefix); it != m.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) f(it->second);
}

// The tap point whose rows a linear of layer y reads.
inline llama::tap_point tap_of(const llama::layer& y, const llama::linear& w) {
    return &w == &y.wo                     ? llama::tap_point::wo_in
           : &w == &y.w2                   ? llama::tap_point::w2_in
           : (&w == &y.w1 || &w == &y.w3) ? llama::tap_point::ffn_in
                                           : llama::tap_point::attn_in;
}

// The linears of a LLaMA layer, with the tap point each reads (--method awq,
// awq+gptq, smoothquant fold scales per tap point).
struct layer_member {
    llama::linear* w;
    const char* name;
    llama::tap_point at;
};
inline std::vector<layer_member> layer_members(llama::layer& y) {
    std::vector<layer_member> r;
    y.for_each_linear([&](llama::linear& w, const char* n) { r.push_back({&w, n, tap_of(y, w)}); });
    return r;
}

// rtn_err: each linear's relative layer-output error under plain rtn of the
// unscaled weights (ggml's quantizer, or the lowbit scheme's round to nearest),
// the table's baseline: rtn of the scaled weights is not what a plain
// quantizer would write.
template <class Exec>
status rtn_baselines(llama::layer& y, const std::string& pre, const std::vector<decision>& plan,
                     const std::map<std::string, std::size_t>& by_name, tap_stats (&st)[4], std::map<std::string, double>& rtn_err,
                     Exec& exec) {
    for (const layer_member& m : layer_members(y)) {
        const std::string name = pre + m.name + ".weight";
        const decision& d = plan[by_name.at(name)];
        const tap_stats& s = st[static_cast<int>(m.at)];
        std::vector<float> dec;
        if (d.lowbit) {
            auto q = quantize_lowbit(d.lowbit->scheme, lowbit_method::rtn, m.w->w.data(), m.w->rows, m.w->cols, exec);
            if (!q) return status::error(q.error().code(), "tensor '%s': %s", name.c_str(), q.error().message());
            lowbit::error_accumulator acc;
            LOWBIT_TRY(measure_lowbit(*q, m.w->w.data(), &acc, &dec, exec));
            rtn_err[name] = output_energy(m.w->w.data(), dec.data(), m.w->rows, m.w->cols, s, exec) /
                            output_energy(m.w->w.data(), nullptr, m.w->rows, m.w->cols, s, exec);
        } else {
            std::vector<std::uint8_t> bytes;
            LOWBIT_TRY(rtn_quantize(d.type, m.w->w, m.w->rows, m.w->cols, s, bytes, dec, rtn_err[name], exec));
        }
    }
    return status();
}

// Folds `sc` into the layer (awq_fold.hpp), transforms the tap points'
// statistics to those of the scaled inputs and stores the folded norm gains
// as tensors of their own for OUT. The statistics are transformed, not
// recomputed: the fold leaves every product unchanged in float, so a scaled
// linear's input is exactly x / s, its X^T X is S^-1 H S^-1 and its sum of
// squares sum2 / s^2; a second float pass over all chunks would give the same
// numbers up to f32 rounding at the cost of the layer's forward pass.
inline status fold_layer(llama::layer& y, const llama::config& c, const std::string& pre, const std::vector<decision>& plan,
                         const std::map<std::string, std::size_t>& by_name, tap_stats (&st)[4], const awq_layer_scales& sc,
                         const char* method, calibration& out) {
    using tp = llama::tap_point;
    fold_awq_scales(y, c, sc);
    for (tp at : {tp::attn_in, tp::wo_in, tp::ffn_in, tp::w2_in}) {
        tap_stats& s = st[static_cast<int>(at)];
        const std::vector<float>& v = sc[at];
        if (s.h.cols() == v.size()) {  // smoothquant keeps no H
            auto h = lowbit::awq_scaled_hessian(s.h, lowbit::span<const float>(v.data(), v.size()));
            if (!h) return status::error(h.error().code(), "%s%s: scaled Hessian: %s", pre.c_str(), method, h.error().message());
            s.h = std::move(*h);
        }
        for (std::size_t j = 0; j < v.size(); ++j) s.sum2[j] /= static_cast<double>(v[j]) * v[j];
        for (std::size_t i = 0; i < s.held.size(); ++i) s.held[i] /= v[i % v.size()];
    }
    for (auto gn : {std::make_pair("attn_norm.weight", &y.att_norm), std::make_pair("ffn_norm.weight", &y.ffn_norm)}) {
        calibrated_tensor& ct = out.tensors[pre + gn.first];
        const decision& d = plan[by_name.at(pre + gn.first)];
        ct.type = d.type;
        if (d.lowbit || gguf::is_quantized(ct.type))
            return status::error(errc::unsupported, "%s%s: the plan quantizes a norm gain to %s; %s folds its scales into it", pre.c_str(),
                                 gn.first, d.lowbit ? lowbit_type_name(*d.lowbit).c_str() : gguf::type_name(ct.type), method);
        const std::vector<float>& g = *gn.second;
        ct.data.resize(static_cast<std::size_t>(gguf::row_size(ct.type, static_cast<std::int64_t>(g.size()))));
        LOWBIT_TRY(gguf::quantize(ct.type, g.data(), ct.data.data(), 1, static_cast<std::int64_t>(g.size()), nullptr));
        ct.how = std::string(method) + ": scales folded";
    }
    return status();
}

// --method awq | awq+gptq, one layer after its float pass: AWQ's scale search
// per tap point on the float weights (algo/awq_gguf.hpp; each linear on the
// grid the plan gives it: a ggml type imatrix-weighted, or a lowbit scheme's
// round to nearest through awq_lowbit_round_trip; attn_output's x_mean tied
// over the query heads of a GQA group), then fold_layer.
template <class Exec>
status awq_layer(llama::layer& y, const llama::config& c, const std::string& pre, const std::vector<decision>& plan,
                 const std::map<std::string, std::size_t>& by_name, tap_stats (&st)[4], std::map<std::string, double>& rtn_err,
                 calibration& out, progress& p, Exec& exec) {
    using tp = llama::tap_point;
    LOWBIT_TRY(rtn_baselines(y, pre, plan, by_name, st, rtn_err, exec));
    awq_layer_scales sc;
    char line[160];
    int len = std::snprintf(line, sizeof line, "%sawq ratios:", pre.c_str());
    for (tp at : {tp::attn_in, tp::wo_in, tp::ffn_in, tp::w2_in}) {
        const tap_stats& s = st[static_cast<int>(at)];
        const std::size_t K = s.sum2.size();
        const double n = static_cast<double>(std::max<std::uint64_t>(s.count, 1));
        std::vector<float> x_mean(K), imp(K);
        for (std::size_t j = 0; j < K; ++j) x_mean[j] = static_cast<float>(s.abs_sum[j] / n), imp[j] = static_cast<float>(s.sum2[j] / n);
        if (at == tp::wo_in) x_mean = tie_to_kv_heads(x_mean, c);
        std::vector<lowbit::awq_gguf_linear> group;
        for (const layer_member& m : layer_members(y)) {
            if (m.at != at) continue;
            const decision& d = plan[by_name.at(pre + m.name + ".weight")];
            lowbit::awq_gguf_linear l{d.type, lowbit::matrix_view<const float>(m.w->w.data(), m.w->rows, m.w->cols)};
            if (d.lowbit) l.round_trip = lowbit::awq_lowbit_round_trip<>, l.round_trip_ctx = &d.lowbit->scheme;
            group.push_back(l);
        }
        lowbit::awq_gguf_options ao;
        ao.importance = lowbit::span<const float>(imp.data(), imp.size());
        auto r = lowbit::awq_search_gguf(lowbit::span<const lowbit::awq_gguf_linear>(group.data(), group.size()),
                                         lowbit::span<const float>(x_mean.data(), K), s.h.matrix(), ao, exec);
        if (!r) return status::error(r.error().code(), "%sawq, tap point %d: %s", pre.c_str(), static_cast<int>(at), r.error().message());
        len += std::snprintf(line + len, sizeof line - static_cast<std::size_t>(len), " %.2f (loss %.3e -> %.3e)", r->best_ratio,
                             r->loss_plain, r->loss);
        sc[at] = std::move(r->scales);
    }
    p.line("%s", line);
    return fold_layer(y, c, pre, plan, by_name, st, sc, "awq", out);
}

// --method smoothquant, one layer after its float pass: SmoothQuant's scales
// per tap point, s_j = max|x_j|^a / max|w_j|^(1-a) (algo/smoothquant.hpp),
// max |w_j| over all linears that read the tap point (one scale folds into
// all of them); attn_output's both maxima taken over the query heads of a GQA
// group (tie_to_kv_heads), so the scale is tied as the fold needs; then
// fold_layer.
template <class Exec>
status smoothquant_layer(llama::layer& y, const llama::config& c, const std::string& pre, const std::vector<decision>& plan,
                         const std::map<std::string, std::size_t>& by_name, tap_stats (&st)[4], float alpha,
                         std::map<std::string, double>& rtn_err, calibration& out, Exec& exec) {
    using tp = llama::tap_point;
    LOWBIT_TRY(rtn_baselines(y, pre, plan, by_name, st, rtn_err, exec));
    awq_layer_scales sc;
    for (tp at : {tp::attn_in, tp::wo_in, tp::ffn_in, tp::w2_in}) {
        std::vector<float> x_max = st[static_cast<int>(at)].abs_max, w_max(x_max.size(), 0.0f);
        for (const layer_member& m : layer_members(y))
            if (m.at == at)
                for (std::size_t r = 0; r < m.w->rows; ++r)
                    for (std::size_t j = 0; j < m.w->cols; ++j) w_max[j] = std::max(w_max[j], std::fabs(m.w->w[r * m.w->cols + j]));
        if (at == tp::wo_in) x_max = tie_to_kv_heads(x_max, c, true), w_max = tie_to_kv_heads(w_max, c, true);
        // smoothquant_scales takes max |w_j| over a matrix's rows: one row of the group's maxima
        auto s = lowbit::smoothquant_scales(lowbit::span<const float>(x_max.data(), x_max.size()),
                                            lowbit::matrix_view<const float>(w_max.data(), 1, w_max.size()), alpha);
        if (!s) return status::error(s.error().code(), "%ssmoothquant, tap point %d: %s", pre.c_str(), static_cast<int>(at), s.error().message());
        sc[at] = std::move(*s);
    }
    return fold_layer(y, c, pre, plan, by_name, st, sc, "smoothquant", out);
}

}  // namespace detail

namespace detail {

// What calibration reads before the first layer: the model's shape and the
// calibration text in chunks of o.ctx tokens, n_cal for the statistics and
// chunks n_cal .. n_cal + held - 1 held back (the layer-output error,
// sensitivity's probe; calibrate() holds one back, the sensitivity
// --probe-chunks). The statistics' chunks do not depend on `held` as long as
// the text has n_cal + held chunks.
struct calib_setup {
    llama::config c;
    calib_tokens toks;
    std::size_t n_cal = 0;
};

inline result<calib_setup> calibration_setup(const model_source& src, const calib_options& o, std::size_t held = 1) {
    const source_tensor* emb = nullptr;
    for (const source_tensor& t : src.tensors)
        if (t.desc.name == "token_embd.weight") emb = &t;
    if (!emb) return status::error(errc::unsupported, "calibration needs a LLaMA model: no token_embd.weight");
    auto meta = view_metadata(src.kvs);
    if (!meta) return meta.error();
    auto arch = meta->file.get_string("general.architecture");
    if (!arch || *arch != "llama") return status::error(errc::unsupported, "calibration runs LLaMA models (general.architecture = llama) only");
    calib_setup r;
    LOWBIT_TRY(llama::read_config(meta->file, emb->rows(), r.c));
    const std::size_t want = std::max<std::size_t>(1, o.max_tokens / o.ctx);
    auto tok = llama::tokenizer::from_gguf(meta->file);
    // Token ids (.npy) need no tokenizer: a model without a usable one (a
    // generated checkpoint, a "no_vocab" GGUF) takes them as given, no BOS.
    const bool ids_only = !tok && is_npy_path(o.text);
    if (!tok && !ids_only) return tok.error();
    if (tok && tok->size() != r.c.vocab)
        return status::error(errc::shape_mismatch, "the vocabulary has %d tokens, token_embd.weight %d rows", tok->size(), r.c.vocab);
    auto toks = ids_only ? read_calibration_ids(o.text, r.c.vocab, -1, o.ctx, held + 1, want + held)
                         : read_calibration(o.text, *tok, o.ctx, held + 1, want + held);
    if (!toks) return toks.error();
    r.toks = std::move(*toks);
    r.n_cal = std::min(want, r.toks.chunks - held);
    for (const int id : r.toks.ids)
        if (id < 0 || id >= r.c.vocab) return status::error(errc::corrupt_data, "calibration token id %d outside the vocabulary", id);
    return r;
}

// Layer l's norms and seven weights in f32, their shapes checked against the config.
inline status load_layer(const model_source& src, const std::map<std::string, std::size_t>& by_name, const llama::config& c, int l,
                         llama::layer& y) {
    const std::string pre = "blk." + std::to_string(l) + ".";
    const std::size_t D = c.dim, H = c.hidden;
    auto need = [&](const std::string& n) -> result<const source_tensor*> {
        const auto it = by_name.find(pre + n);
        if (it == by_name.end()) return status::error(errc::corrupt_data, "calibration: tensor %s%s is missing", pre.c_str(), n.c_str());
        return &src.tensors[it->second];
    };
    for (auto nv : {std::make_pair("attn_norm.weight", &y.att_norm), std::make_pair("ffn_norm.weight", &y.ffn_norm)}) {
        auto t = need(nv.first);
        if (!t) return t.error();
        LOWBIT_TRY(detail::load_f32(**t, *nv.second));
        if (nv.second->size() != D) return status::error(errc::shape_mismatch, "%s%s has %zu values, expected %zu", pre.c_str(), nv.first, nv.second->size(), D);
    }
    status bad;
    y.for_each_linear([&](llama::linear& w, const char* n) {
        if (!bad.ok()) return;
        auto t = need(std::string(n) + ".weight");
        if (!t) { bad = t.error(); return; }
        w.rows = static_cast<std::size_t>((*t)->rows());
        w.cols = static_cast<std::size_t>((*t)->row_length());
        bad = detail::load_f32(**t, w.w);
    });
    if (!bad.ok()) return bad;
    const std::size_t KV = static_cast<std::size_t>(c.kv_dim());
    if (y.wq.rows != D || y.wq.cols != D || y.wk.rows != KV || y.wv.rows != KV || y.wo.cols != D || y.w1.rows != H || y.w2.cols != H ||
        y.w3.rows != H)
        return status::error(errc::shape_mismatch, "%s*: weight shapes do not match the llama.* metadata", pre.c_str());
    return status();
}

// Pass 1 of layer l in float over every chunk of `stream`: the statistics of
// its four tap points (imatrix sums; H for gptq/awq; sum |x| for awq) and the
// held chunk's rows. write_back: the layer's output replaces `stream` (a
// float pass; calibrate() instead runs the quantized layer again).
// n_held chunks after the n_cal are held back; their rows are kept, one after another.
template <class Exec>
status float_layer_pass(const llama::model& m, int l, const calib_options& o, std::vector<float>& stream, std::size_t n_cal, std::size_t ctx,
                        llama::prefill_state& ps, tap_stats (&st)[4], bool write_back, Exec& exec, std::size_t n_held = 1) {
    const std::size_t D = m.c.dim, H = m.c.hidden;
    const bool want_h = uses_gptq(o.method) || uses_awq(o.method);  // gptq, awq (its loss), awq+gptq
    const bool awq = uses_awq(o.method), smooth = o.method == quant_method::smoothquant;
    const std::size_t widths[4] = {D, D, D, H};
    for (int i = 0; i < 4; ++i) {
        st[i].sum2.assign(widths[i], 0.0);
        if (awq) st[i].abs_sum.assign(widths[i], 0.0);
        if (smooth) st[i].abs_max.assign(widths[i], 0.0f);
        if (want_h) st[i].h = lowbit::hessian(widths[i]);
    }
    bool held = false, first_held = false;
    status tap_err;
    const llama::rows_tap tap = [&](int, llama::tap_point tp, const float* x, std::size_t rows, std::size_t cols) {
        tap_stats& s = st[static_cast<int>(tp)];
        if (held) {
            if (first_held) s.held.clear(), s.held_rows = 0;
            s.held.insert(s.held.end(), x, x + rows * cols);
            s.held_rows += rows;
            return;
        }
        for (std::size_t r = 0; r < rows; ++r)
            for (std::size_t j = 0; j < cols; ++j) s.sum2[j] += static_cast<double>(x[r * cols + j]) * x[r * cols + j];
        s.count += rows;
        if (awq)
            for (std::size_t r = 0; r < rows; ++r)
                for (std::size_t j = 0; j < cols; ++j) s.abs_sum[j] += std::fabs(x[r * cols + j]);
        if (smooth)
            for (std::size_t r = 0; r < rows; ++r)
                for (std::size_t j = 0; j < cols; ++j) s.abs_max[j] = std::max(s.abs_max[j], std::fabs(x[r * cols + j]));
        if (want_h && tap_err.ok()) tap_err = s.h.add_batch(lowbit::matrix_view<const float>(x, rows, cols), exec);
    };
    for (std::size_t ch = 0; ch < n_cal + n_held; ++ch) {
        held = ch >= n_cal, first_held = ch == n_cal;
        std::copy_n(stream.data() + ch * ctx * D, ctx * D, ps.x.data());
        llama::prefill_layer(m, l, ctx, ps, exec, {}, &tap);
        if (write_back) std::copy_n(ps.x.data(), ctx * D, stream.data() + ch * ctx * D);
    }
    if (!tap_err.ok()) return status::error(tap_err.code(), "calibration, layer %d: %s", l, tap_err.message());
    return status();
}

}  // namespace detail

// Runs the calibration and quantizes every blk.* weight that `plan` converts,
// and output.weight with GPTQ. `plan[i]` is the decision for src.tensors[i].
template <class Exec>
result<calibration> calibrate(const model_source& src, const std::vector<decision>& plan, const calib_options& o, progress& p,
                              Exec& exec, const calib_io& io = {}) {
    std::map<std::string, std::size_t> by_name;
    for (std::size_t i = 0; i < src.tensors.size(); ++i) by_name[src.tensors[i].desc.name] = i;
    auto done_with = [&](const std::string& prefix) {  // the input pages of every tensor named prefix*
        if (io.done_with) detail::for_prefix(by_name, prefix, [&](std::size_t i) { io.done_with(src.tensors[i]); });
    };
    auto setup = detail::calibration_setup(src, o);
    if (!setup) return setup.error();
    llama::model m;
    m.c = setup->c;
    const llama::config& c = m.c;
    const calib_tokens* toks = &setup->toks;
    const std::size_t ctx = o.ctx, n_cal = setup->n_cal, D = c.dim;
    calibration out;
    out.chunks = n_cal, out.ctx = ctx, out.text_tokens = toks->text_tokens, out.held_tokens = ctx;
    p.line("calibration: %s: %zu tokens; %zu chunks of %zu for the statistics, 1 held back; method %s", o.text.c_str(),
           toks->text_tokens, n_cal, ctx, method_name(o.method));

    LOWBIT_TRY(detail::load_f32(src.tensors[by_name.at("token_embd.weight")], m.tok_emb));
    std::vector<float> stream((n_cal + 1) * ctx * D);
    for (std::size_t t = 0; t < (n_cal + 1) * ctx; ++t) LOWBIT_TRY(m.embed(toks->ids[t], stream.data() + t * D));
    m.tok_emb = {};  // only the first embedding step needs it
    done_with("token_embd.weight");
    m.layers.resize(static_cast<std::size_t>(c.layers));
    llama::prefill_state ps;
    llama::prefill_resize(c, ctx, ps);
    const bool awq = uses_awq(o.method), folds = folds_scales(o.method);
    embd_hessian eh(o.embd_hessian && uses_gptq(o.method) ? D : 0);
    std::map<std::string, double> fold_rtn_err;  // awq, smoothquant: rtn of the unscaled weights (rtn_baselines)

    for (int l = 0; l < c.layers; ++l) {
        const double t0 = p.elapsed();
        const std::string pre = "blk." + std::to_string(l) + ".";
        llama::layer& y = m.layers[static_cast<std::size_t>(l)];
        LOWBIT_TRY(detail::load_layer(src, by_name, c, l, y));
        done_with(pre);  // the layer is in y (f32) now

        if (eh.D) {  // the embedding Hessian's terms for this layer's two norms (embd_hessian.hpp)
            const double ms = stream_mean_square(stream.data(), n_cal * ctx, D);
            if (ms > 0.0) {
                for (const llama::linear* w : {&y.wq, &y.wk, &y.wv}) eh.add(w->w.data(), w->rows, y.att_norm.data(), 1.0 / ms);
                for (const llama::linear* w : {&y.w1, &y.w3}) eh.add(w->w.data(), w->rows, y.ffn_norm.data(), 1.0 / ms);
            }
        }

        // pass 1: float layer, statistics
        detail::tap_stats st[4];
        LOWBIT_TRY(detail::float_layer_pass(m, l, o, stream, n_cal, ctx, ps, st, false, exec));
        if (awq) LOWBIT_TRY(detail::awq_layer(y, c, pre, plan, by_name, st, fold_rtn_err, out, p, exec));
        if (o.method == quant_method::smoothquant)
            LOWBIT_TRY(detail::smoothquant_layer(y, c, pre, plan, by_name, st, o.sq_alpha, fold_rtn_err, out, exec));

        // quantize the seven weights
        status bad;
        y.for_each_linear([&](llama::linear& w, const char* n) {
            if (!bad.ok()) return;
            const std::string name = pre + n + ".weight";
            const detail::tap_stats& s = st[static_cast<int>(detail::tap_of(y, w))];
            imatrix_stat& im = out.imatrix[name];
            im.sum2.assign(s.sum2.begin(), s.sum2.end());
            im.count = static_cast<float>(s.count);
            const decision& d = plan[by_name[name]];
            // rtn (--imatrix-out alone): plain float calibration, nothing quantized here.
            // A tensor kept as it is: the float weights stay, the plain writer copies the bytes
            // (under AWQ and SmoothQuant it is re-encoded: its weights were scaled).
            if (o.method == quant_method::rtn || (!d.convert && !folds)) return;
            calibrated_tensor& ct = out.tensors[name];
            bad = quantize_calibrated(name, d, o.method, o, s, w.w, w.rows, w.cols, &ct, exec);
            if (folds) ct.rtn_out_err = fold_rtn_err[name];
        });
        if (!bad.ok()) return bad;

        // pass 2: the quantized layer makes the next layer's input
        for (std::size_t ch = 0; ch <= n_cal; ++ch) {
            std::copy_n(stream.data() + ch * ctx * D, ctx * D, ps.x.data());
            llama::prefill_layer(m, l, ctx, ps, exec);
            std::copy_n(ps.x.data(), ctx * D, stream.data() + ch * ctx * D);
        }
        double e = 0, er = 0;
        int n = 0;
        y.for_each_linear([&](llama::linear& w, const char* nm) {
            auto it = out.tensors.find(pre + nm + ".weight");
            if (it != out.tensors.end()) e += it->second.out_err, er += it->second.rtn_out_err, ++n;
            w.w = std::vector<float>();
        });
        status spilled;
        if (io.spill)
            detail::for_prefix(out.tensors, pre, [&](calibrated_tensor& ct) {
                if (ct.data.empty() || !spilled.ok()) return;
                spilled = io.spill->put(span<const std::uint8_t>(ct.data.data(), ct.data.size()), &ct.spilled_at);
                ct.spilled = spilled.ok();
                ct.spilled_size = ct.data.size();
                if (ct.spilled) ct.data = std::vector<std::uint8_t>();
            });
        LOWBIT_TRY(spilled);
        y.att_norm = {}, y.ffn_norm = {};
        p.line("layer %d/%d: %s, mean layer-output error %.3e (rtn %.3e), %.1f s", l + 1, c.layers, method_name(o.method),
               n ? e / n : 0.0, n ? er / n : 0.0, p.elapsed() - t0);
    }
    if (uses_gptq(o.method)) LOWBIT_TRY(detail::gptq_output(src, plan, by_name, c, o, stream, n_cal, ctx, out, p, exec));
    if (eh.D) LOWBIT_TRY(detail::gptq_embedding(src, plan, by_name, c, o, stream, n_cal, ctx, eh, out, p, exec));
    return out;
}

}  // namespace lbq
