// lowbit/formats/detail/sorted_names.hpp — the name index of a parsed file's
// entries and its duplicate check (the GGUF reader's tensors, the safetensors
// reader's __metadata__ keys).
//
// One job: order n entries by name (then by position, so equal names keep
// their file order) for binary search, and find the first two equal names.
// Sorting, O(n log n) comparisons: a scan per entry was quadratic (80k keys
// took 15 s, and a 100 MB header allows ~40 h).
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

namespace lowbit {
namespace detail {

// order: the positions 0..n-1 sorted by name(i). Returns true with a before b
// in the file when names a and b are equal (the first such pair in order).
template <class Name>
bool sort_by_name(std::vector<std::size_t>& order, std::size_t n, Name name, std::size_t& a, std::size_t& b) {
    order.resize(n);
    for (std::size_t i = 0; i < n; ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t x, std::size_t y) { return name(x) < name(y) || (name(x) == name(y) && x < y); });
    for (std::size_t k = 1; k < n; ++k) {
        if (name(order[k - 1]) == name(order[k])) {
            a = order[k - 1];
            b = order[k];
            return true;
        }
    }
    return false;
}

}  // namespace detail
}  // namespace lowbit
