// libFuzzer harness for the GGUF reader (and, on inputs that parse, the writer).
//
// Properties checked beyond "no crash, no sanitizer report":
//   - every value and every tensor byte of a parsed file can be read (ASan
//     catches a view that points outside the input);
//   - a parsed file copied through gguf_writer parses again to the same
//     metadata and tensor data (when the writer accepts it: it is stricter,
//     e.g. no control bytes in names, 1..4 dims);
//   - parsing holds at most 12 bytes of memory per input byte (+ 64 KiB), the
//     bound docs/reliability.md states (counted by alloc_meter.hpp, which
//     replaces operator new in this program).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <lowbit/formats/gguf.hpp>

#include "../hostile/alloc_meter.hpp"

using namespace lowbit;
using namespace lowbit::gguf;

namespace {

std::uint64_t sink_ = 0;  // keeps the reads observable

void touch(const value& v) {
    switch (v.type()) {
        case value_type::string: {
            const std::string_view s = *v.get<std::string_view>();
            for (char c : s) sink_ += static_cast<unsigned char>(c);
            break;
        }
        case value_type::array:
            for (std::size_t i = 0; i < v.size(); ++i) touch(v[i]);
            break;
        default:
            if (auto u = v.to_uint()) sink_ += *u;
            if (auto f = v.to_float()) sink_ += static_cast<std::uint64_t>(*f != 0.0);
            break;
    }
}

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_gguf: property violated: %s\n", what);
    std::abort();
}

bool same_value(const value& a, const value& b) {
    if (a.type() != b.type()) return false;
    if (a.is_array()) {
        if (a.element_type() != b.element_type() || a.size() != b.size()) return false;
        for (std::size_t i = 0; i < a.size(); ++i)
            if (!same_value(a[i], b[i])) return false;
        return true;
    }
    const meta_value ea = meta_value::copy_of(a), eb = meta_value::copy_of(b);
    return ea.encoded() == eb.encoded();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::size_t base = alloc_meter::mark();
    auto r = gguf_file::parse(span<const std::uint8_t>(data, size));
    if (alloc_meter::peak_since(base) > 12 * size + 65536) fail("parse held more than 12 bytes per input byte");
    if (!r) return 0;
    const gguf_file& f = *r;
    for (std::size_t i = 0; i < f.kv_count(); ++i) touch(f.kv(i).value);
    for (const tensor_info& t : f.tensors())
        if (!t.data.empty()) sink_ += t.data[0] + t.data[t.data.size() - 1];

    gguf_writer w;
    for (std::size_t i = 0; i < f.kv_count(); ++i)
        if (!w.set(f.kv(i).key, meta_value::copy_of(f.kv(i).value)).ok()) return 0;
    for (const tensor_info& t : f.tensors())
        if (!w.add_tensor(t.name, t.type, t.shape()).ok()) return 0;
    std::vector<std::uint8_t> out;
    if (!w.write_header(byte_sink::to_vector(out)).ok()) fail("write_header");
    for (const tensor_info& t : f.tensors())
        if (!w.write_tensor(t.name, t.data).ok()) fail("write_tensor");
    if (!w.finish().ok()) fail("finish");
    if (out.size() != w.file_size()) fail("file_size");

    auto r2 = gguf_file::parse(span<const std::uint8_t>(out.data(), out.size()));
    if (!r2) {
        std::fprintf(stderr, "fuzz_gguf: re-parse: %s\n", r2.error().message());
        fail("a written file does not parse");
    }
    const gguf_file& g = *r2;
    if (g.kv_count() != f.kv_count() || g.tensors().size() != f.tensors().size()) fail("counts differ");
    for (std::size_t i = 0; i < f.kv_count(); ++i)
        if (g.kv(i).key != f.kv(i).key || !same_value(g.kv(i).value, f.kv(i).value)) fail("metadata differs");
    for (std::size_t i = 0; i < f.tensors().size(); ++i) {
        const tensor_info &a = f.tensors()[i], &b = g.tensors()[i];
        if (a.name != b.name || a.type != b.type || a.n_elements != b.n_elements || a.n_bytes != b.n_bytes ||
            std::memcmp(a.data.data(), b.data.data(), a.data.size()) != 0)
            fail("tensor differs");
    }
    return 0;
}
