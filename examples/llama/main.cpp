// lowbit-llama — a small LLaMA runtime whose linear layers run on lowbit.
//
//   lowbit-llama MODEL [--scheme S] [--eval] [--json] [--threads N] [--steps N] [--seed N]
//   lowbit-llama MODEL --bpw X [--candidates A,B,...] [--eval]
//   lowbit-llama --synthetic dim=4096,hidden=11008,layers=N [--scheme S] [--threads N] [--steps N] [--json]
//   lowbit-llama MODEL.gguf --perplexity TEXT [--ctx N] [--chunks N] [--kl-divergence-base FILE [--kl-divergence]]
//
// MODEL is a llama2.c checkpoint (.bin) or a GGUF file. See README.md beside
// this file and docs/embedding.md.
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "../common/cli_numbers.hpp"
#include "bench.hpp"
#include "eval.hpp"
#include "gguf_io.hpp"
#include "perplexity.hpp"
#include "planner.hpp"
#include "tokenizer.hpp"

namespace {

constexpr const char* prog = "lowbit-llama";

const char* usage =
    "usage: lowbit-llama MODEL [--scheme S] [--eval] [--json] [--threads N] [--steps N] [--seed N]\n"
    "       lowbit-llama MODEL --bpw X [--candidates A,B,...] [--eval] [--json]\n"
    "       lowbit-llama --synthetic dim=4096,hidden=11008,layers=N [--scheme S] [--threads N] [--steps N] [--json]\n"
    "       lowbit-llama MODEL.gguf --perplexity TEXT [--ctx N] [--chunks N] [--kl-divergence-base FILE [--kl-divergence]]\n"
    "       lowbit-llama MODEL --bench pp512,tg128 [--reps N] [--threads N | --bench-threads 1,2,4] [--path int8]\n"
    "options:\n"
    "  --scheme S          quantize the linear layers on load: f32 (default), f16, w8, w4g32, w3g32, w2g32,\n"
    "                      w4g32-gptq (GPTQ on the model's own samples; -gptq-sg: static groups, no stored\n"
    "                      permutation; -mse: MSE scales, e.g. w4g32-gptq-sg-mse; -rot: input rotation; -rotb: its\n"
    "                      blocks by the input length's bits; -rotN / -rotbN: GPTQ keeps the best of N rotations),\n"
    "                      q4_0, q5_0, q8_0, q4_k, q6_k, ...\n"
    "  --bpw X             a scheme per linear layer (from --candidates) with the least predicted KLD within X bits\n"
    "                      per weight of the linear layers: each linear's KLD under each candidate is measured alone\n"
    "                      on the model's own calibration samples (not --eval's), then a knapsack chooses; prints\n"
    "                      the sensitivity table and the choice (with --eval: the plan's row after f32)\n"
    "  --candidates LIST   the schemes --bpw chooses from (default w3..w8 g32/g64 -gptq-sg-mse-rot)\n"
    "  --plan-out FILE     --bpw: also write the plan (a line per linear: name scheme); --plan FILE: quantize by it\n"
    "  --plan-passes N     --bpw: after the first plan, N - 1 more passes each measure every linear's candidates in\n"
    "                      the model quantized by the last plan (the rest as planned) and plan again (default 1)\n"
    "  --calib-seqs N      GPTQ's and --bpw's calibration: N sequences (default 16) of --calib-len N tokens (default 128)\n"
    "                      sampled from the F32 model with their own seed (never --eval's)\n"
    "  --true-sequential   GPTQ recaptures a layer's inputs after each stage (q k v, o, gate up, down)\n"
    "  --eval              quality table against F32 (PPL, KLD, top-1) and decode speed for every scheme\n"
    "  --schemes A,B,...   the schemes of --eval (default: f32,w8,w4g32,w4g32-gptq,q4_0,q4_k,w3g32,w2g32)\n"
    "  --eval-seqs N       sequences of --eval (default 16), --eval-len N tokens each (default 256)\n"
    "  --json              machine-readable output, one JSON object per line\n"
    "  --threads N         executor threads (default 1)\n"
    "  --spin US           idle threads poll US microseconds for the next matmul before they sleep (default 100;\n"
    "                      0: always sleep). Polling saves the OS wake-up on each of a token's matmuls; the pool\n"
    "                      stops polling by itself while other programs hold the cores\n"
    "  --steps N           tokens to generate (default 64)\n"
    "  --seed N            sampling seed (default 1); --temperature T (default 1; 0 = greedy), --top-p P (default 0.9)\n"
    "  --path fma|int8     lowbit matmul path (default fma: dequantize and FMA; int8: int8 dot products)\n"
    "  --layout tiled|plain  weights in lowbit's tiled kernel layout (default) or the plain qmatrix\n"
    "  --export-gguf OUT   write the (quantized) model as GGUF with llama.cpp tensor names, then exit\n"
    "  --synthetic SPEC    random weights of the given shape: decode tokens/s per layer and fraction of memory bandwidth\n"
    "  --perplexity TEXT   perplexity of the model on a text file, as llama.cpp's llama-perplexity -f TEXT computes it\n"
    "                      (tokenized with the GGUF's vocabulary, chunks of --ctx tokens, the second half of each scored)\n"
    "  --ctx N             tokens per chunk (default 512); --chunks N: at most N chunks (default: all)\n"
    "  --kl-divergence-base FILE  with --perplexity: also write llama-perplexity's base-logits file FILE;\n"
    "                      with --kl-divergence: read it and print the KL-divergence statistics against it\n"
    "  --kl-divergence     compare with the base file (its tokens and chunks; no text needed)\n"
    "  --tokenize TEXT     print the token ids of a text (the GGUF's vocabulary, BOS as it says)\n"
    "  --bench LIST        tokens/s as llama-bench measures them: ppN (an N-token prompt as one batch), tgN (N tokens\n"
    "                      generated one at a time); mean +- stddev over --reps N runs (default 5) after one warm-up,\n"
    "                      with the share of time in the linear layers and in attention. With --path int8, weights a\n"
    "                      GGUF stores in Q4_K/Q5_K/Q6_K (and its classifier) run on their blocks, as llama.cpp does;\n"
    "                      --bench-threads LIST runs every test at each thread count of LIST (one load); the\n"
    "                      size column is what the model holds (one copy of each weight, in the form the path runs)\n";

struct args {
    std::string perplexity_text, kl_base, tokenize_text, bench;
    std::vector<int> bench_threads;  // --bench-threads LIST; empty: --threads
    int reps = 5;
    bool kl_divergence = false;
    int ctx = 512, chunks = -1;
    std::string bpw, candidates = llama::default_plan_candidates(), plan_out, plan_in;
    int calib_seqs = 16, calib_len = 128, plan_passes = 1;
    bool true_sequential = false;
    std::string model_path, scheme = "f32", schemes = "f32,w8,w4g32,w4g32-gptq,q4_0,q4_k,w3g32,w2g32", export_path, synthetic;
    bool eval = false, json = false;
    int threads = 1, steps = 64, eval_seqs = 16, eval_len = 256;
    std::chrono::microseconds spin{100};
    std::uint64_t seed = 1;
    float temperature = 1.0f, top_p = 0.9f;
    lowbit::matmul_path path = lowbit::matmul_path::dequant_fma;
    bool tiled = true;
};

std::vector<std::string> split(const std::string& s) {
    std::vector<std::string> out;
    std::size_t at = 0;
    while (at <= s.size()) {
        const std::size_t end = std::min(s.find(',', at), s.size());
        if (end > at) out.push_back(s.substr(at, end - at));
        at = end + 1;
    }
    return out;
}

bool parse_args(int argc, char** argv, args& a) {
    for (int i = 1; i < argc; ++i) {
        const std::string k = argv[i];
        auto val = [&]() -> const char* {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "lowbit-llama: %s needs a value\n", k.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        // A bad number is a usage error like a missing value: one line, exit 2.
        auto ok = [](bool parsed) {
            if (!parsed) std::exit(2);
        };
        auto integer = [&](long long lo, long long hi, int* field) {
            ok(lbcli::parse_int(prog, k.c_str(), val(), lo, hi, field));
        };
        if (k == "--scheme") a.scheme = val();
        else if (k == "--schemes") a.schemes = val();
        else if (k == "--bpw") a.bpw = val();
        else if (k == "--candidates") a.candidates = val();
        else if (k == "--plan-out") a.plan_out = val();
        else if (k == "--plan") a.plan_in = val();
        else if (k == "--plan-passes") integer(1, 64, &a.plan_passes);
        else if (k == "--true-sequential") a.true_sequential = true;
        else if (k == "--calib-seqs") integer(1, 1 << 20, &a.calib_seqs);
        else if (k == "--calib-len") integer(2, 1 << 20, &a.calib_len);
        else if (k == "--eval") a.eval = true;
        else if (k == "--json") a.json = true;
        else if (k == "--threads") integer(1, 1024, &a.threads);
        else if (k == "--spin") {
            int us = 0;
            integer(0, 10000000, &us);
            a.spin = std::chrono::microseconds(us);
        } else if (k == "--steps") integer(1, 1 << 24, &a.steps);
        else if (k == "--seed") ok(lbcli::parse_u64(prog, k.c_str(), val(), &a.seed));
        else if (k == "--temperature") ok(lbcli::parse_float(prog, k.c_str(), val(), 0.0, 1e6, false, &a.temperature));
        else if (k == "--top-p") ok(lbcli::parse_float(prog, k.c_str(), val(), 0.0, 1.0, false, &a.top_p));
        else if (k == "--eval-seqs") integer(1, 1 << 20, &a.eval_seqs);
        else if (k == "--eval-len") integer(2, 1 << 20, &a.eval_len);
        else if (k == "--export-gguf") a.export_path = val();
        else if (k == "--synthetic") a.synthetic = val();
        else if (k == "--perplexity") a.perplexity_text = val();
        else if (k == "--tokenize") a.tokenize_text = val();
        else if (k == "--kl-divergence-base") a.kl_base = val();
        else if (k == "--kl-divergence") a.kl_divergence = true;
        else if (k == "--ctx") integer(4, 1 << 22, &a.ctx);
        else if (k == "--bench") a.bench = val();
        else if (k == "--reps") integer(1, 1 << 20, &a.reps);
        else if (k == "--bench-threads") {
            const char* list = val();
            a.bench_threads.clear();
            for (const std::string& n : split(list)) {
                a.bench_threads.push_back(0);
                ok(lbcli::parse_int(prog, k.c_str(), n.c_str(), 1, 1024, &a.bench_threads.back()));
            }
            if (a.bench_threads.empty()) {
                std::fprintf(stderr, "lowbit-llama: --bench-threads '%s': expected thread counts 1..1024, e.g. 1,2,4\n", list);
                std::exit(2);
            }
        }
        else if (k == "--chunks") integer(1, 1 << 22, &a.chunks);
        else if (k == "--path") {
            const std::string p = val();
            if (p == "fma") a.path = lowbit::matmul_path::dequant_fma;
            else if (p == "int8") a.path = lowbit::matmul_path::int8_dot;
            else {
                std::fprintf(stderr, "lowbit-llama: --path '%s': expected fma or int8\n", p.c_str());
                std::exit(2);
            }
        } else if (k == "--layout") {
            const std::string l = val();
            if (l == "tiled") a.tiled = true;
            else if (l == "plain") a.tiled = false;
            else {
                std::fprintf(stderr, "lowbit-llama: --layout '%s': expected tiled or plain\n", l.c_str());
                std::exit(2);
            }
        } else if (k == "-h" || k == "--help") return false;
        else if (!k.empty() && k[0] != '-' && a.model_path.empty()) a.model_path = k;
        else {
            std::fprintf(stderr, "lowbit-llama: unknown argument %s\n", k.c_str());
            return false;
        }
    }
    return !a.model_path.empty() || !a.synthetic.empty();
}

// One line on stderr; exit status 1, or `rc` (tool_files::exit_code: 2 for
// an output that is refused).
int fail(const lowbit::status& st, int rc = 1) {
    std::fprintf(stderr, "lowbit-llama: %s\n", st.message());
    return rc;
}

// The files this run reads, which no output may replace.
std::vector<tool_files::input_path> inputs_of(const args& a) {
    std::vector<tool_files::input_path> in;
    for (const std::string* f : {&a.model_path, &a.plan_in, &a.perplexity_text}) tool_files::add_input(in, *f);
    if (a.kl_divergence) tool_files::add_input(in, a.kl_base);  // read, not written
    return in;
}

// --plan-out FILE gets the last pass's plan; an earlier pass's goes to FILE.passN.
std::string plan_file_of_pass(const args& a, int pass) {
    return pass == a.plan_passes ? a.plan_out : a.plan_out + ".pass" + std::to_string(pass);
}

// The files this run may write (docs/tools.md, "Outputs of every tool").
std::vector<std::string> outputs_of(const args& a) {
    std::vector<std::string> out;
    if (!a.export_path.empty()) out.push_back(a.export_path);
    if (!a.kl_base.empty() && !a.kl_divergence) out.push_back(a.kl_base);
    if (!a.plan_out.empty())
        for (int pass = 1; pass <= a.plan_passes; ++pass) out.push_back(plan_file_of_pass(a, pass));
    return out;
}

int run_synthetic(const args& a) {
    auto sp = llama::parse_synthetic(a.synthetic);
    if (!sp) return fail(sp.error());
    auto s = llama::parse_scheme_name(a.scheme);
    if (!s) return fail(s.error());
    lowbit::thread_pool pool(2, a.spin);
    auto m = llama::make_synthetic(*sp, *s, pool);
    if (!m) return fail(m.error());
    const int steps = std::min(a.steps, sp->seq);
    const std::size_t weight_bytes = m->linear_bytes() + static_cast<std::size_t>(m->c.vocab) * m->c.dim * 4;
    llama::run_options ro;
    ro.matmul.path = a.path;
    ro.tiled = a.tiled;
    for (int threads : {1, 2}) {
        lowbit::thread_pool p(static_cast<unsigned>(threads), a.spin);
        const double bw = llama::read_bandwidth(p);
        const double tps = llama::decode_speed(*m, steps, p, ro);
        const double gbs = tps * static_cast<double>(weight_bytes);
        if (a.json)
            std::printf("{\"synthetic\": \"%s\", \"scheme\": \"%s\", \"threads\": %d, \"bpw\": %.4f, \"layer_bytes\": %zu, "
                        "\"tok_per_s\": %.3f, \"layer_tok_per_s\": %.3f, \"ms_per_layer\": %.3f, \"weights_gb_per_s\": %.3f, "
                        "\"read_bandwidth_gb_per_s\": %.3f, \"bandwidth_fraction\": %.3f}\n",
                        a.synthetic.c_str(), s->name.c_str(), threads, m->linear_bpw(), m->linear_bytes() / m->c.layers, tps,
                        tps * m->c.layers, 1e3 / (tps * m->c.layers), gbs / 1e9, bw / 1e9, gbs / bw);
        else
            std::printf("synthetic %s  scheme %-8s threads %d: %.2f tok/s, %.2f layer-tok/s (%.2f ms per layer), %.1f MB/layer at "
                        "%.2f bpw, weights streamed at %.2f GB/s = %.0f%% of the %.2f GB/s read bandwidth\n",
                        a.synthetic.c_str(), s->name.c_str(), threads, tps, tps * m->c.layers, 1e3 / (tps * m->c.layers),
                        static_cast<double>(m->linear_bytes() / m->c.layers) / 1e6, m->linear_bpw(), gbs / 1e9, 100 * gbs / bw,
                        bw / 1e9);
    }
    return 0;
}

llama::calib_options calib_of(const args& a) {
    llama::calib_options co;
    co.sequences = a.calib_seqs;
    co.length = a.calib_len;
    co.true_sequential = a.true_sequential;
    return co;
}

// --plan FILE (planner.hpp).
lowbit::result<llama::tensor_schemes> read_plan(const args& a, const llama::model& m, std::string* name) {
    *name = "plan";
    return llama::read_plan_file(a.plan_in.c_str(), m);
}

lowbit::status write_plan(const std::string& path, const args& a, const llama::sensitivity_table& t, const llama::tensor_plan& p) {
    char nums[96];
    std::snprintf(nums, sizeof nums, ": predicted KLD %.4f, %llu bytes\n", p.predicted_kld, static_cast<unsigned long long>(p.bytes));
    std::string text = "# lowbit-llama --bpw " + a.bpw + nums;
    for (std::size_t i = 0; i < t.tensors.size(); ++i) text += t.tensors[i] + " " + p.schemes[i].name + "\n";
    const lowbit::status st = tool_files::write_file(path, inputs_of(a), text);
    return st ? st : lowbit::status::error(st.code(), "%s: %s", path.c_str(), st.message());
}

// --bpw: measures the sensitivity on calibration samples and plans; prints the table and the choice.
lowbit::result<llama::tensor_schemes> plan_schemes(const args& a, const llama::model& f32, lowbit::thread_pool& pool, std::string* name) {
    char* end = nullptr;
    const double bpw = std::strtod(a.bpw.c_str(), &end);
    if (a.bpw.empty() || *end != '\0' || !(bpw > 0.0) || !(bpw <= 32.0))
        return lowbit::status::error(lowbit::errc::invalid_argument, "--bpw '%.40s': expected bits per weight in (0, 32]", a.bpw.c_str());
    std::vector<llama::scheme_spec> cands;
    for (const std::string& n : split(a.candidates)) {
        auto s = llama::parse_scheme_name(n);
        if (!s) return s.error();
        cands.push_back(*s);
    }
    const llama::calib_options co = calib_of(a);
    llama::eval_options ce;  // the calibration samples, not --eval's; the probe's KLD reads at most 16 x 128 of them
    ce.sequences = std::min(co.sequences, 16);
    ce.length = std::min(co.length, 128);
    ce.seed = co.seed;
    ce.run.matmul.path = a.path;
    ce.run.tiled = a.tiled;
    const auto t0 = std::chrono::steady_clock::now();
    const auto calib = llama::make_reference(f32, ce, pool);
    std::FILE* out = a.json ? stderr : stdout;
    lowbit::result<llama::tensor_plan> p = lowbit::status::error(lowbit::errc::invalid_argument, "--plan-passes: no pass");
    lowbit::result<llama::sensitivity_table> t = lowbit::status::error(lowbit::errc::invalid_argument, "--plan-passes: no pass");
    for (int pass = 1; pass <= a.plan_passes; ++pass) {
        t = llama::measure_sensitivity(f32, cands, calib, ce, co, pool, pass > 1 ? &p->schemes : nullptr);
        if (!t) return t.error();
        p = llama::plan_for_bpw(*t, bpw);
        if (!p) return p.error();
        const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (pass == 1)
            std::fprintf(out, "--bpw %s: KLD of each linear quantized alone (rest F32) on %d calibration sequences x %d tokens (seed %llu; "
                         "GPTQ's Hessians from %d x %d); the plan in bold (%.1f s)\n\n", a.bpw.c_str(), ce.sequences, ce.length, static_cast<unsigned long long>(co.seed), co.sequences, co.length, secs);
        else
            std::fprintf(out, "--bpw %s, pass %d: KLD with each linear at each candidate, the others as the last plan; the new plan in bold "
                         "(%.1f s so far)\n\n", a.bpw.c_str(), pass, secs);
        llama::print_sensitivity(*t, &*p, out);
        std::size_t weights = 0;
        for (std::size_t n : t->params) weights += n;
        std::fprintf(out, "\nplan: %llu bytes of %llu budgeted, %.4f bpw, predicted KLD (sum) %.4f\n\n", static_cast<unsigned long long>(p->bytes),
                     static_cast<unsigned long long>(p->budget), 8.0 * static_cast<double>(p->bytes) / static_cast<double>(weights), p->predicted_kld);
        std::fflush(out);
        if (!a.plan_out.empty()) LOWBIT_TRY(write_plan(plan_file_of_pass(a, pass), a, *t, *p));
    }
    *name = "bpw" + a.bpw;
    return p->schemes;
}

int run_eval(const args& a, const llama::model& f32) {
    llama::eval_options eo;
    eo.sequences = a.eval_seqs;
    eo.length = a.eval_len;
    eo.seed = a.seed;
    eo.run.matmul.path = a.path;
    eo.run.tiled = a.tiled;
    lowbit::thread_pool pool(static_cast<unsigned>(a.threads), a.spin), one(1), two(2, a.spin);
    const auto ref = llama::make_reference(f32, eo, pool);
    std::vector<llama::eval_row> rows;
    double ppl_f32 = 0;
    const bool planning = !a.bpw.empty() || !a.plan_in.empty();
    std::vector<std::string> names = split(planning ? "f32" : a.scheme != "f32" ? "f32," + a.scheme : a.schemes);
    llama::tensor_schemes plan;
    const llama::calib_options co = calib_of(a);
    if (planning) {
        std::string plan_name;
        auto p = a.plan_in.empty() ? plan_schemes(a, f32, pool, &plan_name) : read_plan(a, f32, &plan_name);
        if (!p) return fail(p.error());
        plan = std::move(*p);
        names.push_back(plan_name);
    }
    for (const std::string& name : names) {
        const bool planned = !plan.empty() && name == names.back();
        llama::model m = f32;
        llama::quant_report rep;
        if (planned) {
            if (auto st = llama::quantize_tensors(m, plan, pool, &rep, co); !st) return fail(st);
            m.scheme = name;
        } else {
            auto s = llama::parse_scheme_name(name);
            if (!s) return fail(s.error());
            if (auto st = llama::quantize_model(m, *s, pool, &rep, co); !st) return fail(st);
        }
        llama::eval_row row;
        llama::fill_size(m, row);
        row.notes = rep.notes;
        llama::measure_quality(m, ref, eo, pool, row);
        row.tok_per_s_1t = llama::decode_speed(m, 256, one, eo.run);
        row.tok_per_s_2t = llama::decode_speed(m, 256, two, eo.run);
        if (name == "f32") ppl_f32 = row.ppl;
        if (a.json) llama::print_json(row, ppl_f32);
        else
            for (const auto& n : rep.notes) std::printf("%s: %s\n", name.c_str(), n.c_str());
        rows.push_back(row);
    }
    if (!a.json) {
        std::printf("\n%d sequences x %d tokens sampled from F32 (temperature 1, seed %llu); %s path\n\n", eo.sequences, eo.length,
                    static_cast<unsigned long long>(eo.seed), a.path == lowbit::matmul_path::int8_dot ? "int8_dot" : "dequant_fma");
        llama::print_table(rows, ppl_f32, a.threads);
    }
    return 0;
}

// --bench: llama-bench's pp/tg tests (bench.hpp), one table row per test.
int run_bench(const args& a, const llama::model& m) {
    auto tests = llama::parse_bench(a.bench);
    if (!tests) return fail(tests.error());
    const std::vector<int> thread_counts = a.bench_threads.empty() ? std::vector<int>{a.threads} : a.bench_threads;
    llama::run_options ro;
    ro.matmul.path = a.path;
    ro.tiled = a.tiled;
    const char* slash = std::strrchr(a.model_path.c_str(), '/');
    const char* name = slash ? slash + 1 : a.model_path.c_str();
    std::printf("| model | scheme | size | path | threads | test | t/s | linear %% | attention %% | other %% |\n");
    std::printf("|---|---|---:|---|---:|---|---:|---:|---:|---:|\n");
    for (const int threads : thread_counts) {
        lowbit::thread_pool pool(static_cast<unsigned>(threads), a.spin);
        for (const llama::bench_test& t : *tests) {
            const lowbit::thread_pool::handoff_counts h0 = pool.handoffs();
            auto r = llama::run_bench(m, t, a.reps, pool, ro);
            if (!r) return fail(r.error());
            // How the pool handed its jobs over during this test (stderr: the
            // table stays llama-bench's shape): polled jobs, and late workers,
            // each of which made the next jobs sleep (include/lowbit/parallel.hpp).
            const lowbit::thread_pool::handoff_counts h1 = pool.handoffs();
            if (threads > 1)
                std::fprintf(stderr, "lowbit-llama: %s%d at %d threads: %llu jobs, %llu handed over polling, %llu with a late worker, %llu with a long tail\n",
                             t.prompt ? "pp" : "tg", t.tokens, threads, static_cast<unsigned long long>(h1.jobs - h0.jobs),
                             static_cast<unsigned long long>(h1.polled - h0.polled), static_cast<unsigned long long>(h1.late - h0.late),
                             static_cast<unsigned long long>(h1.long_tail - h0.long_tail));
            std::printf("| %s | %s | %.2f MiB | %s | %d | %s%d | %.2f ± %.2f | %.1f | %.1f | %.1f |\n", name, m.scheme.c_str(),
                        static_cast<double>(m.held_bytes()) / (1 << 20), a.path == lowbit::matmul_path::int8_dot ? "int8" : "fma",
                        threads, t.prompt ? "pp" : "tg", t.tokens, r->mean_tps, r->stddev_tps, 100 * r->matmul_share,
                        100 * r->attention_share, 100 * (1 - r->matmul_share - r->attention_share));
            std::fflush(stdout);
        }
    }
    return 0;
}

// The tokenizer of a GGUF model file.
lowbit::result<llama::tokenizer> load_tokenizer(const char* path) {
    auto f = tool_files::open_input(path, llama::model_input());
    if (!f) return f.error();
    const auto b = (*f)->bytes();
    if (!llama::is_gguf(b.data(), b.size()))
        return lowbit::status::error(lowbit::errc::unsupported, "%s is not a GGUF file: text needs the vocabulary a GGUF carries", path);
    auto g = lowbit::gguf::gguf_file::parse(b);
    if (!g) return g.error();
    return llama::tokenizer::from_gguf(*g);
}

// Whether `path` is a GGUF file with a tokenizer.ggml.model key.
bool has_vocab(const char* path) {
    auto f = tool_files::open_input(path, llama::model_input());
    if (!f) return false;
    const auto b = (*f)->bytes();
    if (!llama::is_gguf(b.data(), b.size())) return false;
    auto g = lowbit::gguf::gguf_file::parse(b);
    return g && g->find_kv("tokenizer.ggml.model").has_value();
}

// --perplexity / --kl-divergence: llama-perplexity's evaluation (perplexity.hpp).
int run_text_eval(const args& a, const llama::model& m) {
    auto tok = load_tokenizer(a.model_path.c_str());
    if (!tok) return fail(tok.error());
    if (tok->size() != m.c.vocab)
        return fail(lowbit::status::error(lowbit::errc::shape_mismatch, "%s: the vocabulary has %d tokens, token_embd %d rows",
                                          a.model_path.c_str(), tok->size(), m.c.vocab));
    lowbit::thread_pool pool(static_cast<unsigned>(a.threads), a.spin);
    llama::perplexity_options po;
    po.n_ctx = a.ctx;
    po.n_chunks = a.chunks;
    po.bos = tok->vocabulary().add_bos ? tok->vocabulary().bos : -1;
    po.run.matmul.path = a.path;
    po.run.tiled = a.tiled;
    if (a.kl_divergence) {
        if (a.kl_base.empty()) {
            std::fprintf(stderr, "lowbit-llama: --kl-divergence needs --kl-divergence-base FILE\n");
            return 2;
        }
        auto b = llama::base_file::open(a.kl_base.c_str(), m.c.vocab);
        if (!b) return fail(b.error());
        std::fprintf(stderr, "lowbit-llama: %s: %d chunks of %d tokens (the base file's), scheme %s\n", a.kl_base.c_str(), b->n_chunk,
                     b->n_ctx, m.scheme.c_str());
        auto k = llama::kl_divergence(m, *b, po, pool);
        if (!k) return fail(k.error());
        return 0;
    }
    auto text = llama::read_file(a.perplexity_text.c_str());
    if (!text) return fail(text.error());
    std::string s(text->begin(), text->end());
    if (!s.empty() && s.back() == '\n') s.pop_back();  // as llama.cpp's -f does
    auto ids = tok->encode(s, true);
    if (!ids) return fail(ids.error());
    std::fprintf(stderr, "lowbit-llama: %s: %zu bytes, %zu tokens; n_ctx %d, scheme %s\n", a.perplexity_text.c_str(), s.size(), ids->size(),
                 a.ctx, m.scheme.c_str());
    auto r = llama::perplexity(m, *ids, po, pool, a.kl_base.empty() ? nullptr : a.kl_base.c_str(), inputs_of(a));
    if (!r) return fail(r.error(), tool_files::exit_code(r.error()));
    if (!a.kl_base.empty()) std::fprintf(stderr, "lowbit-llama: wrote %s\n", a.kl_base.c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    args a;
    if (!parse_args(argc, argv, a)) {
        std::fputs(usage, stderr);
        return 2;
    }
    if (!a.synthetic.empty()) return run_synthetic(a);
    if (!a.kl_base.empty() && a.perplexity_text.empty() && !a.kl_divergence) {
        std::fprintf(stderr, "lowbit-llama: --kl-divergence-base FILE needs --perplexity TEXT (to write FILE) or --kl-divergence (to read it)\n");
        return 2;
    }
    if (const std::vector<std::string> outputs = outputs_of(a); !outputs.empty()) {  // checked now: hours of --bpw or a perplexity pass must not end in a refusal
        if (const int rc = tool_files::check_outputs("lowbit-llama", outputs, inputs_of(a))) return rc;
        tool_files::install_signal_handlers("lowbit-llama");  // a signal removes the output's temporary file
    }

    // A run that only generates, benches or measures perplexity holds one copy
    // of each weight, the form its path and layout run (runtime.hpp,
    // keep_what_runs); export, --eval, --tokenize and requantizing read the others.
    llama::run_options keep;
    keep.matmul.path = a.path;
    keep.tiled = a.tiled;
    const bool one_copy = a.scheme == "f32" && a.bpw.empty() && a.plan_in.empty() && !a.eval && a.export_path.empty() &&
                          a.tokenize_text.empty();
    auto loaded = llama::load_model(a.model_path.c_str(), one_copy ? &keep : nullptr);
    if (!loaded) return fail(loaded.error());
    llama::model& m = *loaded;
    // Codebook weights run their blocks on the int8 path; fma and requantizing need their f32 values
    // (a one-copy load decoded them already where its path runs them).
    if (!one_copy && (a.path != lowbit::matmul_path::int8_dot || a.scheme != "f32" || a.eval))
        if (auto st = llama::decode_codebooks(m); !st) return fail(st);
    if (a.eval) return run_eval(a, m);
    if (!a.tokenize_text.empty()) {
        auto tok = load_tokenizer(a.model_path.c_str());
        if (!tok) return fail(tok.error());
        auto ids = tok->encode(a.tokenize_text, true);
        if (!ids) return fail(ids.error());
        for (std::size_t i = 0; i < ids->size(); ++i) std::printf("%s%d", i ? " " : "", (*ids)[i]);
        std::printf("\n");
        return 0;
    }

    lowbit::thread_pool pool(static_cast<unsigned>(a.threads), a.spin);
    llama::quant_report rep;
    if (one_copy) {
        // loaded as it runs: nothing to quantize, tiled already (load_model)
    } else if (!a.bpw.empty() || !a.plan_in.empty()) {
        std::string plan_name;
        auto p = a.plan_in.empty() ? plan_schemes(a, m, pool, &plan_name) : read_plan(a, m, &plan_name);
        if (!p) return fail(p.error());
        if (auto st = llama::quantize_tensors(m, *p, pool, &rep, calib_of(a)); !st) return fail(st);
        m.scheme = plan_name;
    } else {
        auto s = llama::parse_scheme_name(a.scheme);
        if (!s) return fail(s.error());
        if (auto st = llama::quantize_model(m, *s, pool, &rep, calib_of(a)); !st) return fail(st);
    }
    for (const auto& n : rep.notes) std::fprintf(stderr, "lowbit-llama: %s\n", n.c_str());
    std::fprintf(stderr, "lowbit-llama: %s\n", llama::layout_summary(m, keep).c_str());
    if (!a.perplexity_text.empty() || a.kl_divergence) return run_text_eval(a, m);
    if (!a.bench.empty()) return run_bench(a, m);
    if (!a.export_path.empty()) {
        // A GGUF source's vocabulary goes along (llama.cpp needs it); a llama2.c checkpoint has none.
        std::unique_ptr<llama::tokenizer> tok;
        if (has_vocab(a.model_path.c_str())) {
            auto t = load_tokenizer(a.model_path.c_str());
            if (!t) return fail(t.error());
            tok = std::make_unique<llama::tokenizer>(std::move(*t));
        }
        if (auto st = llama::export_gguf(m, a.export_path.c_str(), "lowbit-llama", tok ? &tok->vocabulary() : nullptr, inputs_of(a)); !st)
            return fail(st, tool_files::exit_code(st));
        std::fprintf(stderr, "lowbit-llama: wrote %s (%s, %zu bytes of weights)\n", a.export_path.c_str(), m.scheme.c_str(), m.total_bytes());
        return 0;
    }

    llama::sampler smp;
    smp.temperature = a.temperature;
    smp.top_p = a.top_p;
    smp.r = llama::rng(a.seed);
    llama::run_options ro;
    ro.matmul.path = a.path;
    ro.tiled = a.tiled;
    const auto t0 = std::chrono::steady_clock::now();
    const auto out = llama::generate(m, a.steps, smp, pool, ro);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (a.json) {
        std::printf("{\"scheme\": \"%s\", \"bpw\": %.4f, \"bytes\": %zu, \"tok_per_s\": %.1f, \"tokens\": [", m.scheme.c_str(),
                    m.linear_bpw(), m.total_bytes(), static_cast<double>(out.size()) / secs);
        for (std::size_t i = 0; i < out.size(); ++i) std::printf("%s%d", i ? ", " : "", out[i]);
        std::printf("]}\n");
    } else {
        for (std::size_t i = 0; i < out.size(); ++i) std::printf("%s%d", i ? " " : "", out[i]);
        std::printf("\n");
        std::fprintf(stderr, "lowbit-llama: %s, %.2f bpw, %zu tokens at %.0f tok/s (%d thread%s)\n", m.scheme.c_str(), m.linear_bpw(),
                     out.size(), static_cast<double>(out.size()) / secs, a.threads, a.threads > 1 ? "s" : "");
    }
    return 0;
}
