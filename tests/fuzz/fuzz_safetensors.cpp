// libFuzzer harness for the safetensors reader and its JSON parser.
// Beyond "no crash, no sanitizer report": every tensor's bytes and every
// F32/F16/BF16 tensor's floats can be read from a parsed file.
#include <cstddef>
#include <cstdint>
#include <vector>

#include <lowbit/formats/safetensors.hpp>

using namespace lowbit;
using namespace lowbit::safetensors;

namespace {
std::uint64_t sink_ = 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto r = safetensors_file::parse(span<const std::uint8_t>(data, size));
    if (!r) return 0;
    for (const auto& kv : r->metadata()) sink_ += kv.first.size() + kv.second.size();
    std::vector<float> out;
    for (const tensor_info& t : r->tensors()) {
        if (!t.data.empty()) sink_ += t.data[0] + t.data[t.data.size() - 1];
        if (t.is_float() && t.n_elements <= (1u << 16)) {
            out.resize(static_cast<std::size_t>(t.n_elements));
            if (read_f32(t, span<float>(out.data(), out.size())).ok() && !out.empty()) sink_ += out[0] != 0.0f;
        }
    }
    return 0;
}
