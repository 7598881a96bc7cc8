// lowbit-quantize --bpw (examples/lowbit-quantize/bpw_plan.hpp, plan.hpp,
// sensitivity.hpp, plan_files.hpp): the allocation itself against brute force,
// and the built tool on tests/data/tinyllama-sotu — one measured sensitivity
// (a few calibration chunks, --method imatrix: seconds), then plans read back
// from its report at many budgets with --dry-run: every budget respected with
// the bytes counted from the file, the same plan twice, a larger budget never
// a larger predicted KLD, hostile arguments refused with a clear message;
// --bpw --dry-run with a calibrated method makes the real run's plan and report.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <lowbit/formats/gguf.hpp>
#include <lowbit/formats/gguf_blocks.hpp>

#include "../examples/lowbit-quantize/plan.hpp"
#include "tool_test_util.hpp"

namespace gg = lowbit::gguf;

namespace {

using namespace tool_test;

// The least loss within `budget` by trying every combination.
double brute_force(const std::vector<lbq::plan_item>& items, std::uint64_t budget) {
    double best = INFINITY;
    std::vector<std::size_t> c(items.size(), 0);
    for (;;) {
        std::uint64_t b = 0;
        double l = 0;
        bool ok = true;
        for (std::size_t t = 0; t < items.size(); ++t) {
            if (!items[t].bytes[c[t]]) ok = false;
            b += items[t].bytes[c[t]], l += items[t].loss[c[t]];
        }
        if (ok && b <= budget) best = std::min(best, l);
        std::size_t t = 0;
        while (t < items.size() && ++c[t] == items[t].bytes.size()) c[t++] = 0;
        if (t == items.size()) return best;
    }
}

}  // namespace

TEST_CASE("allocate: the exact optimum, within the budget, monotone in the budget, deterministic") {
    std::mt19937 rng(20);
    for (int trial = 0; trial < 40; ++trial) {
        std::vector<lbq::plan_item> items(2 + trial % 4);
        for (lbq::plan_item& it : items) {
            const std::uint64_t blocks = 1 + rng() % 6;
            double loss = 1.0 + (rng() % 1000) / 100.0;
            for (std::uint64_t per : {84u, 110u, 144u, 176u, 210u, 272u}) {  // Q2_K..Q6_K, Q8_0 bytes per 256 values
                it.bytes.push_back(rng() % 7 == 0 ? 0 : per * blocks);
                it.loss.push_back(loss);
                loss *= 0.3 + (rng() % 60) / 100.0;
            }
            it.bytes[2] = 144 * blocks;  // at least one option
        }
        double prev = INFINITY;
        for (std::uint64_t budget = 0; budget < 6000; budget += 97) {
            const double want = brute_force(items, budget);
            auto a = lbq::allocate(items, budget);
            if (std::isinf(want)) {
                CHECK_FALSE(a.ok());
                if (!a.ok()) CHECK(std::string(a.error().message()).find("smallest plan") != std::string::npos);
                continue;
            }
            REQUIRE_MESSAGE(a.ok(), a.error().message());
            CHECK(a->bytes <= budget);
            CHECK(a->loss == doctest::Approx(want).epsilon(1e-12));
            CHECK(a->loss <= prev);
            prev = a->loss;
            auto again = lbq::allocate(items, budget);
            REQUIRE(again.ok());
            CHECK(again->choice == a->choice);
        }
    }
    lbq::plan_item bad;
    bad.bytes = {84, 144};
    bad.loss = {NAN, 1.0};
    CHECK_FALSE(lbq::allocate({bad}, 1000).ok());
    bad.loss = {-1.0, 1.0};
    CHECK_FALSE(lbq::allocate({bad}, 1000).ok());
    bad.bytes = {0, 0};
    CHECK_FALSE(lbq::allocate({bad}, 1000).ok());
    CHECK(lbq::exact_name_regex("blk.0.attn_q.weight") == "^blk\\.0\\.attn_q\\.weight$");
}

#ifdef LOWBIT_QUANTIZE_TOOL

namespace {

const std::string data_dir = std::string(LOWBIT_TEST_DATA_DIR) + "/tinyllama-sotu";

std::string slurp(const std::string& p) {
    const std::vector<std::uint8_t> b = read_file(p);
    return std::string(b.begin(), b.end());
}

// "# X bpw counted: BYTES bytes of tensors x 8 / VALUES values; predicted KLD L" of a plan file.
struct plan_head {
    unsigned long long bytes = 0, values = 0;
    double bpw = 0, loss = 0;
};
plan_head read_head(const std::string& plan) {
    plan_head h;
    const std::size_t at = plan.find("\n# ");
    REQUIRE(at != std::string::npos);
    REQUIRE(std::sscanf(plan.c_str() + at + 3, "%lf bpw counted: %llu bytes of tensors x 8 / %llu values; predicted KLD %lf", &h.bpw, &h.bytes,
                        &h.values, &h.loss) == 4);
    return h;
}

// One measured sensitivity for the whole file: the tool at --bpw 4.5 on a few chunks.
struct measured {
    tmpdir d{"lowbit-plan-test"};
    int rc = -1;
    std::string log;
    measured() {
        rc = run_tool(d, "'" + data_dir + "' '" + d / "p45.gguf" + "' --bpw 4.5 --method imatrix --calib '" + data_dir +
                             "/calib.txt' --calib-tokens 512 --calib-ctx 128 --threads 2 --no-sqnr --report '" + d / "report.txt" +
                             "' --plan-out '" + d / "plan45.txt" + "'",
                      &log);
    }
};
measured& once() {
    static measured m;
    return m;
}

// lowbit-quantize --bpw B --sensitivity REPORT [extra] --dry-run --plan-out OUT on the measured model: its exit code.
int plan_from_report(const measured& m, const std::string& bpw, const std::string& report, const std::string& out,
                     const std::string& extra = "", std::string* log = nullptr) {
    return run_tool(m.d, "'" + data_dir + "' '" + m.d / "x.gguf" + "' --bpw " + bpw + " --sensitivity '" + report + "'" + extra +
                             " --dry-run --plan-out '" + out + "'",
                    log);
}

}  // namespace

TEST_CASE("--bpw 4.5: measures, plans within the budget, writes a file the reader loads, its types the plan's") {
    measured& m = once();
    REQUIRE_MESSAGE(m.rc == 0, m.log);
    const std::string report = slurp(m.d / "report.txt"), plan = slurp(m.d / "plan45.txt");
    const plan_head h = read_head(plan);
    CHECK(h.bpw <= 4.5);
    CHECK(h.loss > 0.0);
    CHECK(8.0 * static_cast<double>(h.bytes) <= 4.5 * static_cast<double>(h.values));

    // The file: every tensor counted, the total the plan's, each planned tensor of the plan's type.
    const std::vector<std::uint8_t> file = read_file(m.d / "p45.gguf");
    auto f = gg::gguf_file::parse(lowbit::span<const std::uint8_t>(file.data(), file.size()));
    REQUIRE_MESSAGE(f.ok(), f.error().message());
    unsigned long long bytes = 0, values = 0;
    std::map<std::string, std::string> types;
    for (const gg::tensor_info& t : f->tensors()) {
        bytes += t.n_bytes, values += t.n_elements;
        types[std::string(t.name)] = gg::type_name(t.type);
        // every row decodes to finite values
        const std::uint64_t k = t.dims[0], rows = t.n_elements / k, row_bytes = t.n_bytes / rows;
        std::vector<float> row(k);
        std::vector<std::uint8_t> raw(row_bytes);
        for (std::uint64_t r = 0; r < rows; r += 17) {
            std::memcpy(raw.data(), t.data.data() + r * row_bytes, row_bytes);
            REQUIRE(gg::dequantize_row(t.type, raw.data(), row.data(), static_cast<std::int64_t>(k)).ok());
            for (float v : row) REQUIRE(std::isfinite(v));
        }
    }
    CHECK(bytes == h.bytes);
    CHECK(values == h.values);
    int planned = 0;
    std::size_t at = 0;
    while ((at = plan.find("\n^", at)) != std::string::npos) {
        const std::size_t eq = plan.find('=', at), nl = plan.find('\n', at + 1);
        std::string name = plan.substr(at + 2, eq - at - 3);  // between ^ and $
        std::string plain;
        for (char ch : name)
            if (ch != '\\') plain += ch;
        CHECK_MESSAGE(types[plain] == plan.substr(eq + 1, nl - eq - 1), plain);
        ++planned, at = nl;
    }
    CHECK(planned == 58);  // 8 layers x 7 + output + token_embd
    auto ft = f->get_uint("general.file_type");  // as llama-quantize writes for a --type Q4_K_M run with --tensor-type overrides
    REQUIRE(ft.ok());
    CHECK(*ft == 15u);
    // The report: a line per planned weight, each with its chosen type.
    CHECK(report.find("# tensor rows row_length probe_kld Q2_K IQ3_XXS Q3_K IQ3_S IQ4_XS IQ4_NL Q4_K Q5_K Q6_K Q8_0 chosen\n") != std::string::npos);
    CHECK(report.find("\nblk.7.ffn_down.weight 256 768 ") != std::string::npos);
}

TEST_CASE("--bpw from a report: every budget kept, same plan twice, larger budget never a larger predicted KLD") {
    measured& m = once();
    REQUIRE_MESSAGE(m.rc == 0, m.log);
    double prev = INFINITY;
    for (const char* b : {"2.9", "3.2", "3.5", "4", "4.5", "5", "6", "8", "9", "16"}) {
        std::string log;
        const std::string out = m.d / (std::string("plan-") + b + ".txt");
        REQUIRE_MESSAGE(plan_from_report(m, b, m.d / "report.txt", out, "", &log) == 0, log);
        const std::string plan = slurp(out);
        const plan_head h = read_head(plan);
        const double bpw = std::atof(b);
        CHECK_MESSAGE(static_cast<double>(h.bytes) <= std::floor(bpw * static_cast<double>(h.values) / 8.0), b);
        CHECK_MESSAGE(h.loss <= prev, b);
        prev = h.loss;
        REQUIRE(plan_from_report(m, b, m.d / "report.txt", m.d / "again.txt") == 0);
        CHECK(slurp(m.d / "again.txt") == plan);
        CHECK_FALSE(exists(m.d / "x.gguf"));
    }
    CHECK(prev >= 0.0);
    // Reports with a subset of the candidates (as written before IQ4_XS and IQ4_NL were candidates: the six
    // K-quants; before IQ3_XXS and IQ3_S: session 28's eight): read back, planned with the types they have, never one they lack.
    const std::string report = slurp(m.d / "report.txt");
    auto without = [&](const std::vector<std::string>& drop) {  // the report without the loss columns of `drop`
        std::string old;
        std::vector<std::size_t> gone;  // field indices dropped from data lines
        std::size_t at = 0;
        while (at < report.size()) {
            std::size_t nl = report.find('\n', at);
            if (nl == std::string::npos) nl = report.size();
            std::string line = report.substr(at, nl - at);
            at = nl + 1;
            std::vector<std::string> f;
            for (std::size_t i = 0; i <= line.size();) {
                const std::size_t j = std::min(line.find(' ', i), line.size());
                f.push_back(line.substr(i, j - i));
                i = j + 1;
            }
            if (line.rfind("# tensor ", 0) == 0) {  // "#", "tensor", rows, row_length, probe_kld, types..., "chosen"
                REQUIRE(f.size() == 16);
                for (std::size_t k = 5; k + 1 < f.size(); ++k)
                    if (std::find(drop.begin(), drop.end(), f[k]) != drop.end()) gone.push_back(k - 1);  // data lines have no "#"
                REQUIRE(gone.size() == drop.size());
                line.clear();
                for (std::size_t k = 0; k < f.size(); ++k)
                    if (k < 5 || std::find(gone.begin(), gone.end(), k - 1) == gone.end()) line += (line.empty() ? "" : " ") + f[k];
            } else if (!line.empty() && line[0] != '#') {  // name, rows, row_length, probe_kld, 10 losses, chosen
                REQUIRE(f.size() == 15);
                line.clear();
                for (std::size_t k = 0; k < f.size(); ++k)
                    if (std::find(gone.begin(), gone.end(), k) == gone.end()) line += (line.empty() ? "" : " ") + f[k];
            }
            old += line + "\n";
        }
        return old;
    };
    struct subset {
        std::vector<std::string> drop;
        const char* absent;  // no planned tensor may get a type starting with this
    };
    for (const subset& sub : {subset{{"IQ3_XXS", "IQ3_S", "IQ4_XS", "IQ4_NL"}, "=IQ"}, subset{{"IQ3_XXS", "IQ3_S"}, "=IQ3"}}) {
        CAPTURE(sub.absent);
        write_file(m.d / "old-report.txt", without(sub.drop));
        std::string log;
        REQUIRE_MESSAGE(plan_from_report(m, "4.2", m.d / "old-report.txt", m.d / "old-plan.txt", "", &log) == 0, log);
        const std::string plan = slurp(m.d / "old-plan.txt");
        CHECK(plan.find("=Q") != std::string::npos);
        CHECK(plan.find(sub.absent) == std::string::npos);
        CHECK(read_head(plan).bytes <= static_cast<unsigned long long>(std::floor(4.2 * static_cast<double>(read_head(plan).values) / 8.0)));
    }
    // --method rtn: no linear gets IQ3_XXS (llama.cpp writes it only with an importance matrix; output and
    // token_embd may), where the imatrix plan of the same budget and report gives some linear IQ3_XXS
    {
        auto linears_at = [](const std::string& plan, const std::string& type) {
            int n = 0;
            for (std::size_t at = plan.find("\n^blk"); at != std::string::npos; at = plan.find("\n^blk", at + 1)) {
                const std::size_t nl = plan.find('\n', at + 1);
                n += plan.compare(plan.find('=', at) + 1, nl - plan.find('=', at) - 1, type) == 0;
            }
            return n;
        };
        const std::string p45 = slurp(m.d / "plan45.txt");
        REQUIRE(linears_at(p45, "IQ3_XXS") > 0);  // else this check tells nothing
        std::string log;
        REQUIRE_MESSAGE(plan_from_report(m, "4.5", m.d / "report.txt", m.d / "rtn-plan.txt", " --method rtn", &log) == 0, log);
        const std::string rtn = slurp(m.d / "rtn-plan.txt");
        CHECK(linears_at(rtn, "IQ3_XXS") == 0);
        CHECK(linears_at(rtn, "Q2_K") + linears_at(rtn, "Q3_K") + linears_at(rtn, "IQ3_S") > 0);
        CHECK(read_head(rtn).bytes <= static_cast<unsigned long long>(std::floor(4.5 * static_cast<double>(read_head(rtn).values) / 8.0)));
    }
    // --plan replays the plan: the same tensor types as --bpw 4.5 wrote (with its calibration: a plan with IQ3_XXS
    // needs an importance matrix, as llama-quantize's rule for that type says)
    std::string log;
    REQUIRE_MESSAGE(run_tool(m.d, "'" + data_dir + "' '" + m.d / "replay.gguf" + "' --plan '" + m.d / "plan45.txt" +
                                      "' --method imatrix --calib '" + data_dir + "/calib.txt' --calib-tokens 512 --calib-ctx 128 --threads 2 --no-sqnr",
                             &log) == 0,
                    log);
    const std::vector<std::uint8_t> a = read_file(m.d / "replay.gguf"), b = read_file(m.d / "p45.gguf");
    auto fa = gg::gguf_file::parse(lowbit::span<const std::uint8_t>(a.data(), a.size()));
    auto fb = gg::gguf_file::parse(lowbit::span<const std::uint8_t>(b.data(), b.size()));
    REQUIRE(fa.ok());
    REQUIRE(fb.ok());
    REQUIRE(fa->tensors().size() == fb->tensors().size());
    for (std::size_t i = 0; i < fa->tensors().size(); ++i) {
        CHECK(fa->tensors()[i].name == fb->tensors()[i].name);
        CHECK(fa->tensors()[i].type == fb->tensors()[i].type);
    }
}

TEST_CASE("--bpw --dry-run with a calibrated method: measures, writes the report and the plan, prints the bytes, writes no file") {
    measured& m = once();
    REQUIRE_MESSAGE(m.rc == 0, m.log);
    const std::string calib = " --method imatrix --calib '" + data_dir + "/calib.txt' --calib-tokens 512 --calib-ctx 128 --threads 2";
    std::string log;
    REQUIRE_MESSAGE(run_tool(m.d, "'" + data_dir + "' '" + m.d / "dry.gguf" + "' --bpw 4.5" + calib + " --dry-run --report '" + m.d / "dry-report.txt" +
                                      "' --plan-out '" + m.d / "dry-plan.txt" + "'",
                             &log) == 0,
                    log);
    CHECK_MESSAGE(log.find("tensor data: ") != std::string::npos, log);  // the dry run's byte count
    CHECK_FALSE(exists(m.d / "dry.gguf"));
    // the same measurement as the real run's: the same plan, the same report
    CHECK(slurp(m.d / "dry-plan.txt") == slurp(m.d / "plan45.txt"));
    CHECK(slurp(m.d / "dry-report.txt") == slurp(m.d / "report.txt"));
    // --probe-chunks 2: the sensitivity on two held-back chunks, said in the report's head; the same weights and columns
    REQUIRE_MESSAGE(run_tool(m.d, "'" + data_dir + "' '" + m.d / "dry.gguf" + "' --bpw 4.5" + calib + " --probe-chunks 2 --dry-run --report '" +
                                      m.d / "dry-report2.txt" + "'",
                             &log) == 0,
                    log);
    CHECK_MESSAGE(log.find("held back: 2 x 128 tokens") != std::string::npos, log);
    const std::string r2 = slurp(m.d / "dry-report2.txt");
    CHECK(r2.find("with --method imatrix, --probe-chunks 2)") != std::string::npos);
    CHECK(r2.find("# tensor rows row_length probe_kld Q2_K IQ3_XXS Q3_K IQ3_S IQ4_XS IQ4_NL Q4_K Q5_K Q6_K Q8_0 chosen\n") != std::string::npos);
    CHECK(r2.find("\nblk.7.ffn_down.weight 256 768 ") != std::string::npos);
    CHECK(r2 != slurp(m.d / "report.txt"));
    // without --bpw a calibrated method still has nothing to do in a dry run; --imatrix-out would not be written
    CHECK(run_tool(m.d, "'" + data_dir + "' '" + m.d / "dry.gguf" + "' --type Q4_K_M" + calib + " --dry-run", &log) == 2);
    CHECK_MESSAGE(log.find("--dry-run computes sizes from the plan") != std::string::npos, log);
    CHECK(run_tool(m.d, "'" + data_dir + "' '" + m.d / "dry.gguf" + "' --bpw 4.5 --sensitivity '" + m.d / "report.txt" + "'" + calib +
                            " --imatrix-out '" + m.d / "dry.imatrix" + "' --dry-run",
                   &log) == 2);
    CHECK_MESSAGE(log.find("--dry-run computes sizes from the plan") != std::string::npos, log);
    CHECK_FALSE(exists(m.d / "dry.imatrix"));
    CHECK_FALSE(exists(m.d / "dry.gguf"));
}

TEST_CASE("--bpw: hostile budgets and files are refused with a message naming the problem") {
    measured& m = once();
    REQUIRE_MESSAGE(m.rc == 0, m.log);
    const std::string base = "'" + data_dir + "' '" + m.d / "h.gguf" + "' --dry-run ";
    const std::string rep = " --sensitivity '" + m.d / "report.txt" + "'";
    struct bad {
        std::string args, says;
    };
    const std::string report = slurp(m.d / "report.txt");
    std::string nan_report = report;  // blk.0.attn_q's Q2_K loss (the field after probe_kld) made NaN
    const std::size_t q = nan_report.find("\nblk.0.attn_q.weight 256 256 ");
    REQUIRE(q != std::string::npos);
    const std::size_t loss_at = nan_report.find(' ', q + 29) + 1;
    nan_report.replace(loss_at, nan_report.find(' ', loss_at) - loss_at, "nan");
    write_file(m.d / "nan.txt", nan_report);
    write_file(m.d / "garbage.txt", std::string("\x7f" "ELF not a report\n"));
    std::string short_report = report.substr(0, report.find("\nblk.3."));
    write_file(m.d / "short.txt", short_report + "\n");
    const bad cases[] = {
        {"--bpw 0" + rep, "--bpw '0': expected a number of bits per weight > 0"},
        {"--bpw -3" + rep, "expected a number of bits per weight > 0"},
        {"--bpw nan" + rep, "expected a number of bits per weight > 0"},
        {"--bpw inf" + rep, "expected a number of bits per weight > 0"},
        {"--bpw 4.5x" + rep, "expected a number of bits per weight > 0"},
        {"--bpw 17" + rep, "above F16's 16 bits per weight"},
        {"--bpw 2" + rep, "below the smallest plan"},
        {"--bpw 0.01" + rep, "the tensors the planner does not choose for take"},
        {"--bpw 4 --sensitivity '" + m.d / "nan.txt" + "'", "is not a finite number >= 0"},
        {"--bpw 4 --sensitivity '" + m.d / "garbage.txt" + "'", "not a lowbit-quantize --report file"},
        {"--bpw 4 --sensitivity '" + m.d / "short.txt" + "'", "the sensitivity has no line for"},
        {"--bpw 4 --sensitivity '" + m.d / "missing.txt" + "'", "cannot open it"},
        {"--bpw 4 --tensor-type ffn_down=Q8_0" + rep, "does not take --tensor-type"},
        {"--bpw 4", "--bpw measures the sensitivity on --calib TEXT"},
        {"--bpw 4 --type w4g128" + rep, "--type must be a llama-quantize type"},
        {"--bpw 4 --method awq --calib '" + data_dir + "/calib.txt'", "--bpw plans with --method rtn, imatrix or gptq"},
        {"--plan-out '" + m.d / "p.txt" + "' --type Q4_K_M", "go with --bpw"},
        {"--bpw 4 --plan-out '" + m.d / "h.gguf" + "'" + rep, "is another output of this run"},
        {"--bpw 4 --report '" + m.d / "report.txt" + "'" + rep, "refusing to overwrite the input"},
        {"--bpw 4 --probe-chunks 0" + rep, "--probe-chunks '0': expected an integer 1..64"},
        {"--bpw 4 --probe-chunks 65" + rep, "expected an integer 1..64"},
        {"--bpw 4 --probe-chunks x" + rep, "expected an integer 1..64"},
        {"--type Q4_K_M --probe-chunks 2", "--probe-chunks go with --bpw"},
    };
    for (const bad& c : cases) {
        std::string log;
        CHECK_MESSAGE(run_tool(m.d, base + c.args, &log) == 2, c.args);
        CHECK_MESSAGE(log.find(c.says) != std::string::npos, c.args << "\n" << log);
    }
    CHECK_FALSE(exists(m.d / "h.gguf"));
    CHECK(slurp(m.d / "report.txt") == report);  // the --sensitivity file refused as --report is untouched
}

#endif
