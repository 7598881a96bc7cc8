// lowbit/formats/detail/gguf_checks.hpp — the argument checks of every GGUF
// block codec: lengths, pointers, buffers, NaN/Inf. Data errors become a
// status naming the argument, and a refused call has written nothing.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../../core/config.hpp"
#include "../../core/status.hpp"
#include "../../core/views.hpp"

#include "fp_contract_off_begin.inl"

namespace lowbit {
namespace gguf {
namespace detail {

// ---- argument checks: data errors become a status, nothing is written ----------
inline status check_finite(const char* fn, const char* what, const float* v, std::int64_t n) noexcept {
    for (std::int64_t i = 0; i < n; ++i) {
        if (LOWBIT_UNLIKELY(!std::isfinite(v[i]))) {
            return status::error(errc::non_finite, "%s: %s[%lld] is %s", fn, what, static_cast<long long>(i),
                                 std::isnan(v[i]) ? "NaN" : "infinite");
        }
    }
    return status();
}

// The most values one call takes: their floats must fit in one object
// (PTRDIFF_MAX bytes), so that every byte count formed from k (k * 4 input
// bytes, k / block * block bytes <= k * 4 output bytes) is exact.
constexpr std::int64_t max_values = static_cast<std::int64_t>(PTRDIFF_MAX / 4);

inline status check_length(const char* fn, const char* what, std::int64_t k, int block) noexcept {
    if (k < 0) return status::error(errc::invalid_argument, "%s: %s = %lld is negative", fn, what, static_cast<long long>(k));
    if (k > max_values)
        return status::error(errc::invalid_argument, "%s: %s = %lld is more floats than fit in memory (limit %lld)", fn,
                             what, static_cast<long long>(k), static_cast<long long>(max_values));
    if (k % block != 0) {
        return status::error(errc::shape_mismatch, "%s: %s = %lld is not a multiple of the block size %d", fn, what,
                             static_cast<long long>(k), block);
    }
    return status();
}

inline status check_pointers(const char* fn, std::int64_t k, const void* in, const void* out) noexcept {
    if (k > 0 && in == nullptr) return status::error(errc::invalid_argument, "%s: input pointer is null", fn);
    if (k > 0 && out == nullptr) return status::error(errc::invalid_argument, "%s: output pointer is null", fn);
    return status();
}

// Blocks (and floats) are read and written through typed pointers: refuse
// addresses C++ cannot use as such, and outputs that overlap their input.
template <class In, class Out>
inline status check_buffers(const char* fn, const In* in, std::size_t in_bytes, const Out* out, std::size_t out_bytes) noexcept {
    if (lowbit::detail::misaligned(in) || lowbit::detail::misaligned(out))
        return status::error(errc::invalid_argument, "%s: input or output pointer is not aligned to its element type", fn);
    if (lowbit::detail::range_wraps(in, in_bytes) || lowbit::detail::range_wraps(out, out_bytes))
        return status::error(errc::invalid_argument, "%s: input or output runs past the address space", fn);
    if (lowbit::detail::overlaps(in, in_bytes, out, out_bytes))
        return status::error(errc::invalid_argument, "%s: output overlaps the input", fn);
    return status();
}

}  // namespace detail
}  // namespace gguf
}  // namespace lowbit

#include "fp_contract_off_end.inl"
