// lowbit/kernels/tiled_matmul.hpp — gemv / gemm on the tiled layout
// (pack/tiled.hpp), the fastest form of the weights for the kernels.
//
//   auto t = lowbit::repack_tiled(q);             // once, at load time
//   lowbit::gemv(t->view(), x, y, pool, opt);     // y = W x
//   lowbit::gemm(t->view(), X, Y, pool, opt);     // Y = X W^T
//
// Same contract as kernels/matmul.hpp (paths, errors, output untouched on
// error, bit-identical results for every executor and thread count). The int8
// path's float steps differ from the plain layout's (one FMA per 32-block and
// row instead of 16 lane accumulators, detail/tiled_blocks.hpp), so results
// differ between layouts at float-rounding level; each is bit-exact against
// its scalar model on every arch.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

#include "../pack/tiled.hpp"
#include "matmul.hpp"
#include "detail/tiled_blocks.hpp"

namespace lowbit {
namespace detail {

template <class S>
tiled_view<typename kernel_scheme<S>::type> tiled_kernel_view(const tiled_view<S>& w) noexcept {
    tiled_view<typename kernel_scheme<S>::type> v;
    v.codes = w.codes;
    v.scales = w.scales;
    v.zeros = w.zeros;
    v.perm = w.perm;
    v.rows = w.rows;
    v.cols = w.cols;
    v.group = w.group;
    v.tiles = w.tiles;
    v.blocks = w.blocks;
    v.groups = w.groups;
    v.blocks_per_group = w.blocks_per_group;
    return v;
}

template <class S>
std::size_t tiled_scale_count(const tiled_view<S>& w) noexcept {
    return S::gran == granularity::per_tensor ? 1 : w.tiles * w.groups * tile_rows;
}

template <class S>
status check_tiled_output_apart(const tiled_view<S>& w, const void* out, std::size_t out_bytes, const char* name) noexcept {
    const std::size_t ns = tiled_scale_count(w);
    if (overlaps(out, out_bytes, w.codes, w.tiles * w.blocks * w.block_bytes) ||
        overlaps(out, out_bytes, w.scales, ns * sizeof(typename S::scale_storage)) ||
        (w.zeros && overlaps(out, out_bytes, w.zeros, ns)) || (w.perm && overlaps(out, out_bytes, w.perm, w.cols * 4)))
        return status::error(errc::invalid_argument, "%s overlaps the weights (codes, scales, zeros or perm)", name);
    return {};
}

constexpr std::size_t tiles_per_task = rows_per_task / tile_rows;  // fixed split

template <class S>
void tiled_i8_dispatch(arch a, const tiled_view<S>& w, std::size_t t0, std::size_t t1, const kdetail::tact_i8* acts,
                       std::size_t M, float* y, std::size_t ldy) noexcept {
    switch (a) {
#if defined(LOWBIT_HAVE_X86_KERNELS)
        case arch::avx2: return kdetail::avx2::ti8_tiles(w, t0, t1, acts, M, y, ldy);
        case arch::avx512: return kdetail::avx512::ti8_tiles(w, t0, t1, acts, M, y, ldy);
        case arch::avxvnni: return kdetail::avxvnni::ti8_tiles(w, t0, t1, acts, M, y, ldy);
        case arch::avx512vnni: return kdetail::avx512vnni::ti8_tiles(w, t0, t1, acts, M, y, ldy);
#endif
#if defined(LOWBIT_HAVE_ARM_KERNELS)
        case arch::neon: return kdetail::neon::ti8_tiles(w, t0, t1, acts, M, y, ldy);
        case arch::neondot: return kdetail::neondot::ti8_tiles(w, t0, t1, acts, M, y, ldy);
#endif
        default:
            for (std::size_t m = 0; m < M; m += 64)
                for (std::size_t t = t0; t < t1; ++t)
                    kdetail::int8_tile_scalar(w, t, acts + m, M - m < 64 ? M - m : 64, y + m * ldy, ldy);
    }
}
template <class S>
void tiled_f32_dispatch(arch a, const tiled_view<S>& w, std::size_t t0, std::size_t t1, const kdetail::tact_f32* acts,
                        std::size_t M, float* y, std::size_t ldy) noexcept {
    switch (a) {
#if defined(LOWBIT_HAVE_X86_KERNELS)
        case arch::avx2:
        case arch::avxvnni: return kdetail::avx2::tf32_tiles(w, t0, t1, acts, M, y, ldy);
        case arch::avx512:
        case arch::avx512vnni: return kdetail::avx512::tf32_tiles(w, t0, t1, acts, M, y, ldy);
#endif
#if defined(LOWBIT_HAVE_ARM_KERNELS)
        case arch::neon:
        case arch::neondot: return kdetail::neon::tf32_tiles(w, t0, t1, acts, M, y, ldy);  // sdot does not help f32
#endif
        default:
            for (std::size_t m = 0; m < M; m += 64)
                for (std::size_t t = t0; t < t1; ++t)
                    kdetail::f32_tile_scalar(w, t, acts + m, M - m < 64 ? M - m : 64, y + m * ldy, ldy);
    }
}

// The SIMD int8 activation preparation where the arch has one (identical
// results to kdetail::prepare_ti8); false: run the scalar one.
template <class S>
bool tiled_prep_i8_simd(arch a, const float* x, const std::int32_t* perm, std::size_t K, std::size_t blocks, std::int8_t* q,
                        float* dx, std::int32_t* zq) noexcept {
    switch (a) {
#if defined(LOWBIT_HAVE_X86_KERNELS)
        case arch::avx2:
        case arch::avxvnni: return kdetail::avx2::tprep_i8<S>(x, perm, K, blocks, q, dx, zq);
        case arch::avx512:
        case arch::avx512vnni: return kdetail::avx512::tprep_i8<S>(x, perm, K, blocks, q, dx, zq);
#endif
#if defined(LOWBIT_HAVE_ARM_KERNELS)
        case arch::neon:
        case arch::neondot: return kdetail::neon::tprep_i8<S>(x, perm, K, blocks, q, dx, zq);
#endif
        default:
            (void)x, (void)perm, (void)K, (void)blocks, (void)q, (void)dx, (void)zq;
            return false;
    }
}

// Y(m, n) = y[m * ldy + n] = W[n,:] . X[m,:] (inputs checked by the caller).
template <class S, class Exec>
void tiled_matmul(const tiled_view<S>& w, const float* x, std::size_t ldx, std::size_t M, float* y, std::size_t ldy,
                  Exec& exec, matmul_path path, matmul_workspace& ws) {
    constexpr int B = S::bits;
    const std::size_t nb = w.blocks, pad = nb * tile_block;
    const std::size_t n_tasks = (w.tiles + tiles_per_task - 1) / tiles_per_task;
    auto tiles_of = [&](std::size_t task, std::size_t& t0, std::size_t& t1) {
        t0 = task * tiles_per_task;
        t1 = t0 + tiles_per_task < w.tiles ? t0 + tiles_per_task : w.tiles;
    };
    if (path == matmul_path::reference) {
        exec(n_tasks, [&](std::size_t task) {
            std::size_t t0, t1;
            tiles_of(task, t0, t1);
            for (std::size_t t = t0; t < t1; ++t) kdetail::reference_tile(w, t, x, ldx, M, y, ldy);
        });
        return;
    }
    const arch a = active_arch();
    if (path == matmul_path::int8_dot) {
        const std::size_t q_bytes = round64(M * pad), f_bytes = round64(M * nb * 4);
        auto* base = static_cast<unsigned char*>(ws.get(q_bytes + 2 * f_bytes + M * sizeof(kdetail::tact_i8)));
        auto* q = reinterpret_cast<std::int8_t*>(base);
        auto* dx = reinterpret_cast<float*>(base + q_bytes);
        auto* zq = reinterpret_cast<std::int32_t*>(base + q_bytes + f_bytes);
        auto* acts = reinterpret_cast<kdetail::tact_i8*>(base + q_bytes + 2 * f_bytes);
        auto prep = [&](std::size_t m) {
            if (!tiled_prep_i8_simd<S>(a, x + m * ldx, w.perm, w.cols, nb, q + m * pad, dx + m * nb, zq + m * nb))
                kdetail::prepare_ti8<B, S::is_symmetric>(x + m * ldx, w.perm, w.cols, nb, q + m * pad, dx + m * nb, zq + m * nb);
            acts[m] = kdetail::tact_i8{q + m * pad, dx + m * nb, zq + m * nb};
        };
        if (M == 1) prep(0);
        else exec(M, prep);
        exec(n_tasks, [&](std::size_t task) {
            std::size_t t0, t1;
            tiles_of(task, t0, t1);
            tiled_i8_dispatch(a, w, t0, t1, acts, M, y, ldy);
        });
    } else {
        const std::size_t x_bytes = round64(M * pad * sizeof(float));
        auto* base = static_cast<unsigned char*>(ws.get(x_bytes + M * sizeof(kdetail::tact_f32)));
        auto* xa = reinterpret_cast<float*>(base);
        auto* acts = reinterpret_cast<kdetail::tact_f32*>(base + x_bytes);
        auto prep = [&](std::size_t m) {
            kdetail::prepare_tf32(x + m * ldx, w.perm, w.cols, nb, xa + m * pad);
            acts[m] = kdetail::tact_f32{xa + m * pad};
        };
        if (M == 1) prep(0);
        else exec(M, prep);
        exec(n_tasks, [&](std::size_t task) {
            std::size_t t0, t1;
            tiles_of(task, t0, t1);
            tiled_f32_dispatch(a, w, t0, t1, acts, M, y, ldy);
        });
    }
}
}  // namespace detail

// y = W x on a tiled matrix.
template <class S, class Exec>
status gemv(const tiled_view<S>& w, span<const float> x, span<float> y, Exec&& exec, const matmul_options& opt,
            matmul_workspace& ws) {
    LOWBIT_TRY(w.validate());
    LOWBIT_TRY(detail::check_path(opt));
    if (x.size() != w.cols) return status::error(errc::shape_mismatch, "x has %zu elements, W has %zu columns", x.size(), w.cols);
    if (y.size() != w.rows) return status::error(errc::shape_mismatch, "y has %zu elements, W has %zu rows", y.size(), w.rows);
    if (!x.data() || !y.data()) return status::error(errc::invalid_argument, "x or y is null");
    if (detail::misaligned(x.data()) || detail::misaligned(y.data()))
        return status::error(errc::invalid_argument, "x or y is not aligned to a float");
    if (detail::overlaps(x.data(), x.size() * 4, y.data(), y.size() * 4))
        return status::error(errc::invalid_argument, "x and y overlap");
    LOWBIT_TRY(detail::check_tiled_output_apart(w, y.data(), y.size() * 4, "y"));
    detail::tiled_matmul(detail::tiled_kernel_view(w), x.data(), x.size(), 1, y.data(), y.size(), exec, opt.path, ws);
    return {};
}
template <class S, class Exec = serial_executor>
status gemv(const tiled_view<S>& w, span<const float> x, span<float> y, Exec&& exec = Exec{}, const matmul_options& opt = {}) {
    detail::thread_workspace_guard ws;
    return gemv(w, x, y, std::forward<Exec>(exec), opt, *ws.ws);
}

// Y = X W^T on a tiled matrix: X is M x K, Y is M x N (row strides allowed).
template <class S, class Exec>
status gemm(const tiled_view<S>& w, matrix_view<const float> x, matrix_view<float> y, Exec&& exec, const matmul_options& opt,
            matmul_workspace& ws) {
    LOWBIT_TRY(w.validate());
    LOWBIT_TRY(detail::check_path(opt));
    if (x.cols() != w.cols)
        return status::error(errc::shape_mismatch, "X has %zu columns, W has %zu columns", x.cols(), w.cols);
    if (y.rows() != x.rows() || y.cols() != w.rows)
        return status::error(errc::shape_mismatch, "Y is %zu x %zu, expected %zu x %zu", y.rows(), y.cols(), x.rows(), w.rows);
    if (x.rows() == 0) return {};
    if (!x.data() || !y.data()) return status::error(errc::invalid_argument, "X or Y is null");
    if (x.stride() < x.cols() || y.stride() < y.cols())
        return status::error(errc::invalid_argument, "a row stride is smaller than the row");
    if (detail::misaligned(x.data()) || detail::misaligned(y.data()))
        return status::error(errc::invalid_argument, "X or Y is not aligned to a float");
    const std::size_t x_bytes = ((x.rows() - 1) * x.stride() + x.cols()) * 4, y_bytes = ((y.rows() - 1) * y.stride() + y.cols()) * 4;
    if (detail::overlaps(x.data(), x_bytes, y.data(), y_bytes)) return status::error(errc::invalid_argument, "X and Y overlap");
    LOWBIT_TRY(detail::check_tiled_output_apart(w, y.data(), y_bytes, "Y"));
    detail::tiled_matmul(detail::tiled_kernel_view(w), x.data(), x.stride(), x.rows(), y.data(), y.stride(), exec, opt.path, ws);
    return {};
}
template <class S, class Exec = serial_executor>
status gemm(const tiled_view<S>& w, matrix_view<const float> x, matrix_view<float> y, Exec&& exec = Exec{},
            const matmul_options& opt = {}) {
    detail::thread_workspace_guard ws;
    return gemm(w, x, y, std::forward<Exec>(exec), opt, *ws.ws);
}

}  // namespace lowbit
