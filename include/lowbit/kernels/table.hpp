// lowbit/kernels/table.hpp — the kernel table: every matmul kernel, whatever
// its layout, is an entry {prepare activations, row kernel, rows per task}
// under a key (layout, bits or ggml type, symmetry, scale type, granularity,
// path, arch). One front door (kernels/run.hpp) checks the arguments, looks
// up the entry for active_arch() and walks the declared fallback chain
// (fallback_arch) when there is none; a fallback is never silent: the
// options can refuse it and matmul_info reports it. docs/kernels.md,
// "The kernel table".
//
// The entries of a scheme are constexpr arrays built by class templates
// (kernels/detail/entries.hpp, formats/detail/gguf_entries.hpp), so the typed
// API instantiates only the schemes it names; kernels/kernel_list.hpp walks
// all of them (tests, benches, lowbit-kernels).
//
// No SIMD here: types, names and the lookup.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "../core/scheme.hpp"
#include "../core/status.hpp"
#include "../weights/weights_view.hpp"
#include "arch.hpp"

namespace lowbit {

// Which arithmetic a matmul uses (docs/kernels.md):
//   automatic    dequant_fma for dense and tiled weights (the accurate path; choose
//                int8_dot explicitly for speed); ggml blocks have only int8_dot
//   dequant_fma  codes -> f32 in registers, FMA with f32 activations (exact up to float rounding)
//   int8_dot     activations quantized per 32-block to int8, integer dot products (fastest, slightly lossy)
//   reference    the scalar reference (double accumulation), for tests
//   bf16_dot     activations rounded to bf16 (round to nearest even), exact products with the codes,
//                f32 sums (vdpbf16ps where the CPU has AVX512_BF16); dense and tiled weights only,
//                never chosen by automatic (its error is the bf16 rounding of x: docs/kernels.md)
// Dense per-group schemes whose group is a multiple of 8 but not of 32 run
// the small-group kernels (kernels/detail/blocks.hpp); other groups, and
// 1-bit (2-bit: unless a multiple of 16) small groups on int8_dot, have only
// the reference: a fallback, reported in matmul_info.
enum class matmul_path : std::uint8_t { automatic, dequant_fma, int8_dot, reference, bf16_dot };

inline const char* path_name(matmul_path p) noexcept {
    switch (p) {
        case matmul_path::automatic: return "auto";
        case matmul_path::dequant_fma: return "f32";
        case matmul_path::int8_dot: return "i8";
        case matmul_path::reference: return "ref";
        case matmul_path::bf16_dot: return "bf16";
    }
    return "?";
}

// What a table entry is for. `a` is the arch the entry is the kernel of (an
// entry may run another arch's body: the f32 path of avx512vnni is avx512's).
struct kernel_key {
    layout lay = layout::dense;
    int bits_or_type = 4;         // dense, tiled, codebook, tiled_codebook: bits; ggml, tiled_kquant: the gguf_type id
    bool symmetric = true;        // dense, tiled
    scale_type scale = scale_type::f16;
    bool per_tensor = false;      // dense, tiled: per-tensor scale (else per group / channel)
    matmul_path path = matmul_path::dequant_fma;  // never automatic
    arch a = arch::scalar;
};

// Everything an entry's functions read: the weights, the activations, the
// output and the prepared activations in the workspace.
struct matmul_call {
    const weights_view* w = nullptr;
    const float* x = nullptr;
    std::size_t ldx = 0, M = 0;
    float* y = nullptr;
    std::size_t ldy = 0;
    void* ws = nullptr;  // ws_bytes(w, M) bytes, 64-byte aligned
};

struct kernel_entry {
    kernel_key key;
    arch body = arch::scalar;  // the instruction set the row kernel is written for
    std::size_t (*ws_bytes)(const weights_view&, std::size_t M) = nullptr;  // null: no preparation
    // Prepares activation row m into the workspace (called once per row, rows in any order).
    status (*prepare)(const matmul_call&, std::size_t m) = nullptr;
    // out(m, r) for weight rows [r0, r1) and every m; r0 is a multiple of rows_per_task.
    void (*rows)(const matmul_call&, std::size_t r0, std::size_t r1) = nullptr;
    std::uint16_t rows_per_task = 64;  // fixed split: results never depend on the thread count
    // CPU features the body needs beyond its key's arch (kernel_needs bits): the
    // lookup passes over the entry where one is missing, to a later entry of
    // the same key (a body without the feature) or down the fallback chain.
    std::uint8_t needs = 0;
};

// kernel_entry::needs bits.
constexpr std::uint8_t needs_avx512bf16 = 1;
constexpr std::uint8_t needs_avx512vbmi = 2;  // AVX512_VBMI and AVX512_BITALG (the tiled codebook body uses VBMI only)
constexpr std::uint8_t needs_amx_bf16 = 4;    // AMX-BF16 (cpu_features::amx_bf16; the tile state itself is arch::amx's)

// Whether this CPU has the features the entry needs beyond its arch.
inline bool needs_met(const kernel_entry& e) noexcept {
    return (!(e.needs & needs_avx512bf16) || detail::cpu().avx512bf16) &&
           (!(e.needs & needs_avx512vbmi) || (detail::cpu().avx512vbmi && detail::cpu().avx512bitalg)) &&
           (!(e.needs & needs_amx_bf16) || detail::cpu().amx_bf16);
}

// The declared fallback chain: the arch whose kernels serve `a` when it has
// none of its own (scalar: the end).
constexpr arch fallback_arch(arch a) noexcept {
    switch (a) {
        case arch::amx: return arch::avx512vnni;
        case arch::avx512vnni: return arch::avx512;
        case arch::avxvnni: return arch::avx2;
        case arch::avx512: return arch::avx2;
        case arch::avx2: return arch::sse2;
        case arch::sse2: return arch::scalar;
        case arch::neondot: return arch::neon;
        case arch::neon: return arch::scalar;
        default: return arch::scalar;
    }
}

// "w4-sym-f16/tiled/i8/avx512vnni", "w8pt-asym-bf16/dense/f32/sse2", "Q4_K/ggml/i8/avx2",
// "cb4/tiled_codebook/i8/avx512vnni+vbmi", "Q4_K/tiled_kquant/i8/avx512vnni":
// the weights, layout, path and the body's arch (XNNPACK-style names).
inline void kernel_name(const kernel_entry& e, char* buf, std::size_t size) noexcept {
    const kernel_key& k = e.key;
    if (k.lay == layout::ggml || k.lay == layout::tiled_kquant)
        std::snprintf(buf, size, "%s/%s/%s/%s%s", gguf::type_name(static_cast<gguf::gguf_type>(k.bits_or_type)), layout_name(k.lay), path_name(k.path),
                      arch_name(e.body), (e.needs & needs_avx512vbmi) ? "+vbmi" : "");
    else if (k.lay == layout::codebook || k.lay == layout::tiled_codebook)
        std::snprintf(buf, size, "cb%d/%s/%s/%s%s", k.bits_or_type, layout_name(k.lay), path_name(k.path), arch_name(e.body),
                      (e.needs & needs_avx512vbmi) ? "+vbmi" : "");
    else
        std::snprintf(buf, size, "w%d%s-%s-%s/%s/%s/%s%s", k.bits_or_type, k.per_tensor ? "pt" : "", k.symmetric ? "sym" : "asym",
                      scale_type_name(k.scale), layout_name(k.lay), path_name(k.path), arch_name(e.body),
                      (e.needs & needs_avx512bf16) ? "+bf16" : "");
}

// Which kernel a call ran (matmul_options::info points at one).
struct matmul_info {
    const kernel_entry* entry = nullptr;
    arch wanted = arch::scalar;  // active_arch() at the call
    bool fell_back = false;      // the entry is not the wanted arch's own (or the reference stood in for a fast path)
    char kernel[64] = {};        // kernel_name(*entry)
};

struct matmul_options {
    matmul_path path = matmul_path::automatic;
    // false: a call whose (weights, path) has no kernel of the active arch
    // fails with errc::unsupported instead of running a slower one.
    bool allow_fallback = true;
    matmul_info* info = nullptr;  // if set, told which kernel ran
};

// Scratch memory of the fast paths: prepared activations, ~(K + 32) * M * 4 bytes;
// apart from them, input(n): n floats of a transformed input (rotated_gemv's
// Q x), which get() never overlaps. Grows on demand, never shrinks; one
// workspace per concurrent call.
class matmul_workspace {
public:
    void* get(std::size_t bytes) { return aligned(buf_, bytes); }
    float* input(std::size_t n) { return static_cast<float*>(aligned(in_, n * sizeof(float))); }
    std::size_t capacity() const noexcept { return buf_.size() + in_.size(); }

private:
    static void* aligned(std::vector<unsigned char>& b, std::size_t bytes) {
        if (b.size() < bytes + 64) b.resize(bytes + 64);
        const auto p = reinterpret_cast<std::uintptr_t>(b.data());
        return b.data() + ((64 - (p & 63)) & 63);
    }
    std::vector<unsigned char> buf_, in_;
};

namespace detail {

// The entries of one family (one scheme in one layout, or one ggml type).
struct kernel_family {
    const kernel_entry* begin = nullptr;
    std::size_t count = 0;
};

// A family's N entries built in a constexpr function, appended in order (the
// tables whose entries depend on what a type has: gguf_entries.hpp, codebook_entries.hpp).
template <std::size_t N>
struct entry_list {
    kernel_entry e[N] = {};
    std::size_t n = 0;
    constexpr kernel_entry& add(const kernel_entry& k) noexcept {
        e[n] = k;
        return e[n++];
    }
    constexpr kernel_family family() const noexcept { return {e, N}; }
};

inline const kernel_entry* find_entry(const kernel_family& f, matmul_path path, arch a) noexcept {
    for (std::size_t i = 0; i < f.count; ++i)
        if (f.begin[i].key.path == path && f.begin[i].key.a == a && needs_met(f.begin[i])) return &f.begin[i];
    return nullptr;
}

// The entry for (path, wanted) or the first one down the fallback chain.
// `forced_fallback`: the caller already knows no fast kernel applies (the
// reference stands in), which counts as a fallback too.
inline result<const kernel_entry*> lookup(const kernel_family& f, matmul_path path, arch wanted, bool allow_fallback,
                                          bool forced_fallback, matmul_info* info) noexcept {
    const kernel_entry* e = nullptr;
    for (arch a = wanted;; a = fallback_arch(a)) {
        if ((e = find_entry(f, path, a)) != nullptr || a == arch::scalar) break;
    }
    if (!e) return status::error(errc::unsupported, "no %s kernel for these weights", path_name(path));
    // The reference is one scalar entry for every arch: asked for, it is never a fallback.
    const bool fell = forced_fallback || (path != matmul_path::reference && e->key.a != wanted);
    if (fell && !allow_fallback) {
        char name[64];
        kernel_name(*e, name, sizeof name);
        return status::error(errc::unsupported, "no %s kernel of arch %s for these weights (the next is %s) and options.allow_fallback is false",
                             path_name(path), arch_name(wanted), name);
    }
    if (info) {
        info->entry = e;
        info->wanted = wanted;
        info->fell_back = fell;
        kernel_name(*e, info->kernel, sizeof info->kernel);
    }
    return e;
}

}  // namespace detail
}  // namespace lowbit
