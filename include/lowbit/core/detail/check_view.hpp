// lowbit/core/detail/check_view.hpp — the one check of a caller's matrix view.
//
// Every entry point that reads or writes a caller's matrix needs the same four
// facts before it touches a byte: the view points somewhere, its rows do not
// overlap each other (stride >= cols), they stay inside one object's reach
// (view_wraps), and T can be read through the pointer. One function gives a
// hostile view the same answer, in the same words, wherever it is passed.
#pragma once

#include <cstddef>

#include "../status.hpp"
#include "../views.hpp"

namespace lowbit {
namespace detail {

// An empty view passes (whether empty is allowed is the caller's rule). The
// error names the view as "who: name" ("gemm: Y"), or "name" without who.
template <class T>
status check_view(const matrix_view<T>& v, const char* name, const char* who = nullptr) noexcept {
    if (v.empty()) return {};
    const char* pre = who ? who : "";
    const char* sep = who ? ": " : "";
    if (!v.data()) return status::error(errc::invalid_argument, "%s%s%s is null (%zu x %zu)", pre, sep, name, v.rows(), v.cols());
    if (v.stride() < v.cols())
        return status::error(errc::invalid_argument, "%s%s%s: stride %zu < %zu columns", pre, sep, name, v.stride(), v.cols());
    if (view_wraps(v))
        return status::error(errc::invalid_argument, "%s%s%s (%zu rows, stride %zu) runs past the address space", pre, sep, name, v.rows(),
                             v.stride());
    if (misaligned(v.data()))
        return status::error(errc::invalid_argument, "%s%s%s is not aligned to its %zu-byte elements", pre, sep, name, alignof(T));
    return {};
}

}  // namespace detail
}  // namespace lowbit
