// Writes the seed corpus of the weight readers' fuzzers:
//   checkpoint/   fuzz_checkpoint's 5 config bytes + a small safetensors file:
//                 GPTQ (2/3/4/8 bits, v1/v2, sym/asym, with and without
//                 g_idx, per group and per channel), AWQ GEMM (group 32,
//                 per channel) and compressed-tensors pack-quantized
//                 (4/8 bits; group, channel, tensor; packed and int8 zero
//                 points; g_idx), packed as tests/import_ckpt_gen.hpp packs
//                 them;
//   weights_gguf/ GGUF files written by weights_gguf_writer: dense and tiled
//                 weights of several schemes (1..8 bits, per tensor / channel
//                 / group, f32 / f16 / bf16 scales, with a permutation),
//                 codebook CB3 / CB4, and ggml block tensors (Q4_0, Q8_0,
//                 Q4_K) beside them;
//   npy/          .npy files: float32 and every integer dtype, versions 1-3,
//                 scalar, empty and 3-d shapes.
// Codes are random bytes (any code is valid); scales are small finite values.
// Usage: gen_weight_seeds <dir>   (creates <dir>/{checkpoint,weights_gguf,npy} first)
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <lowbit/core/half.hpp>
#include <lowbit/formats/gguf_writer.hpp>
#include <lowbit/formats/weights_gguf_writer.hpp>

#include "../import_ckpt_gen.hpp"

using namespace lowbit;
using namespace import_gen;

namespace {

std::mt19937 rng_(34);

bool save(const std::string& path, const std::vector<std::uint8_t>& b) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return false;
    const bool ok = std::fwrite(b.data(), 1, b.size(), f) == b.size();
    return std::fclose(f) == 0 && ok;
}

void must(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "gen_weight_seeds: %s\n", what);
        std::exit(1);
    }
}

std::vector<std::uint32_t> random_words(std::size_t n) {
    std::vector<std::uint32_t> w(n);
    for (auto& x : w) x = static_cast<std::uint32_t>(rng_());
    return w;
}
std::vector<std::uint16_t> scales16(std::size_t n) {
    std::vector<std::uint16_t> s(n);
    for (auto& x : s) x = random_scale(rng_);
    return s;
}
// Group of each input column: k / G, shuffled when act-order.
std::vector<std::uint32_t> group_index(std::size_t K, std::size_t G, bool shuffled) {
    std::vector<std::uint32_t> g(K);
    for (std::size_t k = 0; k < K; ++k) g[k] = static_cast<std::uint32_t>(k / G);
    if (shuffled) std::shuffle(g.begin(), g.end(), rng_);
    return g;
}

// fuzz_checkpoint's input: config bytes, then the file.
std::vector<std::uint8_t> with_config(int format, int bits, int group, int flags, const std::vector<tensor>& ts) {
    const auto g = static_cast<std::uint16_t>(static_cast<std::int16_t>(group));
    std::vector<std::uint8_t> out{static_cast<std::uint8_t>(format), static_cast<std::uint8_t>(bits), static_cast<std::uint8_t>(g),
                                  static_cast<std::uint8_t>(g >> 8), static_cast<std::uint8_t>(flags)};
    const auto f = safetensors_bytes(ts);
    out.insert(out.end(), f.begin(), f.end());
    return out;
}

// GPTQ: qweight [K*b/32, N], qzeros [groups, N*b/32], scales [groups, N], g_idx [K].
std::vector<std::uint8_t> gptq_seed(int b, int group, bool sym, bool v2, bool g_idx) {
    const std::size_t N = 32, K = 64, G = group == -1 ? K : static_cast<std::size_t>(group), groups = (K + G - 1) / G;
    std::vector<std::uint32_t> zeros(groups * N);
    for (auto& z : zeros) {
        const std::uint32_t want = sym ? 1u << (b - 1) : static_cast<std::uint32_t>(rng_() % ((1u << b) - 1u)) + 1u;
        z = (want - (v2 ? 0u : 1u)) & ((1u << b) - 1u);
    }
    std::vector<tensor> ts{i32_tensor("layer.qweight", {K * static_cast<std::size_t>(b) / 32, N}, random_words(K * b / 32 * N)),
                           i32_tensor("layer.qzeros", {groups, N * static_cast<std::size_t>(b) / 32}, gptq_pack(zeros, b)),
                           f16_tensor("layer.scales", {groups, N}, scales16(groups * N))};
    if (g_idx) ts.push_back(i32_tensor("layer.g_idx", {K}, group_index(K, G, true)));
    return with_config(0, b, group, (sym ? 1 : 0) | (v2 ? 2 : 0), ts);
}

// AWQ GEMM: qweight [K, N/8], qzeros [groups, N/8], scales [groups, N].
std::vector<std::uint8_t> awq_seed(int group) {
    const std::size_t N = 16, K = 64, G = group == -1 ? K : static_cast<std::size_t>(group), groups = (K + G - 1) / G;
    const std::vector<tensor> ts{i32_tensor("layer.qweight", {K, N / 8}, random_words(K * N / 8)),
                                 i32_tensor("layer.qzeros", {groups, N / 8}, random_words(groups * N / 8)),
                                 f16_tensor("layer.scales", {groups, N}, scales16(groups * N))};
    return with_config(1, 4, group, 1, ts);
}

// compressed-tensors: weight_packed [N, ceil(K/p)], weight_shape {N, K},
// weight_scale [N, groups], zero points packed [ceil(N/p), groups] or int8 [N, groups].
std::vector<std::uint8_t> ct_seed(int b, int strategy, int group, bool sym, bool zp_packed, bool g_idx) {
    const std::size_t N = 12, K = 40, p = 32 / static_cast<std::size_t>(b);
    const std::size_t G = strategy == 2 ? static_cast<std::size_t>(group) : K, groups = (K + G - 1) / G;
    std::vector<tensor> ts{i32_tensor("layer.weight_packed", {N, (K + p - 1) / p}, random_words(N * ((K + p - 1) / p))),
                           i32_tensor("layer.weight_shape", {2}, {static_cast<std::uint32_t>(N), static_cast<std::uint32_t>(K)})};
    if (strategy == 0) ts.push_back(f16_tensor("layer.weight_scale", {1}, scales16(1)));
    else ts.push_back(f16_tensor("layer.weight_scale", {N, groups}, scales16(N * groups)));
    if (!sym) {
        if (strategy == 0) {
            ts.push_back(i8_tensor("layer.weight_zero_point", {1}, {1}));
        } else if (zp_packed) {
            ts.push_back(i32_tensor("layer.weight_zero_point", {(N + p - 1) / p, groups}, random_words((N + p - 1) / p * groups)));
        } else {
            std::vector<int> zp(N * groups);
            for (int& z : zp) z = static_cast<int>(rng_() % (1u << b)) - (1 << (b - 1));
            ts.push_back(i8_tensor("layer.weight_zero_point", {N, groups}, zp));
        }
    }
    if (g_idx) ts.push_back(i32_tensor("layer.weight_g_idx", {K}, group_index(K, G, true)));
    return with_config(2, b, group, (sym ? 1 : 0) | strategy << 2, ts);
}

// One weight of `d`'s shape with random codes, small finite scales, random
// zero points and (when asked) a shuffled permutation.
struct owned_weights {
    std::vector<std::uint8_t> codes, zeros;
    std::vector<std::uint8_t> scales;  // f32, f16 or bf16, as the scheme says
    std::vector<std::int32_t> perm;
    std::optional<weights_view> view;  // into the vectors above (a move keeps their buffers)
};
owned_weights random_weights(weights_desc d, bool with_perm) {
    auto shape = make_weights_shape(d);
    must(shape.ok(), "make_weights_shape");
    const weights_view& s = *shape;
    owned_weights o;
    o.codes.resize(s.code_bytes());
    for (auto& c : o.codes) c = static_cast<std::uint8_t>(rng_());
    const std::size_t n_scales = s.scale_bytes() / (d.scheme.scale == scale_type::f32 ? 4 : 2);
    for (std::size_t i = 0; i < n_scales; ++i) {
        const float v = 0.01f + static_cast<float>(rng_() % 100) * 0.001f;
        if (d.scheme.scale == scale_type::f32) {
            std::uint8_t b[4];
            std::memcpy(b, &v, 4);
            o.scales.insert(o.scales.end(), b, b + 4);
        } else {
            const std::uint16_t h = d.scheme.scale == scale_type::f16 ? f32_to_f16(v) : f32_to_bf16(v);
            o.scales.push_back(static_cast<std::uint8_t>(h));
            o.scales.push_back(static_cast<std::uint8_t>(h >> 8));
        }
    }
    o.zeros.resize(s.zero_bytes());
    for (auto& z : o.zeros) z = static_cast<std::uint8_t>(rng_() % (1u << d.scheme.bits));
    if (with_perm) {
        o.perm.resize(d.cols);
        for (std::size_t i = 0; i < d.cols; ++i) o.perm[i] = static_cast<std::int32_t>(i);
        std::shuffle(o.perm.begin(), o.perm.end(), rng_);
    }
    d.codes = o.codes.data();
    d.scales = o.scales.empty() ? nullptr : o.scales.data();
    d.zeros = o.zeros.empty() ? nullptr : o.zeros.data();
    d.perm = o.perm.empty() ? nullptr : o.perm.data();
    auto v = make_weights(d);
    must(v.ok(), "make_weights");
    o.view = *v;
    return o;
}

weights_desc scheme_desc(layout lay, int bits, granularity gran, int group, bool sym, scale_type sc, std::size_t rows, std::size_t cols) {
    weights_desc d;
    d.lay = lay;
    d.scheme.bits = bits;
    d.scheme.gran = gran;
    d.scheme.group = group;
    d.scheme.symmetric = sym;
    d.scheme.scale = sc;
    d.rows = rows;
    d.cols = cols;
    if (lay == layout::dense) d.row_bytes = (cols * static_cast<std::size_t>(bits) + 7) / 8;
    return d;
}
weights_desc codebook_desc(int bits, std::size_t rows, std::size_t cols) {
    weights_desc d;
    d.lay = layout::codebook;
    d.scheme.bits = bits;
    d.scheme.gran = granularity::per_group;
    d.scheme.group = 32;
    d.scheme.symmetric = true;
    d.scheme.scale = scale_type::f16;
    d.rows = rows;
    d.cols = cols;
    const int n = 1 << bits;
    for (int i = 0; i < n; ++i) d.grid[i] = static_cast<std::int8_t>(-120 + i * (240 / (n - 1)));
    return d;
}
weights_desc ggml_desc(gguf::gguf_type t, std::size_t rows, std::size_t cols) {
    weights_desc d;
    d.lay = layout::ggml;
    d.ggml = t;
    d.rows = rows;
    d.cols = cols;
    return d;
}

struct seed_weight {
    std::string name;
    weights_desc d;
    bool perm = false;
};

// A GGUF file of the weights, with random data of their shapes.
std::vector<std::uint8_t> weights_file(const std::vector<seed_weight>& ws) {
    std::vector<owned_weights> data;
    for (const seed_weight& s : ws) data.push_back(random_weights(s.d, s.perm));
    gguf::gguf_writer g;
    must(g.set("general.architecture", gguf::meta_value::string("lowbit-seed")).ok(), "set");
    weights_gguf_writer w(g);
    for (std::size_t i = 0; i < ws.size(); ++i) must(w.declare(ws[i].name, *data[i].view).ok(), "declare");
    std::vector<std::uint8_t> out;
    must(w.write_header(gguf::byte_sink::to_vector(out)).ok(), "write_header");
    for (std::size_t i = 0; i < ws.size(); ++i) must(w.write(ws[i].name, *data[i].view).ok(), "write");
    must(g.finish().ok(), "finish");
    return out;
}

std::vector<std::uint8_t> npy_bytes(int major, const std::string& descr, const std::string& shape, std::size_t data_bytes) {
    std::string h = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
    const std::size_t pre = major == 1 ? 10 : 12;
    while ((pre + h.size() + 1) % 64) h += ' ';
    h += '\n';
    std::vector<std::uint8_t> out{0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<std::uint8_t>(major), 0};
    for (std::size_t i = 0; i < pre - 8; ++i) out.push_back(static_cast<std::uint8_t>(h.size() >> (8 * i)));
    out.insert(out.end(), h.begin(), h.end());
    for (std::size_t i = 0; i < data_bytes; ++i) out.push_back(static_cast<std::uint8_t>(rng_()));
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: gen_weight_seeds <dir>\n");
        return 2;
    }
    const std::string dir = argv[1];
    int n = 0;
    auto put = [&](const char* sub, const std::string& name, const std::vector<std::uint8_t>& b) {
        must(b.size() <= 16384, "a seed over the fuzzers' -max_len");
        must(save(dir + "/" + sub + "/" + name, b), "cannot write a seed (does the folder exist?)");
        ++n;
    };

    for (int b : {2, 3, 4, 8})
        for (int v2 = 0; v2 < 2; ++v2) {
            const std::string s = "gptq-" + std::to_string(b) + (v2 ? "-v2" : "-v1");
            put("checkpoint", s + "-sym-g32", gptq_seed(b, 32, true, v2 != 0, false));
            put("checkpoint", s + "-asym-g16-gidx", gptq_seed(b, 16, false, v2 != 0, true));
            put("checkpoint", s + "-asym-channel", gptq_seed(b, -1, false, v2 != 0, false));
        }
    put("checkpoint", "awq-g32", awq_seed(32));
    put("checkpoint", "awq-channel", awq_seed(-1));
    for (int b : {4, 8}) {
        const std::string s = "ct-" + std::to_string(b);
        put("checkpoint", s + "-group-sym", ct_seed(b, 2, 8, true, false, false));
        put("checkpoint", s + "-group-asym-packed-gidx", ct_seed(b, 2, 8, false, true, true));
        put("checkpoint", s + "-channel-asym-int8", ct_seed(b, 1, 0, false, false, false));
        put("checkpoint", s + "-tensor-asym", ct_seed(b, 0, 0, false, false, false));
    }

    using gran = granularity;
    using gguf::gguf_type;
    put("weights_gguf", "dense-w4g32-asym-perm",
        weights_file({{"blk.0.q.weight", scheme_desc(layout::dense, 4, gran::per_group, 32, false, scale_type::f16, 8, 64), true}}));
    put("weights_gguf", "dense-mixed",
        weights_file({{"a", scheme_desc(layout::dense, 1, gran::per_tensor, 0, true, scale_type::f32, 4, 40), false},
                      {"b", scheme_desc(layout::dense, 3, gran::per_channel, 0, false, scale_type::bf16, 5, 33), false},
                      {"c", scheme_desc(layout::dense, 8, gran::per_group, 16, true, scale_type::f32, 3, 48), true}}));
    put("weights_gguf", "tiled-w4g32",
        weights_file({{"t", scheme_desc(layout::tiled, 4, gran::per_group, 32, true, scale_type::f16, 20, 64), false}}));
    put("weights_gguf", "tiled-w2pc-asym-perm",
        weights_file({{"t", scheme_desc(layout::tiled, 2, gran::per_channel, 0, false, scale_type::f32, 17, 96), true}}));
    put("weights_gguf", "codebook-cb4-cb3",
        weights_file({{"c4", codebook_desc(4, 4, 64), false}, {"c3", codebook_desc(3, 3, 96), false}}));
    put("weights_gguf", "ggml-blocks-and-dense",
        weights_file({{"q4_0", ggml_desc(gguf_type::q4_0, 4, 64), false},
                      {"q8_0", ggml_desc(gguf_type::q8_0, 2, 64), false},
                      {"q4_K", ggml_desc(gguf_type::q4_K, 2, 256), false},
                      {"d", scheme_desc(layout::dense, 5, gran::per_group, 32, false, scale_type::f16, 4, 64), false}}));

    for (int major = 1; major <= 3; ++major) {
        const std::string v = "-v" + std::to_string(major);
        put("npy", "f4-2d" + v, npy_bytes(major, "<f4", "(3, 5)", 60));
        put("npy", "i4-1d" + v, npy_bytes(major, "<i4", "(7,)", 28));
    }
    for (const char* d : {"|u1", "|i1", "<u2", "<i2", "<u4", "<i8"}) {
        const std::size_t width = d[2] == '1' ? 1 : d[2] == '2' ? 2 : d[2] == '4' ? 4 : 8;
        put("npy", std::string("ints-") + (d[0] == '|' ? "" : "le-") + (d + 1), npy_bytes(1, d, "(2, 3)", 6 * width));
    }
    put("npy", "f4-scalar", npy_bytes(1, "<f4", "()", 4));
    put("npy", "f4-empty", npy_bytes(1, "<f4", "(0, 4)", 0));
    put("npy", "f4-3d-trailing", npy_bytes(1, "<f4", "(2, 1, 3)", 30));
    std::printf("gen_weight_seeds: %d seeds in %s\n", n, dir.c_str());
    return 0;
}
