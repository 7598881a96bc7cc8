// tinyllama_ppl.hpp — the perplexity the lowbit-quantize tests compare GGUF
// files of tests/data/tinyllama-sotu by: lowbit-llama's evaluator
// (examples/llama/perplexity.hpp) on the first 12000 bytes of dev.txt, every
// chunk of 128 tokens (about 23). Needs examples/llama on the include path.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include <lowbit/parallel.hpp>

#include "perplexity.hpp"  // examples/llama
#include "tokenizer.hpp"   // examples/llama
#include "tool_test_util.hpp"

namespace tinyllama_test {

inline double dev_perplexity(const llama::model& m, const llama::tokenizer& tok, const std::string& dev_txt) {
    const std::vector<std::uint8_t> text = tool_test::read_file(dev_txt);
    REQUIRE(text.size() >= 12000);
    auto ids = tok.encode(std::string(text.begin(), text.begin() + 12000), true);
    REQUIRE(ids.ok());
    llama::perplexity_options o;
    o.n_ctx = 128;
    // Every chunk of the 12000 bytes, not 8: on 8 chunks the standard error of
    // the PPL is ~10 % and a 1 % comparison of two files is noise (the
    // calibration pass's attention rounding alone moved gptq's 8-chunk PPL by 1.2 %).
    o.n_chunks = -1;
    o.bos = tok.vocabulary().bos;
    std::FILE* sink = std::tmpfile();  // the per-chunk lines llama-perplexity prints
    REQUIRE(sink);
    o.out = sink;
    lowbit::thread_pool pool(2);
    auto r = llama::perplexity(m, *ids, o, pool);
    std::fclose(sink);
    REQUIRE_MESSAGE(r.ok(), std::string(r.error().message()));
    return r->ppl;
}

}  // namespace tinyllama_test
