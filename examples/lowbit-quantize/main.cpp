// lowbit-quantize — convert a GGUF or safetensors model (F32/F16/BF16 weights)
// into a quantized GGUF v3 file, the way llama.cpp's llama-quantize chooses
// types, with lowbit's byte-exact block codecs. docs/tools.md is the manual.
//
//   lowbit-quantize IN OUT --type Q4_K_M [--tensor-type REGEX=TYPE ...] [--threads N]
//   lowbit-quantize IN OUT --type Q4_K_M --method gptq --calib TEXT.txt [--imatrix-out FILE]
//   lowbit-quantize IN OUT --type w4g128 [--method rtn|gptq|awq|awq+gptq|smoothquant|hqq] [--tensor-type ffn_down=w8pc]   (lowbit_types.hpp)
//   lowbit-quantize IN OUT --type cb4 [--method rtn|imatrix|gptq --calib TEXT.txt] [--tensor-type ffn_down=cb3-nf]   (codebooks, lowbit_types.hpp)
//   lowbit-quantize IN OUT --bpw 4.5 --method gptq --calib TEXT.txt [--plan-out FILE] [--report FILE]   (bpw_plan.hpp)
//
// Memory stays bounded by a fixed chunk of rows, not by the model: the input is
// mmap'd, tensors are converted one chunk of rows at a time (rows spread over a
// thread pool), each chunk goes straight to the output through gguf_writer, and
// the input pages of a finished chunk are handed back to the kernel.
#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <lowbit/formats/gguf.hpp>
#include <lowbit/formats/gguf_blocks.hpp>
#include <lowbit/formats/weights_gguf_writer.hpp>
#include <lowbit/parallel.hpp>
#include <lowbit/quant/metrics.hpp>

#include "files.hpp"
#include "bpw_plan.hpp"
#include "calibrate.hpp"
#include "rotate.hpp"
#include "dry_run.hpp"
#include "hf_llama.hpp"
#include "imatrix_out.hpp"
#include "lowbit_types.hpp"
#include "model_source.hpp"
#include "names.hpp"
#include "plan_files.hpp"
#include "progress.hpp"
#include "quantized_checkpoint.hpp"
#include "tensor_rules.hpp"

namespace {

using namespace lbq;

// Rows are converted in chunks of about this many values (16 MiB of floats):
// the tool's working memory, whatever the size of the model or of a tensor.
constexpr std::uint64_t chunk_values = std::uint64_t(1) << 22;
// Tasks per chunk: fixed, so the SQNR sums do not depend on --threads.
constexpr std::size_t tasks_per_chunk = 64;

struct args {
    std::string in, out, type = "", imatrix;
    std::vector<std::string> overrides;
    std::string output_type, token_embd_type;
    unsigned threads = 0;
    bool quiet = false, pure = false, leave_output = false, allow_requantize = false, sqnr = true;
    // calibration (calibrate.hpp)
    std::string method = "rtn", calib, imatrix_out, calib_tokens, calib_ctx, damp, refit_rounds;
    bool act_order = false, static_grids = false, refit = false, refit_sub = false, refit_codes = false, embd_hessian = false;
    bool awq_clip = false;
    std::string sq_alpha;  // --sq-alpha A: SmoothQuant's migration strength
    bool dry_run = false;  // print the plan's bytes, write nothing (dry_run.hpp)
    std::string ctx;       // --ctx N: KV cache size in the dry run
    // the --bpw planner (bpw_plan.hpp): budget, saved plan/report, a report read back, a plan replayed
    std::string bpw, plan_out, report, sensitivity_in, plan_in, probe_chunks;
    bool method_given = false;
    bool rotate = false;       // --rotate: QuaRot's folded rotations (rotate.hpp)
    std::string rotate_seed;   // --rotate-seed N
};

void usage(std::FILE* f) {
    std::fprintf(f,
                 "usage: lowbit-quantize IN OUT --type TYPE [options]\n"
                 "\n"
                 "  IN   GGUF or safetensors model (F32, F16, BF16 weights), or a Hugging Face\n"
                 "       LlamaForCausalLM folder (converted as llama.cpp's convert_hf_to_gguf.py does)\n"
                 "  OUT  GGUF v3 file (written to a temporary name, renamed on success)\n"
                 "\n"
                 "  --type TYPE                  a llama-quantize type, with its per-tensor recipe:\n"
                 "                               Q4_0 Q4_1 Q5_0 Q5_1 Q8_0 Q2_K Q2_K_S Q3_K_S Q3_K_M Q3_K_L\n"
                 "                               Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K IQ4_NL IQ4_XS TQ1_0 TQ2_0\n"
                 "                               MXFP4_MOE IQ3_S IQ3_M, with --imatrix also IQ3_XS IQ3_XXS\n"
                 "                               IQ2_M IQ2_S IQ2_XS IQ2_XXS IQ1_M IQ1_S;\n"
                 "                               F16 BF16 F32 (Q3_K Q4_K Q5_K: the _M mixes);\n"
                 "                               or a lowbit scheme w<bits>{g<group>|pc|pt}[a][-f16|-bf16|-f32]\n"
                 "                               (w4g128, w8pc, w4g64a-bf16) for every quantizable tensor but\n"
                 "                               token_embd and output (Q6_K), written as lowbit weights;\n"
                 "                               or a codebook cb4 cb3 (4-/3-bit indices into a grid learned per\n"
                 "                               tensor by k-means), cb4-nf cb3-nf (the NF4/NF3 grid): --method\n"
                 "                               rtn, imatrix or gptq (GPTQ on the grid)\n"
                 "  --tensor-type REGEX=TYPE     give tensors whose name matches REGEX this type or lowbit scheme\n"
                 "                               (repeatable; first match wins)\n"
                 "  --output-tensor-type TYPE    type of output.weight\n"
                 "  --token-embedding-type TYPE  type of token_embd.weight\n"
                 "  --leave-output-tensor        keep output.weight as it is\n"
                 "  --pure                       no recipe and no output-tensor rule: TYPE's base type for every\n"
                 "                               quantizable tensor (as llama-quantize --pure)\n"
                 "  --imatrix FILE               llama.cpp importance matrix (GGUF or legacy .dat)\n"
                 "  --method rtn|imatrix|gptq|awq|awq+gptq|smoothquant|hqq\n"
                 "                               rtn: round to nearest (llama-quantize's bytes, default);\n"
                 "                               imatrix: rtn weighted by an imatrix computed on --calib;\n"
                 "                               gptq: GPTQ on the type's grid, imatrix-weighted (needs --calib);\n"
                 "                               awq: AWQ scales folded into the norms / previous linears, then imatrix rtn;\n"
                 "                               awq+gptq: the same scales, then GPTQ (lowbit schemes: both on their grid);\n"
                 "                               smoothquant: SmoothQuant's scales (max|x|, max|w|) folded the same\n"
                 "                               way, then rtn (for lowbit schemes run with int8 activations);\n"
                 "                               hqq: HQQ for asymmetric lowbit schemes (ggml types: rtn)\n"
                 "  --calib TEXT                 calibration text (UTF-8), tokenized with the model's vocabulary;\n"
                 "                               or FILE.npy: token ids (any integer dtype), used as they are\n"
                 "  --calib-tokens N             calibration tokens to use (default 16384)\n"
                 "  --calib-ctx N                tokens per calibration chunk, BOS first (default 256)\n"
                 "  --imatrix-out FILE           write the computed imatrix (llama.cpp's GGUF imatrix format)\n"
                 "  --act-order                  gptq: sweep columns by decreasing Hessian diagonal\n"
                 "  --static-grids               gptq: choose every block's grid from the original weights\n"
                 "  --damp F                     gptq: damping, fraction of the mean Hessian diagonal (default 0.01)\n"
                 "  --refit                      gptq: after the sweep, re-fit each block's f16 scales (d, dmin)\n"
                 "                               to the Hessian-weighted error, codes kept\n"
                 "  --refit-sub                  gptq, K-quants, IQ4_XS, IQ3_S, IQ3_XXS: then move each sub-block's\n"
                 "                               integer scale (and min) and re-fit d/dmin, a few rounds, to that error\n"
                 "                               (only lowers it)\n"
                 "  --refit-codes                as --refit-sub, and move single codes by one step too (IQ3_S,\n"
                 "                               IQ3_XXS: each grid point to the best of the grid's; Q4_0 … Q5_1,\n"
                 "                               IQ4_NL: the codes and d/m only)\n"
                 "  --refit-rounds N             rounds of --refit-sub/--refit-codes, 1..64 (default 4)\n"
                 "  --embd-hessian               gptq: quantize token_embd.weight with GPTQ too, against a first-order\n"
                 "                               Hessian built from the weights that read the residual stream\n"
                 "  --awq-clip                   awq: clip search per ggml block (llm-awq's, scored with H)\n"
                 "  --sq-alpha A                 smoothquant: migration strength in [0, 1] (default 0.5)\n"
                 "  --rotate                     LLaMA: fold the norm gains into the linears and rotate the residual\n"
                 "                               stream and each head's values by randomized Hadamard matrices\n"
                 "                               (QuaRot); OUT is a plain LLaMA with the same function, then quantized\n"
                 "  --rotate-seed N              --rotate: the seed of the rotations' signs (default 0)\n"
                 "  --allow-requantize           accept already-quantized input tensors (dequantized first)\n"
                 "  --threads N                  worker threads (default: all cores)\n"
                 "  --no-sqnr                    skip the quality measurement (faster)\n"
                 "  --quiet                      print errors only\n"
                 "  --dry-run                    read headers only, print each tensor's bytes and the file size; write nothing\n"
                 "  --ctx N                      --dry-run: also the KV cache for N tokens (F16 K and V)\n"
                 "  --bpw X                      plan: one ggml type per weight (Q2_K IQ3_XXS Q3_K IQ3_S IQ4_XS IQ4_NL Q4_K Q5_K\n"
                 "                               Q6_K Q8_0), the least predicted KLD with all tensors' bytes x 8 / their\n"
                 "                               values <= X; the sensitivity is measured on --calib with --method (--type: which tensors\n"
                 "                               are quantized and general.file_type, default Q4_K_M); without --method:\n"
                 "                               gptq --act-order --refit --refit-codes --embd-hessian\n"
                 "  --probe-chunks N             --bpw: measure the sensitivity on the N calibration chunks after the\n"
                 "                               statistics' (default 1); the text must hold --calib-tokens + N chunks\n"
                 "  --sensitivity FILE           --bpw: plan from a --report file instead of measuring\n"
                 "  --report FILE                --bpw: write the sensitivity report (predicted KLD per weight and type)\n"
                 "  --plan-out FILE              --bpw: write the plan, one --tensor-type REGEX=TYPE per line\n"
                 "  --plan FILE                  replay a --plan-out file (its lines as --tensor-type)\n"
                 "\n"
                 "See docs/tools.md for which tensors get which type.\n");
}

// 0: run; otherwise the exit code.
int parse_args(int argc, char** argv, args* a) {
    std::vector<std::string> pos;
    for (int i = 1; i < argc; ++i) {
        std::string s = argv[i], val;
        bool has_val = false;
        if (s.rfind("--", 0) == 0) {
            const std::size_t eq = s.find('=');
            if (eq != std::string::npos) {
                val = s.substr(eq + 1);
                s = s.substr(0, eq);
                has_val = true;
            }
        }
        auto value = [&](std::string* out) {
            if (has_val) {
                *out = val;
                return true;
            }
            if (i + 1 >= argc) {
                std::fprintf(stderr, "lowbit-quantize: %s needs a value\n", s.c_str());
                return false;
            }
            *out = argv[++i];
            return true;
        };
        if (s == "-h" || s == "--help") {
            usage(stdout);
            return -1;
        } else if (s == "--type") {
            if (!value(&a->type)) return 2;
        } else if (s == "--tensor-type") {
            std::string v;
            if (!value(&v)) return 2;
            a->overrides.push_back(v);
        } else if (s == "--output-tensor-type") {
            if (!value(&a->output_type)) return 2;
        } else if (s == "--token-embedding-type") {
            if (!value(&a->token_embd_type)) return 2;
        } else if (s == "--imatrix") {
            if (!value(&a->imatrix)) return 2;
        } else if (s == "--method") {
            if (!value(&a->method)) return 2;
            a->method_given = true;
        } else if (s == "--calib") {
            if (!value(&a->calib)) return 2;
        } else if (s == "--calib-tokens") {
            if (!value(&a->calib_tokens)) return 2;
        } else if (s == "--calib-ctx") {
            if (!value(&a->calib_ctx)) return 2;
        } else if (s == "--imatrix-out") {
            if (!value(&a->imatrix_out)) return 2;
        } else if (s == "--damp") {
            if (!value(&a->damp)) return 2;
        } else if (s == "--act-order") {
            a->act_order = true;
        } else if (s == "--static-grids") {
            a->static_grids = true;
        } else if (s == "--refit") {
            a->refit = true;
        } else if (s == "--refit-sub") {
            a->refit_sub = true;
        } else if (s == "--refit-codes") {
            a->refit_sub = a->refit_codes = true;
        } else if (s == "--embd-hessian") {
            a->embd_hessian = true;
        } else if (s == "--awq-clip") {
            a->awq_clip = true;
        } else if (s == "--sq-alpha") {
            if (!value(&a->sq_alpha)) return 2;
        } else if (s == "--rotate") {
            a->rotate = true;
        } else if (s == "--rotate-seed") {
            if (!value(&a->rotate_seed)) return 2;
        } else if (s == "--refit-rounds") {
            if (!value(&a->refit_rounds)) return 2;
        } else if (s == "--threads") {
            std::string v;
            if (!value(&v)) return 2;
            char* end = nullptr;
            const long n = std::strtol(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0' || n < 1 || n > 1024) {
                std::fprintf(stderr, "lowbit-quantize: --threads '%s': expected 1..1024\n", v.c_str());
                return 2;
            }
            a->threads = static_cast<unsigned>(n);
        } else if (s == "--quiet") {
            a->quiet = true;
        } else if (s == "--dry-run") {
            a->dry_run = true;
        } else if (s == "--ctx") {
            if (!value(&a->ctx)) return 2;
        } else if (s == "--bpw") {
            if (!value(&a->bpw)) return 2;
        } else if (s == "--plan-out") {
            if (!value(&a->plan_out)) return 2;
        } else if (s == "--report") {
            if (!value(&a->report)) return 2;
        } else if (s == "--probe-chunks") {
            if (!value(&a->probe_chunks)) return 2;
        } else if (s == "--sensitivity") {
            if (!value(&a->sensitivity_in)) return 2;
        } else if (s == "--plan") {
            if (!value(&a->plan_in)) return 2;
        } else if (s == "--pure") {
            a->pure = true;
        } else if (s == "--leave-output-tensor") {
            a->leave_output = true;
        } else if (s == "--allow-requantize") {
            a->allow_requantize = true;
        } else if (s == "--no-sqnr") {
            a->sqnr = false;
        } else if (s.size() > 1 && s[0] == '-') {
            std::fprintf(stderr, "lowbit-quantize: unknown option '%s' (see --help)\n", s.c_str());
            return 2;
        } else {
            pos.push_back(s);
        }
    }
    if (a->type.empty() && (!a->bpw.empty() || !a->plan_in.empty())) a->type = "Q4_K_M";  // the planner's base recipe
    // --bpw with --calib and no --method: GPTQ with docs/ptq.md's best options on tinyllama-sotu
    if (!a->bpw.empty() && !a->calib.empty() && !a->method_given) {
        a->method = "gptq";
        a->act_order = a->refit = a->refit_sub = a->refit_codes = a->embd_hessian = true;
    }
    if (pos.size() != 2 || a->type.empty()) {
        usage(stderr);
        return 2;
    }
    a->in = pos[0];
    a->out = pos[1];
    return 0;
}

// GGUF input (llama-quantize's case): removes `key` and appends it with the
// new value, as llama.cpp's gguf_set_val_* does, which is why llama-quantize's
// files end with general.quantization_version and general.file_type. A Hugging
// Face input follows convert_hf_to_gguf.py instead: the value is replaced in place.
void set_kv(std::vector<std::pair<std::string, gguf::meta_value>>& kvs, const std::string& key, const gguf::meta_value& v,
            bool move_to_end) {
    for (auto& kv : kvs)
        if (kv.first == key && !move_to_end) {
            kv.second = v;
            return;
        }
    kvs.erase(std::remove_if(kvs.begin(), kvs.end(), [&](const auto& kv) { return kv.first == key; }), kvs.end());
    kvs.emplace_back(key, v);
}

struct type_stats {
    std::size_t tensors = 0, converted = 0;
    std::uint64_t bytes = 0, values = 0;
    lowbit::error_accumulator acc;
};

struct job {
    const source_tensor* src;
    const decision* dec;
    const float* imat = nullptr;  // n_per_row values per matrix, dims[2] matrices (or 1)
    std::uint64_t imat_mats = 0;
};

// The index of the first NaN or infinity in x[0, k), or -1.
std::int64_t first_non_finite(const float* x, std::int64_t k) {
    for (std::int64_t i = 0; i < k; ++i)
        if (!std::isfinite(x[i])) return i;
    return -1;
}

// Every value that reaches OUT is finite: a NaN or infinity in the input is
// refused wherever it is (a tensor that is quantized, falls back to F16 or is
// kept as it is), with the same message and exit status 2.
status non_finite_at(const source_tensor& t, std::uint64_t row, std::uint64_t col, double v) {
    return status::error(errc::non_finite, "value %llu (row %llu, column %llu) is %s; refusing to write it",
                         static_cast<unsigned long long>(row * t.row_length() + col), static_cast<unsigned long long>(row),
                         static_cast<unsigned long long>(col), std::isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
}

class converter {
public:
    converter(const input_file& in, gguf::gguf_writer& w, progress& p, unsigned threads, bool sqnr)
        : in_(in), w_(w), p_(p), pool_(threads), sqnr_(sqnr) {}

    // Bytes unchanged, in chunks of rows, releasing the input pages behind
    // us; float rows are checked for NaN and infinities first.
    status copy(const source_tensor& t) {
        if (!t.row_order.empty()) return copy_rows(t);
        const std::uint64_t rows = t.rows();
        const std::size_t in_row = static_cast<std::size_t>(t.n_bytes / rows);
        const std::uint64_t chunk_rows = std::max<std::uint64_t>(1, chunk_values * 4 / std::max<std::size_t>(in_row, 1));
        for (std::uint64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
            const std::size_t n = static_cast<std::size_t>(std::min(chunk_rows, rows - r0));
            LOWBIT_TRY(check_finite_rows(t, r0, n));
            LOWBIT_TRY(w_.write_tensor_data(span<const std::uint8_t>(t.data + r0 * in_row, n * in_row)));
            release(t, t.data + r0 * in_row, n * in_row);
            p_.advance(n * in_row);
        }
        return status();
    }

    // Rows -> float -> d.type, chunk by chunk; the quantized rows are decoded
    // again to measure the error against the input.
    status convert(const job& j, lowbit::error_accumulator* acc) {
        const source_tensor& t = *j.src;
        const gguf_type to = j.dec->type, from = t.desc.type;
        const std::int64_t k = static_cast<std::int64_t>(t.row_length());
        const std::uint64_t rows = t.rows();
        const std::size_t in_row = static_cast<std::size_t>(t.n_bytes / rows);
        const std::size_t out_row = static_cast<std::size_t>(gguf::row_size(to, k));
        const bool direct = from == gguf_type::f32 && !t.imported && reinterpret_cast<std::uintptr_t>(t.data) % alignof(float) == 0;
        // An imported checkpoint weight whose scheme `to` represents exactly is
        // written from its codes and scales (no requantization; imported_to_ggml.hpp).
        const bool exact = t.imported && lowbit::checkpoint::exact_ggml_type(*t.imported, to).has_value();
        const std::uint64_t chunk_rows = std::max<std::uint64_t>(1, std::min<std::uint64_t>(rows, chunk_values / static_cast<std::uint64_t>(k)));
        if (!direct) fbuf_.resize(static_cast<std::size_t>(chunk_rows * static_cast<std::uint64_t>(k)));
        qbuf_.resize(static_cast<std::size_t>(chunk_rows) * out_row);
        raw_.resize(tasks_per_chunk);
        if (sqnr_) {
            deq_.resize(tasks_per_chunk);
            for (auto& d : deq_) d.resize(static_cast<std::size_t>(k));
        }
        const std::uint64_t rows_per_mat = t.desc.dims[1];
        for (std::uint64_t r0 = 0; r0 < rows; r0 += chunk_rows) {
            const std::size_t n = static_cast<std::size_t>(std::min(chunk_rows, rows - r0));
            const std::size_t n_tasks = std::min(n, tasks_per_chunk);
            std::vector<status> st(n_tasks);
            std::vector<lowbit::error_accumulator> accs(n_tasks);
            pool_(n_tasks, [&](std::size_t task) {
                const std::size_t a = n * task / n_tasks, b = n * (task + 1) / n_tasks;
                for (std::size_t r = a; r < b; ++r) {
                    const std::uint8_t* raw = t.imported ? nullptr : t.data + t.source_row(r0 + r) * in_row;
                    const float* x;
                    if (t.imported) {  // exact values: scale * (q - z), in input column order
                        float* f = fbuf_.data() + r * static_cast<std::size_t>(k);
                        t.imported->dequantize_row(static_cast<std::size_t>(t.source_row(r0 + r)), f);
                        x = f;
                    } else if (direct) {
                        x = reinterpret_cast<const float*>(raw);
                    } else {
                        float* f = fbuf_.data() + r * static_cast<std::size_t>(k);
                        if (reinterpret_cast<std::uintptr_t>(raw) % alignof(float) != 0) {
                            // safetensors does not align tensor data; the codecs read
                            // 16- and 32-bit fields, so give them an aligned copy.
                            std::vector<std::uint8_t>& tmp = raw_[task];
                            tmp.resize(in_row);
                            std::memcpy(tmp.data(), raw, in_row);
                            raw = tmp.data();
                        }
                        st[task] = gguf::dequantize_row(from, raw, f, k);
                        if (!st[task].ok()) return;
                        x = f;
                    }
                    if (const std::int64_t c = first_non_finite(x, k); c >= 0) {
                        st[task] = non_finite_at(t, r0 + r, static_cast<std::uint64_t>(c), x[c]);
                        return;
                    }
                    const float* qw = nullptr;
                    if (j.imat) qw = j.imat + (j.imat_mats > 1 ? (r0 + r) / rows_per_mat : 0) * static_cast<std::uint64_t>(k);
                    std::uint8_t* q = qbuf_.data() + r * out_row;
                    st[task] = exact ? lowbit::checkpoint::encode_exact_row(*t.imported, to, static_cast<std::size_t>(t.source_row(r0 + r)), q)
                                     : gguf::quantize(to, x, q, 1, k, qw);
                    if (!st[task].ok()) return;
                    if (sqnr_) {
                        float* y = deq_[task].data();
                        st[task] = gguf::dequantize_row(to, q, y, k);
                        if (!st[task].ok()) return;
                        for (std::int64_t i = 0; i < k; ++i) accs[task].add(x[i], y[i]);
                    }
                }
            });
            for (std::size_t i = 0; i < n_tasks; ++i) {
                if (!st[i].ok()) return st[i];
                acc->merge(accs[i]);
            }
            LOWBIT_TRY(w_.write_tensor_data(span<const std::uint8_t>(qbuf_.data(), n * out_row)));
            if (t.row_order.empty() && !t.imported) release(t, t.data + r0 * in_row, n * in_row);
            p_.advance(n * in_row);
        }
        if (!t.row_order.empty() && !t.imported) release(t, t.data, t.n_bytes);  // permuted rows: the pages are done with only now
        return status();
    }

private:
    void release(const source_tensor& t, const std::uint8_t* p, std::size_t n) const { (t.file ? *t.file : in_).release(span<const std::uint8_t>(p, n)); }

    // copy() for a tensor whose rows are reordered: gathered a chunk at a time.
    status copy_rows(const source_tensor& t) {
        const std::size_t row = static_cast<std::size_t>(t.n_bytes / t.rows());
        const std::uint64_t chunk_rows = std::max<std::uint64_t>(1, chunk_values * 4 / row);
        for (std::uint64_t r0 = 0; r0 < t.rows(); r0 += chunk_rows) {
            const std::size_t n = static_cast<std::size_t>(std::min(chunk_rows, t.rows() - r0));
            LOWBIT_TRY(check_finite_rows(t, r0, n));  // input rows r0..r0+n: every row once over the loop
            gather_.resize(n * row);
            for (std::size_t r = 0; r < n; ++r) std::memcpy(gather_.data() + r * row, t.data + t.source_row(r0 + r) * row, row);
            LOWBIT_TRY(w_.write_tensor_data(span<const std::uint8_t>(gather_.data(), n * row)));
            p_.advance(n * row);
        }
        release(t, t.data, t.n_bytes);
        return status();
    }

    // Rows [r0, r0 + n) of a tensor that is copied: F64 values are read as
    // they are, every type with a row decoder (F32, F16, BF16, the block types)
    // is decoded; integer tensors hold no NaN.
    status check_finite_rows(const source_tensor& t, std::uint64_t r0, std::size_t n) {
        const gguf_type ty = t.desc.type;
        const bool f64 = ty == gguf_type::f64;
        if (!f64 && !gguf::has_row_decoder(ty)) return status();
        const std::int64_t k = static_cast<std::int64_t>(t.row_length());
        const std::size_t in_row = static_cast<std::size_t>(t.n_bytes / t.rows());
        const std::size_t n_tasks = std::min(n, tasks_per_chunk);
        std::vector<status> st(n_tasks);
        raw_.resize(tasks_per_chunk);
        rowf_.resize(tasks_per_chunk);
        pool_(n_tasks, [&](std::size_t task) {
            const std::size_t a = n * task / n_tasks, b = n * (task + 1) / n_tasks;
            for (std::size_t r = a; r < b; ++r) {
                const std::uint8_t* raw = t.data + (r0 + r) * in_row;
                if (f64) {
                    for (std::int64_t i = 0; i < k; ++i) {
                        double v;
                        std::memcpy(&v, raw + 8 * i, 8);
                        if (!std::isfinite(v)) {
                            st[task] = non_finite_at(t, r0 + r, static_cast<std::uint64_t>(i), v);
                            return;
                        }
                    }
                    continue;
                }
                std::vector<std::uint8_t>& tmp = raw_[task];  // aligned for the codecs' 16/32-bit fields
                tmp.resize(in_row);
                std::memcpy(tmp.data(), raw, in_row);
                std::vector<float>& f = rowf_[task];
                f.resize(static_cast<std::size_t>(k));
                st[task] = gguf::dequantize_row(ty, tmp.data(), f.data(), k);
                if (!st[task].ok()) return;
                if (const std::int64_t c = first_non_finite(f.data(), k); c >= 0) {
                    st[task] = non_finite_at(t, r0 + r, static_cast<std::uint64_t>(c), f[static_cast<std::size_t>(c)]);
                    return;
                }
            }
        });
        for (const status& s : st)
            if (!s.ok()) return s;
        return status();
    }

    const input_file& in_;
    gguf::gguf_writer& w_;
    progress& p_;
    lowbit::thread_pool pool_;
    bool sqnr_;
    std::vector<float> fbuf_;
    std::vector<std::uint8_t> qbuf_;
    std::vector<std::vector<float>> deq_;
    std::vector<std::vector<std::uint8_t>> raw_;  // per task: an aligned copy of a misaligned input row
    std::vector<std::uint8_t> gather_;            // copy_rows' reordered chunk
    std::vector<std::vector<float>> rowf_;        // per task: a copied row, decoded for the finiteness check
};

std::string shape_string(const tensor_desc& d) {
    std::string s = "[";
    for (int i = 0; i < d.n_dims; ++i) {
        if (i) s += ", ";
        s += std::to_string(d.dims[i]);
    }
    return s + "]";
}

std::string sqnr_string(const type_stats& s) {
    if (s.converted == 0) return "-";
    const lowbit::error_stats e = lowbit::error_stats::from(s.acc);
    if (s.acc.n == 0) return "n/a";
    if (std::isinf(e.sqnr_db) && e.sqnr_db > 0) return "exact";
    char b[32];
    std::snprintf(b, sizeof b, "%.2f", e.sqnr_db);
    return b;
}

// One line on stderr, passed through printable(): file names and library
// messages may quote bytes from the input. Returns the exit status `rc`:
// 1 for errors, 2 for what the tool refuses to do (refuse()).
int fail(const std::string& file, const status& s, int rc = 1) {
    const std::size_t all = static_cast<std::size_t>(-1);
    std::fprintf(stderr, "lowbit-quantize: %s: %s\n", printable(file, all).c_str(), printable(s.message(), all).c_str());
    return rc;
}
// A non-finite weight, a name GGUF cannot hold, an OUT that must not be replaced.
int refuse(const std::string& file, const status& s) { return fail(file, s, 2); }

// The type a decision writes, as the log names it.
std::string type_label(const decision& d) { return d.lowbit ? lowbit_type_name(*d.lowbit) : gguf::type_name(d.type); }

// A tensor given a lowbit scheme (lowbit_types.hpp): its float values, quantized
// with `m` (hqq, else rtn: GPTQ tensors come quantized from calibrate(), and
// the table says "not calibrated" of any it did not reach), written
// through `lw` in the form lowbit_file_shape declared. *bytes: what it took.
status write_lowbit_tensor(const source_tensor& t, const decision& d, lowbit_method m, lowbit::weights_gguf_writer& lw,
                           lowbit::thread_pool& pool, lowbit::error_accumulator* acc, std::uint64_t* bytes, const float* importance) {
    std::vector<float> w;
    LOWBIT_TRY(detail::load_f32(t, w));  // its errors name the tensor
    const std::string name = printable(t.desc.name);
    auto named = [&](const status& s) { return status::error(s.code(), "tensor '%s': %s", name.c_str(), s.message()); };
    if (d.lowbit->codebook) {  // codebook weights: written as they come (importance: --imatrix's entry, or null)
        auto c = quantize_codebook(*d.lowbit, w.data(), static_cast<std::size_t>(t.rows()), static_cast<std::size_t>(t.row_length()), importance);
        if (!c) return named(c.error());
        if (status s = measure_codebook(c->view(), w.data(), acc, nullptr); !s) return named(s);
        *bytes = c->bytes() + (std::size_t{1} << d.lowbit->codebook);  // the grid tensor too
        if (status s = lw.write(t.desc.name, c->view()); !s) return named(s);
        return {};
    }
    auto q = quantize_lowbit(d.lowbit->scheme, m, w.data(), static_cast<std::size_t>(t.rows()), static_cast<std::size_t>(t.row_length()), pool);
    if (!q) return named(q.error());
    if (status s = measure_lowbit(*q, w.data(), acc, nullptr, pool); !s) return named(s);
    auto f = lowbit_file_form(*q);
    if (!f) return named(f.error());
    *bytes = f->bytes();
    if (status s = lw.write(t.desc.name, f->view()); !s) return named(s);
    return {};
}

int run(const args& a) {
    // --type w4g128: a lowbit scheme; the tensors it leaves out (token_embd,
    // output) get Q6_K, llama.cpp's type for the output tensor (tensor_rules.hpp).
    std::optional<lbq::lowbit_type> lowbit_type;
    target lowbit_target{a.type.c_str(), gguf_type::q6_K, ftype::Q6_K};
    if (names_lowbit_type(a.type)) {
        auto s = parse_lowbit_type(a.type);
        if (!s) {
            std::fprintf(stderr, "lowbit-quantize: --type: %s\n", printable(s.error().message()).c_str());
            return 2;
        }
        lowbit_type = *s;
    }
    const target* tgt = lowbit_type ? &lowbit_target : find_target(a.type);
    if (!tgt) {
        std::fprintf(stderr, "lowbit-quantize: --type '%s' is not one of:", a.type.c_str());
        for (const target& t : targets()) std::fprintf(stderr, " %s", t.name);
        std::fputc('\n', stderr);
        return 2;
    }
    calib_options co;
    if (a.method == "rtn") co.method = quant_method::rtn;
    else if (a.method == "imatrix") co.method = quant_method::imatrix;
    else if (a.method == "gptq") co.method = quant_method::gptq;
    else if (a.method == "awq") co.method = quant_method::awq;
    else if (a.method == "awq+gptq") co.method = quant_method::awq_gptq;
    else if (a.method == "smoothquant") co.method = quant_method::smoothquant;
    else if (a.method != "hqq") {
        std::fprintf(stderr, "lowbit-quantize: --method '%s' is not one of: rtn imatrix gptq awq awq+gptq smoothquant hqq\n",
                     printable(a.method).c_str());
        return 2;
    }
    // hqq needs no calibration: the ggml tensors of the file are rounded to nearest.
    const lowbit_method lmethod = a.method == "hqq" ? lowbit_method::hqq : co.method == quant_method::gptq ? lowbit_method::gptq : lowbit_method::rtn;
    const bool calibrated = co.method != quant_method::rtn || !a.imatrix_out.empty();
    if (calibrated && a.calib.empty()) {
        std::fprintf(stderr, "lowbit-quantize: %s needs --calib TEXT (calibration text)\n",
                     co.method != quant_method::rtn ? ("--method " + a.method).c_str() : "--imatrix-out");
        return 2;
    }
    const bool planning = !a.bpw.empty();
    if (planning) {  // --bpw: the checks that need no input (bpw_plan.hpp)
        const char* why = nullptr;
        if (lowbit_type) why = "--bpw chooses ggml types; --type must be a llama-quantize type (it sets which tensors are quantized)";
        else if (!a.overrides.empty() || !a.plan_in.empty()) why = "--bpw chooses every quantized tensor's type; it does not take --tensor-type or --plan";
        else if (a.sensitivity_in.empty() && a.calib.empty()) why = "--bpw measures the sensitivity on --calib TEXT (or reads --sensitivity FILE)";
        else if (folds_scales(co.method)) why = "--bpw plans with --method rtn, imatrix or gptq";
        if (why) {
            std::fprintf(stderr, "lowbit-quantize: %s\n", why);
            return 2;
        }
        if (auto b = parse_bpw(a.bpw); !b) {
            std::fprintf(stderr, "lowbit-quantize: %s\n", printable(b.error().message()).c_str());
            return 2;
        }
    } else if (!a.plan_out.empty() || !a.report.empty() || !a.sensitivity_in.empty() || !a.probe_chunks.empty()) {
        std::fprintf(stderr, "lowbit-quantize: --plan-out, --report, --sensitivity and --probe-chunks go with --bpw\n");
        return 2;
    }
    if (!a.probe_chunks.empty()) {
        char* end = nullptr;
        const long long n = std::strtoll(a.probe_chunks.c_str(), &end, 10);
        if (*end != '\0' || n < 1 || n > 64) {
            std::fprintf(stderr, "lowbit-quantize: --probe-chunks '%s': expected an integer 1..64\n", printable(a.probe_chunks).c_str());
            return 2;
        }
        co.probe_chunks = static_cast<std::size_t>(n);
    }
    if (!calibrated && !a.calib.empty() && !planning) {
        std::fprintf(stderr, "lowbit-quantize: --calib is used by --method imatrix|gptq|awq|awq+gptq or --imatrix-out; neither is given\n");
        return 2;
    }
    if (co.method != quant_method::rtn && !a.imatrix.empty()) {
        std::fprintf(stderr, "lowbit-quantize: --imatrix FILE goes with --method rtn; --method %s computes its own from --calib\n",
                     a.method.c_str());
        return 2;
    }
    for (auto nv : {std::make_pair("--calib-tokens", &a.calib_tokens), std::make_pair("--calib-ctx", &a.calib_ctx)}) {
        if (nv.second->empty()) continue;
        char* end = nullptr;
        const long long n = std::strtoll(nv.second->c_str(), &end, 10);
        const long long lo = nv.second == &a.calib_ctx ? 16 : 1;
        if (*end != '\0' || n < lo || n > (1ll << 26)) {
            std::fprintf(stderr, "lowbit-quantize: %s '%s': expected an integer %lld..%lld\n", nv.first, printable(*nv.second).c_str(), lo,
                         1ll << 26);
            return 2;
        }
        (nv.second == &a.calib_ctx ? co.ctx : co.max_tokens) = static_cast<std::size_t>(n);
    }
    if (!a.damp.empty()) {
        char* end = nullptr;
        const double d = std::strtod(a.damp.c_str(), &end);
        if (*end != '\0' || !(d >= 0.0 && d <= 10.0)) {
            std::fprintf(stderr, "lowbit-quantize: --damp '%s': expected a number in [0, 10]\n", printable(a.damp).c_str());
            return 2;
        }
        co.percdamp = static_cast<float>(d);
    }
    co.text = a.calib;
    co.act_order = a.act_order;
    co.static_grids = a.static_grids;
    co.refit = a.refit;
    co.refit_sub = a.refit_sub;
    co.refit_codes = a.refit_codes;
    co.embd_hessian = a.embd_hessian;
    co.awq_clip = a.awq_clip;
    if (a.awq_clip && co.method != quant_method::awq) {
        std::fprintf(stderr, "lowbit-quantize: --awq-clip goes with --method awq\n");
        return 2;
    }
    if (!a.sq_alpha.empty()) {
        char* end = nullptr;
        const double v = std::strtod(a.sq_alpha.c_str(), &end);
        if (*end != '\0' || !(v >= 0.0 && v <= 1.0) || co.method != quant_method::smoothquant) {
            std::fprintf(stderr, "lowbit-quantize: --sq-alpha '%s': expected a number in [0, 1], with --method smoothquant\n",
                         printable(a.sq_alpha).c_str());
            return 2;
        }
        co.sq_alpha = static_cast<float>(v);
    }
    if (!a.refit_rounds.empty()) {
        char* end = nullptr;
        const long n = std::strtol(a.refit_rounds.c_str(), &end, 10);
        if (*end != '\0' || !(n >= 1 && n <= 64) || !a.refit_sub) {
            std::fprintf(stderr, "lowbit-quantize: --refit-rounds '%s': expected 1..64, with --refit-sub or --refit-codes\n",
                         printable(a.refit_rounds).c_str());
            return 2;
        }
        co.refit_rounds = static_cast<int>(n);
    }
    if ((a.act_order || a.static_grids || a.refit || a.refit_sub || a.embd_hessian || !a.damp.empty()) && !uses_gptq(co.method)) {
        std::fprintf(stderr,
                     "lowbit-quantize: --act-order, --static-grids, --refit, --refit-sub, --refit-codes, --embd-hessian and --damp go with "
                     "--method gptq or awq+gptq\n");
        return 2;
    }

    options o;
    o.tgt = tgt;
    // With a computed imatrix the recipe is llama-quantize's with --imatrix (Q4_0/Q5_0 ffn_down rule).
    o.has_imatrix = co.method != quant_method::rtn && co.method != quant_method::smoothquant;  // smoothquant rounds to nearest
    o.pure = a.pure;
    o.dry_run = a.dry_run;
    o.leave_output = a.leave_output;
    o.lowbit = lowbit_type;
    std::vector<std::string> overrides = a.overrides;
    if (!a.plan_in.empty()) {  // a --plan-out file: its lines, after any --tensor-type
        auto text = read_text_file(a.plan_in);
        auto lines = text ? read_plan_lines(*text) : result<std::vector<std::string>>(text.error());
        if (!lines) return refuse(a.plan_in, lines.error());
        overrides.insert(overrides.end(), lines->begin(), lines->end());
    }
    for (const std::string& s : overrides) {
        override_rule r;
        const status st = parse_override(s, &r);
        if (!st.ok()) {
            std::fprintf(stderr, "lowbit-quantize: %s\n", st.message());
            return 2;
        }
        o.overrides.push_back(std::move(r));
    }
    for (auto p : {std::make_pair(&a.output_type, &o.output_type), std::make_pair(&a.token_embd_type, &o.token_embd_type)}) {
        if (p.first->empty()) continue;
        *p.second = parse_tensor_type(*p.first);
        if (!*p.second) {
            std::fprintf(stderr, "lowbit-quantize: unknown tensor type '%s'\n", p.first->c_str());
            return 2;
        }
    }

    input_file in;
    hf_folder hf;  // a Hugging Face folder: its shards stay mapped while src points into them
    std::vector<input_path> inputs;
    model_source src;
    if (hf_folder::is_dir(a.in)) {
        // A bad folder is bad input (exit 2): nothing is written.
        status s = hf.open(a.in);
        std::optional<quant_import> qi;  // a GPTQ / AWQ / compressed-tensors checkpoint
        if (s.ok()) s = read_quant_import(hf, &qi);
        if (s.ok() && qi) s = import_quantized_linears(hf, *qi, a.dry_run);
        if (s.ok()) s = open_hf_llama(hf, &src);
        if (!s.ok()) return refuse(a.in, s);
        if (qi && calibrated)
            return refuse(a.in, status::error(errc::unsupported, "a %s checkpoint is converted from its stored codes; --method %s and "
                                                                 "--imatrix-out need unquantized weights", qi->name(), a.method.c_str()));
        if (qi && !a.quiet)
            std::fprintf(stderr, "lowbit-quantize: %s checkpoint (%s): %zu quantized weights %s\n", qi->name(), qi->config_file.c_str(),
                         qi->imported, a.dry_run ? "(headers only)" : "read without requantizing");
        for (std::size_t i = 0; i < hf.shard_count(); ++i)
            inputs.push_back({hf.path() + "/" + hf.shard_name(i), hf.shard_file(i).id()});
    } else {
        if (status s = in.open(a.in, read_once()); !s.ok()) return fail(a.in, s);
        inputs.push_back({a.in, in.id()});
        if (status s = open_model(in.bytes(), &src); !s.ok()) return fail(a.in, s);
    }
    // Names go into OUT and into the log: refused here, before anything is written.
    for (const source_tensor& t : src.tensors)
        if (status s = check_tensor_name(t.desc.name); !s.ok()) return refuse(a.in, s);
    const bool like_llama_quantize = std::string(src.format) == "GGUF";  // else: like convert_hf_to_gguf.py
    if (like_llama_quantize) {  // OUT lists the tensors in llama-quantize's order, so whole files can be compared
        std::vector<std::string> names;
        for (const source_tensor& t : src.tensors) names.push_back(rule_name(t.desc.name));
        std::vector<source_tensor> sorted;
        for (std::size_t i : llama_order(names)) sorted.push_back(std::move(src.tensors[i]));
        src.tensors = std::move(sorted);
    }
    rotated_weights rotated;  // --rotate: the rotated tensors, which src points into from here
    if (a.rotate) {
        std::uint64_t seed = 0;
        if (!a.rotate_seed.empty()) {
            char* end = nullptr;
            errno = 0;
            seed = std::strtoull(a.rotate_seed.c_str(), &end, 10);
            if (*end != '\0' || errno != 0 || !(a.rotate_seed[0] >= '0' && a.rotate_seed[0] <= '9')) {
                std::fprintf(stderr, "lowbit-quantize: --rotate-seed '%s': expected an integer 0..18446744073709551615\n",
                             printable(a.rotate_seed).c_str());
                return 2;
            }
        }
        if (status s = rotate_llama(src, seed, rotated); !s.ok()) return refuse(a.in, s);
    } else if (!a.rotate_seed.empty()) {
        std::fprintf(stderr, "lowbit-quantize: --rotate-seed goes with --rotate\n");
        return 2;
    }

    imatrix im;
    if (!a.imatrix.empty()) {
        input_file f;
        if (status s = f.open(a.imatrix, read_once()); !s.ok()) return fail(a.imatrix, s);
        if (status s = im.load(f.bytes()); !s.ok()) return fail(a.imatrix, s);
        o.has_imatrix = true;
        inputs.push_back({a.imatrix, f.id()});
    }
    // --calib, --sensitivity, --plan: read later, so no output may replace them. Their
    // identity only: opening them here would read a pipe that their reader then finds empty.
    for (const std::string* f : {&a.calib, &a.sensitivity_in, &a.plan_in}) tool_files::add_input(inputs, *f);
    bool out_exists = false;
    if (status s = check_output_path(a.out, inputs, &out_exists); !s.ok())
        return s.code() == errc::invalid_argument ? refuse(a.out, s) : fail(a.out, s);
    if (!a.imatrix_out.empty()) {
        if (a.imatrix_out == a.out) return refuse(a.imatrix_out, status::error(errc::invalid_argument, "--imatrix-out is OUT"));
        bool e = false;
        if (status s = check_output_path(a.imatrix_out, inputs, &e); !s.ok())
            return s.code() == errc::invalid_argument ? refuse(a.imatrix_out, s) : fail(a.imatrix_out, s);
    }

    progress prog(a.quiet, 0, 0);  // for notes before the real one starts
    if (!in.bytes().empty() && !in.mapped())
        prog.line("lowbit-quantize: %s cannot be mmap'd; read it into memory (%s)", a.in.c_str(),
                  human_bytes(static_cast<double>(in.bytes().size())).c_str());

    std::vector<tensor_desc> descs;
    for (const source_tensor& t : src.tensors) descs.push_back(t.desc);
    std::vector<decision> plan_;
    if (status s = plan(descs, src.info, o, &plan_); !s.ok())
        return s.code() == errc::unsupported ? refuse(a.in, s) : fail(a.in, s);
    if (planning) {  // --bpw: the recipe's quantized tensors get the planner's types
        for (const std::string& f : {a.plan_out, a.report}) {
            if (f.empty()) continue;
            bool e = false;
            if (f == a.out || f == a.imatrix_out || (f == a.plan_out && f == a.report))
                return refuse(f, status::error(errc::invalid_argument, "is another output of this run"));
            if (status s = check_output_path(f, inputs, &e); !s.ok()) return s.code() == errc::invalid_argument ? refuse(f, s) : fail(f, s);
        }
        sensitivity sens;
        std::string source;
        if (!a.sensitivity_in.empty()) {
            auto text = read_text_file(a.sensitivity_in);
            auto r = text ? parse_sensitivity_report(*text) : result<sensitivity>(text.error());
            if (!r) return refuse(a.sensitivity_in, r.error());
            sens = std::move(*r);
            source = "read from " + a.sensitivity_in;
        } else {
            lowbit::thread_pool pool(a.threads ? a.threads : std::max(1u, std::thread::hardware_concurrency()));
            auto r = measure_sensitivity(src, plan_, co, prog, pool);
            if (!r) return refuse(a.calib, r.error());
            sens = std::move(*r);
            source = "measured on " + a.calib + " with --method " + a.method;
            if (co.probe_chunks > 1) source += ", --probe-chunks " + std::to_string(co.probe_chunks);
        }
        // A type llama.cpp writes only with an importance matrix (IQ3_XXS but for output and token_embd) is no
        // candidate for a run without one (--method rtn): the file could not be written.
        if (co.method == quant_method::rtn || co.method == quant_method::smoothquant)
            for (tensor_sensitivity& t : sens.tensors)
                for (std::size_t i = 0; i < sens.types.size() && i < t.loss.size(); ++i)
                    if (requires_imatrix(t.name, sens.types[i], tgt->ftype)) t.loss[i] = NAN;
        const double bpw = *parse_bpw(a.bpw);
        auto bp = plan_for_budget(src, plan_, sens, bpw);
        if (!bp) return refuse(a.sensitivity_in.empty() ? a.in : a.sensitivity_in, bp.error());
        char nums[160];
        std::snprintf(nums, sizeof nums, "# %.4f bpw counted: %llu bytes of tensors x 8 / %llu values; predicted KLD %.6g\n", bp->bpw(),
                      static_cast<unsigned long long>(bp->a.bytes + bp->fixed_bytes), static_cast<unsigned long long>(bp->elements), bp->a.loss);
        const std::string head = "# lowbit-quantize --bpw " + printable(a.bpw) + " plan of " + printable(a.in, a.in.size()) + " (--type " + tgt->name +
                                 "; sensitivity " + printable(source, source.size()) + ")\n" + nums;
        std::vector<std::string> names;
        for (std::size_t i : bp->index) names.push_back(src.tensors[i].desc.name);
        const std::string recipe = plan_recipe(names, bp->types, head);
        auto write_text = [&](const std::string& path, const std::string& text) -> status {
            output_file f;
            LOWBIT_TRY(f.open(path, inputs));
            LOWBIT_TRY(f.write(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
            return f.commit();
        };
        if (!a.plan_out.empty())
            if (status s = write_text(a.plan_out, recipe); !s.ok()) return fail(a.plan_out, s);
        if (!a.report.empty())
            if (status s = write_text(a.report, sensitivity_report(sens, bp->a.choice, head)); !s.ok()) return fail(a.report, s);
        if (!a.quiet) {
            std::fprintf(stderr, "%s", head.c_str());
            std::string args;
            for (std::size_t i = 0; i < names.size(); ++i) args += " --tensor-type '" + exact_name_regex(names[i]) + "=" + gguf::type_name(bp->types[i]) + "'";
            std::fprintf(stderr, "lowbit-quantize: the plan as a recipe: --type %s%s\n", tgt->name, printable(args, args.size()).c_str());
        }
        for (std::size_t i = 0; i < names.size(); ++i) {
            override_rule r;
            if (status s = parse_override(exact_name_regex(names[i]) + "=" + gguf::type_name(bp->types[i]), &r); !s.ok()) return fail(a.in, s);
            o.overrides.push_back(std::move(r));
        }
        if (status s = plan(descs, src.info, o, &plan_); !s.ok())
            return s.code() == errc::unsupported ? refuse(a.in, s) : fail(a.in, s);
    }
    // Lowbit schemes: what the methods and inputs can give them.
    bool any_lowbit = false;
    for (std::size_t i = 0; i < plan_.size(); ++i) {
        const decision& d = plan_[i];
        if (!d.lowbit) continue;
        any_lowbit = true;
        const std::string n = printable(src.tensors[i].desc.name), sch = lowbit_type_name(*d.lowbit);
        const char* why = nullptr;
        const bool cb = d.lowbit->codebook != 0;
        if (cb && !(a.method == "rtn" || co.method == quant_method::imatrix || co.method == quant_method::gptq))
            why = "codebook types take --method rtn, imatrix or gptq";
        else if (cb && (a.static_grids || a.refit || a.refit_sub))
            why = "GPTQ on a codebook grid picks each block's scale as the sweep reaches it: no --static-grids or --refit*";
        else if (co.method == quant_method::imatrix && !cb)
            why = "--method imatrix weights ggml types and codebooks only; lowbit schemes take rtn, gptq, awq, awq+gptq, smoothquant or hqq";
        else if (uses_awq(co.method) && d.lowbit->scheme.gran == lowbit::granularity::per_tensor)
            why = "AWQ's scale search rounds blocks of rows, a per-tensor scale spans them all: give a per-channel or per-group scheme";
        else if (lmethod == lowbit_method::hqq && d.lowbit->scheme.symmetric) why = "HQQ optimises zero points: give an asymmetric scheme (w4g64a)";
        else if (src.tensors[i].imported) why = "an imported checkpoint weight is converted from its codes, not requantized to a lowbit scheme";
        if (why) return refuse(a.in, status::error(errc::unsupported, "tensor '%s' gets %s: %s", n.c_str(), sch.c_str(), why));
    }
    if (lmethod == lowbit_method::hqq && !any_lowbit)
        return refuse(a.in, status::error(errc::invalid_argument, "--method hqq quantizes lowbit schemes (--type w4g64a); no tensor gets one"));
    if (a.awq_clip && any_lowbit)  // the clip search is per ggml block (awq_clip_gguf)
        prog.line("lowbit-quantize: --awq-clip clips the ggml-type tensors only; the lowbit-scheme ones are rounded unclipped");

    // Per-tensor checks that need the input: requantizing, copies, imatrix rows.
    std::vector<job> jobs(src.tensors.size());
    for (std::size_t i = 0; i < src.tensors.size(); ++i) {
        const source_tensor& t = src.tensors[i];
        decision& d = plan_[i];
        jobs[i].src = &t;
        jobs[i].dec = &d;
        if (d.lowbit) {  // quantized from the decoded values (lowbit_types.hpp)
            const gguf_type from = t.desc.type;
            if (from != gguf_type::f32 && from != gguf_type::f16 && from != gguf_type::bf16 &&
                !(gguf::has_row_decoder(from) && gguf::is_quantized(from) && a.allow_requantize))
                return fail(a.in, status::error(errc::unsupported, "tensor '%s' has type %s; a lowbit scheme needs F32/F16/BF16 weights "
                                                                   "(block types with --allow-requantize)",
                                                printable(t.desc.name).c_str(), gguf::type_name(from)));
            if (d.lowbit->codebook && !a.imatrix.empty()) {  // the codebook's k-means and block scales weighted by it
                const std::vector<float>* w = im.find(t.desc.name);
                if (!w) {
                    prog.line("lowbit-quantize: no imatrix entry for %s", printable(t.desc.name).c_str());
                } else if (w->size() != t.row_length()) {
                    return fail(a.imatrix, status::error(errc::shape_mismatch, "imatrix entry '%s' has %zu values; the tensor needs %llu",
                                                         printable(t.desc.name).c_str(), w->size(),
                                                         static_cast<unsigned long long>(t.row_length())));
                } else {
                    jobs[i].imat = w->data();
                }
            }
            continue;
        }
        if (t.imported) d.convert = true;  // its rows exist only through the converter
        if (!d.convert && t.kept_type) {  // a kept tensor the input wants stored as another type (HF norms -> F32)
            d.type = *t.kept_type;
            d.convert = true;
        }
        if (!d.convert) continue;
        const gguf_type from = t.desc.type;
        if (d.type == from && !t.imported) {  // nothing to do: same type in and out
            d.convert = false;
            continue;
        }
        const bool plain = from == gguf_type::f32 || from == gguf_type::f16 || from == gguf_type::bf16;
        if (!plain) {
            if (!gguf::is_quantized(from) || !gguf::has_row_decoder(from))
                return fail(a.in, status::error(errc::unsupported, "tensor '%s' has type %s, which cannot be converted to %s",
                                                printable(t.desc.name).c_str(), gguf::type_name(from), gguf::type_name(d.type)));
            if (!a.allow_requantize)
                return fail(a.in, status::error(errc::unsupported,
                                                "tensor '%s' is already %s; pass --allow-requantize to requantize it",
                                                printable(t.desc.name).c_str(), gguf::type_name(from)));
        }
        if (!a.imatrix.empty() && gguf::is_quantized(d.type)) {
            const std::vector<float>* w = im.find(t.desc.name);
            if (!w && (d.needs_imatrix || gguf::requires_imatrix(d.type))) {  // the latter: ggml cannot quantize it without
                return fail(a.imatrix, status::error(errc::invalid_argument, "no imatrix entry for %s, which %s needs",
                                                     printable(t.desc.name).c_str(), gguf::type_name(d.type)));
            } else if (!w) {
                prog.line("lowbit-quantize: no imatrix entry for %s", printable(t.desc.name).c_str());
            } else {
                const std::uint64_t k = t.row_length(), mats = t.desc.dims[2] * t.desc.dims[3];
                if (w->size() != k && w->size() != k * mats)
                    return fail(a.imatrix, status::error(errc::shape_mismatch,
                                                         "imatrix entry '%s' has %zu values; the tensor needs %llu (or %llu)",
                                                         printable(t.desc.name).c_str(), w->size(), static_cast<unsigned long long>(k),
                                                         static_cast<unsigned long long>(k * mats)));
                jobs[i].imat = w->data();
                jobs[i].imat_mats = w->size() / k;
            }
        }
    }

    // Calibration: statistics and (imatrix, gptq) the quantized blk.* weights.
    calibration cal;
    spill_file spill;
    const unsigned threads = a.threads ? a.threads : std::max(1u, std::thread::hardware_concurrency());
    // A --bpw plan is the method's (its sensitivity was measured with it, or read back): a dry
    // run prints that plan's bytes. Otherwise a calibrated method does not change them.
    if (calibrated && a.dry_run && (!planning || !a.imatrix_out.empty())) {
        std::fprintf(stderr, "lowbit-quantize: --dry-run computes sizes from the plan; --method %s and --imatrix-out do not change them\n",
                     a.method.c_str());
        return 2;
    }
    if (calibrated && !a.dry_run) {
        lowbit::thread_pool pool(threads);
        lbq::calib_io io;  // memory of one layer: input pages handed back, quantized bytes set aside on disk
        io.done_with = [&in](const source_tensor& t) {
            if (!t.imported) (t.file ? *t.file : in).release(span<const std::uint8_t>(t.data, static_cast<std::size_t>(t.n_bytes)));
        };
        if (status s = spill.open_near(a.out); !s.ok()) return fail(a.out, s);
        io.spill = &spill;
        auto r = lbq::calibrate(src, plan_, co, prog, pool, io);
        if (!r) return refuse(a.calib, r.error());
        cal = std::move(*r);
        if (!a.imatrix_out.empty()) {
            if (status s = write_imatrix(a.imatrix_out, cal, a.calib, inputs); !s.ok()) return fail(a.imatrix_out, s);
            prog.line("lowbit-quantize: wrote %s (%zu entries, %zu chunks of %zu)", a.imatrix_out.c_str(), cal.imatrix.size(), cal.chunks,
                      cal.ctx);
        }
    }

    // Metadata: the input's, with llama.cpp's bookkeeping keys set.
    auto kvs = src.kvs;
    kvs.erase(std::remove_if(kvs.begin(), kvs.end(), [](const auto& kv) {
                  return kv.first == "split.no" || kv.first == "split.count" || kv.first == "split.tensors.count";
              }),
              kvs.end());
    set_kv(kvs, "general.quantization_version", gguf::meta_value::u32(2), like_llama_quantize);
    if (any_lowbit)  // no llama.cpp file type describes lowbit weights
        kvs.erase(std::remove_if(kvs.begin(), kvs.end(), [](const auto& kv) { return kv.first == "general.file_type"; }), kvs.end());
    else
        set_kv(kvs, "general.file_type", gguf::meta_value::u32(tgt->ftype), like_llama_quantize);
    if (!a.imatrix.empty()) {  // llama-quantize's keys, in its order; it copies strings into a 128-byte C buffer
        auto str127 = [](const std::string& x) {
            const std::string_view v(x);
            return gguf::meta_value::string(v.substr(0, std::min(v.find('\0'), std::size_t{127})));
        };
        set_kv(kvs, "quantize.imatrix.file", str127(a.imatrix), like_llama_quantize);
        if (!im.dataset().empty()) set_kv(kvs, "quantize.imatrix.dataset", str127(im.dataset()), like_llama_quantize);
        set_kv(kvs, "quantize.imatrix.entries_count", gguf::meta_value::u32(static_cast<std::uint32_t>(im.size())), like_llama_quantize);
        if (im.chunk_count() > 0)
            set_kv(kvs, "quantize.imatrix.chunks_count", gguf::meta_value::u32(im.chunk_count()), like_llama_quantize);
    }
    gguf::gguf_writer w;
    for (const auto& kv : kvs)
        if (status s = w.set(kv.first, kv.second); !s.ok()) return fail(a.in, s);
    std::uint64_t total_in = 0;
    lowbit::weights_gguf_writer lw(w);  // lowbit weights: their component tensors and keys
    std::vector<std::optional<lowbit::weights_view>> lowbit_shapes(src.tensors.size());  // for --dry-run
    for (std::size_t i = 0; i < src.tensors.size(); ++i) {
        const tensor_desc& d = src.tensors[i].desc;
        total_in += src.tensors[i].n_bytes;
        status s;
        if (plan_[i].lowbit) {  // as calibrate() left it (GPTQ may keep a permutation), else as rtn/hqq will
            const auto c = cal.tensors.find(d.name);
            if (c != cal.tensors.end() && !c->second.lowbit.empty()) {
                s = lw.declare(d.name, c->second.lowbit.view());
            } else {
                auto sh = lowbit_file_shape(*plan_[i].lowbit, static_cast<std::size_t>(src.tensors[i].rows()),
                                            static_cast<std::size_t>(src.tensors[i].row_length()));
                s = sh ? lw.declare(d.name, sh->desc(), false) : sh.error();
                if (sh) lowbit_shapes[i] = *sh;
            }
        } else {
            s = w.add_tensor(d.name, plan_[i].type, span<const std::uint64_t>(d.dims, static_cast<std::size_t>(effective_dims(d.dims, d.n_dims))));
        }
        if (!s.ok()) return fail(a.in, status::error(s.code(), "tensor '%s': %s", printable(d.name).c_str(), s.message()));
    }

    if (a.dry_run) {  // nothing is written, nothing of OUT touched
        std::optional<std::uint64_t> ctx;
        if (!a.ctx.empty()) {
            char* end = nullptr;
            const long long n = std::strtoll(a.ctx.c_str(), &end, 10);
            if (*end != '\0' || n < 1 || n > (1ll << 32)) {
                std::fprintf(stderr, "lowbit-quantize: --ctx '%s': expected an integer 1..%lld\n", printable(a.ctx).c_str(), 1ll << 32);
                return 2;
            }
            ctx = static_cast<std::uint64_t>(n);
        }
        std::vector<gguf_type> types;
        for (const decision& d : plan_) types.push_back(d.type);
        print_dry_run(src, types, lowbit_shapes, lw, w, ctx);
        for (std::size_t i = 0; i < plan_.size() && !o.has_imatrix; ++i)
            if (plan_[i].convert && (plan_[i].needs_imatrix || gguf::requires_imatrix(plan_[i].type))) {
                std::fprintf(stderr, "lowbit-quantize: --dry-run: writing this file needs an importance matrix (--imatrix): tensor '%s' gets %s\n",
                             printable(src.tensors[i].desc.name).c_str(), gguf::type_name(plan_[i].type));
                break;
            }
        return 0;
    }
    if (!a.ctx.empty()) {
        std::fprintf(stderr, "lowbit-quantize: --ctx goes with --dry-run\n");
        return 2;
    }
    const std::vector<std::string> stale = remove_stale_temps(a.out);
    if (!stale.empty()) {
        std::string names;
        for (const std::string& n : stale) names += (names.empty() ? "" : ", ") + printable(n, n.size());
        prog.line("lowbit-quantize: removed %zu temporary file(s) left by earlier runs that no longer exist: %s", stale.size(),
                  names.c_str());
    }
    output_file out;
    if (status s = out.open(a.out, inputs); !s.ok()) return fail(a.out, s);
    const gguf::byte_sink sink(&out, output_file::write_to);
    if (status s = lw.write_header(sink); !s.ok()) return fail(a.out, s);

    if (!a.quiet)
        std::fprintf(stderr, "lowbit-quantize: %s (%s, %zu tensors, %s) -> %s as %s, %u threads\n",
                     printable(a.in, a.in.size()).c_str(), src.format, src.tensors.size(), human_bytes(static_cast<double>(total_in)).c_str(),
                     printable(a.out, a.out.size()).c_str(), tgt->name, threads);
    progress p(a.quiet, total_in, src.tensors.size());
    converter conv(in, w, p, threads, a.sqnr);
    std::optional<lowbit::thread_pool> lowbit_pool;  // rtn/hqq of lowbit schemes, a whole tensor at a time
    if (any_lowbit) lowbit_pool.emplace(threads);
    std::map<std::uint32_t, type_stats> stats;
    struct table_row {
        std::string name, type;
        double bpw, values;
        lowbit::error_accumulator acc;
        double out_err, rtn_out_err;
        std::string how;
    };
    std::vector<table_row> table;
    std::map<std::string, type_stats> lowbit_stats;  // by scheme name
    const int count_width = static_cast<int>(std::to_string(jobs.size()).size());
    for (std::size_t i = 0; i < jobs.size(); ++i) {
        const source_tensor& t = *jobs[i].src;
        const decision& d = *jobs[i].dec;
        const std::string name = printable(t.desc.name);
        p.begin_tensor(i, name, type_label(d).c_str());
        if (!d.why.empty() && p.tty() && (d.fell_back || d.why.rfind("kept", 0) != 0))
            p.line("%s: %s", name.c_str(), printable(d.why, d.why.size()).c_str());
        const double t0 = p.elapsed();
        lowbit::error_accumulator acc;
        // Under AWQ also kept tensors and norm gains (scales folded); lowbit weights from GPTQ.
        const auto pre = cal.tensors.find(t.desc.name);
        const bool precomputed =
            pre != cal.tensors.end() && (!pre->second.data.empty() || pre->second.spilled || !pre->second.lowbit.empty());
        const double values = static_cast<double>(t.row_length() * t.rows());
        std::uint64_t out_bytes = d.lowbit ? 0 : static_cast<std::uint64_t>(gguf::row_size(d.type, static_cast<std::int64_t>(t.row_length()))) * t.rows();
        status s;
        if (precomputed && d.lowbit) {  // quantized by calibrate(): lowbit weights
            s = lw.write(t.desc.name, pre->second.lowbit.view());
            out_bytes = pre->second.lowbit.bytes() + (d.lowbit->codebook ? std::size_t{1} << d.lowbit->codebook : 0);  // a codebook's grid tensor too
            acc = pre->second.acc;
            p.advance(t.n_bytes);
        } else if (precomputed && pre->second.spilled) {  // quantized by calibrate() and set aside: read back in pieces
            std::vector<std::uint8_t> piece(std::min<std::uint64_t>(pre->second.spilled_size, std::uint64_t{8} << 20));
            for (std::uint64_t at = 0; at < pre->second.spilled_size && s.ok(); at += piece.size()) {
                const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(piece.size(), pre->second.spilled_size - at));
                s = spill.get(pre->second.spilled_at + at, piece.data(), n);
                if (s.ok()) s = w.write_tensor_data(span<const std::uint8_t>(piece.data(), n));
            }
            acc = pre->second.acc;
            p.advance(t.n_bytes);
        } else if (precomputed) {  // quantized by calibrate(): its bytes as they are
            s = w.write_tensor_data(span<const std::uint8_t>(pre->second.data.data(), pre->second.data.size()));
            acc = pre->second.acc;
            p.advance(t.n_bytes);
        } else if (d.lowbit) {
            s = write_lowbit_tensor(t, d, lmethod, lw, *lowbit_pool, &acc, &out_bytes, jobs[i].imat);
            p.advance(t.n_bytes);
        } else {
            s = d.convert ? conv.convert(jobs[i], &acc) : conv.copy(t);
        }
        const double bpw = d.lowbit ? 8.0 * static_cast<double>(out_bytes) / values
                                    : 8.0 * static_cast<double>(gguf::row_size(d.type, gguf::type_block_size(d.type))) /
                                          static_cast<double>(gguf::type_block_size(d.type));
        if (d.convert && (d.lowbit || gguf::is_quantized(d.type)) && calibrated && co.method != quant_method::rtn)
            table.push_back({name, type_label(d), bpw, values, acc,
                             precomputed ? pre->second.out_err : NAN, precomputed ? pre->second.rtn_out_err : NAN,
                             precomputed ? pre->second.how : std::string("rtn: not calibrated (no layer input)")});
        if (!s.ok()) {
            p.finish();
            if (out.write_failed()) return fail(a.out, out.write_error());  // the disk's fault, not the input's
            const status e = d.lowbit && !precomputed ? s : status::error(s.code(), "tensor '%s': %s", name.c_str(), s.message());  // write_lowbit_tensor names it
            return s.code() == errc::non_finite ? refuse(a.in, e) : fail(a.in, e);
        }
        type_stats& ts = d.lowbit ? lowbit_stats[type_label(d)] : stats[static_cast<std::uint32_t>(d.type)];
        ts.tensors += 1;
        ts.bytes += out_bytes;
        ts.values += t.row_length() * t.rows();
        if (d.convert) {
            ts.converted += 1;
            ts.acc.merge(acc);
        }
        if (p.wants_tensor_lines()) {
            std::string q;
            if (d.convert && a.sqnr) {
                const lowbit::error_stats e = lowbit::error_stats::from(acc);
                char b[48];
                std::snprintf(b, sizeof b, "  SQNR %.2f dB", e.sqnr_db);
                q = b;
            }
            const double dt = p.elapsed() - t0;
            p.line("[%*zu/%zu] %-32s %-4s %-16s -> %-5s %10s -> %10s %6.2fs%s%s%s", count_width, i + 1, jobs.size(), name.c_str(),
                   gguf::type_name(t.desc.type), shape_string(t.desc).c_str(), type_label(d).c_str(),
                   human_bytes(static_cast<double>(t.n_bytes)).c_str(), human_bytes(static_cast<double>(out_bytes)).c_str(), dt,
                   q.c_str(), d.why.empty() ? "" : "  ", printable(d.why, d.why.size()).c_str());
        }
    }
    if (status s = w.finish(); !s.ok()) return fail(a.out, s);
    if (status s = out.commit(); !s.ok()) return fail(a.out, s);
    p.finish();

    if (!a.quiet) {
        const double secs = p.elapsed();
        std::fprintf(stderr, "\n%-6s %8s %12s %8s %10s\n", "type", "tensors", "bytes", "bpw", "SQNR dB");
        std::uint64_t total_out = 0, total_values = 0;
        auto print_stats = [&](const char* type, const type_stats& s) {
            total_out += s.bytes;
            total_values += s.values;
            std::fprintf(stderr, "%-6s %8zu %12s %8.3f %10s\n", type, s.tensors, human_bytes(static_cast<double>(s.bytes)).c_str(),
                         s.values ? 8.0 * s.bytes / s.values : 0.0, a.sqnr ? sqnr_string(s).c_str() : "-");
        };
        for (const auto& kv : stats) print_stats(gguf::type_name(static_cast<gguf_type>(kv.first)), kv.second);
        for (const auto& kv : lowbit_stats) print_stats(kv.first.c_str(), kv.second);
        std::fprintf(stderr, "%-6s %8zu %12s %8.3f\n", "total", jobs.size(), human_bytes(static_cast<double>(total_out)).c_str(),
                     total_values ? 8.0 * total_out / total_values : 0.0);
        if (!table.empty()) {
            // Per tensor: layer-output error = |(Wq - W) x|^2 / |W x|^2 over the held-back calibration chunk.
            std::fprintf(stderr, "\n%-28s %-5s %6s %9s %12s %12s  %s\n", "tensor", "type", "bpw", "SQNR dB", "out err", "rtn out err",
                         "method");
            int better = 0, compared = 0;
            for (const table_row& r : table) {
                const lowbit::error_stats e = lowbit::error_stats::from(r.acc);
                char oe[32] = "-", re[32] = "-";
                if (!std::isnan(r.out_err)) std::snprintf(oe, sizeof oe, "%.4e", r.out_err);
                if (!std::isnan(r.rtn_out_err)) std::snprintf(re, sizeof re, "%.4e", r.rtn_out_err);
                if (!std::isnan(r.out_err) && !std::isnan(r.rtn_out_err)) compared += 1, better += r.out_err < r.rtn_out_err;
                std::fprintf(stderr, "%-28s %-5s %6.3f %9.2f %12s %12s  %s\n", r.name.c_str(), r.type.c_str(), r.bpw, e.sqnr_db, oe, re,
                             r.how.c_str());
            }
            std::fprintf(stderr, "%s: layer-output error below rtn's on %d of %d calibrated tensors\n", a.method.c_str(), better, compared);
        }
        std::fprintf(stderr, "%s -> %s in %.2f s (%.1f MB/s of input)\n", human_bytes(static_cast<double>(total_in)).c_str(),
                     human_bytes(static_cast<double>(w.file_size())).c_str(), secs, secs > 0 ? total_in / secs / 1e6 : 0.0);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    lbq::install_signal_handlers("lowbit-quantize");
    args a;
    const int rc = parse_args(argc, argv, &a);
    if (rc == -1) return 0;
    if (rc != 0) return rc;
    try {
        return run(a);
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "lowbit-quantize: %s: out of memory\n", a.in.c_str());
    } catch (const std::exception& e) {
        std::fprintf(stderr, "lowbit-quantize: %s: %s\n", a.in.c_str(), e.what());
    }
    return 1;
}
