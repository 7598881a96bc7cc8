// libFuzzer harness for the safetensors reader and its JSON parser.
// Beyond "no crash, no sanitizer report": every tensor's bytes and every
// F32/F16/BF16 tensor's floats can be read from a parsed file, and parsing
// holds at most 32 bytes of memory per input byte (+ 64 KiB), the bound
// docs/reliability.md states (alloc_meter.hpp replaces operator new here).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <lowbit/formats/safetensors.hpp>

#include "../hostile/alloc_meter.hpp"

using namespace lowbit;
using namespace lowbit::safetensors;

namespace {
std::uint64_t sink_ = 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::size_t base = alloc_meter::mark();
    auto r = safetensors_file::parse(span<const std::uint8_t>(data, size));
    if (alloc_meter::peak_since(base) > 32 * size + 65536) {
        std::fprintf(stderr, "fuzz_safetensors: parse held %zu bytes for a %zu-byte input\n", alloc_meter::peak_since(base), size);
        std::abort();
    }
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
