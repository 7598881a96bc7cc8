// Writes a large fake llama-like F32 GGUF for lowbit-quantize's memory and
// speed measurement (docs/tools.md), streaming it through gguf_writer so the
// generator itself stays small:
//   test_quantize_tool_mkmodel /tmp/big.gguf [layers=3] [n_embd=2048] [n_ff=5632] [n_vocab=32000] [NAN_TENSOR]
// The defaults give 1.13 GB. Not a test; built next to the tests. With
// NAN_TENSOR, value 3 of that tensor is a NaN (tests/cli/test_quantize_files.sh).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <lowbit/formats/gguf.hpp>

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
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s OUT.gguf [layers] [n_embd] [n_ff] [n_vocab] [nan_tensor]\n", argv[0]);
        return 2;
    }
    auto arg = [&](int i, std::uint64_t def) { return argc > i ? std::strtoull(argv[i], nullptr, 10) : def; };
    const std::uint64_t layers = arg(2, 3), n_embd = arg(3, 2048), n_ff = arg(4, 5632), n_vocab = arg(5, 32000);
    const std::string nan_tensor = argc > 6 ? argv[6] : "";

    struct decl {
        std::string name;
        std::uint64_t d0, d1;
    };
    std::vector<decl> ts = {{"token_embd.weight", n_embd, n_vocab}};
    for (std::uint64_t l = 0; l < layers; ++l) {
        const std::string b = "blk." + std::to_string(l) + ".";
        ts.push_back({b + "attn_norm.weight", n_embd, 1});
        ts.push_back({b + "attn_q.weight", n_embd, n_embd});
        ts.push_back({b + "attn_k.weight", n_embd, n_embd});
        ts.push_back({b + "attn_v.weight", n_embd, n_embd});
        ts.push_back({b + "attn_output.weight", n_embd, n_embd});
        ts.push_back({b + "ffn_norm.weight", n_embd, 1});
        ts.push_back({b + "ffn_gate.weight", n_embd, n_ff});
        ts.push_back({b + "ffn_up.weight", n_embd, n_ff});
        ts.push_back({b + "ffn_down.weight", n_ff, n_embd});
    }
    ts.push_back({"output_norm.weight", n_embd, 1});
    ts.push_back({"output.weight", n_embd, n_vocab});

    gg::gguf_writer w;
    w.set("general.architecture", gg::meta_value::string("llama"));
    w.set("general.name", gg::meta_value::string("lowbit fake llama"));
    w.set("llama.block_count", gg::meta_value::u32(static_cast<std::uint32_t>(layers)));
    w.set("llama.embedding_length", gg::meta_value::u32(static_cast<std::uint32_t>(n_embd)));
    w.set("llama.feed_forward_length", gg::meta_value::u32(static_cast<std::uint32_t>(n_ff)));
    w.set("general.file_type", gg::meta_value::u32(0));
    for (const decl& t : ts) {
        const bool one_d = t.d1 == 1;
        const std::uint64_t dims[2] = {t.d0, t.d1};
        const lowbit::status s = w.add_tensor(t.name, gg::gguf_type::f32, lowbit::span<const std::uint64_t>(dims, one_d ? 1 : 2));
        if (!s.ok()) {
            std::fprintf(stderr, "%s\n", s.message());
            return 1;
        }
    }
    std::FILE* f = std::fopen(argv[1], "wb");
    if (!f) {
        std::perror(argv[1]);
        return 1;
    }
    lowbit::status s = w.write_header(gg::byte_sink::to_file(f));
    rng r{42};
    std::vector<float> row;
    bool nan_placed = nan_tensor.empty();
    for (const decl& t : ts) {
        row.resize(static_cast<std::size_t>(t.d0));
        for (std::uint64_t i = 0; i < t.d1 && s.ok(); ++i) {
            for (float& x : row) x = t.d1 == 1 ? 1.0f + r.next() : r.next();
            if (i == 0 && t.name == nan_tensor && row.size() > 3) {
                row[3] = std::nanf("");
                nan_placed = true;
            }
            s = w.write_tensor_data(lowbit::span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(row.data()), row.size() * 4));
        }
    }
    if (s.ok()) s = w.finish();
    if (s.ok() && !nan_placed) s = lowbit::status::error(lowbit::errc::invalid_argument, "no tensor '%s' to put the NaN in", nan_tensor.c_str());
    if (std::fclose(f) != 0 && s.ok()) s = lowbit::status::error(lowbit::errc::io_error, "close failed");
    if (!s.ok()) {
        std::fprintf(stderr, "%s: %s\n", argv[1], s.message());
        return 1;
    }
    std::printf("%s: %zu tensors, %.1f MB\n", argv[1], ts.size(), static_cast<double>(w.file_size()) / 1e6);
    return 0;
}
