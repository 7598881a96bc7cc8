// calib_text.hpp — calibration text -> chunks of token ids, with the model's
// own vocabulary and llama-imatrix's chunking (tools/imatrix/imatrix.cpp):
// the whole text is tokenized once (BOS first when the vocabulary adds one),
// cut into chunks of `ctx` tokens, and the first token of every chunk is
// replaced by BOS, so each chunk starts as a sequence does.
//
// The vocabulary is the `tokenizer.ggml.*` metadata the output will carry
// (a GGUF input's, or the one converted from a Hugging Face folder), read by
// lowbit-llama's tokenizer: the same ids llama.cpp's tools compute.
#pragma once

#include <cstdio>
#include <string>
#include <vector>

#include <lowbit/formats/gguf.hpp>
#include <lowbit/formats/npy.hpp>

#include "model_source.hpp"
#include "tokenizer.hpp"  // examples/llama

namespace lbq {

using lowbit::result;

// The input's metadata as a parsed GGUF header (no tensors), so that
// lowbit-llama's readers (config, vocabulary) see what a GGUF file would give.
// `bytes` owns the storage the parsed file points into.
struct metadata_view {
    std::vector<std::uint8_t> bytes;
    gguf::gguf_file file;
};

inline result<metadata_view> view_metadata(const std::vector<std::pair<std::string, gguf::meta_value>>& kvs) {
    gguf::gguf_writer w;
    for (const auto& kv : kvs) LOWBIT_TRY(w.set(kv.first, kv.second));
    metadata_view v;
    LOWBIT_TRY(w.write_header(gguf::byte_sink::to_vector(v.bytes)));
    auto f = gguf::gguf_file::parse(span<const std::uint8_t>(v.bytes.data(), v.bytes.size()));
    if (!f) return f.error();
    v.file = std::move(*f);
    return v;
}

// The byte offset of the first byte that is not part of well-formed UTF-8
// (overlong forms, surrogates and code points past U+10FFFF included), or -1.
inline long long first_invalid_utf8(const std::string& s) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data());
    const std::size_t n = s.size();
    for (std::size_t i = 0; i < n;) {
        const unsigned c = p[i];
        std::size_t len;
        unsigned cp;
        if (c < 0x80) { ++i; continue; }
        if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
        else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
        else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
        else return static_cast<long long>(i);
        if (i + len > n) return static_cast<long long>(i);
        for (std::size_t k = 1; k < len; ++k) {
            if ((p[i + k] & 0xC0) != 0x80) return static_cast<long long>(i);
            cp = cp << 6 | (p[i + k] & 0x3F);
        }
        if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
            return static_cast<long long>(i);
        i += len;
    }
    return -1;
}

struct calib_tokens {
    std::vector<int> ids;  // chunks * ctx tokens, each chunk starting with BOS
    std::size_t chunks = 0, ctx = 0, text_tokens = 0;
};

namespace detail {
// Cuts ids into at most max_chunks whole chunks of ctx tokens, each starting
// with `bos` when it is an id (>= 0); fewer than min_chunks is an error.
inline result<calib_tokens> chunk_calibration(const std::vector<int>& ids, int bos, std::size_t ctx, std::size_t min_chunks,
                                              std::size_t max_chunks) {
    calib_tokens r;
    r.ctx = ctx;
    r.text_tokens = ids.size();
    const std::size_t have = ids.size() / ctx;
    if (have < min_chunks)
        return status::error(errc::invalid_argument, "--calib: %zu tokens; %zu chunks of --calib-ctx %zu need %zu", ids.size(),
                             min_chunks, ctx, min_chunks * ctx);
    r.chunks = std::min(have, max_chunks);
    r.ids.assign(ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(r.chunks * ctx));
    if (bos >= 0)
        for (std::size_t c = 0; c < r.chunks; ++c) r.ids[c * ctx] = bos;
    return r;
}

// The BOS id a chunk starts with: the vocabulary's when it adds one, else none (-1).
inline int chunk_bos(const llama::vocab& v) { return v.add_bos ? v.bos : -1; }
}  // namespace detail

// Reads `path` and tokenizes it; keeps at most `max_chunks` whole chunks.
// Errors (exit 2 in the tool): an unreadable, empty or non-UTF-8 file, a text
// shorter than `min_chunks` chunks.
inline result<calib_tokens> tokenize_calibration(const std::string& path, const llama::tokenizer& tok, std::size_t ctx,
                                                 std::size_t min_chunks, std::size_t max_chunks) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return status::error(errc::io_error, "--calib: cannot open it");
    std::string text;
    char buf[1 << 16];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
    const bool err = std::ferror(f) != 0;
    std::fclose(f);
    if (err) return status::error(errc::io_error, "--calib: read failed");
    if (text.empty()) return status::error(errc::invalid_argument, "--calib: the file is empty");
    if (const long long at = first_invalid_utf8(text); at >= 0)
        return status::error(errc::invalid_argument, "--calib: not UTF-8 text (invalid byte 0x%02x at offset %lld)",
                             static_cast<unsigned>(static_cast<unsigned char>(text[static_cast<std::size_t>(at)])), at);
    auto ids = tok.encode(text, true);
    if (!ids) return status::error(ids.error().code(), "--calib: %s", ids.error().message());
    return detail::chunk_calibration(*ids, detail::chunk_bos(tok.vocabulary()), ctx, min_chunks, max_chunks);
}

// Token ids already made (a .npy file of any integer dtype and shape, read in
// C order, e.g. a tokenizer's output saved with numpy), chunked as text is:
// each chunk starts with `bos` when it is an id (>= 0). No tokenizer is
// needed, so a model without one (a generated checkpoint, a "no_vocab" GGUF)
// can be calibrated this way.
// Errors: an unreadable or malformed file, a float dtype, no ids, an id
// outside [0, n_vocab), fewer than `min_chunks` chunks.
inline result<calib_tokens> read_calibration_ids(const std::string& path, int n_vocab, int bos, std::size_t ctx,
                                                 std::size_t min_chunks, std::size_t max_chunks) {
    auto a = lowbit::read_npy_ints(path.c_str());
    if (!a) return status::error(a.error().code(), "--calib: %s", a.error().message());
    if (a->data.empty()) return status::error(errc::invalid_argument, "--calib: the file holds no token ids");
    std::vector<int> ids(a->data.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
        const std::int64_t t = a->data[i];
        if (t < 0 || t >= n_vocab)
            return status::error(errc::invalid_argument, "--calib: token id %lld at index %zu is outside the vocabulary (0..%d)",
                                 static_cast<long long>(t), i, n_vocab - 1);
        ids[i] = static_cast<int>(t);
    }
    return detail::chunk_calibration(ids, bos, ctx, min_chunks, max_chunks);
}

inline bool is_npy_path(const std::string& path) { return path.size() >= 4 && path.compare(path.size() - 4, 4, ".npy") == 0; }

// The calibration tokens of --calib: token ids from a .npy file, else text.
inline result<calib_tokens> read_calibration(const std::string& path, const llama::tokenizer& tok, std::size_t ctx,
                                             std::size_t min_chunks, std::size_t max_chunks) {
    const llama::vocab& v = tok.vocabulary();
    return is_npy_path(path) ? read_calibration_ids(path, v.size(), detail::chunk_bos(v), ctx, min_chunks, max_chunks)
                             : tokenize_calibration(path, tok, ctx, min_chunks, max_chunks);
}

}  // namespace lbq
