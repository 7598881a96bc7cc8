// libFuzzer harness for lowbit-quantize's --imatrix reader
// (examples/lowbit-quantize/model_source.hpp, class imatrix): llama.cpp's GGUF
// imatrix files and the legacy .dat format, told apart by the "GGUF" magic.
// Beyond "no crash, no sanitizer report": every accepted entry holds finite
// values (the reader's promise), and loading holds at most 32 bytes of memory
// per input byte (+ 64 KiB), the bound docs/reliability.md states
// (alloc_meter.hpp replaces operator new here).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "../../examples/lowbit-quantize/model_source.hpp"
#include "../hostile/alloc_meter.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::size_t base = alloc_meter::mark();
    {
        lbq::imatrix im;
        if (im.load(lowbit::span<const std::uint8_t>(data, size)).ok()) {
            if (im.size() == 0) std::abort();
            for (const std::string name : {"blk.0.attn_q.weight", "output.weight", "a"})
                if (const std::vector<float>* v = im.find(name))
                    for (float x : *v)
                        if (!std::isfinite(x)) std::abort();
        }
    }
    if (alloc_meter::peak_since(base) > 32 * size + 65536) {
        std::fprintf(stderr, "fuzz_imatrix: held %zu bytes for a %zu-byte input\n", alloc_meter::peak_since(base), size);
        std::abort();
    }
    return 0;
}
