// lowbit/formats/npy.hpp — NumPy .npy files of float32, C order: a reader that
// validates everything it is given and a writer. Format (numpy's
// "format.py"): magic "\x93NUMPY", major/minor version, a little-endian header
// length (2 bytes in v1, 4 in v2/v3), an ASCII Python dict literal
//   {'descr': '<f4', 'fortran_order': False, 'shape': (360, 120), }
// padded with spaces to a multiple of 64 bytes and ending in '\n', then the data.
// Only '<f4' (and '|f4'-free little-endian float32) with fortran_order False is accepted:
// anything else is an error naming the field, never a silent conversion.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../core/status.hpp"

namespace lowbit {

struct npy_array {
    std::vector<std::size_t> shape;
    std::vector<float> data;  // row-major (C order)
    std::size_t rows() const noexcept { return shape.empty() ? 1 : shape[0]; }
    std::size_t cols() const noexcept {  // product of the trailing dimensions (1 for a vector)
        std::size_t c = 1;
        for (std::size_t i = 1; i < shape.size(); ++i) c *= shape[i];
        return c;
    }
};

namespace detail {
// Value text of key `key` in the header dict (up to the next top-level ',' or '}').
inline bool npy_field(const std::string& h, const char* key, std::string& out) {
    const std::string k1 = std::string("'") + key + "'", k2 = std::string("\"") + key + "\"";
    std::size_t p = h.find(k1);
    if (p == std::string::npos) p = h.find(k2);
    if (p == std::string::npos) return false;
    p = h.find(':', p + k1.size());
    if (p == std::string::npos) return false;
    ++p;
    while (p < h.size() && h[p] == ' ') ++p;
    std::size_t e = p;
    int depth = 0;
    while (e < h.size()) {
        const char c = h[e];
        if (c == '(') ++depth;
        else if (c == ')') --depth;
        else if ((c == ',' || c == '}') && depth == 0) break;
        ++e;
    }
    out = h.substr(p, e - p);
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return true;
}
}  // namespace detail

// Parse a whole .npy file held in memory. `name` is used in messages.
inline result<npy_array> parse_npy(const std::uint8_t* b, std::size_t n, const char* name = "npy") {
    if (!b && n) return status::error(errc::invalid_argument, "%s: data is null with %zu bytes", name, n);
    if (n < 10 || std::memcmp(b, "\x93NUMPY", 6) != 0) return status::error(errc::corrupt_data, "%s: not a .npy file (bad magic)", name);
    const int major = b[6];
    std::size_t hlen, off;
    if (major == 1) {
        hlen = static_cast<std::size_t>(b[8]) | static_cast<std::size_t>(b[9]) << 8;
        off = 10;
    } else if (major == 2 || major == 3) {
        if (n < 12) return status::error(errc::corrupt_data, "%s: truncated header", name);
        hlen = static_cast<std::size_t>(b[8]) | static_cast<std::size_t>(b[9]) << 8 | static_cast<std::size_t>(b[10]) << 16 |
               static_cast<std::size_t>(b[11]) << 24;
        off = 12;
    } else {
        return status::error(errc::unsupported, "%s: .npy format version %d is not supported", name, major);
    }
    if (hlen > n - off) return status::error(errc::corrupt_data, "%s: header length %zu exceeds the file (%zu bytes)", name, hlen, n);
    const std::string h(reinterpret_cast<const char*>(b + off), hlen);
    std::string descr, fortran, shape;
    if (!detail::npy_field(h, "descr", descr) || !detail::npy_field(h, "fortran_order", fortran) || !detail::npy_field(h, "shape", shape))
        return status::error(errc::corrupt_data, "%s: header lacks descr, fortran_order or shape", name);
    if (descr != "'<f4'" && descr != "\"<f4\"")
        return status::error(errc::unsupported, "%s: dtype %s, expected little-endian float32 '<f4'", name, descr.c_str());
    if (fortran != "False") return status::error(errc::unsupported, "%s: fortran_order = %s, expected False (C order)", name, fortran.c_str());
    if (shape.size() < 2 || shape.front() != '(' || shape.back() != ')')
        return status::error(errc::corrupt_data, "%s: shape %s is not a tuple", name, shape.c_str());
    npy_array a;
    std::size_t count = 1;
    for (std::size_t i = 1; i + 1 < shape.size();) {
        while (i + 1 < shape.size() && (shape[i] == ' ' || shape[i] == ',')) ++i;
        if (i + 1 >= shape.size()) break;
        if (shape[i] < '0' || shape[i] > '9') return status::error(errc::corrupt_data, "%s: shape %s has a non-integer entry", name, shape.c_str());
        std::size_t d = 0;
        while (i + 1 < shape.size() && shape[i] >= '0' && shape[i] <= '9') {
            if (d > (std::size_t{1} << 40)) return status::error(errc::corrupt_data, "%s: shape %s is too large", name, shape.c_str());
            d = d * 10 + static_cast<std::size_t>(shape[i++] - '0');
        }
        if (d != 0 && count > (std::size_t{1} << 40) / d) return status::error(errc::corrupt_data, "%s: shape %s is too large", name, shape.c_str());
        count *= d;
        a.shape.push_back(d);
    }
    const std::size_t data_off = off + hlen;
    if ((n - data_off) / 4 < count)
        return status::error(errc::corrupt_data, "%s: shape %s needs %zu bytes of data, the file has %zu", name, shape.c_str(), count * 4,
                             n - data_off);
    a.data.resize(count);
    for (std::size_t i = 0; i < count; ++i) {  // little-endian on any host
        const std::uint8_t* p = b + data_off + 4 * i;
        const std::uint32_t u = static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
                                static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
        std::memcpy(&a.data[i], &u, 4);
    }
    return a;
}

inline result<npy_array> read_npy(const char* path) {
    std::FILE* f = std::fopen(path, "rb");
    if (!f) return status::error(errc::io_error, "cannot open %s", path);
    std::vector<std::uint8_t> buf;
    std::uint8_t chunk[1 << 16];
    std::size_t got;
    while ((got = std::fread(chunk, 1, sizeof chunk, f)) > 0) buf.insert(buf.end(), chunk, chunk + got);
    const bool err = std::ferror(f) != 0;
    std::fclose(f);
    if (err) return status::error(errc::io_error, "error reading %s", path);
    return parse_npy(buf.data(), buf.size(), path);
}

// Write float32 data of the given shape (C order), format version 1.0.
inline status write_npy(const char* path, const float* data, const std::vector<std::size_t>& shape) {
    std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
    std::size_t count = 1;
    for (std::size_t d : shape) {
        h += std::to_string(d) + ", ";
        count *= d;
    }
    if (shape.size() > 1) h.resize(h.size() - 1);  // "(3, 4)" ; a 1-tuple keeps its comma: "(3,)"
    else if (shape.size() == 1) h.pop_back();
    h += "), }";
    if (!data && count) return status::error(errc::invalid_argument, "write_npy: data is null for %zu values", count);
    while ((10 + h.size() + 1) % 64) h += ' ';
    h += '\n';
    std::FILE* f = std::fopen(path, "wb");
    if (!f) return status::error(errc::io_error, "cannot create %s", path);
    const std::uint8_t pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, static_cast<std::uint8_t>(h.size() & 0xff),
                                  static_cast<std::uint8_t>(h.size() >> 8)};
    bool ok = std::fwrite(pre, 1, 10, f) == 10 && std::fwrite(h.data(), 1, h.size(), f) == h.size();
    for (std::size_t i = 0; ok && i < count; ++i) {
        std::uint32_t u;
        std::memcpy(&u, data + i, 4);
        const std::uint8_t le[4] = {static_cast<std::uint8_t>(u), static_cast<std::uint8_t>(u >> 8), static_cast<std::uint8_t>(u >> 16),
                                    static_cast<std::uint8_t>(u >> 24)};
        ok = std::fwrite(le, 1, 4, f) == 4;
    }
    ok = std::fclose(f) == 0 && ok;
    if (!ok) return status::error(errc::io_error, "error writing %s", path);
    return {};
}

}  // namespace lowbit
