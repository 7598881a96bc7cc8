// tests/test_entries.hpp — run one kernel table entry directly, bypassing the
// lookup: its prepare step per activation row and its row tasks, serially, as
// run_matmul does. For tests that check an entry the lookup would not pick
// (one another entry shadows, a model body) against the scalar model.
#pragma once

#include <doctest/doctest.h>

#include <cstddef>
#include <vector>

#include <lowbit/kernels/run.hpp>

namespace lowbit_test {

// Y (M x w.rows()) = X (M x w.cols()) through entry e alone.
inline std::vector<float> run_entry_direct(const lowbit::kernel_entry& e, const lowbit::weights_view& w,
                                           const std::vector<float>& X, std::size_t M) {
    const std::size_t N = w.rows(), K = w.cols();
    std::vector<float> Y(M * N, -3.0f);
    lowbit::matmul_workspace ws;
    lowbit::matmul_call c{&w, X.data(), K, M, Y.data(), N};
    if (e.ws_bytes) c.ws = ws.get(e.ws_bytes(w, M));
    for (std::size_t m = 0; m < M; ++m)
        if (e.prepare) REQUIRE(e.prepare(c, m).ok());
    for (std::size_t t = 0; t < lowbit::detail::task_count(e, w); ++t) lowbit::detail::run_task(e, c, t);
    return Y;
}

}  // namespace lowbit_test
