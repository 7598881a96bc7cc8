// libFuzzer harness for the small JSON files of a Hugging Face folder, parsed
// into lowbit-quantize's JSON tree (examples/lowbit-quantize/hf_json.hpp) and
// read by the functions the tool itself calls. The first input byte picks the
// file, the rest is its text:
//   0  config.json                   -> read_llama_hparams
//   1  tokenizer.json                -> vocab_from_files (no tokenizer.model)
//   2  tokenizer_config.json         -> vocab_from_files, with a fixed small tokenizer.json
//   3  model.safetensors.index.json  -> hf_folder::read_weight_map
// Beyond "no crash, no sanitizer report": whatever is accepted is sane (an
// index's shard names are plain file names; a vocabulary has one type and one
// score per token, special ids inside it), and parsing plus reading holds at
// most 160 bytes of memory per input byte (+ 64 KiB), the bound
// docs/reliability.md states (alloc_meter.hpp replaces operator new here).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "../../examples/lowbit-quantize/hf_folder.hpp"
#include "../../examples/lowbit-quantize/hf_json.hpp"
#include "../../examples/lowbit-quantize/hf_llama.hpp"
#include "../../examples/lowbit-quantize/hf_vocab.hpp"
#include "../hostile/alloc_meter.hpp"

namespace {

constexpr std::size_t bytes_per_input_byte = 160;

// A two-token byte-fallback BPE tokenizer.json, the fixed partner of mode 2.
const char* const small_tokenizer_json =
    R"({"added_tokens": [{"id": 0, "content": "<unk>", "special": true}, {"id": 1, "content": "<s>", "special": true}],)"
    R"( "model": {"type": "BPE", "byte_fallback": true, "unk_token": "<unk>", "vocab": {"<unk>": 0, "<s>": 1, "a": 2}, "merges": []},)"
    R"( "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}, {"Sequence": {"id": "A"}}]}})";

const lbq::json_value& small_tokenizer() {
    static const lbq::json_value v = [] {
        lbq::json_value t;
        if (!lbq::parse_json(small_tokenizer_json, &t).ok()) std::abort();
        return t;
    }();
    return v;
}

void check_vocab(const lbq::gguf_vocab& v) {
    if (v.types.size() != v.tokens.size() || (v.model == "llama" && v.scores.size() != v.tokens.size())) std::abort();
    for (const auto& s : v.special_ids)
        if (s.second >= v.tokens.size()) std::abort();
}

// Runs the vocabulary rules with config.json's vocab_size unknown, then, when
// only the size was wrong, again with the size they found (the rules after the
// size check run too).
void vocab(const lbq::json_value* tj, const lbq::json_value& tc) {
    const lbq::json_value config;
    lbq::gguf_vocab v;
    if (lbq::vocab_from_files(nullptr, tj, tc, config, ~std::uint64_t(0), &v).ok()) std::abort();
    if (v.tokens.empty()) return;
    const std::uint64_t n = v.tokens.size();
    if (lbq::vocab_from_files(nullptr, tj, tc, config, n, &v).ok()) check_vocab(v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    (void)small_tokenizer();  // built once, outside the measurement
    const std::size_t base = alloc_meter::mark();
    const std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
    lbq::json_value j;
    if (lbq::parse_json(text, &j).ok()) {
        switch (data[0] % 4) {
            case 0: {
                lbq::llama_hparams h;
                if (lbq::read_llama_hparams(j, &h).ok() &&
                    (h.n_head == 0 || h.n_head_kv == 0 || h.head_dim == 0 || h.n_head % h.n_head_kv != 0 || h.n_layer > (1u << 31)))
                    std::abort();
                break;
            }
            case 1: vocab(&j, lbq::json_value{}); break;
            case 2: vocab(&small_tokenizer(), j); break;
            default: {
                std::map<std::string, std::string> wm;
                std::vector<std::string> parts;
                if (lbq::hf_folder::read_weight_map(j, &wm, &parts).ok())
                    for (const std::string& p : parts)
                        if (p.empty() || p.find('/') != std::string::npos || p == "." || p == "..") std::abort();
                break;
            }
        }
    }
    if (alloc_meter::peak_since(base) > bytes_per_input_byte * size + 65536) {
        std::fprintf(stderr, "fuzz_hf_json: held %zu bytes for a %zu-byte input\n", alloc_meter::peak_since(base), size);
        std::abort();
    }
    return 0;
}
