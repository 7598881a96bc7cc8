// dry_run.hpp — lowbit-quantize --dry-run: the bytes a plan writes, from the
// input's headers and the plan alone (docs/tools.md, "--dry-run"). Per tensor
// the GGUF data bytes, split into codes and the per-block scales/mins the
// type stores; the header and alignment padding; the exact file size (the
// gguf_writer lays the file out against a sink that only counts); for an
// imported quantized checkpoint, what its stored codes, scales, zero points
// and permutations take; and the KV cache llama.cpp allocates for --ctx
// tokens (F16 K and V, n_layer x ctx x n_head_kv x head_dim each).
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <lowbit/formats/gguf.hpp>
#include <lowbit/formats/gguf_blocks.hpp>
#include <lowbit/formats/weights_gguf_writer.hpp>

#include "model_source.hpp"
#include "progress.hpp"

namespace lbq {

// Bits per weight of a type's codes alone (its blocks also hold scales,
// mins, sub-block scales); 0 where the codes are not fixed-width (TQ1_0's
// base-3 packing, the IQ grids).
inline int code_bits(gguf_type t) {
    switch (t) {
        case gguf_type::f32: return 32;
        case gguf_type::f16: case gguf_type::bf16: return 16;
        case gguf_type::q8_0: return 8;
        case gguf_type::q6_K: return 6;
        case gguf_type::q5_0: case gguf_type::q5_1: case gguf_type::q5_K: return 5;
        case gguf_type::q4_0: case gguf_type::q4_1: case gguf_type::q4_K: case gguf_type::iq4_nl: case gguf_type::iq4_xs:
        case gguf_type::mxfp4: return 4;
        case gguf_type::q3_K: return 3;
        case gguf_type::q2_K: case gguf_type::tq2_0: return 2;
        default: return 0;
    }
}

// An unsigned integer metadata value (u8..u64, non-negative i8..i64).
inline std::optional<std::uint64_t> kv_uint(const std::vector<std::pair<std::string, lowbit::gguf::meta_value>>& kvs, const std::string& key) {
    using vt = lowbit::gguf::value_type;
    for (const auto& kv : kvs) {
        if (kv.first != key) continue;
        const vt t = kv.second.type();
        std::size_t n = t == vt::u8 || t == vt::i8 ? 1 : t == vt::u16 || t == vt::i16 ? 2 : t == vt::u32 || t == vt::i32 ? 4
                        : t == vt::u64 || t == vt::i64 ? 8 : 0;
        if (n == 0 || kv.second.encoded().size() < n) return std::nullopt;
        std::uint64_t v = 0;
        for (std::size_t i = 0; i < n; ++i) v |= static_cast<std::uint64_t>(kv.second.encoded()[i]) << (8 * i);
        const bool is_signed = t == vt::i8 || t == vt::i16 || t == vt::i32 || t == vt::i64;
        if (is_signed && (v >> (8 * n - 1)) & 1) return std::nullopt;
        return v;
    }
    return std::nullopt;
}

struct kv_cache_size {
    std::uint64_t n_layer = 0, n_head_kv = 0, k_dim = 0, v_dim = 0, ctx = 0;
    std::uint64_t bytes() const { return n_layer * ctx * n_head_kv * (k_dim + v_dim) * 2; }  // F16 K and V
};

// From <arch>.block_count, .attention.head_count(_kv), .embedding_length,
// .attention.key_length / value_length; nullopt when the metadata lacks them.
inline std::optional<kv_cache_size> kv_cache_for(const model_source& src, std::uint64_t ctx) {
    const std::string a = src.info.arch;
    if (a.empty()) return std::nullopt;
    const auto layers = kv_uint(src.kvs, a + ".block_count"), heads = kv_uint(src.kvs, a + ".attention.head_count");
    const auto embd = kv_uint(src.kvs, a + ".embedding_length");
    if (!layers || !heads || *heads == 0) return std::nullopt;
    kv_cache_size k;
    k.n_layer = *layers;
    k.n_head_kv = kv_uint(src.kvs, a + ".attention.head_count_kv").value_or(*heads);
    const std::uint64_t head_dim = embd ? *embd / *heads : 0;
    k.k_dim = kv_uint(src.kvs, a + ".attention.key_length").value_or(head_dim);
    k.v_dim = kv_uint(src.kvs, a + ".attention.value_length").value_or(head_dim);
    if (k.k_dim == 0 || k.v_dim == 0) return std::nullopt;
    k.ctx = ctx;
    return k;
}

// Prints the plan (stdout: it is the command's output) and returns the file size.
// lowbit[i], when set, is the shape of tensor i's lowbit weights (lowbit_types.hpp,
// declared through `lw`): their codes, and scales, zero points and permutation.
inline std::uint64_t print_dry_run(const model_source& src, const std::vector<gguf_type>& types,
                                   const std::vector<std::optional<lowbit::weights_view>>& lowbit, lowbit::weights_gguf_writer& lw,
                                   lowbit::gguf::gguf_writer& w, std::optional<std::uint64_t> ctx) {
    std::uint64_t counted = 0;
    const lowbit::gguf::byte_sink counter(&counted, [](void* c, const std::uint8_t*, std::size_t n) {
        *static_cast<std::uint64_t*>(c) += n;
        return lowbit::status();
    });
    (void)lw.write_header(counter);  // lays out the offsets (lowbit keys too); only counts the bytes
    std::printf("%-32s %-7s %-18s %14s %14s %14s\n", "tensor", "type", "shape", "bytes", "codes", "scales/mins");
    std::uint64_t data = 0, codes_total = 0, scales_total = 0;
    std::uint64_t in_codes = 0, in_scales = 0, in_zeros = 0, in_perm = 0;
    for (std::size_t i = 0; i < src.tensors.size(); ++i) {
        const source_tensor& t = src.tensors[i];
        const std::uint64_t values = t.row_length() * t.rows();
        const auto& lb = lowbit[i];
        const bool codebook = lb && lb->lay() == lowbit::layout::codebook;
        const std::uint64_t grid = codebook ? std::uint64_t{1} << lb->scheme().bits : 0;  // the grid tensor
        const std::uint64_t bytes = lb ? lb->bytes() + grid
                                       : static_cast<std::uint64_t>(lowbit::gguf::row_size(types[i], static_cast<std::int64_t>(t.row_length()))) * t.rows();
        const int cb = lb ? lb->scheme().bits : code_bits(types[i]);
        std::string shape, type = lowbit::gguf::type_name(types[i]);
        if (codebook) {
            type = "cb" + std::to_string(lb->scheme().bits);
        } else if (lb) {
            char b[48];
            lb->scheme().name(b, sizeof b);
            type = b;
        }
        for (int d = 0; d < t.desc.n_dims; ++d) shape += (d ? "x" : "") + std::to_string(t.desc.dims[d]);
        char c[24] = "-", s[24] = "-";
        if (cb) {  // lowbit: the packed code array as stored (tiled blocks are padded to 16 rows x 32 columns);
                   // codebooks: the indices (their blocks' f16 scales and the grid are the rest)
            const std::uint64_t codes = lb && !codebook ? lb->code_bytes() : values * static_cast<std::uint64_t>(cb) / 8;
            std::snprintf(c, sizeof c, "%llu", static_cast<unsigned long long>(codes));
            std::snprintf(s, sizeof s, "%llu", static_cast<unsigned long long>(bytes - codes));
            codes_total += codes;
            scales_total += bytes - codes;
        }
        std::printf("%-32s %-7s %-18s %14llu %14s %14s\n", printable(t.desc.name).c_str(), type.c_str(), shape.c_str(),
                    static_cast<unsigned long long>(bytes), c, s);
        data += bytes;
        if (t.footprint) {
            in_codes += t.footprint->codes;
            in_scales += t.footprint->scales;
            in_zeros += t.footprint->zeros;
            in_perm += t.footprint->perm;
        }
    }
    const std::uint64_t total = w.file_size();
    std::printf("tensor data: %llu bytes (codes %llu, scales/mins %llu, the rest in types without fixed-width codes)\n",
                static_cast<unsigned long long>(data), static_cast<unsigned long long>(codes_total),
                static_cast<unsigned long long>(scales_total));
    std::printf("header and metadata: %llu bytes; alignment padding: %llu bytes\n", static_cast<unsigned long long>(w.data_offset()),
                static_cast<unsigned long long>(total - w.data_offset() - data));
    std::printf("file: %llu bytes (%s)\n", static_cast<unsigned long long>(total), human_bytes(static_cast<double>(total)).c_str());
    if (in_codes)
        std::printf("imported checkpoint, as lowbit holds it: codes %llu, scales %llu, zero points %llu, permutations %llu bytes\n",
                    static_cast<unsigned long long>(in_codes), static_cast<unsigned long long>(in_scales),
                    static_cast<unsigned long long>(in_zeros), static_cast<unsigned long long>(in_perm));
    if (ctx) {
        if (const auto kv = kv_cache_for(src, *ctx))
            std::printf("KV cache at --ctx %llu: %llu bytes (%s; F16, %llu layers x %llu KV heads x (%llu + %llu) dims)\n"
                        "file + KV cache: %llu bytes\n",
                        static_cast<unsigned long long>(*ctx), static_cast<unsigned long long>(kv->bytes()),
                        human_bytes(static_cast<double>(kv->bytes())).c_str(), static_cast<unsigned long long>(kv->n_layer),
                        static_cast<unsigned long long>(kv->n_head_kv), static_cast<unsigned long long>(kv->k_dim),
                        static_cast<unsigned long long>(kv->v_dim), static_cast<unsigned long long>(total + kv->bytes()));
        else
            std::printf("KV cache: the metadata lacks %s.block_count / attention.head_count / embedding_length\n", src.info.arch.c_str());
    }
    return total;
}

}  // namespace lbq
