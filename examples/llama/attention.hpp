// attention.hpp — causal grouped-query attention as blocked float products,
// for prefill (a whole prompt) and decode (one new position over the KV cache).
//
// Per task, one KV head g and a block of query positions: the query rows are
// every (position, query head of g's group) pair, so each K and V row, read
// once per block, serves all of them. Over the keys, in blocks of key_block:
//
//   S  = scale * K_blk Q^T                 (keys x query rows, one GEMM)
//   mask S[u][r] = -inf where key u comes after the position of row r
//   m' = max(m, column max of S);  c = exp(m - m');  l = c l + sum_u exp(S - m')
//   O  = c O + exp(S - m')^T V_blk        (query rows x head size, one GEMM)
//
// and at the end out = O / l. This is the online ("flash") softmax: every
// exponent is of a value minus the running maximum, so nothing overflows and
// the result is softmax(S) V up to rounding, without a score row per query
// as long as the context. The first key block holds key 0, which every query
// sees, so m is finite after it and exp(m - m') never meets inf - inf.
//
// On a CPU with AVX-512 (and a head size that is a multiple of 16) the block
// runs on avx512.hpp: S = K (scale Q)^T on a 12x32 register tile, the mask,
// maximum, exp and sum in one sweep of S with a 16-lane exp, and O = c O +
// P^T V on a 6x64 tile that also does the rescale. Elsewhere both products
// run on lowbit::linalg::gemm_acc (a 6x16 register tile, AVX2+FMA when the
// CPU has it, portable C++ otherwise) and the softmax on std::exp. The task
// split and every summation order depend only on the shapes, never on the
// executor, so any thread count gives bit-identical results (on one CPU: the
// AVX-512 path rounds differently from the other).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <vector>

#include <lowbit/algo/linalg.hpp>

#include "avx512.hpp"

namespace llama {

struct attention_dims {
    std::size_t heads = 0, kv_heads = 0, head_size = 0;
    std::size_t group() const { return heads / kv_heads; }  // query heads per KV head
};

// Where the operands live. Query row of position i (0-based in this call) and
// head h: q + i * q_stride + h * head_size; key / value of position u and KV
// head g: k + u * kv_stride + g * head_size (same for v); output like q.
struct attention_io {
    const float* q = nullptr;
    std::size_t q_stride = 0;
    const float* k = nullptr;
    const float* v = nullptr;
    std::size_t kv_stride = 0;
    float* out = nullptr;
    std::size_t out_stride = 0;
};

namespace detail {

// Keys per block: a multiple of the 6-row register tile, and small enough
// that S (key_block x query rows) stays in L1/L2 beside Q^T and O.
constexpr std::size_t key_block = 96;
// About this many query rows per task (positions x heads of the group): wide
// enough that each K element loaded serves many queries, small enough that a
// 512-token prompt still gives a few hundred tasks.
constexpr std::size_t query_rows = 96;
// Decode over a long context splits the keys into chunks of this many, one
// task each, merged afterwards in chunk order (see causal_attention).
constexpr std::size_t decode_chunk = 512;

inline std::size_t positions_per_block(std::size_t group) { return std::max<std::size_t>(1, query_rows / group); }

// One thread's working set, reused from task to task (lim, pad and qrow:
// the AVX-512 block's mask limits, key padding and query row addresses).
struct attention_scratch {
    std::vector<float> qt, s, o, m, l, c, pad;
    std::vector<std::size_t> lim;
    std::vector<const float*> qrow;
};

inline attention_scratch& thread_scratch() {
    static thread_local attention_scratch s;
    return s;
}

// Unnormalized attention of query positions [i0, i1) (positions first + i)
// of KV head g over keys [u_begin, u_end): leaves O (rows x head_size, row r
// = position i0 + r / group, head g * group + r % group), the running maximum
// m and the sum l of each row in s. Keys after a row's position are masked.
inline void attend_block_avx512(const attention_dims& a, const attention_io& io, std::size_t first, std::size_t i0,
                                std::size_t i1, std::size_t g, std::size_t u_begin, std::size_t u_end, attention_scratch& s);

inline void attend_block(const attention_dims& a, const attention_io& io, std::size_t first, std::size_t i0, std::size_t i1,
                         std::size_t g, std::size_t u_begin, std::size_t u_end, attention_scratch& s) {
#if LLAMA_AVX512
    if (a.head_size % 16 == 0 && x86::use_avx512()) return attend_block_avx512(a, io, first, i0, i1, g, u_begin, u_end, s);
#endif
    const std::size_t G = a.group(), hs = a.head_size, rows = (i1 - i0) * G;
    const std::size_t ld = (rows + 15) / 16 * 16;  // whole 16-column tiles in S; padded columns are zero queries
    const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
    const float neg_inf = -std::numeric_limits<float>::infinity();
    s.qt.assign(hs * ld, 0.0f);
    for (std::size_t r = 0; r < rows; ++r) {
        const float* qr = io.q + (i0 + r / G) * io.q_stride + (g * G + r % G) * hs;
        for (std::size_t d = 0; d < hs; ++d) s.qt[d * ld + r] = qr[d];
    }
    s.o.assign(rows * hs, 0.0f);
    s.m.assign(ld, neg_inf);
    s.l.assign(ld, 0.0f);
    s.c.resize(ld);
    s.s.resize(key_block * ld);
    const std::size_t p0 = first + i0;  // position of row 0; row r is at p0 + r / G
    const float* kg = io.k + g * hs;
    const float* vg = io.v + g * hs;
    for (std::size_t u0 = u_begin; u0 < u_end; u0 += key_block) {
        const std::size_t nk = std::min(key_block, u_end - u0);
        float* S = s.s.data();
        std::fill(S, S + nk * ld, 0.0f);
        lowbit::linalg::gemm_acc<float>(nk, ld, hs, kg + u0 * io.kv_stride, io.kv_stride, 1, s.qt.data(), ld, S, ld, scale);
        for (std::size_t k = 0; k < nk; ++k) {  // causal mask: only keys past p0 can be in some row's future
            const std::size_t u = u0 + k;
            if (u > p0) std::fill_n(S + k * ld, std::min(ld, (u - p0) * G), neg_inf);  // the rows at positions < u
        }
        float* c = s.c.data();
        std::copy(s.m.begin(), s.m.end(), c);  // c = old max for now
        for (std::size_t k = 0; k < nk; ++k)
            for (std::size_t r = 0; r < ld; ++r) s.m[r] = std::max(s.m[r], S[k * ld + r]);
        for (std::size_t r = 0; r < ld; ++r) {
            c[r] = std::exp(c[r] - s.m[r]);
            s.l[r] *= c[r];
        }
        for (std::size_t k = 0; k < nk; ++k)
            for (std::size_t r = 0; r < ld; ++r) s.l[r] += S[k * ld + r] = std::exp(S[k * ld + r] - s.m[r]);
        for (std::size_t r = 0; r < rows; ++r)
            if (c[r] != 1.0f)
                for (std::size_t d = 0; d < hs; ++d) s.o[r * hs + d] *= c[r];
        lowbit::linalg::gemm_acc<float>(rows, hs, nk, S, 1, ld, vg + u0 * io.kv_stride, io.kv_stride, s.o.data(), hs, 1.0f);
    }
}

// attend_block on avx512.hpp's kernels; the same algebra, other buffers: the
// scale goes into Q^T (exact for a head size that is a power of 4), S and c
// get slack and O whole 6-row tiles (see x86::weighted_values).
inline void attend_block_avx512(const attention_dims& a, const attention_io& io, std::size_t first, std::size_t i0,
                                std::size_t i1, std::size_t g, std::size_t u_begin, std::size_t u_end, attention_scratch& s) {
#if LLAMA_AVX512
    const std::size_t G = a.group(), hs = a.head_size, rows = (i1 - i0) * G;
    const std::size_t ld = (rows + 15) / 16 * 16, slack = 16;
    const float scale = 1.0f / std::sqrt(static_cast<float>(hs));
    // Q^T, scaled: rows outer made it a scatter of 4-byte stores (a tenth of
    // the block's time); dimensions outer writes each row of Q^T in order.
    s.qrow.resize(rows);
    for (std::size_t r = 0; r < rows; ++r) s.qrow[r] = io.q + (i0 + r / G) * io.q_stride + (g * G + r % G) * hs;
    s.qt.resize(hs * ld);
    for (std::size_t d = 0; d < hs; ++d) {
        float* qt = s.qt.data() + d * ld;
        for (std::size_t r = 0; r < rows; ++r) qt[r] = s.qrow[r][d] * scale;
        std::fill(qt + rows, qt + ld, 0.0f);  // padded columns: zero queries
    }
    s.o.assign((rows + 5) / 6 * 6 * hs, 0.0f);
    s.m.assign(ld, -std::numeric_limits<float>::infinity());
    s.l.assign(ld, 0.0f);
    s.c.assign(ld + slack, 0.0f);
    if (s.s.size() < key_block * ld + slack) s.s.resize(key_block * ld + slack);
    s.pad.resize(12 * hs);
    s.lim.resize(key_block);
    const std::size_t p0 = first + i0;  // position of row 0; row r is at p0 + r / G
    const float* kg = io.k + g * hs;
    const float* vg = io.v + g * hs;
    for (std::size_t u0 = u_begin; u0 < u_end; u0 += key_block) {
        const std::size_t nk = std::min(key_block, u_end - u0);
        for (std::size_t k = 0; k < nk; ++k)  // key u is masked for the rows at positions < u: the first (u - p0) G
            s.lim[k] = u0 + k > p0 ? std::min(ld, (u0 + k - p0) * G) : 0;
        x86::scores(nk, hs, kg + u0 * io.kv_stride, io.kv_stride, s.qt.data(), ld, s.s.data(), s.pad.data());
        x86::softmax_block(nk, ld, s.s.data(), s.lim.data(), s.m.data(), s.l.data(), s.c.data());
        x86::weighted_values(rows, hs, nk, s.s.data(), ld, vg + u0 * io.kv_stride, io.kv_stride, s.c.data(), s.o.data());
    }
#else
    (void)a, (void)io, (void)first, (void)i0, (void)i1, (void)g, (void)u_begin, (void)u_end, (void)s;
#endif
}

// Writes O / l of the block's rows to the output.
inline void store_block(const attention_dims& a, const attention_io& io, std::size_t i0, std::size_t i1, std::size_t g,
                        const attention_scratch& s) {
    const std::size_t G = a.group(), hs = a.head_size, rows = (i1 - i0) * G;
    for (std::size_t r = 0; r < rows; ++r) {
        float* out = io.out + (i0 + r / G) * io.out_stride + (g * G + r % G) * hs;
        const float inv = 1.0f / s.l[r];
        for (std::size_t d = 0; d < hs; ++d) out[d] = s.o[r * hs + d] * inv;
    }
}

}  // namespace detail

// Causal attention of n query positions first .. first + n - 1 over the keys
// and values of positions 0 .. first + n - 1 (prefill: first = 0; decode: n =
// 1 at first = pos, over the cache). Splits into tasks of (KV head, block of
// query positions); a single query block over a context longer than
// decode_chunk keys also splits its keys into chunks, whose partial (m, l, O)
// are merged afterwards in chunk order (the same algebra as one more key block).
template <class Exec>
void causal_attention(const attention_dims& a, const attention_io& io, std::size_t first, std::size_t n, Exec& exec) {
    using namespace detail;
    if (n == 0) return;
    const std::size_t G = a.group(), hs = a.head_size, bq = positions_per_block(G);
    const std::size_t blocks = (n + bq - 1) / bq, keys = first + n;
    if (blocks > 1 || first < decode_chunk) {
        exec(a.kv_heads * blocks, [&](std::size_t task) {
            const std::size_t g = task / blocks, i0 = task % blocks * bq, i1 = std::min(n, i0 + bq);
            attention_scratch& s = thread_scratch();
            attend_block(a, io, first, i0, i1, g, 0, first + i1, s);
            store_block(a, io, i0, i1, g, s);
        });
        return;
    }
    // One query block, long context: tasks of (KV head, key chunk). Every
    // chunk starts at or before position `first`, which all rows see (the last
    // chunk runs on to the end), so no row of a chunk is wholly masked.
    const std::size_t chunks = first / decode_chunk + 1, rows = n * G;
    const std::size_t part = rows * (hs + 2);  // O, then m, then l of one chunk
    static thread_local std::vector<float> parts;
    parts.resize(a.kv_heads * chunks * part);
    float* base = parts.data();
    exec(a.kv_heads * chunks, [&](std::size_t task) {
        const std::size_t g = task / chunks, u0 = task % chunks * decode_chunk;
        attention_scratch& s = thread_scratch();
        attend_block(a, io, first, 0, n, g, u0, task % chunks + 1 == chunks ? keys : u0 + decode_chunk, s);
        float* p = base + task * part;
        std::copy_n(s.o.begin(), rows * hs, p);  // s.o may hold more (whole tiles)
        std::copy_n(s.m.begin(), rows, p + rows * hs);
        std::copy_n(s.l.begin(), rows, p + rows * hs + rows);
    });
    // Merge: m = max over chunks; O = sum exp(m_j - m) O_j; l likewise.
    attention_scratch& s = thread_scratch();
    for (std::size_t g = 0; g < a.kv_heads; ++g) {
        const float* pg = base + g * chunks * part;
        s.m.assign(rows, -std::numeric_limits<float>::infinity());
        for (std::size_t j = 0; j < chunks; ++j)
            for (std::size_t r = 0; r < rows; ++r) s.m[r] = std::max(s.m[r], pg[j * part + rows * hs + r]);
        s.o.assign(rows * hs, 0.0f);
        s.l.assign(rows, 0.0f);
        for (std::size_t j = 0; j < chunks; ++j) {
            const float* p = pg + j * part;
            for (std::size_t r = 0; r < rows; ++r) {
                const float w = std::exp(p[rows * hs + r] - s.m[r]);
                s.l[r] += w * p[rows * hs + rows + r];
                for (std::size_t d = 0; d < hs; ++d) s.o[r * hs + d] += w * p[r * hs + d];
            }
        }
        store_block(a, io, 0, n, g, s);
    }
}

}  // namespace llama
