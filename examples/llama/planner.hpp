// planner.hpp — --bpw X for lowbit-llama: one lowbit scheme per linear layer,
// chosen to minimise the summed predicted KLD within X bits per weight.
//
// The sensitivity of a linear under a candidate scheme is the KLD against F32
// of the model with that one linear quantized (everything else F32), measured
// on calibration sequences the model samples itself (calib_options: another
// seed than --eval's, so nothing is tuned on the evaluation tokens). GPTQ
// candidates here see the F32 model's inputs; the final quantization runs
// them in sequence (quantize_tensors). The choice is lowbit-quantize's
// multiple-choice knapsack (lbq::allocate), on the bytes each candidate really
// takes; the budget is X × the linear layers' weights ÷ 8 bytes, the bpw
// --eval's table counts.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../lowbit-quantize/plan.hpp"
#include "eval.hpp"

namespace llama {

struct sensitivity_table {
    std::vector<std::string> tensors;                 // "blk.L.attn_q", ... in tensor_schemes order
    std::vector<std::size_t> params;                  // weights of each tensor
    std::vector<scheme_spec> candidates;
    std::vector<std::vector<double>> kld;             // [tensor][candidate]
    std::vector<std::vector<std::uint64_t>> bytes;    // [tensor][candidate]
};

// Default candidates: 3..8 bits, groups of 32 and 64, GPTQ with static groups
// (no permutation to store), MSE scales and the input rotation: on
// stories260K each of the three lowers the KLD at the same bytes (docs/quality.md).
inline const char* default_plan_candidates() {
    return "w3g32-gptq-sg-mse-rot,w3g64-gptq-sg-mse-rot,w4g32-gptq-sg-mse-rot,w4g64-gptq-sg-mse-rot,w5g32-gptq-sg-mse-rot,"
           "w5g64-gptq-sg-mse-rot,w6g64-gptq-sg-mse-rot,w8g64-gptq-sg-mse-rot";
}

// KLD of `f32` with each linear alone quantized by each candidate, on the
// reference `calib` (make_reference with the calibration seed).
//
// With `around` (a plan), the second pass: every other linear is quantized
// as `around` says, and each linear's candidates are measured in that model
// (GPTQ's Hessians captured on it). The additive prediction of the first pass
// misses how the errors interact (on stories260K it predicted 1.07 for a plan
// that measured 0.90); around a plan, the knapsack's sum differs from the
// measured KLD only by how the changes it makes interact with each other.
template <class Exec>
result<sensitivity_table> measure_sensitivity(const model& f32, const std::vector<scheme_spec>& candidates, const eval_reference& calib,
                                              const eval_options& eo, const calib_options& co, Exec& exec,
                                              const tensor_schemes* around = nullptr) {
    if (candidates.empty()) return status::error(errc::invalid_argument, "--bpw: no candidate scheme");
    sensitivity_table t;
    t.candidates = candidates;
    bool any_gptq = false;
    for (const scheme_spec& s : candidates) {
        if (s.k == scheme_spec::kind::f32) return status::error(errc::invalid_argument, "--bpw: f32 is not a candidate (it is the reference)");
        any_gptq = any_gptq || s.k == scheme_spec::kind::lowbit_gptq;
    }
    std::vector<std::vector<int>> seqs;
    if (any_gptq) seqs = detail::sample_sequences(f32, co.sequences, std::min(co.length, f32.c.seq_len), co.seed);
    model m = f32;
    if (around) LOWBIT_TRY(quantize_tensors(m, *around, exec, nullptr, co));
    t.tensors = linear_names(m);
    for (std::size_t l = 0; l < m.layers.size(); ++l) {
        std::vector<const linear*> floats;
        f32.layers[l].for_each_linear([&](const linear& w, const char*) { floats.push_back(&w); });
        std::unique_ptr<detail::layer_hessians> hs;
        if (any_gptq) {
            hs = std::make_unique<detail::layer_hessians>(m.c);
            LOWBIT_TRY(detail::capture_layer(m, static_cast<int>(l), seqs, *hs));
        }
        int i = 0;
        status st;
        m.layers[l].for_each_linear([&](linear& w, const char* name) {
            const linear& f = *floats[static_cast<std::size_t>(i)];
            const tap_point in = linear_input[i++];
            if (!st) return;
            if (f.quantized || f.w.empty()) {
                st = status::error(errc::unsupported, "--bpw: blk.%zu.%s is not a float weight; the planner quantizes F32 models", l, name);
                return;
            }
            t.params.push_back(w.params());
            t.kld.emplace_back();
            t.bytes.emplace_back();
            const linear keep = w;
            for (const scheme_spec& s : candidates) {
                w = f;
                st = quantize_linear(w, s, exec, hs ? &hs->at(in) : nullptr, co);
                if (!st) return;
                tile_linear(w);
                eval_row row;
                measure_quality(m, calib, eo, exec, row);
                t.kld.back().push_back(row.kld);
                t.bytes.back().push_back(w.bytes);
                w = keep;
            }
        });
        LOWBIT_TRY(st);
    }
    return t;
}

struct tensor_plan {
    tensor_schemes schemes;
    double predicted_kld = 0;
    std::uint64_t bytes = 0, budget = 0;
};

// The candidates with the least summed KLD whose bytes fit bpw × weights ÷ 8.
inline result<tensor_plan> plan_for_bpw(const sensitivity_table& t, double bpw) {
    if (!(bpw > 0.0) || !std::isfinite(bpw)) return status::error(errc::invalid_argument, "--bpw %g: expected bits per weight > 0", bpw);
    std::uint64_t weights = 0;
    std::vector<lbq::plan_item> items(t.tensors.size());
    for (std::size_t i = 0; i < t.tensors.size(); ++i) {
        weights += t.params[i];
        items[i].bytes = t.bytes[i];
        items[i].loss = t.kld[i];
    }
    tensor_plan p;
    p.budget = static_cast<std::uint64_t>(std::floor(bpw * static_cast<double>(weights) / 8.0));
    auto a = lbq::allocate(items, p.budget);
    if (!a) return a.error();
    for (std::size_t i = 0; i < t.tensors.size(); ++i) p.schemes.push_back(t.candidates[a->choice[i]]);
    p.predicted_kld = a->loss;
    p.bytes = a->bytes;
    return p;
}

// The schemes of a --plan-out file (a line per linear, "blk.L.name scheme",
// in the model's order; '#' lines are comments).
inline result<tensor_schemes> read_plan_file(const char* path, const model& m) {
    auto bytes = read_file(path);
    if (!bytes) return bytes.error();
    const std::vector<std::string> want = linear_names(m);
    tensor_schemes out;
    const std::string text(bytes->begin(), bytes->end());
    std::size_t at = 0;
    while (at < text.size()) {
        std::size_t end = text.find('\n', at);
        if (end == std::string::npos) end = text.size();
        const std::string line = text.substr(at, end - at);
        at = end + 1;
        if (line.empty() || line[0] == '#') continue;
        const std::size_t sp = line.find(' ');
        const std::string tensor = line.substr(0, sp), scheme = sp == std::string::npos ? "" : line.substr(sp + 1);
        if (out.size() >= want.size() || tensor != want[out.size()])
            return status::error(errc::invalid_argument, "%s: line '%.80s': expected %s next", path, line.c_str(),
                                 out.size() < want.size() ? want[out.size()].c_str() : "no more lines");
        auto s = parse_scheme_name(scheme);
        if (!s) return s.error();
        out.push_back(*s);
    }
    if (out.size() != want.size())
        return status::error(errc::invalid_argument, "%s lists %zu of the model's %zu linear layers", path, out.size(), want.size());
    return out;
}

// The table as markdown: a row per tensor, the KLD of each candidate, the plan's choice in bold.
inline void print_sensitivity(const sensitivity_table& t, const tensor_plan* p, std::FILE* out) {
    std::fprintf(out, "| tensor |");
    for (const scheme_spec& s : t.candidates) std::fprintf(out, " %s |", s.name.c_str());
    std::fprintf(out, "\n|---|");
    for (std::size_t c = 0; c < t.candidates.size(); ++c) std::fprintf(out, "---:|");
    std::fprintf(out, "\n");
    for (std::size_t i = 0; i < t.tensors.size(); ++i) {
        std::fprintf(out, "| %s |", t.tensors[i].c_str());
        for (std::size_t c = 0; c < t.candidates.size(); ++c) {
            const bool chosen = p && p->schemes[i].name == t.candidates[c].name;
            std::fprintf(out, chosen ? " **%.4f** |" : " %.4f |", t.kld[i][c]);
        }
        std::fprintf(out, "\n");
    }
}

}  // namespace llama
