// Writes the fuzzers' seed corpus: small valid GGUF and safetensors files, and
// files built at the readers' limits (docs/reliability.md, "Limits of the
// readers"): arrays nested 32 deep with counts as large as the bytes allow, the
// largest and just-too-large alignments, hundreds of keys, names at ggml's
// length limit and holding control bytes, JSON nested to its depth limit.
// Random mutation rarely builds such structure within CI's 20 s per reader;
// starting from it, the fuzzers explore around the limits instead.
// Every seed fits run.sh's -max_len of 4096 bytes.
// Usage: gen_seeds <dir>   (creates <dir>/gguf and <dir>/safetensors first)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <lowbit/formats/gguf.hpp>
#include <lowbit/formats/safetensors.hpp>

using namespace lowbit;
using namespace lowbit::gguf;

namespace {

bool save(const std::string& path, const std::vector<std::uint8_t>& b) {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return false;
    const bool ok = std::fwrite(b.data(), 1, b.size(), f) == b.size();
    return std::fclose(f) == 0 && ok;
}

// A GGUF with the given alignment, every metadata type and a few small tensors.
std::vector<std::uint8_t> gguf_seed(std::uint32_t alignment, bool with_metadata, bool with_tensors) {
    gguf_writer w;
    if (alignment != default_alignment && !w.set_alignment(alignment).ok()) std::abort();
    if (with_metadata) {
        const std::int32_t ints[] = {1, -2};
        const std::string_view strs[] = {"a", "bc"};
        const bool ok = w.set("general.architecture", meta_value::string("llama")).ok() &&
                        w.set("u8", meta_value::u8(1)).ok() && w.set("i8", meta_value::i8(-1)).ok() &&
                        w.set("u16", meta_value::u16(2)).ok() && w.set("i16", meta_value::i16(-2)).ok() &&
                        w.set("u32", meta_value::u32(3)).ok() && w.set("i32", meta_value::i32(-3)).ok() &&
                        w.set("f32", meta_value::f32(0.5f)).ok() && w.set("b", meta_value::boolean(true)).ok() &&
                        w.set("u64", meta_value::u64(4)).ok() && w.set("i64", meta_value::i64(-4)).ok() &&
                        w.set("f64", meta_value::f64(0.25)).ok() &&
                        w.set("ai", meta_value::array_of(span<const std::int32_t>(ints, 2))).ok() &&
                        w.set("as", meta_value::array_of_strings(span<const std::string_view>(strs, 2))).ok() &&
                        w.set("aa", meta_value::array(value_type::array,
                                                      {meta_value::array_of(span<const std::int32_t>(ints, 1)),
                                                       meta_value::array(value_type::string, {})}))
                            .ok();
        if (!ok) std::abort();
    }
    if (with_tensors) {
        if (!w.add_tensor("q", gguf_type::q4_0, {32, 2}).ok() || !w.add_tensor("f", gguf_type::f32, {3}).ok() ||
            !w.add_tensor("h", gguf_type::f16, {2, 1, 1, 2}).ok())
            std::abort();
    }
    std::vector<std::uint8_t> out;
    if (!w.write_header(byte_sink::to_vector(out)).ok()) std::abort();
    std::vector<std::uint8_t> data(36 + 12 + 8);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 37);
    if (with_tensors && !w.write_tensor_data(span<const std::uint8_t>(data.data(), data.size())).ok()) std::abort();
    if (!w.finish().ok()) std::abort();
    return out;
}

// Raw GGUF fields, for the seeds the writer refuses to write.
struct raw_gguf {
    std::vector<std::uint8_t> b;
    raw_gguf& le(std::uint64_t v, int n) {
        for (int i = 0; i < n; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
        return *this;
    }
    raw_gguf& str(const std::string& s) {
        le(s.size(), 8);
        b.insert(b.end(), s.begin(), s.end());
        return *this;
    }
    raw_gguf& header(std::uint64_t n_tensors, std::uint64_t n_kv) {
        b.insert(b.end(), {'G', 'G', 'U', 'F'});
        return le(3, 4).le(n_tensors, 8).le(n_kv, 8);
    }
};

// Arrays of arrays max_array_depth deep; each level declares `declared(left)`
// children where `left` is the bytes still to come, the rest is zero bytes.
template <class Count>
std::vector<std::uint8_t> nested_seed(std::size_t size, Count declared) {
    raw_gguf g;
    g.header(0, 1).str("k").le(9, 4);
    for (int l = 0; l < max_array_depth; ++l) {
        const bool last = l + 1 == max_array_depth;
        g.le(last ? 0 : 9, 4);
        const std::size_t left = size > g.b.size() + 8 ? size - g.b.size() - 8 : 0;
        g.le(last ? 0 : declared(left), 8);
    }
    if (g.b.size() < size) g.b.resize(size, 0);
    return g.b;
}

// A valid file whose only metadata is general.alignment = a, and no tensors
// (so no padding: any u32 fits in a few bytes).
std::vector<std::uint8_t> alignment_seed(std::uint32_t a) {
    raw_gguf g;
    g.header(0, 1).str("general.alignment").le(4, 4).le(a, 4);
    return g.b;
}

std::vector<std::uint8_t> many_keys_seed(std::size_t n) {
    raw_gguf g;
    g.header(0, n);
    for (std::size_t i = 0; i < n; ++i) g.str("k" + std::to_string(i)).le(0, 4).le(i & 0xff, 1);
    return g.b;
}

// Tensor names of 63 bytes (the limit), 64 (one past) and with control bytes.
std::vector<std::uint8_t> names_seed(const std::string& name) {
    raw_gguf g;
    g.header(1, 1).str(std::string("key\x1b[2J\0", 9)).le(8, 4).str("v");
    g.str(name).le(1, 4).le(32, 8).le(0, 4).le(0, 8);  // f32 [32] at offset 0
    while (g.b.size() % 32) g.b.push_back(0);
    g.b.resize(g.b.size() + 128, 0);
    return g.b;
}

std::vector<std::uint8_t> safetensors_seed(const std::string& header, std::size_t data_bytes) {
    std::vector<std::uint8_t> f;
    for (int i = 0; i < 8; ++i) f.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(header.size()) >> (8 * i)));
    f.insert(f.end(), header.begin(), header.end());
    for (std::size_t i = 0; i < data_bytes; ++i) f.push_back(static_cast<std::uint8_t>(i * 13 + 1));
    return f;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
        return 2;
    }
    const std::string d = argv[1];
    bool ok = save(d + "/gguf/full.gguf", gguf_seed(32, true, true)) &&
              save(d + "/gguf/align64.gguf", gguf_seed(64, false, true)) &&
              save(d + "/gguf/metadata_only.gguf", gguf_seed(32, true, false)) &&
              save(d + "/gguf/empty.gguf", gguf_seed(32, false, false));
    ok = ok &&
         save(d + "/safetensors/mixed.safetensors",
              safetensors_seed("{\"__metadata__\": {\"format\": \"pt\", \"n\": \"caf\\u00e9\"},"
                               " \"w\": {\"dtype\": \"F32\", \"shape\": [2, 2], \"data_offsets\": [0, 16]},"
                               " \"h\": {\"dtype\": \"F16\", \"shape\": [3], \"data_offsets\": [16, 22]},"
                               " \"b\": {\"dtype\": \"BF16\", \"shape\": [], \"data_offsets\": [22, 24]},"
                               " \"i\": {\"dtype\": \"I64\", \"shape\": [1, 1], \"data_offsets\": [24, 32],"
                               " \"x\": [1, -2.5e3, true, false, null, {\"k\": \"v\"}]}}  ",
                               32)) &&
         save(d + "/safetensors/empty.safetensors", safetensors_seed("{}", 0)) &&
         save(d + "/safetensors/f4.safetensors",
              safetensors_seed("{\"q\": {\"dtype\": \"F4\", \"shape\": [4], \"data_offsets\": [0, 2]},"
                               " \"e\": {\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [2, 2]}}",
                               2));
    // At the limits (see the top of this file).
    const auto all_fit = [](std::size_t left) { return left / 12; };
    const auto few = [](std::size_t) { return std::size_t(3); };
    ok = ok && save(d + "/gguf/nested_max.gguf", nested_seed(4096, all_fit)) &&
         save(d + "/gguf/nested_few.gguf", nested_seed(2048, few)) &&
         save(d + "/gguf/align_1mib.gguf", alignment_seed(max_alignment)) &&
         save(d + "/gguf/align_2mib.gguf", alignment_seed(max_alignment * 2)) &&
         save(d + "/gguf/align_2gib.gguf", alignment_seed(1u << 31)) &&
         save(d + "/gguf/many_keys.gguf", many_keys_seed(240)) &&
         save(d + "/gguf/name_63.gguf", names_seed(std::string(max_tensor_name - 1, 'n'))) &&
         save(d + "/gguf/name_64.gguf", names_seed(std::string(max_tensor_name, 'n'))) &&
         save(d + "/gguf/name_ctrl.gguf", names_seed(std::string("\x1b[31mx\0y\n", 9)));
    std::string meta = "{\"__metadata__\": {";
    for (int i = 0; i < 300; ++i) meta += (i ? ",\"" : "\"") + std::to_string(i) + "\":\"\"";
    meta += "}}";
    std::string deep = "{\"t\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1], \"x\": ";
    for (int i = 0; i < lowbit::detail::json_reader::max_depth - 2; ++i) deep += '[';
    for (int i = 0; i < lowbit::detail::json_reader::max_depth - 2; ++i) deep += ']';
    deep += "}}";
    ok = ok && save(d + "/safetensors/many_keys.safetensors", safetensors_seed(meta, 0)) &&
         save(d + "/safetensors/deep.safetensors", safetensors_seed(deep, 1)) &&
         save(d + "/safetensors/names.safetensors",
              safetensors_seed("{\"\\u001b[2J" + std::string(200, 'n') +
                                   "\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                                   " \"__metadata__\": {\"a\\u0000\": \"\\n\", \"a\": \"\"}}",
                               4));
    if (!ok) {
        std::fprintf(stderr, "gen_seeds: could not write into %s/{gguf,safetensors}\n", d.c_str());
        return 1;
    }
    return 0;
}
