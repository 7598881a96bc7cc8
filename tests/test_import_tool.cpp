// lowbit-quantize on quantized checkpoints (issue 17, items 3 and 4): a GPTQ
// checkpoint of tests/data/tinyllama-sotu, packed by tests/import_ckpt_gen.hpp
// from codes this test chooses, converted to Q4_0 without requantizing (every
// value of OUT equals scale * (q - z) bit for bit), to Q4_K with the measured
// error printed, and refused when its config does not match its tensors.
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <lowbit/formats/gguf.hpp>
#include <lowbit/formats/gguf_blocks.hpp>
#include <lowbit/formats/safetensors.hpp>

#include "import_ckpt_gen.hpp"
#include "tool_test_util.hpp"

namespace {

using namespace tool_test;
using namespace import_gen;
namespace st = lowbit::safetensors;
namespace gg = lowbit::gguf;

const std::string data_dir = std::string(LOWBIT_TEST_DATA_DIR) + "/tinyllama-sotu";

// The codes this test gives one weight: symmetric 4-bit RTN, group G, f16
// scales (max |w| / 7), stored as GPTQ v1 would store them.
struct weight_codes {
    std::size_t N = 0, K = 0, G = 32;
    std::vector<std::uint32_t> q;   // n * K + k
    std::vector<std::uint16_t> s;   // g * N + n
    float expected(std::size_t n, std::size_t k) const {
        return lowbit::f16_to_f32(s[(k / G) * N + n]) * static_cast<float>(static_cast<int>(q[n * K + k]) - 8);
    }
};

weight_codes rtn_codes(const std::vector<float>& w, std::size_t N, std::size_t K, std::size_t G) {
    weight_codes c;
    c.N = N, c.K = K, c.G = G;
    c.q.resize(N * K);
    c.s.resize(K / G * N);
    for (std::size_t n = 0; n < N; ++n)
        for (std::size_t g = 0; g < K / G; ++g) {
            float amax = 0.0f;
            for (std::size_t k = g * G; k < (g + 1) * G; ++k) amax = std::max(amax, std::fabs(w[n * K + k]));
            const std::uint16_t h = lowbit::f32_to_f16(amax > 0 ? amax / 7.0f : 1e-3f);
            c.s[g * N + n] = h;
            const float d = lowbit::f16_to_f32(h);
            for (std::size_t k = g * G; k < (g + 1) * G; ++k) {
                const long v = std::lround(w[n * K + k] / d) + 8;
                c.q[n * K + k] = static_cast<std::uint32_t>(std::min(15L, std::max(0L, v)));
            }
        }
    return c;
}

// GPTQ tensors (v1: stored zero 8 - 1 = 7) for one weight.
std::vector<tensor> gptq_parts(const std::string& prefix, const weight_codes& c) {
    const std::size_t rows = c.K / 8, groups = c.K / c.G;
    std::vector<std::uint32_t> qw(rows * c.N), col(c.K);
    for (std::size_t n = 0; n < c.N; ++n) {
        for (std::size_t k = 0; k < c.K; ++k) col[k] = c.q[n * c.K + k];
        const auto w = gptq_pack(col, 4);
        for (std::size_t r = 0; r < rows; ++r) qw[r * c.N + n] = w[r];
    }
    const std::vector<std::uint32_t> qz(groups * c.N / 8, 0x77777777u);
    std::vector<std::uint32_t> gi(c.K);
    for (std::size_t k = 0; k < c.K; ++k) gi[k] = static_cast<std::uint32_t>(k / c.G);
    return {i32_tensor(prefix + ".qweight", {rows, c.N}, qw), i32_tensor(prefix + ".qzeros", {groups, c.N / 8}, qz),
            f16_tensor(prefix + ".scales", {groups, c.N}, c.s), i32_tensor(prefix + ".g_idx", {c.K}, gi)};
}

// compressed-tensors pack-quantized, symmetric int4: signed q - 8 stored as q.
std::vector<tensor> ct_parts(const std::string& prefix, const weight_codes& c) {
    const std::size_t words = c.K / 8, groups = c.K / c.G;
    std::vector<std::uint32_t> packed(c.N * words, 0);
    for (std::size_t n = 0; n < c.N; ++n)
        for (std::size_t k = 0; k < c.K; ++k) packed[n * words + k / 8] |= c.q[n * c.K + k] << (4 * (k % 8));
    std::vector<std::uint16_t> sc(c.N * groups);
    for (std::size_t n = 0; n < c.N; ++n)
        for (std::size_t g = 0; g < groups; ++g) sc[n * groups + g] = c.s[g * c.N + n];
    return {i32_tensor(prefix + ".weight_packed", {c.N, words}, packed),
            i32_tensor(prefix + ".weight_shape", {2}, {static_cast<std::uint32_t>(c.N), static_cast<std::uint32_t>(c.K)}),
            f16_tensor(prefix + ".weight_scale", {c.N, groups}, sc)};
}

// AutoAWQ GEMM (zero points 8: the same values, stored asymmetric).
std::vector<tensor> awq_parts(const std::string& prefix, const weight_codes& c) {
    static const int order[8] = {0, 2, 4, 6, 1, 3, 5, 7};
    const std::size_t W = c.N / 8, groups = c.K / c.G;
    std::vector<std::uint32_t> qw(c.K * W, 0);
    for (std::size_t k = 0; k < c.K; ++k)
        for (std::size_t w = 0; w < W; ++w)
            for (int i = 0; i < 8; ++i) qw[k * W + w] |= c.q[(w * 8 + static_cast<std::size_t>(order[i])) * c.K + k] << (4 * i);
    return {i32_tensor(prefix + ".qweight", {c.K, W}, qw), i32_tensor(prefix + ".qzeros", {groups, W}, std::vector<std::uint32_t>(groups * W, 0x88888888u)),
            f16_tensor(prefix + ".scales", {groups, c.N}, c.s)};
}

bool is_linear(const std::string& n) {
    for (const char* p : {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})
        if (n.find(std::string(".") + p + ".weight") != std::string::npos) return true;
    return false;
}

// Writes DIR: the model's config and tokenizer, a GPTQ model.safetensors and
// quantize_config.json; returns the codes of each linear by HF prefix.
enum class packing { gptq, awq, compressed_tensors };

// quantization_config: written into config.json for AWQ and compressed-tensors,
// as quantize_config.json for GPTQ.
std::map<std::string, weight_codes> write_quantized_model(const std::string& dir, const std::string& quantization_config, packing how) {
    REQUIRE(::mkdir(dir.c_str(), 0755) == 0);
    for (const char* f : {"tokenizer.model", "tokenizer.json", "tokenizer_config.json"})
        REQUIRE(::symlink((data_dir + "/" + f).c_str(), (dir + "/" + f).c_str()) == 0);
    if (how == packing::gptq) {
        REQUIRE(::symlink((data_dir + "/config.json").c_str(), (dir + "/config.json").c_str()) == 0);
        write_file(dir + "/quantize_config.json", quantization_config);
    } else {
        const std::vector<std::uint8_t> cfg = read_file(data_dir + "/config.json");
        std::string text(cfg.begin(), cfg.end());
        text.insert(text.find('{') + 1, "\"quantization_config\": " + quantization_config + ",");
        write_file(dir + "/config.json", text);
    }
    const std::vector<std::uint8_t> bytes = read_file(data_dir + "/model.safetensors");
    auto f = st::safetensors_file::parse(lowbit::span<const std::uint8_t>(bytes.data(), bytes.size()));
    REQUIRE(f.ok());
    std::vector<tensor> out;
    std::map<std::string, weight_codes> codes;
    for (const st::tensor_info& t : f->tensors()) {
        if (!is_linear(t.name)) {
            tensor c{t.name, st::dtype_name(t.type), t.shape, std::vector<std::uint8_t>(t.data.begin(), t.data.end())};
            out.push_back(std::move(c));
            continue;
        }
        std::vector<float> w(t.n_elements);
        REQUIRE(st::read_f32(t, lowbit::span<float>(w.data(), w.size())).ok());
        const std::string prefix = t.name.substr(0, t.name.size() - 7);  // without ".weight"
        weight_codes c = rtn_codes(w, t.shape[0], t.shape[1], 32);
        for (tensor& p : how == packing::gptq ? gptq_parts(prefix, c) : how == packing::awq ? awq_parts(prefix, c) : ct_parts(prefix, c))
            out.push_back(std::move(p));
        codes[prefix] = std::move(c);
    }
    write_file(dir + "/model.safetensors", safetensors_bytes(out));
    return codes;
}
std::map<std::string, weight_codes> write_gptq_model(const std::string& dir, const std::string& quantize_config) {
    return write_quantized_model(dir, quantize_config, packing::gptq);
}

const char* gptq_w4g32 = "{\"bits\": 4, \"group_size\": 32, \"desc_act\": false, \"sym\": true, \"checkpoint_format\": \"gptq\"}";

// HF prefix -> GGUF name of the linears that keep their row order (q and k
// rows are permuted for RoPE by the converter).
std::map<std::string, std::string> unpermuted_names(int layers) {
    std::map<std::string, std::string> m;
    const std::pair<const char*, const char*> parts[] = {{"self_attn.v_proj", "attn_v"}, {"self_attn.o_proj", "attn_output"},
                                                         {"mlp.gate_proj", "ffn_gate"},  {"mlp.up_proj", "ffn_up"},
                                                         {"mlp.down_proj", "ffn_down"}};
    for (int l = 0; l < layers; ++l)
        for (const auto& p : parts)
            m["model.layers." + std::to_string(l) + "." + p.first] = "blk." + std::to_string(l) + "." + p.second + ".weight";
    return m;
}

// Every value of OUT's unpermuted linears equals the codes' scale * (q - 8), bit for bit.
void check_q4_0_exact(const std::string& path, const std::map<std::string, weight_codes>& codes) {
    const std::vector<std::uint8_t> out = read_file(path);
    auto g = gg::gguf_file::parse(lowbit::span<const std::uint8_t>(out.data(), out.size()));
    REQUIRE(g.ok());
    std::size_t compared = 0, mismatches = 0;
    for (const auto& kv : unpermuted_names(8)) {
        const gg::tensor_info* t = g->find_tensor(kv.second);
        REQUIRE(t);
        REQUIRE(t->type == gg::gguf_type::q4_0);
        const weight_codes& c = codes.at(kv.first);
        const std::size_t row = static_cast<std::size_t>(gg::row_size(t->type, static_cast<std::int64_t>(c.K)));
        std::vector<float> y(c.K);
        std::vector<std::uint8_t> blocks(row);
        for (std::size_t n = 0; n < c.N; ++n) {
            std::memcpy(blocks.data(), t->data.data() + n * row, row);
            REQUIRE(gg::dequantize_row(t->type, blocks.data(), y.data(), static_cast<std::int64_t>(c.K)).ok());
            for (std::size_t k = 0; k < c.K; ++k) {
                const float e = c.expected(n, k);
                mismatches += std::memcmp(&e, &y[k], 4) != 0;
                ++compared;
            }
        }
    }
    CHECK(compared == 8 * (256 * 128 + 256 * 256 + 3 * 256 * 768));
    CHECK(mismatches == 0);
}

}  // namespace

TEST_CASE("lowbit-quantize: a GPTQ w4g32 checkpoint -> Q4_0 is lossless, -> Q4_K reports its error") {
    tmpdir d("lowbit-import-tool");
    const auto codes = write_gptq_model(d / "ckpt", gptq_w4g32);
    REQUIRE(codes.size() == 8 * 7);
    std::string log;
    REQUIRE_MESSAGE(run_tool(d, "'" + (d / "ckpt") + "' '" + (d / "q4_0.gguf") + "' --type Q4_0 --pure", &log) == 0, log);
    CHECK(log.find("GPTQ checkpoint (quantize_config.json): 56 quantized weights read without requantizing") != std::string::npos);

    check_q4_0_exact(d / "q4_0.gguf", codes);
    // The tool's own measurement agrees: each imported weight's line says SQNR inf.
    for (const char* n : {"blk.0.ffn_down.weight", "blk.7.attn_q.weight", "blk.3.attn_k.weight"}) {
        const std::size_t at = log.find(n);
        REQUIRE(at != std::string::npos);
        const std::string line = log.substr(at, log.find('\n', at) - at);
        CHECK_MESSAGE(line.find("-> Q4_0") != std::string::npos, line);
        CHECK_MESSAGE(line.find("SQNR inf dB") != std::string::npos, line);
    }

    // Q4_K: requantized from the exact values, with the error printed per tensor.
    REQUIRE_MESSAGE(run_tool(d, "'" + (d / "ckpt") + "' '" + (d / "q4_k.gguf") + "' --type Q4_K_S --pure", &log) == 0, log);
    CHECK(log.find("blk.0.ffn_down.weight") != std::string::npos);
    CHECK(log.find("SQNR") != std::string::npos);
    CHECK(exists(d / "q4_k.gguf"));
}

TEST_CASE("lowbit-quantize: a GPTQ checkpoint whose config does not match its tensors is refused with one line") {
    tmpdir d("lowbit-import-tool");
    write_gptq_model(d / "bits", "{\"bits\": 8, \"group_size\": 32, \"sym\": true}");
    std::string log;
    CHECK(run_tool(d, "'" + (d / "bits") + "' '" + (d / "out.gguf") + "' --type Q4_0", &log) == 2);
    CHECK_MESSAGE(log.find("quantize_config.json (GPTQ): tensor 'model.layers.0.") != std::string::npos, log);
    CHECK(std::count(log.begin(), log.end(), '\n') == 1);
    CHECK_FALSE(exists(d / "out.gguf"));

    write_gptq_model(d / "nobits", "{\"group_size\": 32, \"sym\": true}");
    CHECK(run_tool(d, "'" + (d / "nobits") + "' '" + (d / "out.gguf") + "' --type Q4_0", &log) == 2);
    CHECK(log.find("quantize_config.json has no \"bits\"") != std::string::npos);

    write_gptq_model(d / "calib", gptq_w4g32);
    CHECK(run_tool(d, "'" + (d / "calib") + "' '" + (d / "out.gguf") + "' --type Q4_0 --method gptq --calib '" + data_dir + "/calib.txt'",
                   &log) == 2);
    CHECK(log.find("converted from its stored codes") != std::string::npos);
    CHECK_FALSE(exists(d / "out.gguf"));
}

namespace {
// The number after `key` in the dry run's output ("file: N bytes").
std::uint64_t number_after(const std::string& log, const std::string& key) {
    const std::size_t at = log.find(key);
    REQUIRE_MESSAGE(at != std::string::npos, log);
    return std::stoull(log.substr(at + key.size()));
}
}  // namespace

TEST_CASE("lowbit-quantize --dry-run: the file size it prints is the size written for the same plan, KV cache from the config") {
    tmpdir d("lowbit-import-tool");
    write_gptq_model(d / "gptq", gptq_w4g32);
    REQUIRE(::mkdir((d / "plain").c_str(), 0755) == 0);
    for (const char* f : {"config.json", "model.safetensors", "tokenizer.model", "tokenizer.json", "tokenizer_config.json"})
        REQUIRE(::symlink((data_dir + "/" + f).c_str(), (d / "plain/" + f).c_str()) == 0);
    const std::vector<std::string> plans = {"--type Q4_0 --pure", "--type Q4_K_M", "--type Q5_K_S --tensor-type 'ffn_down=Q8_0' --tensor-type 'attn_v=Q6_K'"};
    int checked = 0;
    for (const char* model : {"gptq", "plain"})
        for (const std::string& plan : plans) {
            CAPTURE(model);
            CAPTURE(plan);
            std::string dry, log;
            const std::string in = "'" + (d / model) + "' '" + (d / "out.gguf") + "' " + plan;
            REQUIRE(run_tool(d, in + " --dry-run --ctx 512", &dry) == 0);
            CHECK_FALSE(exists(d / "out.gguf"));
            REQUIRE_MESSAGE(run_tool(d, in + " --quiet", &log) == 0, log);
            const std::uint64_t written = read_file(d / "out.gguf").size();
            CHECK(number_after(dry, "\nfile: ") == written);
            // tinyllama-sotu: 8 layers, 4 KV heads of 32 dims; F16 K and V.
            CHECK(number_after(dry, "KV cache at --ctx 512: ") == 8ull * 512 * 4 * (32 + 32) * 2);
            CHECK(number_after(dry, "file + KV cache: ") == written + 8ull * 512 * 4 * (32 + 32) * 2);
            // 8 layers x (2 x 256x256 + 2 x 128x256 + 3 x 768x256) 4-bit weights, an f16 scale per 32.
            const std::uint64_t weights = 8ull * (2 * 256 * 256 + 2 * 128 * 256 + 3 * 768 * 256);
            if (std::string(model) == "gptq")
                CHECK(dry.find("imported checkpoint, as lowbit holds it: codes " + std::to_string(weights / 2) + ", scales " +
                               std::to_string(weights / 32 * 2) + ", zero points 0, permutations 0 bytes") != std::string::npos);
            REQUIRE(std::remove((d / "out.gguf").c_str()) == 0);
            ++checked;
        }
    CHECK(checked == 6);
}

TEST_CASE("lowbit-quantize: compressed-tensors int4 group 32 -> Q4_0 is lossless; AutoAWQ GEMM -> Q4_0 is requantized and measured") {
    tmpdir d("lowbit-import-tool");
    const auto codes = write_quantized_model(
        d / "ct",
        "{\"quant_method\": \"compressed-tensors\", \"format\": \"pack-quantized\", \"config_groups\": {\"group_0\": {\"targets\": "
        "[\"Linear\"], \"weights\": {\"num_bits\": 4, \"type\": \"int\", \"symmetric\": true, \"strategy\": \"group\", "
        "\"group_size\": 32}}}, \"ignore\": [\"lm_head\"]}",
        packing::compressed_tensors);
    std::string log;
    REQUIRE_MESSAGE(run_tool(d, "'" + (d / "ct") + "' '" + (d / "ct.gguf") + "' --type Q4_0 --pure", &log) == 0, log);
    CHECK(log.find("compressed-tensors checkpoint (config.json quantization_config): 56 quantized weights") != std::string::npos);
    check_q4_0_exact(d / "ct.gguf", codes);

    write_quantized_model(d / "awq", "{\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 32, \"zero_point\": true, \"version\": \"gemm\"}",
                          packing::awq);
    REQUIRE_MESSAGE(run_tool(d, "'" + (d / "awq") + "' '" + (d / "awq.gguf") + "' --type Q4_0 --pure", &log) == 0, log);
    CHECK(log.find("AWQ checkpoint (config.json quantization_config): 56 quantized weights") != std::string::npos);
    const std::size_t at = log.find("blk.0.ffn_down.weight");
    REQUIRE(at != std::string::npos);
    const std::string line = log.substr(at, log.find('\n', at) - at);
    CHECK_MESSAGE(line.find("SQNR") != std::string::npos, line);  // requantized (asymmetric scheme): measured, finite
    CHECK_MESSAGE(line.find("SQNR inf") == std::string::npos, line);

    write_quantized_model(d / "gemv", "{\"quant_method\": \"awq\", \"bits\": 4, \"group_size\": 32, \"version\": \"gemv\"}", packing::awq);
    CHECK(run_tool(d, "'" + (d / "gemv") + "' '" + (d / "out.gguf") + "' --type Q4_0", &log) == 2);
    CHECK(log.find("lowbit reads the GEMM packing only") != std::string::npos);
}
