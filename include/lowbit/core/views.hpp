// lowbit/core/views.hpp — non-owning views: span and row-major matrix view.
//
// Kernels and quantizers take views over the caller's memory; nothing here
// allocates. A matrix_view has a row stride (in elements) so that sub-blocks
// and padded rows can be passed without copying.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "status.hpp"

namespace lowbit {

template <class T>
class span {
public:
    constexpr span() noexcept = default;
    constexpr span(T* data, std::size_t size) noexcept : data_(data), size_(size) {}
    template <class U, class = std::enable_if_t<std::is_convertible<U (*)[], T (*)[]>::value>>
    constexpr span(const span<U>& o) noexcept : data_(o.data()), size_(o.size()) {}
    template <class V, class A,
              class = std::enable_if_t<std::is_const<T>::value && std::is_same<V, std::remove_const_t<T>>::value>>
    span(const std::vector<V, A>& v) noexcept : data_(v.data()), size_(v.size()) {}
    template <class A>
    span(std::vector<T, A>& v) noexcept : data_(v.data()), size_(v.size()) {}

    constexpr T* data() const noexcept { return data_; }
    constexpr std::size_t size() const noexcept { return size_; }
    constexpr bool empty() const noexcept { return size_ == 0; }
    constexpr T& operator[](std::size_t i) const noexcept { return data_[i]; }
    constexpr T* begin() const noexcept { return data_; }
    constexpr T* end() const noexcept { return data_ + size_; }
    constexpr span subspan(std::size_t off, std::size_t n) const noexcept { return span(data_ + off, n); }

private:
    T* data_ = nullptr;
    std::size_t size_ = 0;
};

// rows x cols, row-major, element (r, c) at data[r * stride + c].
template <class T>
class matrix_view {
public:
    constexpr matrix_view() noexcept = default;
    constexpr matrix_view(T* data, std::size_t rows, std::size_t cols) noexcept
        : data_(data), rows_(rows), cols_(cols), stride_(cols) {}
    constexpr matrix_view(T* data, std::size_t rows, std::size_t cols, std::size_t stride) noexcept
        : data_(data), rows_(rows), cols_(cols), stride_(stride) {}
    template <class U, class = std::enable_if_t<std::is_convertible<U (*)[], T (*)[]>::value>>
    constexpr matrix_view(const matrix_view<U>& o) noexcept
        : data_(o.data()), rows_(o.rows()), cols_(o.cols()), stride_(o.stride()) {}

    constexpr T* data() const noexcept { return data_; }
    constexpr std::size_t rows() const noexcept { return rows_; }
    constexpr std::size_t cols() const noexcept { return cols_; }
    constexpr std::size_t stride() const noexcept { return stride_; }
    constexpr bool empty() const noexcept { return rows_ == 0 || cols_ == 0; }
    constexpr T* row(std::size_t r) const noexcept { return data_ + r * stride_; }
    constexpr T& operator()(std::size_t r, std::size_t c) const noexcept { return data_[r * stride_ + c]; }

private:
    T* data_ = nullptr;
    std::size_t rows_ = 0, cols_ = 0, stride_ = 0;
};

namespace detail {
// Whether [a, a + a_bytes) and [b, b + b_bytes) share a byte (empty ranges never do).
inline bool overlaps(const void* a, std::size_t a_bytes, const void* b, std::size_t b_bytes) noexcept {
    const auto pa = reinterpret_cast<std::uintptr_t>(a), pb = reinterpret_cast<std::uintptr_t>(b);
    return a_bytes && b_bytes && pa < pb + b_bytes && pb < pa + a_bytes;
}
// Bytes a view spans, from its first element to the end of its last row.
template <class T>
inline std::size_t view_bytes(const matrix_view<T>& v) noexcept {
    return v.empty() ? 0 : ((v.rows() - 1) * v.stride() + v.cols()) * sizeof(T);
}
// Whether `bytes` bytes from p run past the top of the address space (the end
// pointer would wrap to a low address, where overlap checks cannot see it).
inline bool range_wraps(const void* p, std::size_t bytes) noexcept {
    return reinterpret_cast<std::uintptr_t>(p) > UINTPTR_MAX - bytes;
}
// Whether a non-empty view reaches past what one object can span: its extent,
// (rows - 1) * stride + cols elements, overflows, exceeds PTRDIFF_MAX bytes, or
// runs past the top of the address space. No memory backs such a view, and
// row(r) would wrap around onto other memory (the caller's inputs, the
// weights) where view_bytes and overlaps cannot see it. Call after checking
// stride >= cols.
template <class T>
inline bool view_wraps(const matrix_view<T>& v) noexcept {
    if (v.empty()) return false;
    constexpr std::size_t max_elems = static_cast<std::size_t>(PTRDIFF_MAX) / sizeof(T);
    const std::size_t stride = v.stride() ? v.stride() : 1;
    if (v.cols() > max_elems || v.rows() - 1 > (max_elems - v.cols()) / stride) return true;
    return range_wraps(v.data(), ((v.rows() - 1) * v.stride() + v.cols()) * sizeof(T));
}
// A pointer that T cannot be read through (C++ requires alignof(T) alignment).
template <class T>
inline bool misaligned(const T* p) noexcept {
    return reinterpret_cast<std::uintptr_t>(p) % alignof(T) != 0;
}
// The one check of a caller's matrix view, for every entry point that takes
// one: it points somewhere, its rows do not overlap each other (stride >=
// cols), they stay inside one object's reach (view_wraps), and T can be read
// through the pointer; a hostile view gets the same answer, in the same
// words, wherever it is passed. An empty view passes (whether empty is
// allowed is the caller's rule). The error names the view as "who: name"
// ("gemm: Y"), or "name" without who.
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
// The same for a span the callee reads or writes: not null, within one
// object's reach (size * sizeof(T) neither overflows nor runs past the top of
// the address space), T readable through the pointer. Empty passes here too.
template <class T>
status check_span(span<T> s, const char* name, const char* who = nullptr) noexcept {
    if (s.empty()) return {};
    const char* pre = who ? who : "";
    const char* sep = who ? ": " : "";
    if (!s.data()) return status::error(errc::invalid_argument, "%s%s%s is null (%zu values)", pre, sep, name, s.size());
    constexpr std::size_t max_elems = static_cast<std::size_t>(PTRDIFF_MAX) / sizeof(T);
    if (s.size() > max_elems || range_wraps(s.data(), s.size() * sizeof(T)))
        return status::error(errc::invalid_argument, "%s%s%s (%zu values) runs past the address space", pre, sep, name, s.size());
    if (misaligned(s.data()))
        return status::error(errc::invalid_argument, "%s%s%s is not aligned to its %zu-byte elements", pre, sep, name, alignof(T));
    return {};
}

}  // namespace detail

}  // namespace lowbit
