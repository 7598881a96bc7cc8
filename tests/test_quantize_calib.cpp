// lowbit-quantize's calibrated methods on the real tinyllama-sotu checkpoint
// (tests/data/tinyllama-sotu, 1024 calibration tokens to stay fast):
// --imatrix-out's file (llama.cpp's GGUF imatrix layout) and its round trip
// through --imatrix, --method gptq giving a GGUF that lowbit-llama loads with
// a perplexity no worse than rtn's and a lower layer-output error on the
// held-back chunk for most tensors, --method awq and awq+gptq writing
// rtn's header byte for byte with folded norm gains, --rotate's folded
// rotations keeping the f32 logits, and bad calibration input refused.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include <lowbit/formats/gguf.hpp>
#include <lowbit/formats/npy.hpp>
#include <lowbit/parallel.hpp>

#include "../examples/lowbit-quantize/embd_hessian.hpp"
#include "gguf_io.hpp"     // examples/llama
#include "perplexity.hpp"  // examples/llama
#include "tinyllama_ppl.hpp"
#include "tokenizer.hpp"   // examples/llama
#include "tool_test_util.hpp"

namespace gg = lowbit::gguf;

namespace {

const std::string data_dir = std::string(LOWBIT_TEST_DATA_DIR) + "/tinyllama-sotu";

using namespace tool_test;

const std::string calib = " --calib '" + data_dir + "/calib.txt' --calib-tokens 1024 --threads 2";

std::vector<float> f32_of(const gg::tensor_info& t) {
    std::vector<float> v(t.data.size() / 4);
    std::memcpy(v.data(), t.data.data(), v.size() * 4);
    return v;
}

// The bytes of tensor `name` in a GGUF file.
std::vector<std::uint8_t> tensor_bytes(const std::vector<std::uint8_t>& file, const std::string& name) {
    auto f = gg::gguf_file::parse(lowbit::span<const std::uint8_t>(file.data(), file.size()));
    REQUIRE_MESSAGE(f.ok(), f.error().message());
    const gg::tensor_info* t = f->find_tensor(name);
    REQUIRE(t != nullptr);
    return std::vector<std::uint8_t>(t->data.begin(), t->data.end());
}

// Perplexity of a GGUF by lowbit-llama's evaluator (tinyllama_ppl.hpp).
double dev_ppl(const std::string& path) {
    const std::vector<std::uint8_t> bytes = read_file(path);
    auto f = gg::gguf_file::parse(lowbit::span<const std::uint8_t>(bytes.data(), bytes.size()));
    REQUIRE_MESSAGE(f.ok(), f.error().message());
    auto tok = llama::tokenizer::from_gguf(*f);
    REQUIRE_MESSAGE(tok.ok(), tok.error().message());
    auto m = llama::load_gguf(lowbit::span<const std::uint8_t>(bytes.data(), bytes.size()));
    REQUIRE_MESSAGE(m.ok(), m.error().message());
    return tinyllama_test::dev_perplexity(*m, *tok, data_dir + "/dev.txt");
}

// The rtn file both calibration tests compare with, written and evaluated
// once per run (a tenth of this binary's time).
struct rtn_baseline {
    tmpdir dir;
    std::string path = dir / "rtn.gguf";
    double ppl = 0.0;
    rtn_baseline() {
        std::string log;
        REQUIRE_MESSAGE(run_tool(dir, "'" + data_dir + "' '" + path + "' --type Q4_K_M --threads 2", &log) == 0, log);
        ppl = dev_ppl(path);
    }
};
const rtn_baseline& shared_rtn() {
    static const rtn_baseline b;  // its folder is removed at exit
    return b;
}

// A .npy file of little-endian integer token ids (dtype "<i4", "<u2", ...;
// `width` bytes each), shape (n,), format 1.0, as numpy writes it.
void write_ids_npy(const std::string& path, const std::vector<int>& ids, const char* dtype, int width) {
    std::string h = std::string("{'descr': '") + dtype + "', 'fortran_order': False, 'shape': (" + std::to_string(ids.size()) + ",), }";
    while ((10 + h.size() + 1) % 64 != 0) h += ' ';
    h += '\n';
    std::string out = "\x93NUMPY";
    out += '\x01';
    out += '\x00';
    out += static_cast<char>(h.size() & 0xff);
    out += static_cast<char>(h.size() >> 8);
    out += h;
    for (int id : ids)
        for (int k = 0; k < width; ++k) out += static_cast<char>((static_cast<unsigned>(id) >> (8 * k)) & 0xffu);
    write_file(path, out);
}

}  // namespace

TEST_CASE("--imatrix-out: llama.cpp's GGUF imatrix layout, and --imatrix reads it back") {
    tmpdir d;
    std::string log;
    REQUIRE_MESSAGE(run_tool(d, "'" + data_dir + "' '" + (d / "rtn.gguf") + "' --type Q4_K_M --imatrix-out '" + (d / "im.gguf") + "'" + calib,
                             &log) == 0,
                    log);
    const std::vector<std::uint8_t> bytes = read_file(d / "im.gguf");
    auto f = gg::gguf_file::parse(lowbit::span<const std::uint8_t>(bytes.data(), bytes.size()));
    REQUIRE_MESSAGE(f.ok(), f.error().message());
    CHECK(*f->get_string("general.type") == "imatrix");
    CHECK(*f->get_uint("imatrix.chunk_size") == 256);
    CHECK(*f->get_uint("imatrix.chunk_count") == 4);  // 1024 tokens
    const auto ds = f->find_kv("imatrix.datasets");
    REQUIRE(ds);
    CHECK(ds->size() == 1);
    // 8 layers x 7 weights, each as .in_sum2 [K, 1] and .counts [1, 1], F32.
    CHECK(f->tensors().size() == 8 * 7 * 2);
    const char* names[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    for (int l = 0; l < 8; ++l)
        for (const char* n : names) {
            const std::string base = "blk." + std::to_string(l) + "." + n + ".weight";
            const gg::tensor_info* s = f->find_tensor(base + ".in_sum2");
            const gg::tensor_info* c = f->find_tensor(base + ".counts");
            REQUIRE_MESSAGE(s, base);
            REQUIRE_MESSAGE(c, base);
            CHECK(s->type == gg::gguf_type::f32);
            CHECK(c->type == gg::gguf_type::f32);
            CHECK(s->row_length() == (std::string(n) == "ffn_down" ? 768u : 256u));
            CHECK(s->rows() == 1);
            CHECK(c->row_length() == 1);
            CHECK(f32_of(*c)[0] == 1024.0f);
            double total = 0;
            for (float v : f32_of(*s)) {
                CHECK(std::isfinite(v));
                CHECK(v >= 0.0f);
                total += v;
            }
            CHECK(total > 0.0);
        }
    // q, k, v read the same input, gate and up too: identical statistics.
    for (int l = 0; l < 8; ++l) {
        const std::string p = "blk." + std::to_string(l) + ".";
        CHECK(f32_of(*f->find_tensor(p + "attn_q.weight.in_sum2")) == f32_of(*f->find_tensor(p + "attn_k.weight.in_sum2")));
        CHECK(f32_of(*f->find_tensor(p + "attn_q.weight.in_sum2")) == f32_of(*f->find_tensor(p + "attn_v.weight.in_sum2")));
        CHECK(f32_of(*f->find_tensor(p + "ffn_gate.weight.in_sum2")) == f32_of(*f->find_tensor(p + "ffn_up.weight.in_sum2")));
    }

    // Round trip: layer 0's q/k/v input does not depend on quantization, so
    // --method imatrix (sequential statistics) and --method rtn --imatrix FILE
    // (the float statistics written above) give the same bytes for it.
    REQUIRE_MESSAGE(run_tool(d, "'" + data_dir + "' '" + (d / "a.gguf") + "' --type Q4_K_M --imatrix '" + (d / "im.gguf") + "' --threads 2",
                             &log) == 0,
                    log);
    REQUIRE_MESSAGE(run_tool(d, "'" + data_dir + "' '" + (d / "b.gguf") + "' --type Q4_K_M --method imatrix" + calib, &log) == 0, log);
    const auto a = read_file(d / "a.gguf"), b = read_file(d / "b.gguf"), r = read_file(d / "rtn.gguf");
    CHECK(tensor_bytes(a, "blk.0.attn_q.weight") == tensor_bytes(b, "blk.0.attn_q.weight"));
    CHECK(tensor_bytes(a, "blk.0.attn_v.weight") == tensor_bytes(b, "blk.0.attn_v.weight"));
    // ... and the imatrix changed them: rtn without it gives other bytes.
    CHECK(tensor_bytes(a, "blk.0.attn_q.weight") != tensor_bytes(r, "blk.0.attn_q.weight"));

    // --calib FILE.npy: the same text's token ids, as int32 and as uint16,
    // give the same file byte for byte.
    auto rf = gg::gguf_file::parse(lowbit::span<const std::uint8_t>(r.data(), r.size()));
    REQUIRE(rf.ok());
    auto tok = llama::tokenizer::from_gguf(*rf);
    REQUIRE_MESSAGE(tok.ok(), tok.error().message());
    const std::vector<std::uint8_t> text = read_file(data_dir + "/calib.txt");
    auto ids = tok->encode(std::string(text.begin(), text.end()), true);
    REQUIRE(ids.ok());
    write_ids_npy(d / "ids32.npy", *ids, "<i4", 4);
    write_ids_npy(d / "ids16.npy", *ids, "<u2", 2);
    for (const char* f : {"ids32.npy", "ids16.npy"}) {
        CAPTURE(f);
        const std::string npy_calib = " --calib '" + (d / f) + "' --calib-tokens 1024 --threads 2";
        REQUIRE_MESSAGE(run_tool(d, "'" + data_dir + "' '" + (d / "c.gguf") + "' --type Q4_K_M --method imatrix" + npy_calib, &log) == 0,
                        log);
        CHECK(read_file(d / "c.gguf") == b);
    }
}

TEST_CASE("--method gptq: a GGUF lowbit-llama runs, layer-output error below rtn's, perplexity not worse") {
    tmpdir d;
    std::string log;
    const std::string rtn_path = shared_rtn().path;
    REQUIRE_MESSAGE(run_tool(d, "'" + data_dir + "' '" + (d / "gptq.gguf") + "' --type Q4_K_M --method gptq" + calib, &log) == 0, log);
    // The closing table's summary: every calibrated tensor, and most of them better than rtn.
    std::smatch mt;
    REQUIRE_MESSAGE(std::regex_search(log, mt, std::regex("layer-output error below rtn's on (\\d+) of (\\d+) calibrated tensors")), log);
    const int better = std::stoi(mt[1]), all = std::stoi(mt[2]);
    CHECK(all == 57);  // 8 layers x 7 weights, and output.weight (its input: output_norm of the last layer's output)
    CHECK(std::regex_search(log, std::regex("output\\.weight +Q6_K .* gptq")));
    CHECK(better * 4 >= all * 3);  // most: 49 of 56 measured at 1024 tokens
    CHECK(log.find("layer 8/8: gptq") != std::string::npos);  // a progress line per layer
    // Same size as rtn: the recipe's types are kept.
    CHECK(read_file(d / "gptq.gguf").size() == read_file(rtn_path).size());
    const double p_rtn = shared_rtn().ppl, p_gptq = dev_ppl(d / "gptq.gguf");
    INFO("rtn ", p_rtn, " gptq ", p_gptq);
    CHECK(std::isfinite(p_gptq));
    CHECK(p_gptq > 1.0);
    CHECK(p_gptq < p_rtn * 1.01);  // not worse than rtn beyond noise

    // --refit: the same types and size; every table line of a GPTQ tensor says how many rows were re-fitted.
    REQUIRE_MESSAGE(run_tool(d, "'" + data_dir + "' '" + (d / "refit.gguf") + "' --type Q4_K_M --method gptq --refit" + calib, &log) == 0,
                    log);
    CHECK(read_file(d / "refit.gguf").size() == read_file(rtn_path).size());
    CHECK(tensor_bytes(read_file(d / "refit.gguf"), "blk.3.ffn_up.weight") != tensor_bytes(read_file(d / "gptq.gguf"), "blk.3.ffn_up.weight"));
    std::smatch mr;
    REQUIRE_MESSAGE(std::regex_search(log, mr, std::regex("blk\\.3\\.ffn_up\\.weight .* gptq refit (\\d+)/768")), log);
    CHECK(std::stoi(mr[1]) > 0);
    const double p_refit = dev_ppl(d / "refit.gguf");
    INFO("refit ", p_refit);
    CHECK(p_refit < p_rtn * 1.01);

    // --refit-codes --embd-hessian: the same size; the refined tensors and the embedding say so in the table.
    // One round (not the default 4): each round costs ~13 CPU-s here, and what is checked (rows moved,
    // the table's lines, the perplexity bound) holds from the first; --refit-rounds' range is checked below.
    REQUIRE_MESSAGE(run_tool(d, "'" + data_dir + "' '" + (d / "codes.gguf") + "' --type Q4_K_M --method gptq --refit-codes --refit-rounds 1 --embd-hessian" +
                                    calib,
                             &log) == 0,
                    log);
    CHECK(read_file(d / "codes.gguf").size() == read_file(rtn_path).size());
    REQUIRE_MESSAGE(std::regex_search(log, mr, std::regex("blk\\.3\\.ffn_up\\.weight .* gptq refit-codes (\\d+)/768")), log);
    CHECK(std::stoi(mr[1]) > 0);
    CHECK(std::regex_search(log, std::regex("token_embd\\.weight +Q4_K .* gptq, embedding Hessian")));
    CHECK(tensor_bytes(read_file(d / "codes.gguf"), "token_embd.weight") != tensor_bytes(read_file(rtn_path), "token_embd.weight"));
    const double p_codes = dev_ppl(d / "codes.gguf");
    INFO("refit-codes + embd-hessian ", p_codes);
    CHECK(p_codes < p_rtn * 1.01);
}

// Logits of a GGUF at each position of `ids` (lowbit-llama's f32 forward pass).
std::vector<float> logits_of(const std::string& path, const std::vector<int>& ids) {
    const std::vector<std::uint8_t> bytes = read_file(path);
    auto m = llama::load_gguf(lowbit::span<const std::uint8_t>(bytes.data(), bytes.size()));
    REQUIRE_MESSAGE(m.ok(), m.error().message());
    llama::state s(m->c, static_cast<int>(ids.size()));
    lowbit::serial_executor ex;
    std::vector<float> out;
    for (std::size_t pos = 0; pos < ids.size(); ++pos) {
        const float* l = llama::forward(*m, s, ids[pos], static_cast<int>(pos), ex);
        out.insert(out.end(), l, l + m->c.vocab);
    }
    return out;
}

TEST_CASE("--rotate: the folded, rotated F32 model computes the original's logits; gptq on it; bad seeds refused") {
    tmpdir d;
    std::string log;
    REQUIRE_MESSAGE(run_tool(d, "'" + data_dir + "' '" + (d / "ref.gguf") + "' --type F32 --threads 2", &log) == 0, log);
    REQUIRE_MESSAGE(run_tool(d, "'" + data_dir + "' '" + (d / "rot.gguf") + "' --type F32 --rotate --rotate-seed 7 --threads 2", &log) == 0, log);
    const std::vector<std::uint8_t> ref = read_file(d / "ref.gguf"), rot = read_file(d / "rot.gguf");
    auto fr = gg::gguf_file::parse(lowbit::span<const std::uint8_t>(rot.data(), rot.size()));
    REQUIRE(fr.ok());
    // The norms' gains are folded away; the weights are not the original's.
    for (const char* n : {"output_norm.weight", "blk.0.attn_norm.weight", "blk.7.ffn_norm.weight"}) {
        const gg::tensor_info* t = fr->find_tensor(n);
        REQUIRE(t != nullptr);
        for (float v : f32_of(*t)) REQUIRE(v == 1.0f);
    }
    for (const char* n : {"token_embd.weight", "blk.3.attn_v.weight", "blk.3.attn_output.weight", "blk.3.ffn_down.weight", "output.weight"})
        CHECK_MESSAGE(tensor_bytes(rot, n) != tensor_bytes(ref, n), n);
    auto note = fr->get_string("lowbit.rotation");
    REQUIRE(note);
    CHECK(std::string(*note).find("seed 7") != std::string::npos);

    // Same function: every logit of 8 positions within 1e-4 of the largest one.
    const std::vector<int> ids = {1, 450, 2, 37, 901, 12, 512, 1000};
    const std::vector<float> a = logits_of(d / "ref.gguf", ids), b = logits_of(d / "rot.gguf", ids);
    REQUIRE(a.size() == b.size());
    double worst = 0, scale = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        worst = std::max(worst, std::fabs(static_cast<double>(a[i]) - b[i]));
        scale = std::max(scale, std::fabs(static_cast<double>(a[i])));
    }
    INFO("max |logit difference| ", worst, " of max |logit| ", scale);
    CHECK(scale > 1.0);
    CHECK(worst <= 1e-4 * scale);

    // gptq on the rotated model: the recipe's size, a file lowbit-llama runs at a sane perplexity.
    REQUIRE_MESSAGE(run_tool(d, "'" + data_dir + "' '" + (d / "rg.gguf") + "' --type Q4_K_M --method gptq --rotate" + calib, &log) == 0, log);
    CHECK(log.find("of 57 calibrated tensors") != std::string::npos);
    {  // the recipe's types, tensor by tensor
        const std::vector<std::uint8_t> rg = read_file(d / "rg.gguf"), rtn = read_file(shared_rtn().path);
        auto fg = gg::gguf_file::parse(lowbit::span<const std::uint8_t>(rg.data(), rg.size()));
        auto ft = gg::gguf_file::parse(lowbit::span<const std::uint8_t>(rtn.data(), rtn.size()));
        REQUIRE((fg.ok() && ft.ok()));
        REQUIRE(fg->tensors().size() == ft->tensors().size());
        for (const gg::tensor_info& t : ft->tensors()) {
            const gg::tensor_info* u = fg->find_tensor(std::string(t.name));
            REQUIRE(u != nullptr);
            CHECK(u->type == t.type);
        }
    }
    const double p_rtn = shared_rtn().ppl, p_rg = dev_ppl(d / "rg.gguf");
    INFO("rtn ", p_rtn, " gptq+rotate ", p_rg);
    CHECK(p_rg > 1.0);
    CHECK(p_rg < p_rtn * 1.01);

    // A tied output (no output.weight) cannot take the folded output_norm: refused, nothing written.
    REQUIRE(std::system(("'" + std::string(LOWBIT_MKMODEL) + "' '" + (d / "tied.gguf") + "' 2 64 128 300 --heads 4 --kv-heads 2 --tied").c_str()) == 0);
    CHECK(run_tool(d, "'" + (d / "tied.gguf") + "' '" + (d / "bad.gguf") + "' --type Q4_0 --rotate", &log) == 2);
    CHECK(log.find("output.weight") != std::string::npos);
    CHECK_FALSE(exists(d / "bad.gguf"));
    REQUIRE(run_tool(d, "'" + (d / "tied.gguf") + "' '" + (d / "ok.gguf") + "' --type Q4_0", &log) == 0);  // without --rotate it is fine

    for (const char* bad : {" --rotate --rotate-seed -1", " --rotate --rotate-seed 1x", " --rotate --rotate-seed 99999999999999999999",
                            " --rotate-seed 3"}) {
        CHECK_MESSAGE(run_tool(d, "'" + data_dir + "' '" + (d / "bad.gguf") + "' --type Q4_0" + bad, &log) == 2, bad);
        CHECK(log.find("--rotate-seed") != std::string::npos);
        CHECK_FALSE(exists(d / "bad.gguf"));
    }
}

TEST_CASE("--method awq | awq+gptq: a standard GGUF (rtn's header byte for byte), folded norms, perplexity not worse than rtn") {
    tmpdir d;
    std::string log;
    const std::vector<std::uint8_t> rtn = read_file(shared_rtn().path);
    auto fr = gg::gguf_file::parse(lowbit::span<const std::uint8_t>(rtn.data(), rtn.size()));
    REQUIRE(fr.ok());
    const double p_rtn = shared_rtn().ppl;
    for (const char* m : {"awq", "awq+gptq"}) {
        CAPTURE(m);
        const std::string out = d / (std::string(m) + ".gguf");
        REQUIRE_MESSAGE(run_tool(d, "'" + data_dir + "' '" + out + "' --type Q4_K_M --method " + m + calib, &log) == 0, log);
        CHECK(log.find("blk.7.awq ratios:") != std::string::npos);  // a line per layer with the chosen ratios
        const std::vector<std::uint8_t> q = read_file(out);
        auto fq = gg::gguf_file::parse(lowbit::span<const std::uint8_t>(q.data(), q.size()));
        REQUIRE(fq.ok());
        // The same metadata, tensor names, types, shapes and offsets: the header is rtn's, byte for byte.
        REQUIRE(q.size() == rtn.size());
        CHECK(fq->data_offset() == fr->data_offset());
        CHECK(std::equal(q.begin(), q.begin() + static_cast<std::ptrdiff_t>(fq->data_offset()), rtn.begin()));
        // The scales went into the norm gains (F32, finite) and the weights.
        const std::vector<float> g = f32_of(*fq->find_tensor("blk.2.attn_norm.weight")), g0 = f32_of(*fr->find_tensor("blk.2.attn_norm.weight"));
        CHECK(g != g0);
        for (float v : g) CHECK(std::isfinite(v));
        CHECK(f32_of(*fq->find_tensor("blk.2.ffn_norm.weight")) != f32_of(*fr->find_tensor("blk.2.ffn_norm.weight")));
        const double p = dev_ppl(out);
        INFO("rtn ", p_rtn, " ", m, " ", p);
        CHECK(std::isfinite(p));
        CHECK(p < p_rtn * 1.01);  // not worse than rtn beyond noise
    }
}

TEST_CASE("--calib FILE.npy calibrates a model without a usable tokenizer; text is refused there") {
    // Generated checkpoints (the 1B memory figure in docs/ptq.md) carry no
    // vocabulary or llama.cpp's "no_vocab": token ids are all calibration needs.
    tmpdir d;
    std::string log;
    std::vector<int> ids(640);
    for (std::size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int>((i * 7919u + 13u) % 300u);
    write_ids_npy(d / "ids.npy", ids, "<i4", 4);
    for (const char* vocab : {"", " --dummy-vocab"}) {
        CAPTURE(vocab);
        const std::string model = d / "m.gguf", out = d / "q.gguf";
        REQUIRE(std::system(("'" + std::string(LOWBIT_MKMODEL) + "' '" + model + "' 2 64 128 300 --heads 4 --kv-heads 2" + vocab +
                             " > /dev/null").c_str()) == 0);
        const std::string in = "'" + model + "' '" + out + "' --type Q4_0 --method gptq --calib-ctx 64 --threads 2 --calib ";
        REQUIRE_MESSAGE(run_tool(d, in + "'" + (d / "ids.npy") + "'", &log) == 0, log);
        REQUIRE(run_tool(d, "'" + model + "' '" + (d / "rtn.gguf") + "' --type Q4_0 --threads 2", &log) == 0);
        // GPTQ ran on the calibration: its codes are not rtn's.
        CHECK(tensor_bytes(read_file(out), "blk.1.ffn_down.weight") != tensor_bytes(read_file(d / "rtn.gguf"), "blk.1.ffn_down.weight"));
        std::remove(out.c_str());
        write_file(d / "calib.txt", "Some text that needs a tokenizer to become ids.\n");
        CHECK(run_tool(d, in + "'" + (d / "calib.txt") + "'", &log) == 2);
        CHECK(log.find("tokenizer") != std::string::npos);
        CHECK_FALSE(exists(out));
    }
}

TEST_CASE("calibration: bad input is one clear line, exit 2, nothing written") {
    tmpdir d;
    write_file(d / "empty.txt", "");
    write_file(d / "latin1.txt", "The president said caf\xe9 and left.\n");
    write_ids_npy(d / "no_ids.npy", {}, "<i4", 4);
    write_ids_npy(d / "big_id.npy", std::vector<int>(600, 1000000), "<i4", 4);
    const float one = 1.0f;
    REQUIRE(lowbit::write_npy((d / "floats.npy").c_str(), &one, {1}).ok());
    const std::string in = "'" + data_dir + "' '" + (d / "out.gguf") + "' --type Q4_K_M ";
    struct bad_case {
        std::string args, message;
    };
    const bad_case cases[] = {
        {"--method gptq", "--method gptq needs --calib TEXT"},
        {"--imatrix-out '" + (d / "im.gguf") + "'", "--imatrix-out needs --calib TEXT"},
        {"--method awk --calib '" + data_dir + "/calib.txt'", "--method 'awk' is not one of: rtn imatrix gptq awq awq+gptq"},
        {"--method awq+gptq", "--method awq+gptq needs --calib TEXT"},
        {"--method gptq --awq-clip --calib '" + data_dir + "/calib.txt'", "--awq-clip goes with --method awq"},
        {"--method awq --act-order --calib '" + data_dir + "/calib.txt'", "go with --method gptq or awq+gptq"},
        {"--method gptq --calib '" + (d / "empty.txt") + "'", "the file is empty"},
        {"--method gptq --calib '" + (d / "latin1.txt") + "'", "not UTF-8 text (invalid byte 0xe9 at offset 22)"},
        {"--method gptq --calib '" + (d / "missing.txt") + "'", "cannot open it"},
        {"--method gptq --calib '" + (d / "no_ids.npy") + "'", "the file holds no token ids"},
        {"--method gptq --calib '" + (d / "big_id.npy") + "'", "token id 1000000 at index 0 is outside the vocabulary"},
        {"--method gptq --calib '" + (d / "floats.npy") + "'", "expected an integer dtype"},
        {"--method imatrix --imatrix x.dat --calib '" + data_dir + "/calib.txt'", "--imatrix FILE goes with --method rtn"},
        {"--method gptq --calib '" + data_dir + "/calib.txt' --calib-ctx 4", "--calib-ctx '4': expected an integer"},
        {"--method imatrix --refit --calib '" + data_dir + "/calib.txt'", "--embd-hessian and --damp go with --method gptq"},
        {"--method imatrix --refit-codes --calib '" + data_dir + "/calib.txt'", "--embd-hessian and --damp go with --method gptq"},
        {"--method rtn --embd-hessian", "--embd-hessian and --damp go with --method gptq"},
        {"--method gptq --refit-sub --refit-rounds 0 --calib '" + data_dir + "/calib.txt'", "--refit-rounds '0': expected 1..64"},
        {"--method gptq --refit-codes --refit-rounds 2x --calib '" + data_dir + "/calib.txt'", "--refit-rounds '2x': expected 1..64"},
        {"--method gptq --refit-rounds 3 --calib '" + data_dir + "/calib.txt'", "with --refit-sub or --refit-codes"},
        {"--method gptq --calib '" + (d / "latin1.txt") + "' --imatrix-out '" + (d / "im.gguf") + "'", "not UTF-8"},
    };
    for (const bad_case& c : cases) {
        std::string log;
        INFO(c.args);
        CHECK(run_tool(d, in + c.args, &log) == 2);
        INFO(log);
        CHECK(log.find(c.message) != std::string::npos);
        CHECK(std::count(log.begin(), log.end(), '\n') == 1);
        CHECK(!exists(d / "out.gguf"));
        CHECK(!exists(d / "im.gguf"));
    }
}

TEST_CASE("embd_hessian: sum of diag(g) W^T W diag(g) / E[rms^2], symmetric, and the stream's mean square") {
    const std::size_t D = 5, R = 3;
    const float w1[R * D] = {1, 2, 0, -1, 3, 0.5f, 0, 0, 2, -2, 1, 1, 1, 1, 1};
    const float g1[D] = {1, 0.5f, 2, 0, 1};
    const float w2[D] = {0, 1, -1, 2, 0};
    const float g2[D] = {2, 2, 2, 2, 2};
    lbq::embd_hessian eh(D);
    eh.add(w1, R, g1, 0.25);
    eh.add(w2, 1, g2, 1.0);
    bool same = true, symmetric = true;
    for (std::size_t i = 0; i < D; ++i)
        for (std::size_t j = 0; j < D; ++j) {
            double want = 0;
            for (std::size_t r = 0; r < R; ++r) want += 0.25 * (w1[r * D + i] * g1[i]) * (w1[r * D + j] * g1[j]);
            want += (w2[i] * g2[i]) * (w2[j] * g2[j]);
            same = same && std::fabs(eh.h[i * D + j] - want) < 1e-12;
            symmetric = symmetric && eh.h[i * D + j] == eh.h[j * D + i];
        }
    CHECK(same);
    CHECK(symmetric);
    CHECK(eh.h[3 * D + 3] == 16.0);  // g1 is 0 there: only w2's term
    const float x[2 * 2] = {1, 3, -2, 0};
    CHECK(lbq::stream_mean_square(x, 2, 2) == doctest::Approx(3.5));
    CHECK(lbq::stream_mean_square(x, 0, 2) == 0.0);
}
