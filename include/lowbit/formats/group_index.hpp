// lowbit/formats/group_index.hpp — a checkpoint's per-column group index
// (GPTQ act-order `g_idx`, compressed-tensors `weight_g_idx`) as lowbit's input
// permutation.
//
// g_idx[k] is the quantization group of input column k. lowbit groups are runs
// of G consecutive stored columns, so the columns are reordered by group
// (stably, by a counting sort: linear in K): stored column j holds input
// perm[j], and group g owns stored columns [g*G, min((g+1)*G, K)). That works
// exactly when group g holds min(G, K - g*G) columns for every g; any other
// g_idx is refused (docs/formats.md, "act-order").
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "../core/status.hpp"

namespace lowbit {
namespace checkpoint {

// perm from g_idx (K entries, read through at(k)); empty when g_idx is the
// identity layout k / G. `what` names the tensor in messages.
template <class At>
result<std::vector<std::int32_t>> perm_from_group_index(At&& at, std::size_t K, std::size_t G, const char* what) {
    if (G == 0 || K == 0) return status::error(errc::invalid_argument, "%s: group size %zu or K %zu is zero", what, G, K);
    if (K > 0x7fffffffu) return status::error(errc::invalid_argument, "%s: %zu columns do not fit an int32 permutation", what, K);
    const std::size_t n_groups = (K + G - 1) / G;
    std::vector<std::size_t> count(n_groups + 1, 0);
    bool identity = true;
    for (std::size_t k = 0; k < K; ++k) {
        const std::int64_t g = at(k);
        if (g < 0 || static_cast<std::uint64_t>(g) >= n_groups)
            return status::error(errc::invalid_argument, "%s[%zu] = %lld is outside [0, %zu)", what, k, static_cast<long long>(g), n_groups);
        identity = identity && static_cast<std::size_t>(g) == k / G;
        count[static_cast<std::size_t>(g) + 1] += 1;
    }
    if (identity) return std::vector<std::int32_t>{};
    for (std::size_t g = 0; g < n_groups; ++g) {
        const std::size_t want = g + 1 < n_groups ? G : K - g * G;
        if (count[g + 1] != want)
            return status::error(errc::unsupported,
                                 "%s puts %zu columns in group %zu; lowbit needs every group to hold %zu columns (contiguous after "
                                 "reordering)",
                                 what, count[g + 1], g, want);
    }
    for (std::size_t g = 0; g < n_groups; ++g) count[g + 1] += count[g];  // start of each group
    std::vector<std::int32_t> perm(K);
    for (std::size_t k = 0; k < K; ++k) perm[count[static_cast<std::size_t>(at(k))]++] = static_cast<std::int32_t>(k);
    return perm;
}

}  // namespace checkpoint
}  // namespace lowbit
