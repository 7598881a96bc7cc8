// lowbit-quantize --type w4g128 on the real tinyllama-sotu checkpoint
// (tests/data/tinyllama-sotu), read back by lowbit-llama: round to nearest
// gives the perplexity of lowbit-llama's own in-memory w4g128 bit for bit;
// --method gptq --act-order writes act-order permutations, lowers the
// layer-output error of most tensors below rtn's and the perplexity with it;
// mixed with ggml types and other schemes per tensor.
#include <doctest/doctest.h>

#include <cmath>
#include <regex>
#include <string>
#include <vector>

#include <lowbit/formats/weights_gguf_reader.hpp>
#include <lowbit/parallel.hpp>

#include "gguf_io.hpp"     // examples/llama
#include "quantize.hpp"    // examples/llama
#include "tinyllama_ppl.hpp"
#include "tokenizer.hpp"   // examples/llama
#include "tool_test_util.hpp"

namespace gg = lowbit::gguf;

namespace {

using namespace tool_test;

const std::string data_dir = std::string(LOWBIT_TEST_DATA_DIR) + "/tinyllama-sotu";

// A GGUF file's bytes, aligned as mmap aligns them, kept alive beside the
// model: its lowbit weights are views into them.
struct loaded {
    aligned_file bytes;
    llama::model m;
};

loaded load(const std::string& path) {
    aligned_file b(path);
    auto m = llama::load_gguf(lowbit::span<const std::uint8_t>(b.data, b.size));
    REQUIRE_MESSAGE(m.ok(), std::string(m.error().message()));
    return loaded{std::move(b), std::move(*m)};
}

// Perplexity (tinyllama_ppl.hpp) of a model; the vocabulary from a GGUF file.
double ppl(const llama::model& m, const aligned_file& file_with_vocab) {
    auto f = gg::gguf_file::parse(lowbit::span<const std::uint8_t>(file_with_vocab.data, file_with_vocab.size));
    REQUIRE(f.ok());
    auto tok = llama::tokenizer::from_gguf(*f);
    REQUIRE_MESSAGE(tok.ok(), std::string(tok.error().message()));
    return tinyllama_test::dev_perplexity(m, *tok, data_dir + "/dev.txt");
}

}  // namespace

TEST_CASE("lowbit-quantize --type w4g128: lowbit-llama runs the file as it runs its own w4g128, bit for bit") {
    tmpdir d;
    std::string log;
    // Embedding and output kept F32 so that only the linear weights differ from the F32 model.
    REQUIRE_MESSAGE(run_tool(d, "'" + data_dir + "' '" + (d / "f32.gguf") + "' --type F32 --threads 2", &log) == 0, log);
    REQUIRE_MESSAGE(run_tool(d, "'" + data_dir + "' '" + (d / "w4.gguf") +
                                    "' --type w4g128 --token-embedding-type F32 --output-tensor-type F32 --threads 2",
                             &log) == 0,
                    log);
    loaded file = load(d / "w4.gguf");
    CHECK(file.m.layers[3].w2.mapped.has_value());  // run from the file's bytes
    CHECK(file.m.layers[3].w2.format == "w4g128");
    loaded mem = load(d / "f32.gguf");
    lowbit::thread_pool pool(2);
    auto s = llama::parse_scheme_name("w4g128");
    REQUIRE(s.ok());
    REQUIRE(llama::quantize_model(mem.m, *s, pool).ok());
    const double p_file = ppl(file.m, file.bytes), p_mem = ppl(mem.m, file.bytes);
    INFO("file ", p_file, " in memory ", p_mem);
    CHECK(std::isfinite(p_file));
    CHECK(p_file == p_mem);
}

TEST_CASE("lowbit-quantize --type w4g128 --method gptq --act-order: permutations, below rtn, mixed per tensor") {
    tmpdir d;
    std::string log;
    const std::string calib = " --calib '" + data_dir + "/calib.txt' --calib-tokens 1024 --threads 2";
    REQUIRE_MESSAGE(run_tool(d, "'" + data_dir + "' '" + (d / "rtn.gguf") + "' --type w4g128 --tensor-type ffn_down=w8pc --threads 2", &log) ==
                        0,
                    log);
    REQUIRE_MESSAGE(run_tool(d, "'" + data_dir + "' '" + (d / "gptq.gguf") +
                                    "' --type w4g128 --method gptq --act-order --tensor-type ffn_down=w8pc --tensor-type attn_v=Q8_0" + calib,
                             &log) == 0,
                    log);
    std::smatch mt;
    REQUIRE_MESSAGE(std::regex_search(log, mt, std::regex("layer-output error below rtn's on (\\d+) of (\\d+) calibrated tensors")), log);
    const int better = std::stoi(mt[1]), all = std::stoi(mt[2]);
    CHECK(all == 57);  // 8 layers x 7 weights (attn_v Q8_0 by GPTQ too) and output.weight (Q6_K)
    CHECK(better * 4 >= all * 3);
    CHECK(std::regex_search(log, std::regex("blk\\.0\\.attn_q\\.weight +w4g128 .* gptq act-order")));
    const aligned_file bytes(d / "gptq.gguf");
    auto r = lowbit::weights_gguf_reader::open(lowbit::span<const std::uint8_t>(bytes.data, bytes.size));
    REQUIRE_MESSAGE(r.ok(), std::string(r.error().message()));
    CHECK(r->lowbit_count() == 8 * 6);
    const lowbit::weights_view q = *r->find("blk.5.attn_q.weight");
    CHECK(q.perm() != nullptr);  // act-order groups live in processing order
    CHECK(q.lay() == lowbit::layout::tiled);
    CHECK(r->find("blk.5.ffn_down.weight")->perm() == nullptr);  // per channel: no permutation kept
    CHECK(r->file().find_tensor("blk.5.attn_v.weight")->type == gg::gguf_type::q8_0);
    loaded g = load(d / "gptq.gguf"), n = load(d / "rtn.gguf");
    const double p_gptq = ppl(g.m, g.bytes), p_rtn = ppl(n.m, n.bytes);
    INFO("rtn ", p_rtn, " gptq ", p_gptq);
    CHECK(std::isfinite(p_gptq));
    CHECK(p_gptq < p_rtn * 1.01);
}
