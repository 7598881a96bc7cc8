// cli_numbers.hpp — numbers from a tool's command line, strictly. The whole
// argument must be the number and lie in the option's range: std::atoi reads
// "abc" as 0 and "4x" as 4, and a tool that then clamps or runs with them does
// something the user did not ask for. On a bad value these print one line
// naming the program, the option and the accepted range, and return false;
// the tools exit with status 2 (a usage error, as lowbit-quantize does).
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

namespace lbcli {

// An integer in [lo, hi], decimal, optional sign, nothing after it.
inline bool parse_int(const char* prog, const char* opt, const char* text, long long lo, long long hi, long long* out) {
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(text, &end, 10);
    if (end == text || *end != '\0' || errno == ERANGE || v < lo || v > hi) {
        std::fprintf(stderr, "%s: %s '%s': expected an integer in %lld..%lld\n", prog, opt, text, lo, hi);
        return false;
    }
    *out = v;
    return true;
}

// The same into an int-sized field; [lo, hi] must fit T.
template <class T>
bool parse_int(const char* prog, const char* opt, const char* text, long long lo, long long hi, T* out) {
    long long v = 0;
    if (!parse_int(prog, opt, text, lo, hi, &v)) return false;
    *out = static_cast<T>(v);
    return true;
}

// Any 64-bit unsigned value (seeds): strtoull alone would take "-1" as 2^64 - 1.
inline bool parse_u64(const char* prog, const char* opt, const char* text, std::uint64_t* out) {
    const char* p = text;
    while (*p == ' ' || *p == '\t') ++p;
    char* end = nullptr;
    errno = 0;
    const unsigned long long v = std::strtoull(p, &end, 10);
    if (*p == '-' || *p == '+' || end == p || *end != '\0' || errno == ERANGE) {
        std::fprintf(stderr, "%s: %s '%s': expected an integer in 0..18446744073709551615\n", prog, opt, text);
        return false;
    }
    *out = static_cast<std::uint64_t>(v);
    return true;
}

// A finite number in [lo, hi]; with lo_open, lo itself is refused (e.g. top-p in (0, 1]).
inline bool parse_float(const char* prog, const char* opt, const char* text, double lo, double hi, bool lo_open, float* out) {
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(text, &end);
    const bool in_range = std::isfinite(v) && (lo_open ? v > lo : v >= lo) && v <= hi;
    if (end == text || *end != '\0' || errno == ERANGE || !in_range) {
        std::fprintf(stderr, "%s: %s '%s': expected a number in %s%g, %g]\n", prog, opt, text, lo_open ? "(" : "[", lo, hi);
        return false;
    }
    *out = static_cast<float>(v);
    return true;
}

}  // namespace lbcli
