// lowbit/kernels/run.hpp — the one internal run of every matmul front door
// (typed gemv/gemm on qmatrix_view and tiled_view, gguf::gemv/gemm, and the
// run-time gemv/gemm on weights_view): arguments checked once, the entry
// looked up in a kernel family for active_arch(), activations prepared, row
// tasks run. Results depend only on the entry, never on the executor.
#pragma once

#include <atomic>
#include <cstddef>

#include "../core/status.hpp"
#include "../core/views.hpp"
#include "../weights/weights_view.hpp"
#include "arch.hpp"
#include "table.hpp"

namespace lowbit {

// The most weights one multi_gemv call takes (its bookkeeping lives on the stack).
constexpr std::size_t max_multi_gemv = 8;

namespace detail {

// y = W x: shapes, null, alignment, aliasing (x with y, y with the weights).
inline status check_gemv_args(const weights_view& w, span<const float> x, span<float> y, const char* who) noexcept {
    if (x.size() != w.cols()) return status::error(errc::shape_mismatch, "%s: x has %zu elements, W has %zu columns", who, x.size(), w.cols());
    if (y.size() != w.rows()) return status::error(errc::shape_mismatch, "%s: y has %zu elements, W has %zu rows", who, y.size(), w.rows());
    LOWBIT_TRY(check_span(x, "x", who));
    LOWBIT_TRY(check_span(y, "y", who));
    if (overlaps(x.data(), x.size() * 4, y.data(), y.size() * 4)) return status::error(errc::invalid_argument, "%s: x and y overlap", who);
    if (w.overlaps(y.data(), y.size() * 4))
        return status::error(errc::invalid_argument, "%s: y overlaps the weights (codes, scales, zeros or perm)", who);
    return {};
}

// Y = X W^T. `empty` is set (and ok returned) when X has no rows: nothing to do.
inline status check_gemm_args(const weights_view& w, matrix_view<const float> x, matrix_view<float> y, const char* who,
                              bool& empty) noexcept {
    empty = false;
    if (x.cols() != w.cols()) return status::error(errc::shape_mismatch, "%s: X has %zu columns, W has %zu", who, x.cols(), w.cols());
    if (y.rows() != x.rows() || y.cols() != w.rows())
        return status::error(errc::shape_mismatch, "%s: Y is %zu x %zu, expected %zu x %zu", who, y.rows(), y.cols(), x.rows(), w.rows());
    if (x.rows() == 0) {
        empty = true;
        return {};
    }
    LOWBIT_TRY(check_view(x, "X", who));
    LOWBIT_TRY(check_view(y, "Y", who));
    if (overlaps(x.data(), view_bytes(x), y.data(), view_bytes(y))) return status::error(errc::invalid_argument, "%s: X and Y overlap", who);
    if (w.overlaps(y.data(), view_bytes(y)))
        return status::error(errc::invalid_argument, "%s: Y overlaps the weights (codes, scales, zeros or perm)", who);
    return {};
}

// The calling thread's workspace; a nested call (a kernel started from inside a
// task on the same thread) gets a private one instead of clobbering it.
struct thread_workspace_guard {
    matmul_workspace own;
    matmul_workspace* ws;
    bool* busy;
    thread_workspace_guard() {
        static thread_local matmul_workspace tls;
        static thread_local bool in_use = false;
        busy = in_use ? nullptr : &in_use;
        ws = in_use ? &own : &tls;
        if (busy) *busy = true;
    }
    ~thread_workspace_guard() {
        if (busy) *busy = false;
    }
    thread_workspace_guard(const thread_workspace_guard&) = delete;
    thread_workspace_guard& operator=(const thread_workspace_guard&) = delete;
};

// The path a call takes: automatic is dequant_fma for dense and tiled weights
// (the accurate path), int8_dot for ggml blocks (their only one); bf16_dot only
// when asked for.
inline result<matmul_path> resolve_path(const weights_view& w, matmul_path p) noexcept {
    if (static_cast<int>(p) > static_cast<int>(matmul_path::bf16_dot))
        return status::error(errc::invalid_argument, "options.path = %d is not a matmul_path (0..4)", static_cast<int>(p));
    if (!is_scheme_layout(w.lay())) {
        if (p == matmul_path::dequant_fma || p == matmul_path::bf16_dot)
            return status::error(errc::unsupported, "options.path = %s: %s blocks have only the int8_dot path",
                                 p == matmul_path::dequant_fma ? "dequant_fma" : "bf16_dot", layout_name(w.lay()));
        return p == matmul_path::reference ? p : matmul_path::int8_dot;
    }
    return p == matmul_path::automatic ? matmul_path::dequant_fma : p;
}

inline status check_path(const weights_view& w, const matmul_options& opt) noexcept {
    auto p = resolve_path(w, opt.path);
    return p ? status{} : p.error();
}

// Whether the fast kernels of path p read these weights: a dense group holds
// whole 32-blocks, or is a multiple of 8 (the small-group kernels,
// kernels/detail/blocks.hpp), of 16 for the 2-bit int8 lanes; 1-bit int8 has
// none. The tiled validator demands whole 32-blocks; ggml blocks always fit.
inline bool fast_kernels_fit(const weights_view& w, matmul_path p) noexcept {
    if (w.lay() != layout::dense || w.scheme().gran != granularity::per_group || w.group() % 32 == 0 ||
        static_cast<std::size_t>(w.group()) >= w.cols())
        return true;
    const int unit = p != matmul_path::int8_dot ? 8 : w.scheme().bits == 1 ? 0 : w.scheme().bits == 2 ? 16 : 8;
    return unit != 0 && w.group() % unit == 0;
}

// The entry a call on w runs now: the path's entry for active_arch() or down
// the fallback chain; the reference when no fast kernel fits (a fallback too).
inline result<const kernel_entry*> select_entry(const kernel_family& fam, const weights_view& w, const matmul_options& opt) noexcept {
    auto path = resolve_path(w, opt.path);
    if (!path) return path.error();
    const matmul_path p = fast_kernels_fit(w, *path) ? *path : matmul_path::reference;
    return lookup(fam, p, active_arch(), opt.allow_fallback, p != *path, opt.info);
}

// Row task t of entry e on w: rows [t * rows_per_task, ...), the last one short.
inline std::size_t task_count(const kernel_entry& e, const weights_view& w) noexcept {
    return (w.rows() + e.rows_per_task - 1) / e.rows_per_task;
}
inline void run_task(const kernel_entry& e, const matmul_call& c, std::size_t t) noexcept {
    const std::size_t r0 = t * e.rows_per_task, n = c.w->rows();
    e.rows(c, r0, r0 + e.rows_per_task < n ? r0 + e.rows_per_task : n);
}

// Y(m, r) = y[m * ldy + r] = W[r,:] . X[m,:] for m < M (arguments checked).
// Nothing is written to y unless every activation row was prepared.
template <class Exec>
status run_matmul(const kernel_family& fam, const weights_view& w, const float* x, std::size_t ldx, std::size_t M, float* y,
                  std::size_t ldy, Exec& exec, const matmul_options& opt, matmul_workspace& ws) {
    auto found = select_entry(fam, w, opt);
    if (!found) return found.error();
    const kernel_entry& e = **found;
    matmul_call c{&w, x, ldx, M, y, ldy};
    if (e.ws_bytes) c.ws = ws.get(e.ws_bytes(w, M));
    if (e.prepare) {
        std::atomic<std::size_t> first_bad{M};
        auto prep = [&](std::size_t m) {
            if (LOWBIT_UNLIKELY(!e.prepare(c, m).ok())) {
                std::size_t cur = first_bad.load(std::memory_order_relaxed);
                while (m < cur && !first_bad.compare_exchange_weak(cur, m, std::memory_order_relaxed)) {
                }
            }
        };
        if (M == 1) prep(0);
        else exec(M, prep);
        if (first_bad.load() < M) return e.prepare(c, first_bad.load());  // again, serially, for the status: y is untouched
    }
    exec(task_count(e, w), [&](std::size_t t) { run_task(e, c, t); });
    return {};
}

// make_x of a GEMV or multi_gemv whose x is the caller's: nothing to write.
struct input_ready {
    status operator()() const noexcept { return {}; }
};

// y[i] = W[i] x for n <= max_multi_gemv weights of x's length, as one job of
// the executor (multi_gemv in weights_matmul.hpp, which holds n to
// max_multi_gemv); fam[i] is w[i]'s family.
// Every argument is checked and every activation prepared before any task
// runs, so an error leaves every y[i] untouched. Each y[i] gets gemv's bits:
// the same entry, the same prepared activation, the same row tasks; only
// their order in the job differs.
// make_x(), a status()-returning callable, first writes the values at x
// (rotated_multi_gemv's rotation), after every check and before the
// preparations (no argument check reads the values at x).
template <class Exec, class MakeX = input_ready>
status run_multi_gemv(const kernel_family* fam, span<const weights_view> w, span<const float> x, span<const span<float>> y,
                      Exec& exec, const matmul_options& opt, matmul_workspace& ws, MakeX make_x = {}) {
    const std::size_t n = w.size();
    if (n == 0 && y.empty()) return {};
    if (n != y.size()) return status::error(errc::shape_mismatch, "multi_gemv: %zu weights but %zu outputs", n, y.size());
    const kernel_entry* e[max_multi_gemv];
    matmul_call c[max_multi_gemv];
    std::size_t first_task[max_multi_gemv + 1] = {0};
    std::size_t ws_at[max_multi_gemv + 1] = {0};
    bool fell = false;
    for (std::size_t i = 0; i < n; ++i) {
        LOWBIT_TRY(check_path(w[i], opt));
        LOWBIT_TRY(check_gemv_args(w[i], x, y[i], "multi_gemv"));
        for (std::size_t j = 0; j < i; ++j)  // every output is written while the others are
            if (overlaps(y[i].data(), y[i].size() * 4, y[j].data(), y[j].size() * 4) || w[j].overlaps(y[i].data(), y[i].size() * 4) ||
                w[i].overlaps(y[j].data(), y[j].size() * 4))
                return status::error(errc::invalid_argument, "multi_gemv: output %zu overlaps output %zu or its weights", i, j);
        auto found = select_entry(fam[i], w[i], opt);
        if (!found) return found.error();
        e[i] = *found;
        fell = fell || (opt.info && opt.info->fell_back);
        c[i] = matmul_call{&w[i], x.data(), x.size(), 1, y[i].data(), y[i].size()};
        const std::size_t bytes = e[i]->ws_bytes ? e[i]->ws_bytes(w[i], 1) : 0;
        ws_at[i + 1] = ws_at[i] + (bytes + 63) / 64 * 64;  // each part 64-byte aligned
        first_task[i + 1] = first_task[i] + task_count(*e[i], w[i]);
    }
    if (opt.info) opt.info->fell_back = fell;  // the last weight's entry, and whether any fell back
    unsigned char* base = ws_at[n] ? static_cast<unsigned char*>(ws.get(ws_at[n])) : nullptr;
    for (std::size_t i = 0; i < n; ++i)
        if (e[i]->ws_bytes) c[i].ws = base + ws_at[i];
    LOWBIT_TRY(make_x());
    for (std::size_t i = 0; i < n; ++i)
        if (e[i]->prepare) LOWBIT_TRY(e[i]->prepare(c[i], 0));  // M = 1: on the caller, as gemv does
    exec(first_task[n], [&](std::size_t t) {
        std::size_t i = 0;
        while (t >= first_task[i + 1]) ++i;
        run_task(*e[i], c[i], t - first_task[i]);
    });
    return {};
}

// The front doors' common part: arguments checked, then run_matmul on fam.
// make_x and who: as run_multi_gemv's make_x (rotated_gemv's rotation into
// x, run after every check) and the name errors give.
template <class Exec, class MakeX = input_ready>
status family_gemv(const kernel_family& fam, const weights_view& w, span<const float> x, span<float> y, Exec& exec,
                   const matmul_options& opt, matmul_workspace& ws, MakeX make_x = {}, const char* who = "gemv") {
    LOWBIT_TRY(check_path(w, opt));
    LOWBIT_TRY(check_gemv_args(w, x, y, who));
    LOWBIT_TRY(make_x());
    return run_matmul(fam, w, x.data(), x.size(), 1, y.data(), y.size(), exec, opt, ws);
}
template <class Exec>
status family_gemm(const kernel_family& fam, const weights_view& w, matrix_view<const float> x, matrix_view<float> y, Exec& exec,
                   const matmul_options& opt, matmul_workspace& ws) {
    LOWBIT_TRY(check_path(w, opt));
    bool empty = false;
    LOWBIT_TRY(check_gemm_args(w, x, y, "gemm", empty));
    if (empty) return {};
    return run_matmul(fam, w, x.data(), x.stride(), x.rows(), y.data(), y.stride(), exec, opt, ws);
}

}  // namespace detail
}  // namespace lowbit
