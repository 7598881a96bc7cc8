// libFuzzer harness for the .npy reader (formats/npy.hpp): parse_npy (float32)
// and parse_npy_ints (token ids) on the same bytes.
//
// Properties beyond "no crash, no sanitizer report":
//   - an accepted array holds exactly the shape's product of values, and the
//     data those values came from lies inside the input;
//   - float32 values are the bytes right after the header, bit for bit
//     (little-endian hosts; the reader may not skip or reorder);
//   - at most one of the two readers accepts a file (the dtype is '<f4' or an
//     integer type, never both);
//   - each parse holds at most 16 bytes of memory per input byte (+ 64 KiB):
//     an int8 array widens to int64 (8 per byte) and nothing is sized from a
//     shape the bytes do not back (alloc_meter.hpp).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <lowbit/formats/npy.hpp>

#include "../hostile/alloc_meter.hpp"

using namespace lowbit;

namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_npy: property violated: %s\n", what);
    std::abort();
}

std::size_t product(const std::vector<std::size_t>& shape) {
    std::size_t p = 1;
    for (std::size_t d : shape) p *= d;  // the reader checked it does not overflow
    return p;
}

void check_bound(std::size_t base, std::size_t size) {
    if (alloc_meter::peak_since(base) > 16 * size + 65536) {
        std::fprintf(stderr, "fuzz_npy: parse held %zu bytes for a %zu-byte input\n", alloc_meter::peak_since(base), size);
        std::abort();
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::size_t base = alloc_meter::mark();
    auto f = parse_npy(data, size, "fuzz");
    check_bound(base, size);
    base = alloc_meter::mark();
    auto i = parse_npy_ints(data, size, "fuzz");
    check_bound(base, size);
    if (f && i) fail("both the float and the integer reader accept the file");
    if (f) {
        if (product(f->shape) != f->data.size()) fail("float data size is not the shape's product");
        if (f->data.size() > size / 4) fail("more floats than the input holds");
        if (!f->data.empty() && f->rows() * f->cols() != f->data.size()) fail("rows() * cols() is not the element count");
        // The values start right after the header, whose length the
        // preamble states (numpy's format: 2 bytes in v1, 4 in v2/v3).
        const std::size_t off = data[6] == 1 ? 10 + (data[8] | data[9] << 8)
                                             : 12 + (data[8] | data[9] << 8 | static_cast<std::size_t>(data[10]) << 16 |
                                                     static_cast<std::size_t>(data[11]) << 24);
        if (off > size || (size - off) / 4 < f->data.size()) fail("the floats do not lie inside the input");
        if (!f->data.empty() && std::memcmp(data + off, f->data.data(), 4 * f->data.size()) != 0)
            fail("the floats are not the bytes after the header");
    } else if (f.error().message()[0] == '\0') {
        fail("an empty error message");
    }
    if (i) {
        if (product(i->shape) != i->data.size()) fail("integer data size is not the shape's product");
        if (i->data.size() > size) fail("more integers than the input holds");
    } else if (i.error().message()[0] == '\0') {
        fail("an empty error message");
    }
    return 0;
}
