// quantize.hpp — quantize a model's linear layers on load.
//
// Scheme names (the --scheme flag and the --eval table):
//   f32                 no quantization
//   f16                 weights rounded to f16 (run as f32)
//   w<b>[g<G>|pc][a]    lowbit round-to-nearest (min/max), e.g. w8 (per channel), w4g32, w3g32, w2g32
//   w<b>g<G>-gptq       lowbit GPTQ, calibrated on the model's own samples (below),
//                       act-order with the permutation stored (4 bytes per input column)
//   w<b>g<G>-gptq-sg    GPTQ with act-order and static groups: the scales are fixed
//                       in column order before the sweep, so no permutation is stored
//   ...-rot             lowbit schemes on W Q^T, Q a randomized Hadamard rotation of the
//                       inputs (block-diagonal, hadamard.hpp), undone on x at run time
//                       (linear::rot); GGUF export refuses them
//   ...-rotb            the same with blocks by the input length's bits (172 = 128 + 32 + 8 + 4)
//   ...-rotN, -rotbN    GPTQ only: N sign vectors, the one with the least GPTQ loss
//                       (output error on the calibration inputs) kept, e.g. -rot4
//   ...-mse             scales by calibrate::mse (least |w - q|^2.4) instead of min/max
//                       (RTN and GPTQ), e.g. w4g32-mse, w4g32-gptq-sg-mse
//   q4_0 q5_0 q8_0 q4_1 q5_1 q2_k q3_k q4_k q5_k q6_k
//                       ggml's block types, byte-exact with llama.cpp's quantizer,
//                       with llama.cpp's fallback when a row length does not fit
//                       the block (ggml_repack.hpp)
// Embedding, norms and the (shared) classifier stay float.
#pragma once

#include <chrono>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include <lowbit/algo/gptq.hpp>
#include <lowbit/quant/hadamard.hpp>

#include "ggml_repack.hpp"
#include "runtime.hpp"

namespace llama {

struct scheme_spec {
    std::string name = "f32";
    enum class kind { f32, lowbit_rtn, lowbit_gptq, ggml } k = kind::f32;
    lowbit::runtime_scheme rs;
    gg::gguf_type ggml = gg::gguf_type::f32;
    bool static_groups = false;  // GPTQ: no stored permutation (-sg)
    bool mse = false;            // scales by calibrate::mse (-mse)
    bool rot = false;            // quantize W Q^T, rotate the inputs at run time (-rot)
    bool rot_binary = false;     // -rotb: Q's blocks follow the input length's bits (172 = 128 + 32 + 8 + 4)
    int rot_tries = 1;           // -rotN: N sign vectors, the one with the least GPTQ loss kept
};

inline result<scheme_spec> parse_scheme_name(const std::string& name) {
    scheme_spec s;
    s.name = name;
    if (name == "f32") return s;
    static const std::pair<const char*, gg::gguf_type> ggml_names[] = {
        {"f16", gg::gguf_type::f16},   {"q4_0", gg::gguf_type::q4_0}, {"q4_1", gg::gguf_type::q4_1}, {"q5_0", gg::gguf_type::q5_0},
        {"q5_1", gg::gguf_type::q5_1}, {"q8_0", gg::gguf_type::q8_0}, {"q2_k", gg::gguf_type::q2_K}, {"q3_k", gg::gguf_type::q3_K},
        {"q4_k", gg::gguf_type::q4_K}, {"q5_k", gg::gguf_type::q5_K}, {"q6_k", gg::gguf_type::q6_K}};
    for (const auto& g : ggml_names)
        if (name == g.first) {
            s.k = scheme_spec::kind::ggml;
            s.ggml = g.second;
            return s;
        }
    std::string base = name;
    s.k = scheme_spec::kind::lowbit_rtn;
    auto strip = [&](const char* suffix) {
        const std::size_t n = std::strlen(suffix);
        if (base.size() <= n || base.compare(base.size() - n, n, suffix) != 0) return false;
        base.resize(base.size() - n);
        return true;
    };
    // -rot[b][N]: b the binary block split (hadamard_blocks::binary), N sign vectors tried
    if (const std::size_t at = base.rfind("-rot"); at != std::string::npos) {
        std::size_t i = at + 4;
        const bool binary = i < base.size() && base[i] == 'b';
        i += binary;
        if (base.find_first_not_of("0123456789", i) == std::string::npos) {
            s.rot = true;
            s.rot_binary = binary;
            if (i < base.size()) {
                s.rot_tries = i + 3 < base.size() ? 0 : std::atoi(base.c_str() + i);
                if (s.rot_tries < 1 || s.rot_tries > 64)
                    return status::error(errc::invalid_argument, "scheme %s: -rotN takes N in 1..64 sign vectors", name.c_str());
            }
            base.resize(at);
        }
    }
    s.mse = strip("-mse");
    s.static_groups = strip("-sg");
    if (strip("-gptq")) s.k = scheme_spec::kind::lowbit_gptq;
    else if (s.static_groups)
        return status::error(errc::invalid_argument, "scheme %s: -sg (static groups) is a GPTQ option: w4g32-gptq-sg", name.c_str());
    auto rs = lowbit::parse_scheme(base.c_str());
    if (!rs) return rs.error();
    s.rs = *rs;
    LOWBIT_TRY(check_engine_scheme(s.rs));
    if (s.k == scheme_spec::kind::lowbit_gptq && s.rs.gran != lowbit::granularity::per_group)
        return status::error(errc::invalid_argument, "scheme %s: GPTQ here needs a group size (e.g. w4g32-gptq)", name.c_str());
    if (s.rot_tries > 1 && s.k != scheme_spec::kind::lowbit_gptq)
        return status::error(errc::invalid_argument, "scheme %s: -rotN chooses by GPTQ's loss: a -gptq scheme", name.c_str());
    return s;
}

// GPTQ settings and calibration data: sequences sampled from the F32 model
// itself (temperature 1, from BOS, seeds disjoint from --eval's).
struct calib_options {
    int sequences = 16;
    int length = 128;
    std::uint64_t seed = 0xCA11B;
    bool act_order = true;
    float percdamp = 0.01f;
    // Recapture a layer's Hessians after each stage (q k v, o, gate up, down)
    // so that each linear sees its layer's earlier linears quantized (the
    // reference's --true-sequential); off: one capture per layer.
    bool true_sequential = false;
};

struct quant_report {
    double seconds = 0;
    std::vector<std::string> notes;  // fallbacks and GPTQ diagnostics, one line each
};

namespace detail {
// H = 2/n sum x x^T of the four distinct inputs of one layer.
struct layer_hessians {
    lowbit::hessian attn_in, wo_in, ffn_in, w2_in;
    explicit layer_hessians(const config& c)
        : attn_in(c.dim), wo_in(c.dim), ffn_in(c.dim), w2_in(static_cast<std::size_t>(c.hidden)) {}
    lowbit::hessian& at(tap_point p) {
        return p == tap_point::attn_in ? attn_in : p == tap_point::wo_in ? wo_in : p == tap_point::ffn_in ? ffn_in : w2_in;
    }
};

inline std::vector<std::vector<int>> sample_sequences(const model& f32, int n, int len, std::uint64_t seed) {
    std::vector<std::vector<int>> out;
    lowbit::serial_executor ex;
    for (int i = 0; i < n; ++i) {
        sampler smp;
        smp.temperature = 1.0f;
        smp.r = rng(seed + 7919u * static_cast<std::uint64_t>(i));
        std::vector<int> seq = {bos_token};
        auto gen = generate(f32, len - 1, smp, ex);
        seq.insert(seq.end(), gen.begin(), gen.end());
        out.push_back(std::move(seq));
    }
    return out;
}

// Hessians of layer `l`'s inputs, computed by running `m` (whose layers < l are
// already quantized: the reference GPTQ's sequential order) over the sequences.
inline status capture_layer(const model& m, int l, const std::vector<std::vector<int>>& seqs, layer_hessians& hs) {
    std::vector<float> rows[4];
    tap_fn tap = [&](int layer, tap_point p, const float* x, std::size_t n) {
        if (layer == l) rows[static_cast<int>(p)].insert(rows[static_cast<int>(p)].end(), x, x + n);
    };
    lowbit::serial_executor ex;
    for (const auto& seq : seqs) {
        state s(m.c, static_cast<int>(seq.size()));
        for (std::size_t pos = 0; pos < seq.size(); ++pos) forward(m, s, seq[pos], static_cast<int>(pos), ex, {}, &tap);
        for (int p = 0; p < 4; ++p) {
            const std::size_t k = hs.at(static_cast<tap_point>(p)).cols();
            LOWBIT_TRY(hs.at(static_cast<tap_point>(p)).add_batch(lowbit::matrix_view<const float>(rows[p].data(), rows[p].size() / k, k)));
            rows[p].clear();
        }
    }
    return {};
}
}  // namespace detail

// The input each linear of a layer reads, in layer::for_each_linear's order
// (q, k, v, o, gate, down, up).
constexpr int linears_per_layer = 7;
constexpr tap_point linear_input[linears_per_layer] = {tap_point::attn_in, tap_point::attn_in, tap_point::attn_in, tap_point::wo_in,
                                                       tap_point::ffn_in,  tap_point::w2_in,   tap_point::ffn_in};

// One scheme per linear: layer l's i-th linear (for_each_linear's order) is
// entry l * linears_per_layer + i.
using tensor_schemes = std::vector<scheme_spec>;

// "blk.L.attn_q", ... in tensor_schemes order.
inline std::vector<std::string> linear_names(const model& m) {
    std::vector<std::string> out;
    for (std::size_t l = 0; l < m.layers.size(); ++l)
        m.layers[l].for_each_linear([&](const linear&, const char* name) { out.push_back("blk." + std::to_string(l) + "." + name); });
    return out;
}

namespace detail {
inline void store_lowbit(linear& w, const scheme_spec& s, lowbit::any_qmatrix q) {
    w.q = std::move(q);
    w.quantized = true;
    w.mapped.reset();  // a mapped codebook linear (it has its f32 values) now runs the new weights
    w.mapped_tiled = lowbit::weights{};
    w.blocks_tiled = lowbit::weights{};  // the tiled forms are of the old weights: tile_linear makes the new ones
    w.tiled = linear::tiled_weights{};
    w.has_tiled = false;
    w.untiled_reason.clear();
    w.format = s.name;
    w.bytes = w.q.storage.bytes();
    w.w.clear();
    w.w.shrink_to_fit();
}

// Linears of one input with equal rotations get one Q object: the runtime
// rotates a shared input once for them (matvec_shared_x compares pointers).
inline void share_rotations(linear* const* lin, int n) {
    for (int j = 1; j < n; ++j)
        for (int i = 0; i < j && lin[j]->rot; ++i) {
            const auto &a = lin[i]->rot, &b = lin[j]->rot;
            if (a && a != b && a->signs() == b->signs() && a->blocks() == b->blocks()) lin[j]->rot = a;
        }
}

inline lowbit::calibration calibration_of(const scheme_spec& s) {
    return s.mse ? lowbit::calibration(lowbit::calibrate::mse{}) : lowbit::calibration(lowbit::calibrate::minmax{});
}
}  // namespace detail

// The seed of the -rot schemes' sign vectors (any fixed value: Q is rebuilt from it).
constexpr std::uint64_t rotation_seed = 0x5107A7E;

// Quantizes one float linear with scheme `s` in place (not tiled: the caller
// tiles). GPTQ needs `h`, the Hessian of the linear's input; `loss` and
// `retries` add up its diagnostics, `fallback` names a ggml type's fallback.
template <class Exec>
status quantize_linear(linear& w, const scheme_spec& s, Exec& exec, const lowbit::hessian* h, const calib_options& co,
                       double* loss = nullptr, int* retries = nullptr, gg::gguf_type* fallback = nullptr) {
    if (s.k == scheme_spec::kind::f32 || w.quantized || w.w.empty()) return {};
    if (s.rot) {
        // Rows become Q w; the input x becomes Q x, so GPTQ's H = E[x x^T] becomes Q H Q^T.
        // Q is orthonormal, so GPTQ's loss (the output error on the calibration
        // inputs) is comparable across sign vectors: -rotN keeps the least.
        scheme_spec plain = s;
        plain.rot = false;
        double best = 0;
        int best_tries = 0;
        linear chosen;
        for (int t = 0; t < s.rot_tries; ++t) {
            auto q = lowbit::hadamard_rotation::make(w.cols, rotation_seed + static_cast<std::uint64_t>(t),
                                                     s.rot_binary ? lowbit::hadamard_blocks::binary : lowbit::hadamard_blocks::equal);
            if (!q) return q.error();
            linear r = w;
            LOWBIT_TRY(q->apply_rows(lowbit::span<float>(r.w.data(), r.w.size()), r.rows));
            lowbit::hessian hr;
            if (h) {
                std::vector<float> hm(h->matrix().data(), h->matrix().data() + w.cols * w.cols);
                LOWBIT_TRY(q->apply_rows(lowbit::span<float>(hm.data(), hm.size()), w.cols));
                LOWBIT_TRY(q->apply_columns(lowbit::span<float>(hm.data(), hm.size()), w.cols));
                auto rh = lowbit::hessian::from_matrix(lowbit::matrix_view<const float>(hm.data(), w.cols, w.cols), h->samples());
                if (!rh) return rh.error();
                hr = std::move(*rh);
            }
            double l = 0;
            int tries = 0;
            LOWBIT_TRY(quantize_linear(r, plain, exec, h ? &hr : nullptr, co, &l, &tries, fallback));
            if (t > 0 && !(l < best)) continue;
            best = l, best_tries = tries;
            r.rot = std::make_shared<const lowbit::hadamard_rotation>(std::move(*q));
            chosen = std::move(r);
        }
        if (loss) *loss += best;
        if (retries) *retries += best_tries;
        w = std::move(chosen);
        return {};
    }
    const lowbit::matrix_view<const float> src(w.w.data(), w.rows, w.cols);
    if (s.k == scheme_spec::kind::ggml) {
        const gg::gguf_type t = ggml_type_for_row(s.ggml, w.cols);
        if (fallback) *fallback = t;
        auto q = quantize_ggml(w, t);
        if (!q) return q.error();
        w = std::move(*q);
        return {};
    }
    if (s.k == scheme_spec::kind::lowbit_rtn)
        return visit_engine_scheme(s.rs, [&](auto tag) -> status {
            lowbit::quantize_options qo;
            qo.calib = detail::calibration_of(s);
            qo.group = s.rs.gran == lowbit::granularity::per_group ? s.rs.group : static_cast<int>(w.cols);
            auto q = lowbit::quantize<decltype(tag)>(src, qo, exec);
            if (!q) return q.error();
            lowbit::any_qmatrix a;
            a.scheme = s.rs;
            a.storage = std::move(*q).release();
            detail::store_lowbit(w, s, std::move(a));
            return {};
        });
    if (!h) return status::error(errc::invalid_argument, "scheme %s: GPTQ needs the Hessian of the layer's input", s.name.c_str());
    lowbit::gptq_options go;
    go.act_order = co.act_order;
    go.static_groups = s.static_groups;
    go.percdamp = co.percdamp;
    go.group = s.rs.group;
    go.calib = detail::calibration_of(s);
    return visit_engine_scheme(s.rs, [&](auto tag) -> status {
        auto r = lowbit::gptq_quantize<decltype(tag)>(src, *h, go, exec);
        if (!r) return r.error();
        if (loss) *loss += r->report.loss;
        if (retries) *retries += r->report.damp_retries;
        lowbit::any_qmatrix a;
        a.scheme = s.rs;
        a.storage = std::move(r->q).release();
        detail::store_lowbit(w, s, std::move(a));
        return {};
    });
}

// Quantizes each linear of `m` (float weights) with its scheme, in place.
// Layers with a GPTQ linear are calibrated on inputs produced by the model
// whose earlier layers are already quantized (as the reference llama.py).
template <class Exec>
status quantize_tensors(model& m, const tensor_schemes& ts, Exec& exec, quant_report* rep = nullptr, const calib_options& co = {}) {
    const auto t0 = std::chrono::steady_clock::now();
    if (ts.size() != m.layers.size() * linears_per_layer)
        return status::error(errc::shape_mismatch, "%zu schemes for %zu linear layers", ts.size(), m.layers.size() * linears_per_layer);
    auto note = [&](std::string line) {
        if (rep) rep->notes.push_back(std::move(line));
    };
    bool any_gptq = false;
    for (const scheme_spec& s : ts) any_gptq = any_gptq || s.k == scheme_spec::kind::lowbit_gptq;
    std::vector<std::vector<int>> seqs;
    if (any_gptq) seqs = detail::sample_sequences(m, co.sequences, std::min(co.length, m.c.seq_len), co.seed);
    std::map<std::string, int> fallbacks;  // "ffn_down: q4_k needs rows of 256, this one is 172 -> q5_0" -> count
    double loss = 0;
    int retries = 0;
    for (std::size_t l = 0; l < m.layers.size(); ++l) {
        const scheme_spec* mine = ts.data() + l * linears_per_layer;
        linear* lin[linears_per_layer];
        const char* names[linears_per_layer];
        int n = 0;
        m.layers[l].for_each_linear([&](linear& w, const char* name) { lin[n] = &w, names[n++] = name; });
        // down reads what gate and up make: last, so that true-sequential sees both quantized
        constexpr int order[linears_per_layer] = {0, 1, 2, 3, 4, 6, 5};
        std::unique_ptr<detail::layer_hessians> hs;
        bool stale[4] = {true, true, true, true};  // per tap_point: captured before a linear it depends on changed
        for (const int i : order) {
            const scheme_spec& s = mine[i];
            const int tap = static_cast<int>(linear_input[i]);
            if (s.k == scheme_spec::kind::lowbit_gptq && (!hs || (co.true_sequential && stale[tap]))) {
                hs = std::make_unique<detail::layer_hessians>(m.c);
                LOWBIT_TRY(detail::capture_layer(m, static_cast<int>(l), seqs, *hs));
                for (bool& b : stale) b = false;
            }
            gg::gguf_type t = s.ggml;
            LOWBIT_TRY(quantize_linear(*lin[i], s, exec, hs ? &hs->at(linear_input[i]) : nullptr, co, &loss, &retries, &t));
            if (t != s.ggml)
                ++fallbacks[std::string(names[i]) + ": " + ggml_format_name(s.ggml) + " needs rows of " +
                            std::to_string(gg::type_block_size(s.ggml)) + ", this one is " + std::to_string(lin[i]->cols) + " -> " +
                            ggml_format_name(t)];
            for (int later = tap + 1; later < 4; ++later) stale[later] = true;
        }
        detail::share_rotations(lin, linears_per_layer);
    }
    for (const auto& f : fallbacks) note("fallback " + f.first + " (" + std::to_string(f.second) + " tensors)");
    if (any_gptq) {
        char buf[200];
        std::snprintf(buf, sizeof buf, "gptq: %d calibration sequences x %d tokens, act_order %s, true-sequential %s, damp %.3g, total loss %.4g, "
                      "%d damping retries", co.sequences, co.length, co.act_order ? "on" : "off", co.true_sequential ? "on" : "off", static_cast<double>(co.percdamp), loss, retries);
        note(buf);
    }
    tile_model(m);  // weights loaded quantized (GGUF) still get the tiled copy
    if (rep) rep->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return {};
}

// Quantizes the linear layers of `m` (float weights) with scheme `s`, in place.
template <class Exec>
status quantize_model(model& m, const scheme_spec& s, Exec& exec, quant_report* rep = nullptr, const calib_options& co = {}) {
    LOWBIT_TRY(quantize_tensors(m, tensor_schemes(m.layers.size() * linears_per_layer, s), exec, rep, co));
    if (s.k != scheme_spec::kind::f32) m.scheme = s.name;
    return {};
}

}  // namespace llama
