// libFuzzer harness for lowbit-quantize's tokenizer.model reader
// (examples/lowbit-quantize/sentencepiece_model.hpp, a bounds-checked protobuf
// decoder) and the vocabulary built from it (hf_vocab.hpp).
// Beyond "no crash, no sanitizer report": every accepted piece's text lies in
// the input, an accepted vocabulary has one type and score per token and its
// special ids inside it, and decoding holds at most 64 bytes of memory per
// input byte (+ 64 KiB), the bound docs/reliability.md states
// (alloc_meter.hpp replaces operator new here).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "../../examples/lowbit-quantize/hf_vocab.hpp"
#include "../../examples/lowbit-quantize/sentencepiece_model.hpp"
#include "../hostile/alloc_meter.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::size_t base = alloc_meter::mark();
    lbq::sp_model m;
    if (lbq::read_sentencepiece_model(lowbit::span<const std::uint8_t>(data, size), &m).ok()) {
        std::size_t text = 0;
        for (const lbq::sp_piece& p : m.pieces) text += p.text.size();
        if (m.pieces.empty() || text > size) std::abort();
    }
    const std::vector<std::uint8_t> bytes(data, data + size);
    const lbq::json_value none;
    lbq::gguf_vocab v;
    if (lbq::vocab_from_files(&bytes, nullptr, none, none, ~std::uint64_t(0), &v).ok()) std::abort();
    if (!v.tokens.empty() && lbq::vocab_from_files(&bytes, nullptr, none, none, v.tokens.size(), &v).ok()) {
        if (v.types.size() != v.tokens.size() || v.scores.size() != v.tokens.size()) std::abort();
        for (const auto& s : v.special_ids)
            if (s.second >= v.tokens.size()) std::abort();
    }
    if (alloc_meter::peak_since(base) > 64 * size + 65536) {
        std::fprintf(stderr, "fuzz_sentencepiece: held %zu bytes for a %zu-byte input\n", alloc_meter::peak_since(base), size);
        std::abort();
    }
    return 0;
}
