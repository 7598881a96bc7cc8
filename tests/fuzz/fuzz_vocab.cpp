// libFuzzer harness for lowbit-llama's tokenizers (examples/llama): the
// tokenizer.ggml.* vocabulary read from a GGUF (vocab.hpp), the tokenizer
// built from it (tokenizer.hpp) and both encoders (tokenizer_spm.hpp,
// tokenizer_bpe.hpp) on a fixed text and on a text the fuzzer picks.
//
// Input layout: one byte L, then L bytes of text, then the GGUF file
// (gen_llama_seeds.cpp writes seeds this way).
// Properties checked beyond "no crash, no sanitizer report":
//   - loading the vocabulary holds at most 160 bytes per input byte (+ 64 KiB):
//     a GGUF string costs at least 8 bytes, its std::string, hash node and
//     per-token arrays about 120 (measured: docs/reliability.md);
//   - encoding a text of n bytes holds at most 256 n bytes (+ 64 KiB) beyond
//     the tokenizer;
//   - every id an encoder returns is a token of the vocabulary; decode
//     accepts every id list.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

#include "tokenizer.hpp"

#include "../hostile/alloc_meter.hpp"

namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_vocab: property violated: %s\n", what);
    std::abort();
}

std::size_t sink_ = 0;

void encode_and_check(const llama::tokenizer& t, std::string_view text, bool add_special) {
    const std::size_t base = alloc_meter::mark();
    auto ids = t.encode(text, add_special);
    if (alloc_meter::peak_since(base) > 256 * text.size() + 65536) fail("encode held more than 256 bytes per text byte");
    if (!ids) return;
    for (const int id : *ids)
        if (id < 0 || id >= t.size()) fail("encode returned an id outside the vocabulary");
    sink_ += t.decode(*ids).size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1 || size < 1u + data[0]) return 0;
    const std::string_view text(reinterpret_cast<const char*>(data + 1), data[0]);
    const lowbit::span<const std::uint8_t> file(data + 1 + data[0], size - 1 - data[0]);
    const std::size_t base = alloc_meter::mark();
    auto f = lowbit::gguf::gguf_file::parse(file);
    if (!f) return 0;
    auto t = llama::tokenizer::from_gguf(*f);
    if (alloc_meter::peak_since(base) > 160 * file.size() + 65536) fail("loading the vocabulary held more than 160 bytes per input byte");
    if (!t) return 0;
    encode_and_check(*t, "Hello world, \xC3\xBC" "n\xC3\xAF" "c\xC3\xB6" "d\xC3\xA9 \xE2\x96\x81 <s> 123'll  \n\t\xFF\xFE\xF0\x9F\x98", true);
    encode_and_check(*t, text, true);
    encode_and_check(*t, text, false);
    // decode of ids the vocabulary does not have: dropped, never read out of range.
    sink_ += t->decode({-1, t->size(), 0, t->size() - 1}).size();
    return 0;
}
