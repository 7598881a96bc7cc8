// Writes a large fake llama-like F32 GGUF for lowbit-quantize's memory and
// speed measurement (docs/tools.md), streaming it through gguf_writer so the
// generator itself stays small:
//   test_quantize_tool_mkmodel /tmp/big.gguf [layers=3] [n_embd=2048] [n_ff=5632] [n_vocab=32000] [NAN_TENSOR]
//       [--heads H] [--kv-heads K] [--qkv] [--experts E] [--f16] [--tied] [--dummy-vocab]
// The defaults give 1.13 GB. Not a test; built next to the tests. With
// NAN_TENSOR, value 3 of that tensor is a NaN (tests/cli/test_quantize_files.sh).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <lowbit/formats/gguf.hpp>
#include <lowbit/formats/gguf_blocks.hpp>

namespace gg = lowbit::gguf;

namespace {

// Cheap reproducible weights: a sum of uniforms (close to a Gaussian) times 0.02.
struct rng {
    std::uint64_t s;
    float next() {
        float acc = 0;
        for (int i = 0; i < 4; ++i) {
            s = s * 6364136223846793005ull + 1442695040888963407ull;
            acc += static_cast<float>(s >> 40) * (1.0f / 16777216.0f) - 0.5f;
        }
        return 0.02f * acc * 1.7320508f;
    }
};

}  // namespace

int main(int argc, char** argv) {
    // Positional arguments as before; options (anywhere after OUT) shape the model
    // for the llama-quantize comparison in docs/tools.md:
    //   --heads H --kv-heads K  attention heads (GQA when K < H); written as llama.cpp reads them
    //   --qkv                   one fused attn_qkv per layer instead of attn_q/k/v
    //   --experts E             E experts: ffn_{gate,up,down}_exps (3-D) and ffn_gate_inp
    //   --f16                   2-D and 3-D weights stored as F16 (norms stay F32), as convert_hf_to_gguf.py does
    //   --tied                  no output.weight (token_embd doubles as the output)
    //   --dummy-vocab           tokenizer.ggml.model = "no_vocab" + llama.vocab_size: llama.cpp then loads the
    //                           file with n_vocab placeholder tokens (llama-bench needs nothing more)
    std::vector<std::string> pos;
    std::uint64_t n_head = 0, n_head_kv = 0, n_expert = 0;
    bool qkv = false, f16 = false, tied = false, dummy_vocab = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto num = [&](std::uint64_t* v) {
            if (i + 1 >= argc) return false;
            *v = std::strtoull(argv[++i], nullptr, 10);
            return true;
        };
        bool ok = true;
        if (a == "--heads") ok = num(&n_head);
        else if (a == "--kv-heads") ok = num(&n_head_kv);
        else if (a == "--experts") ok = num(&n_expert);
        else if (a == "--qkv") qkv = true;
        else if (a == "--f16") f16 = true;
        else if (a == "--tied") tied = true;
        else if (a == "--dummy-vocab") dummy_vocab = true;
        else pos.push_back(a);
        if (!ok) {
            std::fprintf(stderr, "%s needs a value\n", a.c_str());
            return 2;
        }
    }
    if (pos.empty()) {
        std::fprintf(stderr, "usage: %s OUT.gguf [layers] [n_embd] [n_ff] [n_vocab] [nan_tensor] [--heads H] [--kv-heads K] [--qkv] [--experts E] [--f16] [--tied] [--dummy-vocab]\n", argv[0]);
        return 2;
    }
    auto arg = [&](std::size_t i, std::uint64_t def) { return pos.size() > i ? std::strtoull(pos[i].c_str(), nullptr, 10) : def; };
    const std::string out_path = pos[0];
    const std::uint64_t layers = arg(1, 3), n_embd = arg(2, 2048), n_ff = arg(3, 5632), n_vocab = arg(4, 32000);
    const std::string nan_tensor = pos.size() > 5 ? pos[5] : "";
    if (n_head == 0) n_head = std::max<std::uint64_t>(1, n_embd / 64);
    if (n_head_kv == 0) n_head_kv = n_head;
    if (n_embd % n_head != 0 || n_head % n_head_kv != 0) {
        std::fprintf(stderr, "n_embd %llu, heads %llu, kv heads %llu do not divide\n", static_cast<unsigned long long>(n_embd),
                     static_cast<unsigned long long>(n_head), static_cast<unsigned long long>(n_head_kv));
        return 2;
    }
    const std::uint64_t n_embd_kv = n_embd / n_head * n_head_kv;

    struct decl {
        std::string name;
        std::uint64_t d0, d1, d2 = 1;
    };
    std::vector<decl> ts = {{"token_embd.weight", n_embd, n_vocab}};
    for (std::uint64_t l = 0; l < layers; ++l) {
        const std::string b = "blk." + std::to_string(l) + ".";
        ts.push_back({b + "attn_norm.weight", n_embd, 1});
        if (qkv) {
            ts.push_back({b + "attn_qkv.weight", n_embd, n_embd + 2 * n_embd_kv});
        } else {
            ts.push_back({b + "attn_q.weight", n_embd, n_embd});
            ts.push_back({b + "attn_k.weight", n_embd, n_embd_kv});
            ts.push_back({b + "attn_v.weight", n_embd, n_embd_kv});
        }
        ts.push_back({b + "attn_output.weight", n_embd, n_embd});
        ts.push_back({b + "ffn_norm.weight", n_embd, 1});
        if (n_expert > 0) {
            ts.push_back({b + "ffn_gate_inp.weight", n_embd, n_expert});
            ts.push_back({b + "ffn_gate_exps.weight", n_embd, n_ff, n_expert});
            ts.push_back({b + "ffn_up_exps.weight", n_embd, n_ff, n_expert});
            ts.push_back({b + "ffn_down_exps.weight", n_ff, n_embd, n_expert});
        } else {
            ts.push_back({b + "ffn_gate.weight", n_embd, n_ff});
            ts.push_back({b + "ffn_up.weight", n_embd, n_ff});
            ts.push_back({b + "ffn_down.weight", n_ff, n_embd});
        }
    }
    ts.push_back({"output_norm.weight", n_embd, 1});
    if (!tied) ts.push_back({"output.weight", n_embd, n_vocab});

    auto u32 = [](std::uint64_t v) { return gg::meta_value::u32(static_cast<std::uint32_t>(v)); };
    gg::gguf_writer w;
    w.set("general.architecture", gg::meta_value::string("llama"));
    w.set("general.name", gg::meta_value::string("lowbit fake llama"));
    w.set("llama.block_count", u32(layers));
    w.set("llama.context_length", u32(4096));
    w.set("llama.embedding_length", u32(n_embd));
    w.set("llama.feed_forward_length", u32(n_ff));
    w.set("llama.attention.head_count", u32(n_head));
    w.set("llama.attention.head_count_kv", u32(n_head_kv));
    w.set("llama.attention.layer_norm_rms_epsilon", gg::meta_value::f32(1e-5f));
    w.set("llama.rope.dimension_count", u32(n_embd / n_head));
    if (n_expert > 0) {
        w.set("llama.expert_count", u32(n_expert));
        w.set("llama.expert_used_count", u32(std::min<std::uint64_t>(2, n_expert)));
    }
    w.set("general.file_type", u32(f16 ? 1 : 0));
    if (dummy_vocab) {
        w.set("tokenizer.ggml.model", gg::meta_value::string("no_vocab"));
        w.set("llama.vocab_size", u32(n_vocab));
    }
    auto is_f16 = [&](const decl& t) { return f16 && t.d1 > 1; };
    for (const decl& t : ts) {
        const std::uint64_t dims[3] = {t.d0, t.d1, t.d2};
        const std::size_t nd = t.d2 > 1 ? 3 : t.d1 > 1 ? 2 : 1;
        const lowbit::status s = w.add_tensor(t.name, is_f16(t) ? gg::gguf_type::f16 : gg::gguf_type::f32, lowbit::span<const std::uint64_t>(dims, nd));
        if (!s.ok()) {
            std::fprintf(stderr, "%s\n", s.message());
            return 1;
        }
    }
    std::FILE* f = std::fopen(out_path.c_str(), "wb");
    if (!f) {
        std::perror(out_path.c_str());
        return 1;
    }
    lowbit::status s = w.write_header(gg::byte_sink::to_file(f));
    rng r{42};
    std::vector<float> row;
    bool nan_placed = nan_tensor.empty();
    std::vector<std::uint8_t> half;
    for (const decl& t : ts) {
        row.resize(static_cast<std::size_t>(t.d0));
        for (std::uint64_t i = 0; i < t.d1 * t.d2 && s.ok(); ++i) {
            for (float& x : row) x = t.d1 == 1 ? 1.0f + r.next() : r.next();
            if (i == 0 && t.name == nan_tensor && row.size() > 3) {
                row[3] = std::nanf("");
                nan_placed = true;
            }
            if (is_f16(t)) {
                half.resize(row.size() * 2);
                s = gg::quantize(gg::gguf_type::f16, row.data(), half.data(), 1, static_cast<std::int64_t>(row.size()), nullptr);
                if (s.ok()) s = w.write_tensor_data(lowbit::span<const std::uint8_t>(half.data(), half.size()));
            } else {
                s = w.write_tensor_data(lowbit::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(row.data()), row.size() * 4));
            }
        }
    }
    if (s.ok()) s = w.finish();
    if (s.ok() && !nan_placed) s = lowbit::status::error(lowbit::errc::invalid_argument, "no tensor '%s' to put the NaN in", nan_tensor.c_str());
    if (std::fclose(f) != 0 && s.ok()) s = lowbit::status::error(lowbit::errc::io_error, "close failed");
    if (!s.ok()) {
        std::fprintf(stderr, "%s: %s\n", out_path.c_str(), s.message());
        return 1;
    }
    std::printf("%s: %zu tensors, %.1f MB\n", out_path.c_str(), ts.size(), static_cast<double>(w.file_size()) / 1e6);
    return 0;
}
