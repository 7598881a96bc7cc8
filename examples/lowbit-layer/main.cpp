// lowbit-layer — quantize one linear layer with RTN, MSE, HQQ, GPTQ, AWQ and
// SmoothQuant and compare what the layer's output loses.
//
//   lowbit-layer --weights W.npy --calib X.npy [--method rtn|mse|hqq|gptq|awq|smoothquant|all]
//                [--bits B] [--group G (0 = per channel)] [--sym] [--act-order] [--json]
//   W is [N, K] float32 (out x in), X is [tokens, K] float32.
//
// One weight of a GGUF file (lowbit weights or ggml blocks), run from the mapping (gguf_tensor.hpp):
//   lowbit-layer --weights FILE.gguf --tensor NAME [--calib X.npy] [--reference W.npy] [--threads n] [--json]
//
// Instead of files, built-in sources:
//   --model stories260K.bin --layer L --matrix wq|wk|wv|wo|w1|w2|w3 [--seqs S] [--len T]
//       weights of a llama2.c checkpoint and *real* activations captured by
//       running the model on S sequences of T tokens it samples itself;
//   --synthetic N,K,T   heavy-tailed weights and correlated activations with outlier channels.
// Other options: --threads n (2), --scale f16|f32, --mse-gptq (GPTQ with the MSE grid),
//   --static-groups, --updated-groups, --duo (AWQ duo scaling), --alpha a (SmoothQuant),
//   --save-weights/--save-calib F.npy (what was used), --save-dequant PREFIX (PREFIX.<method>.npy).
//
// rel_error = ||X W^T - X W^^T||_F / ||X W^T||_F over the calibration tokens;
// sqnr_db = 10 log10(||X W^T||^2 / ||X W^T - X W^^T||^2). For AWQ W^ = Q(W s)/s,
// for SmoothQuant the activations X/s are int8-quantized per token as well.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#if defined(__unix__)
#include <sys/resource.h>
#endif

#include <lowbit/algo.hpp>
#include <lowbit/formats/npy.hpp>
#include <lowbit/lowbit.hpp>

#include "../common/cli_numbers.hpp"
#include "../common/output_file.hpp"
#include "gguf_tensor.hpp"
#include "llama2c.hpp"

namespace {

struct args {
    std::string weights, calib, model, matrix = "w1", methods = "all", save_w, save_x, save_deq, scale = "f16";
    std::string tensor, reference;  // --weights FILE.gguf --tensor NAME [--reference W.npy]
    int layer = 0, seqs = 8, len = 64, bits = 4, group = 128, threads = 2;
    bool sym = false, act_order = false, json = false, mse_gptq = false, static_groups = false, updated_groups = false, duo = false;
    float alpha = 0.5f;
    std::size_t syn_n = 0, syn_k = 0, syn_t = 0;
};

int usage() {
    std::fprintf(stderr,
                 "usage: lowbit-layer (--weights W.npy --calib X.npy | --model M.bin --layer L --matrix w1 | --synthetic N,K,T)\n"
                 "       [--method rtn|mse|hqq|gptq|awq|smoothquant|all[,...]] [--bits B] [--group G] [--sym] [--act-order] [--json]\n"
                 "       [--threads n] [--scale f16|f32] [--mse-gptq] [--static-groups] [--updated-groups] [--duo] [--alpha a]\n"
                 "       [--seqs S] [--len T] [--save-weights F] [--save-calib F] [--save-dequant PREFIX]\n"
                 "       lowbit-layer --weights FILE.gguf --tensor NAME [--calib X.npy] [--reference W.npy] [--threads n] [--json]\n");
    return 2;
}

constexpr const char* prog = "lowbit-layer";

// --synthetic N,K,T: three integers in 1..2^24, each read as every number
// option is (cli_numbers.hpp); the line shows the whole value and names the
// part that is wrong.
bool parse_shape(const char* v, args& a) {
    const std::string text = v, opt = std::string("--synthetic '") + v + "':";
    std::size_t* dims[3] = {&a.syn_n, &a.syn_k, &a.syn_t};
    const char* names[3] = {" N", " K", " T"};
    std::size_t at = 0;
    for (int d = 0; d < 3; ++d) {
        const std::size_t comma = text.find(',', at);
        if ((d < 2) != (comma != std::string::npos)) {
            std::fprintf(stderr, "%s: --synthetic '%s': expected N,K,T, three integers separated by commas\n", prog, v);
            return false;
        }
        const std::size_t end = d < 2 ? comma : text.size();
        if (!lbcli::parse_int(prog, (opt + names[d]).c_str(), text.substr(at, end - at).c_str(), 1, 1 << 24, dims[d])) return false;
        at = end + 1;
    }
    return true;
}

bool parse(int argc, char** argv, args& a) {
    for (int i = 1; i < argc; ++i) {
        const std::string k = argv[i];
        auto val = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
        const char* v = nullptr;
        bool ok = true;  // false: a bad number, already reported
        if (k == "--sym") a.sym = true;
        else if (k == "--act-order") a.act_order = true;
        else if (k == "--json") a.json = true;
        else if (k == "--mse-gptq") a.mse_gptq = true;
        else if (k == "--static-groups") a.static_groups = true;
        else if (k == "--updated-groups") a.updated_groups = true;
        else if (k == "--duo") a.duo = true;
        else if (!(v = val())) return false;
        else if (k == "--weights") a.weights = v;
        else if (k == "--calib") a.calib = v;
        else if (k == "--tensor") a.tensor = v;
        else if (k == "--reference") a.reference = v;
        else if (k == "--model") a.model = v;
        else if (k == "--matrix") a.matrix = v;
        else if (k == "--method") a.methods = v;
        else if (k == "--save-weights") a.save_w = v;
        else if (k == "--save-calib") a.save_x = v;
        else if (k == "--save-dequant") a.save_deq = v;
        else if (k == "--scale") a.scale = v;
        else if (k == "--layer") ok = lbcli::parse_int(prog, "--layer", v, 0, 1 << 20, &a.layer);
        else if (k == "--seqs") ok = lbcli::parse_int(prog, "--seqs", v, 1, 1 << 20, &a.seqs);
        else if (k == "--len") ok = lbcli::parse_int(prog, "--len", v, 1, 1 << 20, &a.len);
        else if (k == "--bits") ok = lbcli::parse_int(prog, "--bits", v, 1, 8, &a.bits);
        else if (k == "--group") ok = lbcli::parse_int(prog, "--group", v, 0, 1 << 20, &a.group);  // 0: per channel
        else if (k == "--threads") ok = lbcli::parse_int(prog, "--threads", v, 1, 1024, &a.threads);
        else if (k == "--alpha") ok = lbcli::parse_float(prog, "--alpha", v, 0.0, 1.0, false, &a.alpha);
        else if (k == "--synthetic") ok = parse_shape(v, a);
        else return false;
        if (!ok) return false;
    }
    return true;
}

// Heavy-tailed weights; activations with a few outlier channels and low-rank correlation.
void synthetic(std::size_t N, std::size_t K, std::size_t T, std::vector<float>& w, std::vector<float>& x) {
    std::uint64_t s = 0x1234567;
    auto u = [&] {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        return static_cast<double>(s >> 11) * (1.0 / 9007199254740992.0);
    };
    auto g = [&] { return static_cast<float>(std::sqrt(-2 * std::log(u() + 1e-300)) * std::cos(6.283185307179586 * u())); };
    w.resize(N * K);
    for (float& v : w) v = 0.02f * g() * (u() < 0.01 ? 4.0f : 1.0f);
    const std::size_t R = 16;
    std::vector<float> basis(R * K), chan(K);
    for (float& v : basis) v = g();
    for (std::size_t j = 0; j < K; ++j) chan[j] = (u() < 0.01 ? 20.0f : 1.0f) * static_cast<float>(0.5 + u());
    x.resize(T * K);
    std::vector<float> c(R);
    for (std::size_t t = 0; t < T; ++t) {
        for (float& v : c) v = g();
        for (std::size_t j = 0; j < K; ++j) {
            float acc = 0.5f * g();
            for (std::size_t r = 0; r < R; ++r) acc += c[r] * basis[r * K + j] * 0.25f;
            x[t * K + j] = acc * chan[j];
        }
    }
}

// --save-dequant PREFIX's file for one method.
std::string dequant_path(const args& a, const std::string& method) { return a.save_deq + "." + method + ".npy"; }

// --method's list ("all" = every method).
std::vector<std::string> methods_of(const args& a) {
    std::vector<std::string> methods;
    const std::string list = a.methods == "all" ? "rtn,mse,hqq,gptq,awq,smoothquant" : a.methods;
    for (std::size_t p = 0; p <= list.size();) {
        const std::size_t e = list.find(',', p);
        methods.push_back(list.substr(p, e == std::string::npos ? std::string::npos : e - p));
        if (e == std::string::npos) break;
        p = e + 1;
    }
    return methods;
}

// The files this run reads, which no --save-* file may replace.
std::vector<tool_files::input_path> inputs_of(const args& a) {
    std::vector<tool_files::input_path> in;
    for (const std::string* f : {&a.weights, &a.calib, &a.model, &a.reference}) tool_files::add_input(in, *f);
    return in;
}

// The --save-* files of this run.
std::vector<std::string> outputs_of(const args& a, const std::vector<std::string>& methods) {
    std::vector<std::string> out;
    for (const std::string* f : {&a.save_w, &a.save_x})
        if (!f->empty()) out.push_back(*f);
    if (!a.save_deq.empty())
        for (const std::string& m : methods) out.push_back(dequant_path(a, m));
    return out;
}

// An .npy output through tool_files (a temporary file renamed over `path`
// when complete; never one of the inputs): 0, or the exit status after one line.
// `inputs`: inputs_of(a), looked at once per run, not once per file.
int save_npy(const std::vector<tool_files::input_path>& inputs, const std::string& path, const float* data,
             const std::vector<std::size_t>& shape) {
    const lowbit::status st = tool_files::write_output(path, inputs, [&](tool_files::output_file& f) {
        return lowbit::encode_npy(data, shape, [&](const std::uint8_t* p, std::size_t n) { return f.write(p, n); });
    });
    return st ? 0 : tool_files::report("lowbit-layer", path, st);
}

long peak_rss_kb() {
#if defined(__unix__)
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
#else
    return 0;
#endif
}

struct row {
    std::string method, note;
    double rel = 0, sqnr = 0, seconds = 0, bpw = 0;
    std::size_t bytes = 0;
    bool skipped = false;
};

}  // namespace

int main(int argc, char** argv) {
    args a;
    if (!parse(argc, argv, a)) return usage();
    if (!a.tensor.empty()) {  // a weight of a GGUF file, run where it lies
        if (a.weights.empty()) return usage();
        layer_gguf::options o;
        o.file = a.weights, o.tensor = a.tensor, o.calib = a.calib, o.reference = a.reference;
        o.threads = a.threads, o.json = a.json;
        return layer_gguf::run(o);
    }
    if (!a.reference.empty()) return usage();  // goes with --tensor
    const std::vector<std::string> methods = methods_of(a), outputs = outputs_of(a, methods);
    const std::vector<tool_files::input_path> inputs = inputs_of(a);
    if (!outputs.empty()) {  // checked now: a GPTQ on a large layer takes minutes
        if (const int rc = tool_files::check_outputs("lowbit-layer", outputs, inputs)) return rc;
        tool_files::install_signal_handlers("lowbit-layer");  // a signal removes the output's temporary file
    }
    using namespace lowbit;
    std::vector<float> W, X;
    std::size_t N = 0, K = 0, T = 0;
    std::string source;
    if (!a.model.empty()) {
        auto m = llama2c::load(a.model.c_str());
        if (!m) return std::fprintf(stderr, "lowbit-layer: %s\n", m.error().message()), 1;
        int out = 0, in = 0;
        W = llama2c::weight(*m, a.layer, a.matrix, out, in);
        if (W.empty() || a.layer < 0 || a.layer >= m->c.layers)
            return std::fprintf(stderr, "lowbit-layer: --matrix %s / --layer %d not in the model\n", a.matrix.c_str(), a.layer), 1;
        llama2c::capture cap;
        cap.layer = a.layer;
        cap.which = a.matrix == "wk" || a.matrix == "wv" ? "wq" : a.matrix == "w3" ? "w1" : a.matrix;
        llama2c::run(*m, a.seqs, a.len, 42, cap);
        X = std::move(cap.rows);
        N = static_cast<std::size_t>(out), K = static_cast<std::size_t>(in), T = X.size() / K;
        source = a.model + " layer " + std::to_string(a.layer) + " " + a.matrix;
    } else if (a.syn_n) {
        N = a.syn_n, K = a.syn_k, T = a.syn_t;
        synthetic(N, K, T, W, X);
        source = "synthetic";
    } else {
        if (a.weights.empty() || a.calib.empty()) return usage();
        auto w = read_npy(a.weights.c_str());
        if (!w) return std::fprintf(stderr, "lowbit-layer: %s\n", w.error().message()), 1;
        auto x = read_npy(a.calib.c_str());
        if (!x) return std::fprintf(stderr, "lowbit-layer: %s\n", x.error().message()), 1;
        if (w->shape.size() != 2) return std::fprintf(stderr, "lowbit-layer: %s must be 2-D [N, K]\n", a.weights.c_str()), 1;
        if (x->shape.size() != 2 || x->shape[1] != w->shape[1])
            return std::fprintf(stderr, "lowbit-layer: %s must be [tokens, %zu] to match %s\n", a.calib.c_str(), w->shape[1], a.weights.c_str()), 1;
        N = w->shape[0], K = w->shape[1], T = x->shape[0];
        W = std::move(w->data), X = std::move(x->data);
        source = a.weights;
    }
    if (N == 0 || K == 0 || T == 0) return std::fprintf(stderr, "lowbit-layer: empty weights or calibration\n"), 1;
    if (!a.save_w.empty())
        if (const int rc = save_npy(inputs, a.save_w, W.data(), {N, K})) return rc;
    if (!a.save_x.empty())
        if (const int rc = save_npy(inputs, a.save_x, X.data(), {T, K})) return rc;

    runtime_scheme rs;
    rs.bits = a.bits;
    rs.symmetric = a.sym;
    rs.gran = a.group > 0 ? granularity::per_group : granularity::per_channel;
    rs.group = a.group > 0 ? a.group : 0;
    rs.scale = a.scale == "f32" ? scale_type::f32 : scale_type::f16;
    if (status st = rs.validate(); !st) return std::fprintf(stderr, "lowbit-layer: %s\n", st.message()), 1;
    const int group_out = a.group > 0 ? a.group : 0;

    thread_pool pool(static_cast<unsigned>(a.threads > 0 ? a.threads : 1));
    const matrix_view<const float> wv(W.data(), N, K), xv(X.data(), T, K);
    std::vector<float> yref(T * N), yq(T * N), deq(N * K);
    if (!linalg::matmul_nt(xv, wv, matrix_view<float>(yref.data(), T, N), pool)) return 1;
    auto output_error = [&](row& r, const std::vector<float>& y) {
        double e = 0, s = 0;
        for (std::size_t i = 0; i < y.size(); ++i) {
            const double d = static_cast<double>(y[i]) - yref[i];
            e += d * d;
            s += static_cast<double>(yref[i]) * yref[i];
        }
        r.rel = s > 0 ? std::sqrt(e / s) : 0;
        r.sqnr = e > 0 ? 10 * std::log10(s / e) : INFINITY;
    };
    // W^ (N x K, input order, 1/s folded back) -> output error; optionally saved. 0, or the exit status.
    auto finish = [&](row& r, const any_qmatrix& q) -> int {
        if (!linalg::matmul_nt(xv, matrix_view<const float>(deq.data(), N, K), matrix_view<float>(yq.data(), T, N), pool)) return 1;
        output_error(r, yq);
        r.bytes = q.storage.bytes();
        r.bpw = 8.0 * static_cast<double>(r.bytes) / static_cast<double>(N * K);
        return a.save_deq.empty() ? 0 : save_npy(inputs, dequant_path(a, r.method), deq.data(), {N, K});
    };
    auto deq_of = [&](const any_qmatrix& q) { return dequantize(q, matrix_view<float>(deq.data(), N, K), pool); };

    std::vector<row> rows;
    for (const std::string& m : methods) {
        row r;
        r.method = m;
        const auto t0 = std::chrono::steady_clock::now();
        status st;
        any_qmatrix q;
        if (m == "rtn" || m == "mse") {
            auto res = quantize(rs, wv, m == "mse" ? calibration(calibrate::mse{}) : calibration{}, pool);
            if (!res) st = res.error();
            else q = std::move(*res);
            if (st) st = deq_of(q);
        } else if (m == "hqq") {
            if (a.sym) {
                r.skipped = true;
                r.note = "asymmetric only";
            } else {
                auto res = hqq_quantize(rs, wv, hqq_options{}, pool);
                if (!res) st = res.error();
                else {
                    q = std::move(res->q);
                    char b[96];
                    std::snprintf(b, sizeof b, "iters %d, improved %zu/%zu groups", res->report.iterations, res->report.groups_improved,
                                  res->report.groups);
                    r.note = b;
                    st = deq_of(q);
                }
            }
        } else if (m == "gptq") {
            hessian h(K);
            for (std::size_t t0b = 0; t0b < T && st; t0b += 2048)  // streamed, as from a model's forward pass
                st = h.add_batch(matrix_view<const float>(X.data() + t0b * K, std::min<std::size_t>(2048, T - t0b), K), pool);
            if (st) {
                gptq_options o;
                o.act_order = a.act_order;
                o.static_groups = a.static_groups;
                o.group_source = a.updated_groups ? gptq_group_source::updated : gptq_group_source::reference;
                if (a.mse_gptq) o.calib = calibrate::mse{};
                auto res = gptq_quantize(rs, wv, h, o, pool);
                if (!res) st = res.error();
                else {
                    q = std::move(res->q);
                    char b[128];
                    std::snprintf(b, sizeof b, "damp %.3g%s, loss %.4g%s", res->report.damp_fraction,
                                  res->report.damp_retries ? " (raised)" : "", res->report.loss, a.act_order ? ", act-order" : "");
                    r.note = b;
                    st = deq_of(q);
                }
            }
        } else if (m == "awq") {
            awq_options o;
            o.duo_scaling = a.duo;
            auto res = awq_quantize(rs, wv, xv, o, pool);
            if (!res) st = res.error();
            else {
                q = std::move(res->q);
                st = deq_of(q);
                for (std::size_t i = 0; i < N; ++i)
                    for (std::size_t j = 0; j < K; ++j) deq[i * K + j] /= res->scales[j];
                char b[96];
                std::snprintf(b, sizeof b, "ratio %.2f, %zu groups clipped", static_cast<double>(res->report.best_ratio), res->report.clipped_groups);
                r.note = b;
            }
        } else if (m == "smoothquant") {
            const std::vector<float> amax = column_absmax(xv);
            auto s = smoothquant_scales(amax, wv, a.alpha);
            if (!s) st = s.error();
            else {
                std::vector<float> ws(W), xs(X);
                for (std::size_t i = 0; i < N; ++i)
                    for (std::size_t j = 0; j < K; ++j) ws[i * K + j] *= (*s)[j];
                for (std::size_t t = 0; t < T; ++t)
                    for (std::size_t j = 0; j < K; ++j) xs[t * K + j] /= (*s)[j];
                auto res = quantize(rs, matrix_view<const float>(ws.data(), N, K), calibration{}, pool);
                if (!res) st = res.error();
                else {
                    q = std::move(*res);
                    st = deq_of(q);
                    auto xq = quantize_per_token_int8(matrix_view<const float>(xs.data(), T, K));
                    if (!xq) st = xq.error();
                    else st = dequantize_per_token_int8(*xq, matrix_view<float>(xs.data(), T, K));
                    if (st) {  // both sides quantized: Q8(X/s) Q(W s)^T
                        r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                        st = linalg::matmul_nt(matrix_view<const float>(xs.data(), T, K), matrix_view<const float>(deq.data(), N, K),
                                               matrix_view<float>(yq.data(), T, N), pool);
                        output_error(r, yq);
                        r.bytes = q.storage.codes.size() + q.storage.scales_16.size() * 2 + q.storage.scales_f32.size() * 4 + q.storage.zeros.size();
                        r.bpw = 8.0 * static_cast<double>(r.bytes) / static_cast<double>(N * K);
                        r.note = "A8 per token, alpha " + std::to_string(a.alpha).substr(0, 4);
                        rows.push_back(r);
                        continue;
                    }
                }
            }
        } else {
            std::fprintf(stderr, "lowbit-layer: unknown method \"%s\"\n", m.c_str());
            return 2;
        }
        if (!st) {
            std::fprintf(stderr, "lowbit-layer: %s: %s\n", m.c_str(), st.message());
            r.skipped = true;
            r.note = st.message();
        }
        r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!r.skipped)
            if (const int rc = finish(r, q)) return rc;
        rows.push_back(r);
    }

    if (a.json) {
        for (const row& r : rows)
            std::printf("{\"method\": \"%s\", \"bits\": %d, \"group\": %d, \"sym\": %s, \"act_order\": %s, \"rows\": %zu, \"cols\": %zu, "
                        "\"tokens\": %zu, \"skipped\": %s, \"rel_error\": %.6g, \"sqnr_db\": %.4g, \"seconds\": %.4g, \"bytes\": %zu, "
                        "\"bpw\": %.4g, \"peak_rss_kb\": %ld, \"note\": \"%s\"}\n",
                        r.method.c_str(), a.bits, group_out, a.sym ? "true" : "false", a.act_order ? "true" : "false", N, K, T,
                        r.skipped ? "true" : "false", r.skipped ? 0.0 : r.rel, r.skipped ? 0.0 : r.sqnr, r.seconds, r.bytes, r.bpw,
                        peak_rss_kb(), r.note.c_str());
        return 0;
    }
    std::printf("%s: W %zu x %zu, %zu calibration tokens, %d-bit %s, %s, %s scales\n", source.c_str(), N, K, T, a.bits,
                a.group > 0 ? ("g" + std::to_string(a.group)).c_str() : "per channel", a.sym ? "symmetric" : "asymmetric", a.scale.c_str());
    std::printf("%-12s %10s %9s %9s %8s %10s  %s\n", "method", "rel_error", "sqnr_dB", "seconds", "bpw", "bytes", "notes");
    for (const row& r : rows) {
        if (r.skipped) std::printf("%-12s %10s %9s %9s %8s %10s  %s\n", r.method.c_str(), "-", "-", "-", "-", "-", r.note.c_str());
        else
            std::printf("%-12s %10.5f %9.2f %9.3f %8.3f %10zu  %s\n", r.method.c_str(), r.rel, r.sqnr, r.seconds, r.bpw, r.bytes,
                        r.note.c_str());
    }
    std::printf("peak RSS %.1f MiB\n", static_cast<double>(peak_rss_kb()) / 1024.0);
    return 0;
}
