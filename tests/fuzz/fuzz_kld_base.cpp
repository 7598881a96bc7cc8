// libFuzzer harness for lowbit-llama's reader of llama-perplexity's
// --kl-divergence-base file (examples/llama/perplexity.hpp, base_file::open)
// and for the KL-divergence arithmetic that consumes what it accepts.
//
// The reader takes a path, so each input is written to a file of this
// process first. The "model" is a vector of fixed logits whose size is the
// header's n_vocab when that is small (so that the reader goes past its
// vocabulary check), else 5 (the reader then has to refuse the file).
// Properties checked beyond "no crash, no sanitizer report":
//   - the reader holds at most 4 bytes per input byte (+ 64 KiB): the token
//     ids it copies, nothing sized by the header alone;
//   - every record of an accepted file gives a finite KLD, NLL and Δp
//     against finite logits: the reader lets through no record that turns
//     the statistics into NaN or Inf.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <unistd.h>

#include "perplexity.hpp"

#include "../hostile/alloc_meter.hpp"

namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_kld_base: property violated: %s\n", what);
    std::abort();
}

void remove_scratch();

// One scratch file per process, removed when the fuzzer exits normally.
const std::string& scratch_path() {
    static const std::string p = [] {
        std::atexit(remove_scratch);
        return std::string(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp") + "/lowbit-fuzz-kld-" +
               std::to_string(static_cast<long>(::getpid())) + ".bin";
    }();
    return p;
}

void remove_scratch() { std::remove(scratch_path().c_str()); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::FILE* f = std::fopen(scratch_path().c_str(), "wb");
    if (!f) fail("cannot write the scratch file");
    if (size && std::fwrite(data, 1, size, f) != size) fail("short write of the scratch file");
    std::fclose(f);
    int vocab = 5;
    if (size >= 16) {
        std::int32_t h;
        std::memcpy(&h, data + 12, 4);
        if (h >= 1 && h <= 4096) vocab = h;
    }
    const std::size_t base = alloc_meter::mark();
    auto b = llama::base_file::open(scratch_path().c_str(), vocab);
    if (alloc_meter::peak_since(base) > 4 * size + 65536) fail("open held more than 4 bytes per input byte");
    if (!b) return 0;
    if (b->n_vocab != vocab) fail("accepted a file for another vocabulary");
    std::vector<float> logits(static_cast<std::size_t>(vocab));
    for (int i = 0; i < vocab; ++i) logits[static_cast<std::size_t>(i)] = static_cast<float>((i * 7) % 13) * 0.5f - 3.f;
    llama::kld_stats k;
    std::vector<std::uint16_t> rec;
    const int first = b->n_ctx / 2;
    for (int c = 0; c < b->n_chunk; ++c)
        for (int j = first; j < b->n_ctx - 1; ++j) {
            b->record(c, j - first, rec);
            const int tok = b->tokens[static_cast<std::size_t>(c) * b->n_ctx + j + 1];
            llama::kld_position(logits.data(), vocab, rec.data(), tok, k);
        }
    if (!std::isfinite(k.sum_kld) || !std::isfinite(k.sum_nll_base) || !std::isfinite(k.sum_p_diff))
        fail("an accepted record gives a non-finite KLD, NLL or dp");
    return 0;
}
