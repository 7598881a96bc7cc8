// Writes the fuzzers' seed corpus: small valid GGUF and safetensors files.
// Usage: gen_seeds <dir>   (creates <dir>/gguf and <dir>/safetensors first)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <lowbit/formats/gguf.hpp>

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
    if (!ok) {
        std::fprintf(stderr, "gen_seeds: could not write into %s/{gguf,safetensors}\n", d.c_str());
        return 1;
    }
    return 0;
}
