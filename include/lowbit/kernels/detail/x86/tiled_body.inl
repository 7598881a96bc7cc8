// lowbit/kernels/detail/x86/tiled_body.inl — the x86 kernels on the tiled
// layout (pack/tiled.hpp), stamped per instruction set by x86/kernels.hpp with
// the same macros as body.inl (LOWBIT_X86_NS, LOWBIT_TGT, LOWBIT_X86_DOT,
// LOWBIT_X86_ZMM). Math and float order: detail/tiled_blocks.hpp.
//
// A tile is 16 rows: one zmm of int32 / float lanes, or two ymm halves (rows
// 0-7 and 8-15: bytes 0-31 and 32-63 of every 64-byte quad vector). Per block,
// the 8 quad vectors are unpacked once (a shift and a mask per bit plane) and
// feed MB activation rows: 8 dot products with the 4 activation bytes
// 4j..4j+3 broadcast, then one float conversion, one multiply and one FMA per
// row block — the integer work dominates, the float work is per 32 codes.
//
// No include guard on purpose.

namespace LOWBIT_X86_NS {
namespace tl {

#define LOWBIT_TGT_INLINE LOWBIT_TGT __attribute__((always_inline)) inline

#if LOWBIT_X86_ZMM
// (maskz forms below: GCC 12 warns -Wmaybe-uninitialized inside the unmasked ones)
using vi = __m512i;
using vf = __m512;
constexpr std::size_t lanes = 16;
LOWBIT_TGT_INLINE vi load(const void* p) { return _mm512_loadu_si512(p); }
LOWBIT_TGT_INLINE vi set1_8(int v) { return _mm512_set1_epi8(static_cast<char>(v)); }
LOWBIT_TGT_INLINE vi set1_32(std::int32_t v) { return _mm512_set1_epi32(v); }
LOWBIT_TGT_INLINE vi vand(vi a, vi b) { return _mm512_and_si512(a, b); }
LOWBIT_TGT_INLINE vi vor(vi a, vi b) { return _mm512_or_si512(a, b); }
template <int N>
LOWBIT_TGT_INLINE vi srl16(vi a) { return _mm512_maskz_srli_epi16(0xffffffffu, a, N); }
template <int N>
LOWBIT_TGT_INLINE vi sll16(vi a) { return _mm512_maskz_slli_epi16(0xffffffffu, a, N); }
template <int N>
LOWBIT_TGT_INLINE vi srl32(vi a) { return _mm512_maskz_srli_epi32(0xffff, a, N); }
template <int N>
LOWBIT_TGT_INLINE vi sll32(vi a) { return _mm512_maskz_slli_epi32(0xffff, a, N); }
template <int N>
LOWBIT_TGT_INLINE vi sra32(vi a) { return _mm512_maskz_srai_epi32(0xffff, a, N); }
LOWBIT_TGT_INLINE vi sub8(vi a, vi b) { return _mm512_sub_epi8(a, b); }
LOWBIT_TGT_INLINE vi add32(vi a, vi b) { return _mm512_add_epi32(a, b); }
LOWBIT_TGT_INLINE vi sub32(vi a, vi b) { return _mm512_sub_epi32(a, b); }
LOWBIT_TGT_INLINE vi mul32(vi a, vi b) { return _mm512_mullo_epi32(a, b); }
LOWBIT_TGT_INLINE vi zero_i() { return _mm512_setzero_si512(); }
LOWBIT_TGT_INLINE vf zero_f() { return _mm512_setzero_ps(); }
LOWBIT_TGT_INLINE vf set1_f(float v) { return _mm512_set1_ps(v); }
LOWBIT_TGT_INLINE vf cvt(vi a) { return _mm512_maskz_cvtepi32_ps(0xffff, a); }  // maskz: see body.inl codes16
LOWBIT_TGT_INLINE vf mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
LOWBIT_TGT_INLINE vf sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
LOWBIT_TGT_INLINE vf fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
LOWBIT_TGT_INLINE void store(float* p, vf v) { _mm512_storeu_ps(p, v); }
LOWBIT_TGT_INLINE vf loadf(const float* p) { return _mm512_loadu_ps(p); }
// 16 scales / zeros of a tile (h: always 0): scales i.. of the array p of type k.
LOWBIT_TGT_INLINE vf scales(const void* p, std::size_t i, scale_type k) {
    const auto* h = static_cast<const std::uint16_t*>(p) + i;
    if (k == scale_type::f16) return _mm512_maskz_cvtph_ps(0xffff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(h)));
    if (k == scale_type::bf16)
        return _mm512_castsi512_ps(
            _mm512_maskz_slli_epi32(0xffff, _mm512_maskz_cvtepu16_epi32(0xffff, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(h))), 16));
    return _mm512_loadu_ps(static_cast<const float*>(p) + i);
}
LOWBIT_TGT_INLINE vi zeros(const std::uint8_t* p) {
    return _mm512_maskz_cvtepu8_epi32(0xffff, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
}
// A 16-byte table in every 128-bit lane; byte i of the result = table[idx byte i] (idx < 16).
LOWBIT_TGT_INLINE vi table16(const std::uint8_t* p) { return _mm512_maskz_broadcast_i32x4(0xffff, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
LOWBIT_TGT_INLINE vi lookup16(vi table, vi idx) { return _mm512_shuffle_epi8(table, idx); }
#else
using vi = __m256i;
using vf = __m256;
constexpr std::size_t lanes = 8;
LOWBIT_TGT_INLINE vi load(const void* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
LOWBIT_TGT_INLINE vi set1_8(int v) { return _mm256_set1_epi8(static_cast<char>(v)); }
LOWBIT_TGT_INLINE vi set1_32(std::int32_t v) { return _mm256_set1_epi32(v); }
LOWBIT_TGT_INLINE vi vand(vi a, vi b) { return _mm256_and_si256(a, b); }
LOWBIT_TGT_INLINE vi vor(vi a, vi b) { return _mm256_or_si256(a, b); }
template <int N>
LOWBIT_TGT_INLINE vi srl16(vi a) { return _mm256_srli_epi16(a, N); }
template <int N>
LOWBIT_TGT_INLINE vi sll16(vi a) { return _mm256_slli_epi16(a, N); }
template <int N>
LOWBIT_TGT_INLINE vi srl32(vi a) { return _mm256_srli_epi32(a, N); }
template <int N>
LOWBIT_TGT_INLINE vi sll32(vi a) { return _mm256_slli_epi32(a, N); }
template <int N>
LOWBIT_TGT_INLINE vi sra32(vi a) { return _mm256_srai_epi32(a, N); }
LOWBIT_TGT_INLINE vi sub8(vi a, vi b) { return _mm256_sub_epi8(a, b); }
LOWBIT_TGT_INLINE vi add32(vi a, vi b) { return _mm256_add_epi32(a, b); }
LOWBIT_TGT_INLINE vi sub32(vi a, vi b) { return _mm256_sub_epi32(a, b); }
LOWBIT_TGT_INLINE vi mul32(vi a, vi b) { return _mm256_mullo_epi32(a, b); }
LOWBIT_TGT_INLINE vi zero_i() { return _mm256_setzero_si256(); }
LOWBIT_TGT_INLINE vf zero_f() { return _mm256_setzero_ps(); }
LOWBIT_TGT_INLINE vf set1_f(float v) { return _mm256_set1_ps(v); }
LOWBIT_TGT_INLINE vf cvt(vi a) { return _mm256_cvtepi32_ps(a); }
LOWBIT_TGT_INLINE vf mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
LOWBIT_TGT_INLINE vf sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
LOWBIT_TGT_INLINE vf fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
LOWBIT_TGT_INLINE void store(float* p, vf v) { _mm256_storeu_ps(p, v); }
LOWBIT_TGT_INLINE vf loadf(const float* p) { return _mm256_loadu_ps(p); }
LOWBIT_TGT_INLINE vf scales(const void* p, std::size_t i, scale_type k) {
    const auto* h = static_cast<const std::uint16_t*>(p) + i;
    if (k == scale_type::f16) return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h)));
    if (k == scale_type::bf16)
        return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h))), 16));
    return _mm256_loadu_ps(static_cast<const float*>(p) + i);
}
LOWBIT_TGT_INLINE vi zeros(const std::uint8_t* p) {
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
}
LOWBIT_TGT_INLINE vi table16(const std::uint8_t* p) { return _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
LOWBIT_TGT_INLINE vi lookup16(vi table, vi idx) { return _mm256_shuffle_epi8(table, idx); }
#endif
constexpr std::size_t prefetch_bytes = 4096;       // how far ahead the int8 kernel prefetches its weight streams
constexpr std::size_t halves = tile_rows / lanes;  // vectors per tile: 1 (zmm) or 2 (ymm)
constexpr std::size_t half_bytes = 4 * lanes;      // bytes of a quad vector per half

// Integer dot: acc + sum over 4-byte groups of u8 codes * s8 activations.
template <int B>
LOWBIT_TGT_INLINE vi dot(vi acc, vi u, vi x) {
#if LOWBIT_X86_DOT == 2
    return _mm512_dpbusd_epi32(acc, u, x);
#elif LOWBIT_X86_DOT == 1
    return _mm256_dpbusd_avx_epi32(acc, u, x);
#elif LOWBIT_X86_ZMM
    const vi ones = _mm512_set1_epi16(1);
    if constexpr (B < 8) {  // u <= 127: a pair sum never saturates maddubs
        return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, x), ones));
    } else {  // 8-bit codes: nibbles, u = 16*hi + lo
        const vi m = set1_8(0x0f);
        const vi lo = vand(u, m), hi = vand(srl16<4>(u), m);
        return _mm512_add_epi32(acc, _mm512_add_epi32(_mm512_madd_epi16(_mm512_maddubs_epi16(hi, x), _mm512_set1_epi16(16)),
                                                      _mm512_madd_epi16(_mm512_maddubs_epi16(lo, x), ones)));
    }
#else
    const vi ones = _mm256_set1_epi16(1);
    if constexpr (B < 8) {
        return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, x), ones));
    } else {
        const vi m = set1_8(0x0f);
        const vi lo = vand(u, m), hi = vand(srl16<4>(u), m);
        return _mm256_add_epi32(acc, _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(hi, x), _mm256_set1_epi16(16)),
                                                      _mm256_madd_epi16(_mm256_maddubs_epi16(lo, x), ones)));
    }
#endif
}

// Shift a plane vector so that its bits for quad t land at bit `at`, then mask.
template <int D>
LOWBIT_TGT_INLINE vi shift16(vi a) {
    if constexpr (D > 0) return srl16<D>(a);
    else if constexpr (D < 0) return sll16<-D>(a);
    else return a;
}
// Quad vector J from the planes of one block half (p: the block + half offset).
template <int B, int J, int K = 0>
LOWBIT_TGT_INLINE vi quad(const std::uint8_t* p) {
    constexpr bit_planes pl = planes_of(B);
    if constexpr (B == 8) {
        return load(p + 64 * J);
    } else if constexpr (K >= pl.count) {
        return zero_i();
    } else {
        constexpr int w = pl.width[K], sh = pl.shift[K], a = J % w, t = J / w;
        constexpr int offset = (K == 0 ? 0 : pl.width[0]) + (K == 2 ? pl.width[1] : 0);  // vectors before plane K
        const vi part = vand(shift16<t * w - sh>(load(p + 64 * (offset + a))), set1_8(((1 << w) - 1) << sh));
        if constexpr (K + 1 < pl.count) return vor(part, quad<B, J, K + 1>(p));
        else return part;
    }
}
template <int B>
LOWBIT_TGT_INLINE void unpack_block(const std::uint8_t* p, vi (&v)[8]) {
    v[0] = quad<B, 0>(p);
    v[1] = quad<B, 1>(p);
    v[2] = quad<B, 2>(p);
    v[3] = quad<B, 3>(p);
    v[4] = quad<B, 4>(p);
    v[5] = quad<B, 5>(p);
    v[6] = quad<B, 6>(p);
    v[7] = quad<B, 7>(p);
}

// The tiled codebook lookup: quad vector J of a block of IB-bit index planes
// (p: the block + half offset) as grid levels, u8 G + 128 (the int8 path
// below). cb_lut<IB> holds the tables, made once per register block from the
// 16-byte grid tab16 (cb_lut_of<0>: nothing, the plain layout).
#if !defined(LOWBIT_X86_VBMI)
template <int IB>
struct cb_lut {
    vi t;
};
template <int IB>
LOWBIT_TGT_INLINE cb_lut<IB> cb_lut_of(const std::uint8_t* tab16) {
    if constexpr (IB == 0) return {zero_i()};
    else return {table16(tab16)};
}
// The plain unpack (a shift and a mask per plane), then one pshufb (the masked
// indices are < 16: bit 7 never zeroes a byte).
template <int IB, int J>
LOWBIT_TGT_INLINE vi cb_quad(const std::uint8_t* p, const cb_lut<IB>& l) {
    return lookup16(l.t, quad<IB, J>(p));
}
#else
#if !LOWBIT_X86_ZMM
#error "the AVX512_VBMI stamp of tiled_body.inl is zmm only"
#endif
// AVX512_VBMI (the kdetail::avx512vbmi stamp, formats/detail/x86/
// tiled_codebook_vbmi.hpp). vpermb picks byte idx & 63 of a 64-byte table and
// ignores index bits 6-7, so a table that repeats over the index bits a quad
// does not own lets those bits hold anything: no mask before the lookup.
//   IB = 4: the grid repeated four times (table16) ignores bits 4-5. Quads
//     0-3 are the plane vectors as loaded, quads 4-7 the same shifted right
//     by 4 (the next byte's low nibble lands in bits 4-7): 1.5 instructions a
//     quad with the lookup, where the pshufb body takes 2.5 (and, shift, and).
//   IB = 3: the low 2 bits of quad J sit at bits 2t..2t+1 of plane vector
//     P_a (J = a + 2t), its high bit at bit J of the 1-bit plane H. One
//     vpternlogd takes bits [l, l+2) from X (P_a, or P_a >> 2 for J >= 2) and
//     every other bit from Y (H << 2 for J < 2, H for J = 2-5, H >> 4 for J >=
//     6), which leaves the high bit at bit p of the index; six tables, one per
//     (l, p), give G[lo | hi << 2] + 128 whatever the other index bits are:
//       J    0      1      2      3      4      5      6      7
//       X    P0     P1     P0>>2  P1>>2  P0>>2  P1>>2  P0>>2  P1>>2
//       Y    H<<2   H<<2   H      H      H      H      H>>4   H>>4
//       l,p  0,2    0,3    0,2    0,3    2,4    2,5    4,2    4,3
//     Four shifts a block, then a ternlog and a vpermb a quad: 2.5 a quad,
//     where the pshufb body takes 5.6 (its unpack alone 4.6, as the plain
//     3-bit layout's). The 16-bit shifts pull bits of the neighbouring byte
//     only into bits the ternlog or the table ignores.
template <int IB>
struct cb_lut {
    vi t[IB == 3 ? 6 : 1];
};
// The six 3-bit tables' indices into the 16-byte grid: entry i of table (l, p)
// is ((i >> l) & 3) | ((i >> p) & 1) << 2.
struct cb3_table_index {
    alignas(64) std::uint8_t idx[6][64] = {};
    constexpr cb3_table_index() noexcept {
        const int l[6] = {0, 0, 2, 2, 4, 4}, p[6] = {2, 3, 4, 5, 2, 3};
        for (int k = 0; k < 6; ++k)
            for (int i = 0; i < 64; ++i) idx[k][i] = static_cast<std::uint8_t>(((i >> l[k]) & 3) | (((i >> p[k]) & 1) << 2));
    }
};
LOWBIT_TGT_INLINE vi vpermb(vi idx, vi table) { return _mm512_maskz_permutexvar_epi8(~0ull, idx, table); }
// Bits of x where m is set, of y elsewhere.
LOWBIT_TGT_INLINE vi select_bits(vi x, vi y, vi m) { return _mm512_maskz_ternarylogic_epi32(0xffff, x, y, m, 0xe4); }
template <int IB>
LOWBIT_TGT_INLINE cb_lut<IB> cb_lut_of(const std::uint8_t* tab16) {
    static_assert(IB == 0 || IB == 3 || IB == 4, "index widths: 3, 4");
    cb_lut<IB> l;
    if constexpr (IB == 0) {
        l.t[0] = zero_i();
    } else if constexpr (IB == 4) {
        l.t[0] = table16(tab16);
    } else {
        static constexpr cb3_table_index ix{};
        const vi g = table16(tab16);
        LOWBIT_UNROLL
        for (int k = 0; k < 6; ++k) l.t[k] = vpermb(load(ix.idx[k]), g);
    }
    return l;
}
template <int IB, int J>
LOWBIT_TGT_INLINE vi cb_quad(const std::uint8_t* p, const cb_lut<IB>& l) {
    if constexpr (IB == 4) {
        const vi v = load(p + 64 * (J % 4));
        if constexpr (J < 4) return vpermb(v, l.t[0]);
        else return vpermb(srl16<4>(v), l.t[0]);
    } else {
        constexpr int a = J % 2, lo = J < 4 ? 0 : J < 6 ? 2 : 4, table = J < 4 ? a : J < 6 ? 2 + a : 4 + a;
        const vi P = load(p + 64 * a), H = load(p + 128);
        vi X = P, Y = H;
        if constexpr (J >= 2) X = srl16<2>(P);
        if constexpr (J < 2) Y = sll16<2>(H);
        else if constexpr (J >= 6) Y = srl16<4>(H);
        return vpermb(select_bits(X, Y, set1_8(3 << lo)), l.t[table]);
    }
}
#endif

// The scales' type is read once per tile group (kdetail::scale_kind: a constant
// unless the scheme's codec is scale_any).
template <class S>
LOWBIT_TGT_INLINE void scale_zero(const tiled_view<S>& w, std::size_t t, std::size_t g, std::size_t h, vf& s, vi& z) {
    if constexpr (S::gran == granularity::per_tensor) {
        s = set1_f(kdetail::scale_value(w, 0));
        z = S::is_symmetric ? zero_i() : set1_32(w.zeros[0]);
    } else {
        const std::size_t slot = w.scale_slot(t, g) + h * lanes;
        s = scales(w.scales, slot, kdetail::scale_kind(w));
        if constexpr (!S::is_symmetric) z = zeros(w.zeros + slot);
        else z = zero_i();
    }
}

// Store the first n lanes of v at p.
LOWBIT_TGT_INLINE void store_n(float* p, vf v, std::size_t n) {
    if (n >= lanes) return store(p, v);
    alignas(64) float tmp[lanes];
    store(tmp, v);
    for (std::size_t i = 0; i < n; ++i) p[i] = tmp[i];
}

// int8 path. A "unit" is the rows one vector holds: a tile (zmm) or half a tile
// (ymm); unit u is tile u / halves, half u % halves. NU units (here 1 or 2)
// and MB activation rows form the register block: per quad vector j, each
// broadcast activation dword feeds NU dot products and each unpacked quad MB,
// and the NU*MB integer accumulators are independent chains (latency hidden).
// With few activation rows (GEMV) each accumulator is split in two (even and
// odd quads) so that 2*NU*MB >= 4 chains are in flight; integer sums are exact
// in any order.
//
// IB (index bits) > 0 is the tiled codebook layout (formats/detail/
// tiled_codebook_entries.hpp): the blocks hold IB-bit index planes, and
// cb_quad maps each quad vector of indices to grid levels as u8 (G + 128:
// one byte shuffle after the unpack, or vpermb in the VBMI stamp; the tables
// `tab`). From there the kernel is S's, the symmetric 8-bit scheme: its dot
// starts from -128 Q, so A' = sum G q.
template <class S, int IB>
constexpr std::size_t stored_bits = IB ? static_cast<std::size_t>(IB) : static_cast<std::size_t>(S::bits);
template <class S, int MB, int NU>
struct i8_block {
    static constexpr int split = MB == 1 ? 2 : 1;
    vi A[NU][MB][split];
};
template <class S, int MB, int NU, int J, int IB>
LOWBIT_TGT_INLINE void i8_quad_step(const std::uint8_t* const* p, const std::int32_t* const* xq, i8_block<S, MB, NU>& blk,
                                    const cb_lut<IB>& tab) {
    constexpr int c = J % i8_block<S, MB, NU>::split;
    vi v[NU];
    LOWBIT_UNROLL
    for (int k = 0; k < NU; ++k) {
        if constexpr (IB > 0) v[k] = cb_quad<IB, J>(p[k], tab);
        else v[k] = quad<S::bits, J>(p[k]);
    }
    LOWBIT_UNROLL
    for (int m = 0; m < MB; ++m) {
        const vi x = set1_32(xq[m][J]);
        LOWBIT_UNROLL
        for (int k = 0; k < NU; ++k) blk.A[k][m][c] = dot<S::bits>(blk.A[k][m][c], v[k], x);
    }
}
template <class S, int MB, int NU, int IB>
LOWBIT_TGT inline void i8_units(const tiled_view<S>& w, std::size_t u0, const kdetail::tact_i8* a, float* out, std::size_t ld,
                                const std::uint8_t* tab16) {
    constexpr int B = S::bits;
    constexpr std::size_t block_bytes = 64 * stored_bits<S, IB>;
    const cb_lut<IB> tab = cb_lut_of<IB>(tab16);
    constexpr bool start_at_zq = S::is_symmetric && B > 1;  // the dot starts from -zQ
    const std::size_t bpg = w.blocks_per_group ? w.blocks_per_group : w.blocks;
    std::size_t t[NU], h[NU];
    LOWBIT_UNROLL
    for (int k = 0; k < NU; ++k) {
        t[k] = (u0 + static_cast<std::size_t>(k)) / halves;
        h[k] = (u0 + static_cast<std::size_t>(k)) % halves;
    }
    vf acc[NU][MB];
    LOWBIT_UNROLL
    for (int k = 0; k < NU; ++k)
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) acc[k][m] = zero_f();
    // One loop over the blocks, the scales reloaded where a group starts: with
    // a loop per group GCC reloaded acc from the stack at every group start,
    // i.e. once per block at g32 (a store-to-load chain on the accumulators).
    vf s[NU];
    vi z[NU];
    for (std::size_t g = 0, b = 0, left = 0; b < w.blocks; ++b, --left) {
        if (left == 0) {
            LOWBIT_UNROLL
            for (int k = 0; k < NU; ++k) scale_zero(w, t[k], g, h[k], s[k], z[k]);
            ++g;
            left = bpg;
        }
        const std::uint8_t* p[NU];
        LOWBIT_UNROLL
        for (int k = 0; k < NU; ++k) {
            if constexpr (IB > 0) p[k] = w.codes + (t[k] * w.blocks + b) * block_bytes + h[k] * half_bytes;
            else p[k] = w.block(t[k], b) + h[k] * half_bytes;  // (the same address; written so, the code is unchanged)
        }
        // Software prefetch 4 KiB ahead in each unit's stream: with two tiles (and
        // their scales) read side by side, the hardware prefetcher alone left
        // DRAM-streaming GEMV at ~0.55-0.7 of the read bandwidth (docs/kernels.md).
        // Prefetches past the end of the codes are harmless (no fault).
        if (h[0] == 0)
            LOWBIT_UNROLL
            for (int k = 0; k < NU; ++k)
                LOWBIT_UNROLL
                for (int l = 0; l < static_cast<int>(stored_bits<S, IB>); ++l)
                    _mm_prefetch(reinterpret_cast<const char*>(p[k] + prefetch_bytes + 64 * l), _MM_HINT_T0);
        const std::int32_t* xq[MB];
        i8_block<S, MB, NU> blk;
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) {
            xq[m] = reinterpret_cast<const std::int32_t*>(a[m].q + b * tile_block);
            const vi start = start_at_zq ? set1_32(a[m].zq[b]) : zero_i();
            LOWBIT_UNROLL
            for (int k = 0; k < NU; ++k) {
                blk.A[k][m][0] = start;
                if (blk.split > 1) blk.A[k][m][blk.split - 1] = zero_i();
            }
        }
        i8_quad_step<S, MB, NU, 0, IB>(p, xq, blk, tab);
        i8_quad_step<S, MB, NU, 1, IB>(p, xq, blk, tab);
        i8_quad_step<S, MB, NU, 2, IB>(p, xq, blk, tab);
        i8_quad_step<S, MB, NU, 3, IB>(p, xq, blk, tab);
        i8_quad_step<S, MB, NU, 4, IB>(p, xq, blk, tab);
        i8_quad_step<S, MB, NU, 5, IB>(p, xq, blk, tab);
        i8_quad_step<S, MB, NU, 6, IB>(p, xq, blk, tab);
        i8_quad_step<S, MB, NU, 7, IB>(p, xq, blk, tab);
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) {
            const vf dx = set1_f(a[m].dx[b]);
            LOWBIT_UNROLL
            for (int k = 0; k < NU; ++k) {
                vi A = blk.A[k][m][0];
                if (blk.split > 1) A = add32(A, blk.A[k][m][blk.split - 1]);
                if constexpr (!S::is_symmetric) A = sub32(A, mul32(z[k], set1_32(a[m].zq[b])));
                else if constexpr (B == 1) A = sub32(add32(A, A), set1_32(a[m].zq[b]));
                acc[k][m] = fma(cvt(A), mul(s[k], dx), acc[k][m]);
            }
        }
    }
    LOWBIT_UNROLL
    for (int k = 0; k < NU; ++k) {
        const std::size_t r = t[k] * tile_rows + h[k] * lanes;
        if (r >= w.rows) continue;
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) store_n(out + static_cast<std::size_t>(m) * ld + r, acc[k][m], w.rows - r);
    }
}
// Units [u0, u1) against MB activation rows: pairs, then a single unit.
template <class S, int MB, int IB>
LOWBIT_TGT inline void i8_units_mb(const tiled_view<S>& w, std::size_t u0, std::size_t u1, const kdetail::tact_i8* a, float* out,
                                   std::size_t ld, const std::uint8_t* tab16) {
    std::size_t u = u0;
    for (; u + 2 <= u1; u += 2) i8_units<S, MB, 2, IB>(w, u, a, out, ld, tab16);
    if (u < u1) i8_units<S, MB, 1, IB>(w, u, a, out, ld, tab16);
}

// Code byte e of every int32 lane of a quad vector, as floats with the zero
// removed: signed bytes (symmetric B >= 2, zero subtracted in bytes before)
// or unsigned bytes minus a float zero.
template <class S, int E>
LOWBIT_TGT_INLINE vf code_lane(vi v, vf zf) {
    if constexpr (S::is_symmetric && S::bits >= 2) {
        if constexpr (E == 3) return cvt(sra32<24>(v));
        else return cvt(sra32<24>(sll32<24 - 8 * E>(v)));
    } else {
        vi u;
        if constexpr (E == 3) u = srl32<24>(v);
        else if constexpr (E == 0) u = vand(v, set1_32(0xff));
        else u = vand(srl32<8 * E>(v), set1_32(0xff));
        return sub(cvt(u), zf);
    }
}
template <class S, int MB, int E>
LOWBIT_TGT_INLINE void f32_quad_lane(vi v, vf zf, const float* const* x, int j, vf* p) {
    const vf wv = code_lane<S, E>(v, zf);
    LOWBIT_UNROLL
    for (int m = 0; m < MB; ++m) p[m] = fma(wv, set1_f(x[m][4 * j + E]), p[m]);
}

// f32 path: tiles [t0, t1) against MB activation rows.
template <class S, int MB>
LOWBIT_TGT inline void f32_tiles_mb(const tiled_view<S>& w, std::size_t t0, std::size_t t1, const kdetail::tact_f32* a,
                                    float* out, std::size_t ld) {
    constexpr int B = S::bits;
    const std::size_t bpg = w.blocks_per_group ? w.blocks_per_group : w.blocks;
    for (std::size_t t = t0; t < t1; ++t)
        for (std::size_t h = 0; h < halves; ++h) {
            vf acc[MB];
            LOWBIT_UNROLL
            for (int m = 0; m < MB; ++m) acc[m] = zero_f();
            for (std::size_t g = 0, b = 0; b < w.blocks; ++g) {
                vf s;
                vi z;
                scale_zero(w, t, g, h, s, z);
                vf zf = zero_f();
                if constexpr (!S::is_symmetric) zf = cvt(z);
                else if constexpr (B == 1) zf = set1_f(0.5f);
                const std::size_t b_end = b + bpg < w.blocks ? b + bpg : w.blocks;
                for (; b < b_end; ++b) {
                    vi v[8];
                    unpack_block<B>(w.block(t, b) + h * half_bytes, v);
                    if constexpr (S::is_symmetric && B >= 2)
                        LOWBIT_UNROLL
                        for (auto& q : v) q = sub8(q, set1_8(1 << (B - 1)));
                    const float* x[MB];
                    vf p[MB];
                    LOWBIT_UNROLL
                    for (int m = 0; m < MB; ++m) {
                        x[m] = a[m].x + b * tile_block;
                        p[m] = zero_f();
                    }
                    for (int j = 0; j < 8; ++j) {
                        f32_quad_lane<S, MB, 0>(v[j], zf, x, j, p);
                        f32_quad_lane<S, MB, 1>(v[j], zf, x, j, p);
                        f32_quad_lane<S, MB, 2>(v[j], zf, x, j, p);
                        f32_quad_lane<S, MB, 3>(v[j], zf, x, j, p);
                    }
                    LOWBIT_UNROLL
                    for (int m = 0; m < MB; ++m) acc[m] = fma(p[m], s, acc[m]);
                }
            }
            const std::size_t r = t * tile_rows + h * lanes;
            if (r >= w.rows) continue;
            LOWBIT_UNROLL
            for (int m = 0; m < MB; ++m) store_n(out + static_cast<std::size_t>(m) * ld + r, acc[m], w.rows - r);
        }
}

// f32 path, panel body (calls of at least f32_panel_min_rows activation rows;
// docs/kernels.md, "The f32 panel body"). f32_tiles_mb widens every code once
// per block of 8 activation rows: at M = 256 each code is unpacked, shifted
// and converted 32 times, and those vector operations share the ports with
// the FMAs. Here the codes of a panel (panel_nu units x panel_blocks blocks)
// are widened once into a stack buffer of floats u - z (exact) that then
// serves up to panel_rows activation rows, panel_mb at a time: per column one
// load per unit, one broadcast per row and 2 * panel_mb FMAs, the widening
// divided by the rows. Per row and block the operations are the model's
// (f32_tile_scalar): P_b from 0, one FMA per code in column order, then
// acc = fma(P_b, s, acc); acc waits on the stack between panels (a float
// stored and reloaded: exact). So the results equal the model, the small-M
// body and GEMV bit for bit, whatever M, the register block or the threads.
// Stack: 16 KiB of panel and 32 KiB of running sums (zmm; 8 + 32 KiB ymm).
constexpr std::size_t panel_blocks = 4;  // a panel: 2 units x 4 blocks x 32 columns x 64 bytes (zmm)
constexpr std::size_t panel_rows = 128;  // rows whose running sums wait on the stack
constexpr int panel_nu = 2;              // units of a panel: two tiles (zmm), one tile (ymm)
// Units whose running sums a pass keeps: a task's 64 weight rows.
constexpr std::size_t panel_units = 64 / lanes;
// panel_mb rows x 2 units: 2 * panel_mb partial and 2 * panel_mb running sums
// in registers (24 of 32 zmm; 12 of 16 ymm), as many independent FMA chains.
constexpr int panel_mb = LOWBIT_X86_ZMM ? 6 : 3;
// Where the panel body takes over from f32_tiles_mb (measured on Zen 5: slower
// below 32 rows, where the widening is shared by too few rows, level at 32,
// faster from 48; 64 keeps a margin for other cores).
constexpr std::size_t f32_panel_min_rows = 64;

// Block b of unit (t, h) as 32 vectors of floats u - z, column order.
template <class S>
LOWBIT_TGT_INLINE void widen_f32_block(const std::uint8_t* p, vf zf, vf* out) {
    constexpr int B = S::bits;
    vi v[8];
    unpack_block<B>(p, v);
    if constexpr (S::is_symmetric && B >= 2)
        LOWBIT_UNROLL
        for (auto& q : v) q = sub8(q, set1_8(1 << (B - 1)));
    LOWBIT_UNROLL
    for (int j = 0; j < 8; ++j) {
        out[4 * j] = code_lane<S, 0>(v[j], zf);
        out[4 * j + 1] = code_lane<S, 1>(v[j], zf);
        out[4 * j + 2] = code_lane<S, 2>(v[j], zf);
        out[4 * j + 3] = code_lane<S, 3>(v[j], zf);
    }
}

// MB activation rows against NU widened units of nblk blocks. wb: unit k's
// block b at wb[(k * panel_blocks + b) * tile_block]; sb[k * panel_blocks + b]:
// its scales; x[m]: row m's activations at the panel's first block; accs: the
// running sums, unit k of row m at accs[m * ld + k * lanes].
template <int MB, int NU>
LOWBIT_TGT_INLINE void f32_panel_rows(const vf* wb, const vf* sb, std::size_t nblk, const float* const* x, float* accs, std::size_t ld,
                                      bool first) {
    vf acc[NU][MB];
    LOWBIT_UNROLL
    for (int m = 0; m < MB; ++m)
        LOWBIT_UNROLL
        for (int k = 0; k < NU; ++k) acc[k][m] = first ? zero_f() : loadf(accs + m * ld + k * lanes);
    for (std::size_t b = 0; b < nblk; ++b) {
        vf P[NU][MB];
        LOWBIT_UNROLL
        for (int k = 0; k < NU; ++k)
            LOWBIT_UNROLL
            for (int m = 0; m < MB; ++m) P[k][m] = zero_f();
        const vf* wv = wb + b * tile_block;
        const float* xb[MB];
        LOWBIT_UNROLL
        for (int m = 0; m < MB; ++m) xb[m] = x[m] + b * tile_block;
        LOWBIT_UNROLL
        for (int c = 0; c < static_cast<int>(tile_block); ++c) {
            vf wk[NU];
            LOWBIT_UNROLL
            for (int k = 0; k < NU; ++k) wk[k] = wv[k * panel_blocks * tile_block + c];
            LOWBIT_UNROLL
            for (int m = 0; m < MB; ++m) {
                const vf xv = set1_f(xb[m][c]);
                LOWBIT_UNROLL
                for (int k = 0; k < NU; ++k) P[k][m] = fma(wk[k], xv, P[k][m]);
            }
        }
        LOWBIT_UNROLL
        for (int k = 0; k < NU; ++k)
            LOWBIT_UNROLL
            for (int m = 0; m < MB; ++m) acc[k][m] = fma(P[k][m], sb[k * panel_blocks + b], acc[k][m]);
    }
    LOWBIT_UNROLL
    for (int m = 0; m < MB; ++m)
        LOWBIT_UNROLL
        for (int k = 0; k < NU; ++k) store(accs + m * ld + k * lanes, acc[k][m]);
}

// Widen units [u, u + NU) of blocks [c0, c0 + nblk), then run rows [0, mc) of a over them.
template <class S, int NU>
LOWBIT_TGT_INLINE void f32_panel_step(const tiled_view<S>& w, std::size_t u, std::size_t c0, std::size_t nblk, const kdetail::tact_f32* a,
                                      std::size_t mc, vf* wb, vf* sb, float* accs, std::size_t ld) {
    LOWBIT_UNROLL
    for (int k = 0; k < NU; ++k) {
        const std::size_t t = (u + static_cast<std::size_t>(k)) / halves, h = (u + static_cast<std::size_t>(k)) % halves;
        for (std::size_t b = 0; b < nblk; ++b) {
            vf s;
            vi z;
            scale_zero(w, t, w.group_of_block(c0 + b), h, s, z);
            vf zf = zero_f();
            if constexpr (!S::is_symmetric) zf = cvt(z);
            else if constexpr (S::bits == 1) zf = set1_f(0.5f);
            sb[k * panel_blocks + b] = s;
            widen_f32_block<S>(w.block(t, c0 + b) + h * half_bytes, zf, wb + (k * panel_blocks + b) * tile_block);
        }
    }
    const bool first = c0 == 0;
    const float* x[panel_mb];
    std::size_t m = 0;
    for (; m + panel_mb <= mc; m += panel_mb) {
        LOWBIT_UNROLL
        for (int i = 0; i < panel_mb; ++i) x[i] = a[m + static_cast<std::size_t>(i)].x + c0 * tile_block;
        f32_panel_rows<panel_mb, NU>(wb, sb, nblk, x, accs + m * ld, ld, first);
    }
    for (; m + 2 <= mc; m += 2) {
        x[0] = a[m].x + c0 * tile_block;
        x[1] = a[m + 1].x + c0 * tile_block;
        f32_panel_rows<2, NU>(wb, sb, nblk, x, accs + m * ld, ld, first);
    }
    if (m < mc) {
        x[0] = a[m].x + c0 * tile_block;
        f32_panel_rows<1, NU>(wb, sb, nblk, x, accs + m * ld, ld, first);
    }
}

// Units [u0, u1) (at most panel_units) against activation rows [0, M). The
// loop over the units' panels is inside the loop over the blocks, so a chunk
// of the rows' activations (panel_rows x panel_blocks x 128 bytes) is read
// from memory once and from L2 by the other panels: the rows' whole length
// (16 KiB each at K = 4096) does not fit L2 for all rows.
template <class S>
LOWBIT_TGT inline void f32_panel_units(const tiled_view<S>& w, std::size_t u0, std::size_t u1, const kdetail::tact_f32* a, std::size_t M,
                                       float* out, std::size_t ld) {
    alignas(64) vf wb[panel_nu * panel_blocks * tile_block];
    alignas(64) vf sb[panel_nu * panel_blocks];
    alignas(64) float accs[panel_rows * panel_units * lanes];
    constexpr std::size_t ald = panel_units * lanes;
    for (std::size_t m0 = 0; m0 < M; m0 += panel_rows) {
        const std::size_t mc = M - m0 < panel_rows ? M - m0 : panel_rows;
        for (std::size_t c0 = 0; c0 < w.blocks; c0 += panel_blocks) {
            const std::size_t nblk = w.blocks - c0 < panel_blocks ? w.blocks - c0 : panel_blocks;
            std::size_t u = u0;
            for (; u + panel_nu <= u1; u += panel_nu)
                f32_panel_step<S, panel_nu>(w, u, c0, nblk, a + m0, mc, wb, sb, accs + (u - u0) * lanes, ald);
            if constexpr (halves == 1)  // (ymm: a tile is two units, a panel's two)
                if (u < u1) f32_panel_step<S, 1>(w, u, c0, nblk, a + m0, mc, wb, sb, accs + (u - u0) * lanes, ald);
        }
        for (std::size_t u = u0; u < u1; ++u) {
            const std::size_t r = u / halves * tile_rows + u % halves * lanes;
            if (r >= w.rows) continue;
            for (std::size_t m = 0; m < mc; ++m) store_n(out + (m0 + m) * ld + r, loadf(accs + m * ald + (u - u0) * lanes), w.rows - r);
        }
    }
}

// int8 activation preparation (the float steps of kdetail::prepare_ti8, so the
// results are identical): per 32-block amax, step, round-half-even codes (the
// default MXCSR rounding of cvtps2dq), code sum. Returns false, having written
// nothing that matters, if the row holds NaN, Inf or magnitudes below 2^-120:
// the caller then runs the scalar preparation, which defines those cases.
template <int B, bool Sym>
LOWBIT_TGT inline bool prep_i8(const float* x, const std::int32_t* perm, std::size_t K, std::size_t blocks, std::int8_t* q,
                               float* dx, std::int32_t* zq) {
    alignas(64) float xb[tile_block];
    for (std::size_t b = 0; b < blocks; ++b) {
        const std::size_t c0 = b * tile_block, n = K - c0 < tile_block ? K - c0 : tile_block;
        const float* src = x + c0;
        if (perm || n < tile_block) {
            for (std::size_t i = 0; i < tile_block; ++i) xb[i] = i < n ? (perm ? x[perm[c0 + i]] : x[c0 + i]) : 0.0f;
            src = xb;
        }
#if LOWBIT_X86_ZMM
        const __m512 v0 = _mm512_loadu_ps(src), v1 = _mm512_loadu_ps(src + 16);
        const __m512i nosign = _mm512_set1_epi32(0x7fffffff);
        const __m512 a0 = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v0), nosign));
        const __m512 a1 = _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v1), nosign));
        // bad: !(a <= FLT_MAX) (NaN, Inf) or 0 < a < 2^-120
        const __m512 big = _mm512_set1_ps(3.40282347e38f), tiny = _mm512_set1_ps(7.52316384526264e-37f);
        const __mmask16 bad0 = _mm512_cmp_ps_mask(a0, big, _CMP_NLE_UQ) |
                               (_mm512_cmp_ps_mask(a0, tiny, _CMP_LT_OQ) & _mm512_cmp_ps_mask(a0, _mm512_setzero_ps(), _CMP_NEQ_OQ));
        const __mmask16 bad1 = _mm512_cmp_ps_mask(a1, big, _CMP_NLE_UQ) |
                               (_mm512_cmp_ps_mask(a1, tiny, _CMP_LT_OQ) & _mm512_cmp_ps_mask(a1, _mm512_setzero_ps(), _CMP_NEQ_OQ));
        if (bad0 | bad1) return false;
        // (maskz forms and 256-bit reductions: GCC 12 warns inside the unmasked AVX-512 helpers)
        const __m512d m16 = _mm512_castps_pd(_mm512_maskz_max_ps(0xffff, a0, a1));
        const __m256 m8 = _mm256_max_ps(_mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xf, m16, 0)),
                                        _mm256_castpd_ps(_mm512_maskz_extractf64x4_pd(0xf, m16, 1)));
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m8), _mm256_extractf128_ps(m8, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        const float amax = _mm_cvtss_f32(_mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1)));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const __m512 idv = _mm512_set1_ps(id);
        const __m512i c0v = _mm512_maskz_cvtps_epi32(0xffff, _mm512_mul_ps(v0, idv));
        const __m512i c1v = _mm512_maskz_cvtps_epi32(0xffff, _mm512_mul_ps(v1, idv));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(q + c0), _mm512_maskz_cvtepi32_epi8(0xffff, c0v));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(q + c0 + 16), _mm512_maskz_cvtepi32_epi8(0xffff, c1v));
        const __m512i s16 = _mm512_add_epi32(c0v, c1v);
        const __m256i s8 = _mm256_add_epi32(_mm512_maskz_extracti64x4_epi64(0xf, s16, 0), _mm512_maskz_extracti64x4_epi64(0xf, s16, 1));
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(s8), _mm256_extracti128_si256(s8, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
        const std::int32_t sum = _mm_cvtsi128_si32(s4);
#else
        __m256 v[4], amaxv = _mm256_setzero_ps();
        const __m256 sign = _mm256_set1_ps(-0.0f), big = _mm256_set1_ps(3.40282347e38f),
                     tiny = _mm256_set1_ps(7.52316384526264e-37f);
        int bad = 0;
        LOWBIT_UNROLL
        for (int k = 0; k < 4; ++k) {
            v[k] = _mm256_loadu_ps(src + 8 * k);
            const __m256 a = _mm256_andnot_ps(sign, v[k]);
            bad |= _mm256_movemask_ps(_mm256_or_ps(_mm256_cmp_ps(a, big, _CMP_NLE_UQ),
                                                   _mm256_and_ps(_mm256_cmp_ps(a, tiny, _CMP_LT_OQ),
                                                                 _mm256_cmp_ps(a, _mm256_setzero_ps(), _CMP_NEQ_OQ))));
            amaxv = _mm256_max_ps(amaxv, a);
        }
        if (bad) return false;
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(amaxv), _mm256_extractf128_ps(amaxv, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_shuffle_ps(m4, m4, 1));
        const float amax = _mm_cvtss_f32(m4);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        const __m256 idv = _mm256_set1_ps(id);
        __m256i c[4], sumv = _mm256_setzero_si256();
        LOWBIT_UNROLL
        for (int k = 0; k < 4; ++k) {
            c[k] = _mm256_cvtps_epi32(_mm256_mul_ps(v[k], idv));
            sumv = _mm256_add_epi32(sumv, c[k]);
        }
        // int32 -> int8 (values in [-127, 127]: the saturating packs are exact), then undo the lane interleave
        const __m256i w01 = _mm256_packs_epi32(c[0], c[1]), w23 = _mm256_packs_epi32(c[2], c[3]);
        const __m256i b8 = _mm256_packs_epi16(w01, w23);
        const __m256i fixed = _mm256_permutevar8x32_epi32(b8, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(q + c0), fixed);
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(sumv), _mm256_extracti128_si256(sumv, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4e));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xb1));
        const std::int32_t sum = _mm_cvtsi128_si32(s4);
#endif
        dx[b] = Sym && B == 1 ? d * 0.5f : d;
        zq[b] = Sym && B > 1 ? -sum * (1 << (B - 1)) : sum;
    }
    return true;
}

#undef LOWBIT_TGT_INLINE

}  // namespace tl

// All activation rows [0, M) for tiles [t0, t1): activation rows in blocks of MB
// (register blocking), tiles inner (the MB rows' activations stay in L1 while
// the task's tiles stream). IB > 0: the tiled codebook layout (IB-bit indices,
// tab16 = the grid as u8 G + 128; S is then the symmetric 8-bit f16 scheme).
template <class S, int IB = 0>
LOWBIT_TGT inline void ti8_tiles(const tiled_view<S>& w, std::size_t t0, std::size_t t1, const kdetail::tact_i8* a,
                                 std::size_t M, float* out, std::size_t ld, const std::uint8_t* tab16 = nullptr) {
    // 32 zmm registers: 2 units x 6 rows (4 when the zero point takes 2 more); 16 ymm: 2 x 2.
    constexpr int mb = LOWBIT_X86_ZMM ? (S::is_symmetric ? 6 : 4) : 2;
    const std::size_t u0 = t0 * tl::halves, u1 = t1 * tl::halves;
    std::size_t m = 0;
    for (; m + mb <= M; m += mb) tl::i8_units_mb<S, mb, IB>(w, u0, u1, a + m, out + m * ld, ld, tab16);
    if (mb > 2)
        for (; m + 2 <= M; m += 2) tl::i8_units_mb<S, 2, IB>(w, u0, u1, a + m, out + m * ld, ld, tab16);
    for (; m < M; ++m) tl::i8_units_mb<S, 1, IB>(w, u0, u1, a + m, out + m * ld, ld, tab16);
}
template <class S>
LOWBIT_TGT inline bool tprep_i8(const float* x, const std::int32_t* perm, std::size_t K, std::size_t blocks, std::int8_t* q,
                                float* dx, std::int32_t* zq) {
    return tl::prep_i8<S::bits, S::is_symmetric>(x, perm, K, blocks, q, dx, zq);
}
// f32 path: from panel_min_rows activation rows on (a run-time argument, so
// the tests can run the panel body at any M), the panel body; below it, blocks
// of 8 rows (4 on ymm) that widen the codes per block. Both compute the model's
// operations per row, so the choice never changes a result.
template <class S>
LOWBIT_TGT inline void tf32_tiles_at(const tiled_view<S>& w, std::size_t t0, std::size_t t1, const kdetail::tact_f32* a,
                                     std::size_t M, float* out, std::size_t ld, std::size_t panel_min_rows) {
    if (M >= panel_min_rows) {
        for (std::size_t u = t0 * tl::halves, u1 = t1 * tl::halves; u < u1; u += tl::panel_units)
            tl::f32_panel_units<S>(w, u, u1 - u < tl::panel_units ? u1 : u + tl::panel_units, a, M, out, ld);
        return;
    }
    // 32 zmm registers: 8 rows' partial and running sums (and the unpacked
    // quad vectors in L1); 16 ymm: 4 rows.
    constexpr int mb = LOWBIT_X86_ZMM ? 8 : 4;
    std::size_t m = 0;
    for (; m + mb <= M; m += mb) tl::f32_tiles_mb<S, mb>(w, t0, t1, a + m, out + m * ld, ld);
    if (mb > 4)
        for (; m + 4 <= M; m += 4) tl::f32_tiles_mb<S, 4>(w, t0, t1, a + m, out + m * ld, ld);
    for (; m < M; ++m) tl::f32_tiles_mb<S, 1>(w, t0, t1, a + m, out + m * ld, ld);
}
template <class S>
LOWBIT_TGT inline void tf32_tiles(const tiled_view<S>& w, std::size_t t0, std::size_t t1, const kdetail::tact_f32* a,
                                  std::size_t M, float* out, std::size_t ld) {
    tf32_tiles_at(w, t0, t1, a, M, out, ld, tl::f32_panel_min_rows);
}

}  // namespace LOWBIT_X86_NS
