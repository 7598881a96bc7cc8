// Hostile input, readers and writers: small files that used to cost
// unbounded memory or time, limits past which the GGUF, safetensors and .npy
// readers and writers refuse, integer overflow in gguf::quantize, and names
// that must not reach a terminal raw (issue 14, items 3, 6, 7, 8;
// docs/reliability.md, "Limits of the readers").
//
// Memory is measured, not timed: alloc_meter.hpp replaces operator new in this
// binary (this is the one file of test_hostile that includes it) and the tests
// bound the peak bytes a parse holds by a constant times the input's size.
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include <lowbit/formats/gguf.hpp>
#include <lowbit/formats/gguf_blocks.hpp>
#include <lowbit/formats/npy.hpp>
#include <lowbit/formats/safetensors.hpp>

#include "alloc_meter.hpp"
#include "hostile_util.hpp"

using namespace lowbit;
using namespace lowbit::gguf;
using namespace hostile;

namespace {

using bytes_t = std::vector<std::uint8_t>;

// Little-endian GGUF bytes, field by field.
struct gguf_bytes {
    bytes_t b;
    gguf_bytes& le(std::uint64_t v, int n) {
        for (int i = 0; i < n; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
        return *this;
    }
    gguf_bytes& u32(std::uint32_t v) { return le(v, 4); }
    gguf_bytes& u64(std::uint64_t v) { return le(v, 8); }
    gguf_bytes& str(const std::string& s) {
        u64(s.size());
        b.insert(b.end(), s.begin(), s.end());
        return *this;
    }
    gguf_bytes& header(std::uint64_t n_tensors, std::uint64_t n_kv) {
        b.insert(b.end(), {'G', 'G', 'U', 'F'});
        return u32(3).u64(n_tensors).u64(n_kv);
    }
};

span<const std::uint8_t> as_span(const bytes_t& b) { return span<const std::uint8_t>(b.data(), b.size()); }

// The peak bytes held while parsing `file`, and whether it parsed.
template <class Parse>
std::size_t parse_peak(const bytes_t& file, Parse parse, bool* ok) {
    const std::size_t base = alloc_meter::mark();
    {
        auto r = parse(as_span(file));
        *ok = r.ok();
    }
    return alloc_meter::peak_since(base);
}

bool printable_ascii(const char* s) {
    for (; *s; ++s)
        if (static_cast<unsigned char>(*s) < 0x20 || static_cast<unsigned char>(*s) > 0x7e) return false;
    return true;
}

bytes_t npy_file(const std::string& header, std::size_t data_bytes, int major = 1) {
    bytes_t b = {0x93, 'N', 'U', 'M', 'P', 'Y', static_cast<std::uint8_t>(major), 0};
    const std::size_t n = header.size();
    b.push_back(static_cast<std::uint8_t>(n));
    b.push_back(static_cast<std::uint8_t>(n >> 8));
    if (major >= 2) {
        b.push_back(static_cast<std::uint8_t>(n >> 16));
        b.push_back(static_cast<std::uint8_t>(n >> 24));
    }
    b.insert(b.end(), header.begin(), header.end());
    b.resize(b.size() + data_bytes, 0);
    return b;
}
result<npy_array> npy(const std::string& header, std::size_t data_bytes = 64, int major = 1) {
    const bytes_t b = npy_file(header, data_bytes, major);
    return parse_npy(b.data(), b.size(), "t.npy");
}

auto gguf_parse = [](span<const std::uint8_t> s) { return gguf_file::parse(s); };
auto st_parse = [](span<const std::uint8_t> s) { return safetensors::safetensors_file::parse(s); };

}  // namespace

TEST_CASE("hostile readers: the alloc meter counts what the program holds") {
    const std::size_t base = alloc_meter::mark();
    {
        std::vector<std::uint8_t> v(1 << 20);
        v[5] = 1;
        CHECK(alloc_meter::held().load() >= base + (1u << 20));
    }
    CHECK(alloc_meter::peak_since(base) >= (1u << 20));
    CHECK(alloc_meter::held().load() <= base + 4096);  // doctest may keep a little
}

// Item 3a. Every level declares as many children as the bytes left could hold
// ("bytes left / 12"), the first child of each level is the next level, and
// zero bytes (empty u8 arrays, 12 bytes each) fill the rest of the file. The
// reader used to reserve every level's declared count up front: 31 levels x
// size/12 nodes of 32 bytes, about 80 x the file's size (1.4 GB for 16 MiB).
TEST_CASE("hostile readers: nested GGUF arrays cost memory linear in the file's size") {
    for (std::size_t size : {std::size_t(1) << 16, std::size_t(1) << 22}) {
        CAPTURE(size);
        gguf_bytes g;
        g.header(0, 1).str("k").u32(9);
        const int levels = max_array_depth;  // the deepest nesting the reader accepts
        for (int l = 0; l < levels; ++l) {
            g.u32(l + 1 < levels ? 9 : 0);  // arrays of arrays, the innermost of u8
            const std::size_t left = size - g.b.size() - 8;
            g.u64(l + 1 < levels ? left / 12 : 0);
        }
        g.b.resize(size, 0);
        bool ok = true;
        const std::size_t peak = parse_peak(g.b, gguf_parse, &ok);
        MESSAGE("nested arrays, " << size << "-byte file: peak " << peak << " bytes held while parsing");
        CHECK_FALSE(ok);  // the declared counts are more than the file holds: truncated
        CHECK(peak <= 12 * size + 65536);

        // The same shape with honest counts parses, within the same bound.
        gguf_bytes h;
        h.header(0, 1).str("k").u32(9).u32(9).u64(size / 64);
        for (std::size_t i = 0; i < size / 64; ++i) {
            h.u32(9).u64(2);  // an array of 2 arrays of 1 string each
            for (int j = 0; j < 2; ++j) h.u32(8).u64(1).str("t");
        }
        const std::size_t peak_ok = parse_peak(h.b, gguf_parse, &ok);
        MESSAGE("valid nested arrays, " << h.b.size() << "-byte file: peak " << peak_ok << " bytes");
        CHECK(ok);
        CHECK(peak_ok <= 12 * h.b.size() + 65536);
    }
}

TEST_CASE("hostile readers: many GGUF keys and tensors, parsed and written in O(n log n)") {
    const std::size_t n = 100000;
    gguf_writer w;
    for (std::size_t i = 0; i < n; ++i) REQUIRE(w.set("key." + std::to_string(i), meta_value::u8(1)).ok());
    CHECK(says(w.set("key.77777", meta_value::u8(2)), "duplicate key 'key.77777'"));
    for (std::size_t i = 0; i < 20000; ++i) REQUIRE(w.add_tensor("t." + std::to_string(i), gguf_type::f32, {1}).ok());
    CHECK(says(w.add_tensor("t.123", gguf_type::f32, {1}), "duplicate tensor name 't.123'"));
    bytes_t out;
    REQUIRE(w.write_header(byte_sink::to_vector(out)).ok());
    const std::vector<std::uint8_t> four(4, 0);
    for (std::size_t i = 0; i < 20000; ++i) REQUIRE(w.write_tensor_data(as_span(four)).ok());
    REQUIRE(w.finish().ok());
    bool ok = false;
    const std::size_t peak = parse_peak(out, gguf_parse, &ok);
    MESSAGE(n << " keys + 20000 tensors, " << out.size() << " bytes: peak " << peak << " bytes while parsing");
    CHECK(ok);
    CHECK(peak <= 12 * out.size() + 65536);

    // Over the key-count limit: refused from the header's count, before any pair is read.
    gguf_bytes g;
    g.header(0, max_kv_count + 1);
    g.b.resize(16 * 1024 * 1024, 0);
    auto r = gguf_file::parse(as_span(g.b));
    CHECK(says(r.error(), "exceeds the limit of 1048576 pairs"));
}

// Item 3b: 57 bytes holding general.alignment = 2^31 used to parse, and a copy
// through the writer padded its header to 2 GiB.
TEST_CASE("hostile readers: general.alignment is a power of two up to 1 MiB, in the reader and the writer") {
    auto with_alignment = [](std::uint32_t a) {
        gguf_bytes g;
        g.header(0, 1).str("general.alignment").u32(4).u32(a);
        return g.b;
    };
    const bytes_t issue = with_alignment(1u << 31);
    CHECK(issue.size() == 57);
    CHECK(says(gguf_file::parse(as_span(issue)).error(), "2147483648 at byte 24 is not a power of two up to 1048576"));
    CHECK(says(gguf_file::parse(as_span(with_alignment(1u << 21))).error(), "not a power of two up to"));
    CHECK(says(gguf_file::parse(as_span(with_alignment(3u << 10))).error(), "not a power of two"));
    gguf_writer w;
    CHECK(says(w.set_alignment(1u << 21), "2097152 is not a power of two up to 1048576"));
    CHECK(says(w.set_alignment(1u << 31), "not a power of two up to"));
    CHECK(w.alignment() == default_alignment);  // a refused value changes nothing
    // The limit itself works end to end: the largest output a tensor-less file
    // can cause is its header padded to 1 MiB.
    const bytes_t at_limit = with_alignment(max_alignment);  // the parsed file views these bytes
    auto f = gguf_file::parse(as_span(at_limit));
    REQUIRE(f);
    CHECK(f->alignment() == max_alignment);
    gguf_writer copy;
    REQUIRE(copy.set("general.alignment", meta_value::copy_of(*f->find_kv("general.alignment"))).ok());
    bytes_t out;
    REQUIRE(copy.write_header(byte_sink::to_vector(out)).ok());
    REQUIRE(copy.finish().ok());
    CHECK(out.size() == max_alignment);
    CHECK(gguf_file::parse(as_span(out)).ok());
}

// Item 3c: 80k __metadata__ keys took 15 s (a scan per key); the sort makes it
// O(n log n). No time is asserted: a quadratic check would make this test run
// for minutes rather than fail.
TEST_CASE("hostile readers: safetensors __metadata__ with many keys, duplicates found by sorting") {
    const std::size_t n = 200000;
    auto file_with = [](const std::string& meta) {
        std::string header = "{\"__metadata__\":{" + meta + "}}";
        bytes_t f;
        for (int i = 0; i < 8; ++i) f.push_back(static_cast<std::uint8_t>(header.size() >> (8 * i)));
        f.insert(f.end(), header.begin(), header.end());
        return f;
    };
    // The costliest pairs per byte: 3-letter keys, empty values ("abc":"", 9 bytes).
    auto key = [](std::size_t i) {
        const char* a = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        return std::string{a[i % 62], a[i / 62 % 62], a[i / 3844 % 62]};
    };
    std::string meta;
    for (std::size_t i = 0; i < n; ++i) meta += (i ? ",\"" : "\"") + key(i) + "\":\"\"";
    const bytes_t good = file_with(meta);
    bool ok = false;
    const std::size_t peak = parse_peak(good, st_parse, &ok);
    MESSAGE(n << " __metadata__ keys, " << good.size() << "-byte header: peak " << peak << " bytes while parsing");
    CHECK(ok);
    CHECK(peak <= 32 * good.size() + 65536);
    auto f = safetensors::safetensors_file::parse(as_span(good));
    REQUIRE(f);
    CHECK(f->metadata().size() == n);
    CHECK(f->find_metadata(key(123456)).has_value());
    CHECK_FALSE(f->find_metadata("abcd"));

    const bytes_t dup = file_with(meta + ",\"" + key(4711) + "\":\"w\"");
    auto d = safetensors::safetensors_file::parse(as_span(dup));
    CHECK(says(d.error(), ("duplicate __metadata__ key '" + key(4711) + "' at bytes").c_str()));
}

// Item 6: the product nrow * n_per_row was formed unchecked (UBSan: signed
// overflow) for F32/F16/BF16/Q8_1/Q8_K, and a count that wrapped to 0
// returned OK having written nothing.
TEST_CASE("hostile readers: gguf::quantize refuses counts whose products overflow, for every type") {
    std::vector<float> x(256, 0.5f);
    const gguf_type types[] = {gguf_type::f32,  gguf_type::f16,  gguf_type::bf16, gguf_type::q8_1, gguf_type::q8_K,
                               gguf_type::q4_0, gguf_type::q4_1, gguf_type::q5_0, gguf_type::q5_1, gguf_type::q8_0,
                               gguf_type::q2_K, gguf_type::q3_K, gguf_type::q4_K, gguf_type::q5_K, gguf_type::q6_K};
    const std::int64_t big = std::int64_t{1} << 40;
    for (gguf_type t : types) {
        CAPTURE(type_name(t));
        sentinel out(1024);
        // 2^40 x 2^40 wraps int64 to 0: it used to "succeed"
        CHECK(says(quantize(t, x.data(), out.base(), big, big, nullptr), "overflows"));
        // 2^48 x 2^15 = 2^63 wraps to INT64_MIN
        CHECK(says(quantize(t, x.data(), out.base(), std::int64_t{1} << 48, std::int64_t{1} << 15, nullptr), "overflows"));
        // fits int64 but not memory: the byte counts (x 4) would overflow
        const std::int64_t blk = static_cast<std::int64_t>(type_block_size(t));
        CHECK(says(quantize(t, x.data(), out.base(), std::numeric_limits<std::int64_t>::max() / blk / 2, blk, nullptr),
                   "overflows"));
        CHECK(says(quantize_row(t, x.data(), out.base(), std::numeric_limits<std::int64_t>::max() / blk * blk),
                   "more floats than fit in memory"));
        CHECK(says(quantize(t, x.data(), out.base(), -1, blk, nullptr), "negative"));
        CHECK(out.untouched());
        // the smallest honest call still works
        CHECK(quantize(t, x.data(), out.base(), 1, blk, nullptr).ok());
    }
    // rows that are not whole blocks, even when the total is
    sentinel out(1024);
    CHECK(quantize(gguf_type::q8_1, x.data(), out.base(), 2, 16, nullptr).code() == errc::shape_mismatch);
    CHECK(out.untouched());
}

// Item 7: the header is parsed as the Python literal it is.
TEST_CASE("hostile readers: integer .npy (token ids): each dtype widened exactly, anything else refused") {
    auto ints = [](const std::string& descr, const bytes_t& data, const std::string& shape = "(2,)") {
        bytes_t b = npy_file("{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }", 0);
        b.insert(b.end(), data.begin(), data.end());
        return parse_npy_ints(b.data(), b.size(), "t.npy");
    };
    const bytes_t ff = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0, 0, 0, 0, 0};
    struct want {
        const char* descr;
        std::int64_t first, second;
        std::size_t width;
    };
    for (const want& w : {want{"|u1", 255, 255, 1}, want{"|i1", -1, -1, 1}, want{"<u2", 65535, 65535, 2}, want{"<i2", -1, -1, 2},
                          want{"<u4", 4294967295LL, 4294967295LL, 4}, want{"<i4", -1, -1, 4}, want{"<i8", -1, 1, 8}}) {
        CAPTURE(w.descr);
        auto r = ints(w.descr, ff);
        REQUIRE(r);
        CHECK(r->data == std::vector<std::int64_t>{w.first, w.second});
        // one byte short of the shape's data: refused, not read past the end
        CHECK(says(ints(w.descr, bytes_t(2 * w.width - 1, 0)).error(), "the shape needs 2 values"));
    }
    CHECK(says(ints("<u8", ff).error(), "expected an integer dtype"));
    CHECK(says(ints(">i4", ff).error(), "expected an integer dtype"));
    CHECK(says(ints("<f4", ff).error(), "expected an integer dtype"));
    bytes_t fortran = npy_file("{'descr': '<i4', 'fortran_order': True, 'shape': (2,), }", 8);
    CHECK(says(parse_npy_ints(fortran.data(), fortran.size(), "t.npy").error(), "fortran_order"));
    auto empty = ints("<i4", {}, "(0,)");
    REQUIRE(empty);
    CHECK(empty->data.empty());
}

TEST_CASE("hostile readers: .npy headers parsed as Python literals, refusing what numpy refuses") {
    const std::string ok_tail = "'fortran_order': False, 'shape': (2, 3), }";
    REQUIRE(npy("{'descr': '<f4', " + ok_tail).ok());
    SUBCASE("a 'descr' inside another value is never the descr") {
        // used to be read as f32: the substring search found the first 'descr'
        auto r = npy("{\"note\": \"'descr': '<f4'\", 'descr': '>f8', " + ok_tail);
        CHECK(says(r.error(), "unexpected key"));
        auto s = npy("{\"descr\": '>f8', 'fortran_order': False, 'shape': (2, 3), }");
        CHECK(says(s.error(), "dtype '>f8'"));
    }
    SUBCASE("keys: exactly descr, fortran_order, shape, once each") {
        CHECK(says(npy("{'descr': '>f8', 'descr': '<f4', " + ok_tail).error(), "repeated key"));
        CHECK(says(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), 'extra': 1}").error(), "unexpected key"));
        CHECK(says(npy("{'descr': '<f4', 'shape': (2, 3)}").error(), "lacks 'fortran_order'"));
        CHECK(says(npy("{'fortran_order': False, 'shape': (2,)}").error(), "lacks 'descr'"));
        CHECK(says(npy("{}").error(), "lacks"));
        CHECK(says(npy("{1: '<f4'}").error(), "a string key"));
        CHECK(says(npy("{'descr': '<f4' 'fortran_order': False}").error(), "expected ',' or '}'"));
        CHECK(says(npy("{'descr': '<f4', , " + ok_tail).error(), "a string key"));
        CHECK(says(npy("{'descr': '<f4', " + ok_tail + " junk").error(), "nothing but whitespace"));
        CHECK(says(npy("['descr', '<f4']").error(), "start with '{'"));
    }
    SUBCASE("shape: tuples by Python's comma rule") {
        auto one = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}");
        REQUIRE(one);
        CHECK(one->shape == std::vector<std::size_t>{2});
        CHECK(says(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2)}").error(), "'shape' is not a tuple"));
        CHECK(says(npy("{'descr': '<f4', 'fortran_order': False, 'shape': 2}").error(), "'shape' is not a tuple"));
        auto scalar = npy("{'descr': '<f4', 'fortran_order': False, 'shape': ()}");
        REQUIRE(scalar);
        CHECK(scalar->shape.empty());
        CHECK(scalar->data.size() == 1);
        CHECK((scalar->rows() == 1 && scalar->cols() == 1));
        auto trailing = npy("{\n 'descr' : \"<f4\" ,\t'fortran_order':False,'shape':( 2 , 3 , ) ,}  \n");
        REQUIRE(trailing);
        CHECK(trailing->shape == std::vector<std::size_t>{2, 3});
        CHECK(says(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,,)}").error(), "a string, an int"));
        CHECK(says(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (,)}").error(), "a string, an int"));
        CHECK(says(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 3)}").error(), "negative"));
        CHECK(says(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (02, 3)}").error(), "leading zeros"));
        CHECK(says(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2.0,)}").error(), "only decimal"));
        CHECK(says(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (0x2,)}").error(), "only decimal"));
        CHECK(says(npy("{'descr': '<f4', 'fortran_order': False, 'shape': ('2',)}").error(), "other than integers"));
        CHECK(says(npy("{'descr': '<f4', 'fortran_order': False, 'shape': ((2,),)}").error(), "other than integers"));
        CHECK(says(npy("{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}").error(), "a string, an int"));
        CHECK(says(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}").error(),
                   "does not fit in 64 bits"));
        // Python 2 longs, which numpy still reads in v1/v2 headers
        auto longs = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }");
        REQUIRE(longs);
        CHECK(longs->shape == std::vector<std::size_t>{2, 3});
        CHECK(says(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2L,)}", 64, 3).error(), "only decimal"));
        std::string deep = "{'descr': '<f4', 'fortran_order': False, 'shape': ";
        for (int i = 0; i < 20; ++i) deep += '(';
        CHECK(says(npy(deep).error(), "nested too deeply"));
    }
    SUBCASE("element counts whose products overflow") {
        // the product is 0, but cols() = 2^32 * 2^32 would wrap
        CHECK(says(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4294967296, 4294967296)}").error(),
                   "multiply past"));
        CHECK(says(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 2)}").error(),
                   "multiply past"));
        CHECK(says(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 2)}").error(), "floats of data"));
        npy_array hand;
        hand.shape = {1, std::size_t(1) << 40, std::size_t(1) << 40};
        CHECK(hand.cols() == std::numeric_limits<std::size_t>::max());
        hand.shape = {1, 0, std::size_t(1) << 40};
        CHECK(hand.cols() == 0);
        CHECK(says(write_npy("/nonexistent-dir/x.npy", nullptr, {std::size_t(1) << 40, std::size_t(1) << 40}),
                   "overflows"));
    }
    SUBCASE("strings, bools and sizes") {
        auto esc = npy("{'descr': \"\\x3cf\\x34\", 'fortran_order': False, 'shape': (2, 3)}");
        CHECK(esc.ok());  // '\x3cf\x34' is '<f4'
        CHECK(says(npy("{'descr': '<f4\\q', " + ok_tail).error(), "unsupported escape"));
        CHECK(says(npy("{'descr': '<f4, " + ok_tail).error(), "expected ',' or '}'"));
        CHECK(says(npy("{'descr': '<f4\n', " + ok_tail).error(), "unterminated string"));
        CHECK(says(npy("{'descr': b'<f4', " + ok_tail).error(), "string prefixes"));
        CHECK(says(npy("{'descr': ('<f4',), " + ok_tail).error(), "'descr' is not a string"));
        CHECK(says(npy("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,)}").error(), "not True or False"));
        CHECK(says(npy("{'descr': '<f4', 'fortran_order': None, 'shape': (2,)}").error(), "other than True or False"));
        CHECK(says(npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2,)}").error(), "fortran_order = True"));
        auto ctl = npy("{'descr': '\\x1b[2J', " + ok_tail);
        CHECK(says(ctl.error(), "dtype '?[2J'"));
        CHECK(printable_ascii(ctl.error().message()));
        std::string huge = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        huge += std::string(npy_max_header + 1 - huge.size(), ' ');
        CHECK(says(npy(huge, 64, 2).error(), "exceeds numpy's limit of 10000"));
    }
}

// Item 8: names past ggml's limit, and names or keys holding control bytes.
TEST_CASE("hostile readers: long names and control bytes, refused by writers and escaped in readers' messages") {
    gguf_writer w;
    const std::string n64(64, 'n');
    const std::string shown = std::string(40, 'n') + "...";  // messages show at most 40 bytes of a name
    CHECK(says(w.add_tensor(n64, gguf_type::f32, {1}), ("tensor name '" + shown + "' is 64 bytes long, outside 1..63").c_str()));
    CHECK(w.add_tensor(std::string(63, 'n'), gguf_type::f32, {1}).ok());
    const status esc = w.add_tensor("\x1b[2Jevil", gguf_type::f32, {1});
    CHECK(says(esc, "tensor name '\\x1b[2Jevil' holds a NUL or control byte"));
    CHECK(printable_ascii(esc.message()));
    CHECK(says(w.add_tensor(std::string("a\0b", 3), gguf_type::f32, {1}), "'a\\x00b' holds a NUL"));
    CHECK(says(w.set(std::string("k\0", 2), meta_value::u8(1)), "key 'k\\x00' holds a NUL or control byte"));
    CHECK(says(w.set("k\x7f", meta_value::u8(1)), "control byte"));
    CHECK(w.set("caf\xc3\xa9", meta_value::u8(1)).ok());  // UTF-8 is fine
    CHECK(w.tensor_count() == 1);
    const status seq = w.write_tensor("\x1b]0;title\x07", span<const std::uint8_t>());
    CHECK(printable_ascii(seq.message()));

    // A GGUF reader error naming a tensor with an escape sequence in its name.
    gguf_bytes g;
    g.header(1, 0).str("\x1b[31mred\\").u32(1).u64(32).u32(4).u64(0);
    auto r = gguf_file::parse(as_span(g.b));
    CHECK(says(r.error(), "tensor '\\x1b[31mred\\x5c' has unknown ggml type 4"));
    CHECK(printable_ascii(r.error().message()));
    // ... and a metadata key with a NUL and a newline in it
    gguf_bytes k;
    k.header(0, 1).str(std::string("a\0\nb", 4)).u32(13);
    auto rk = gguf_file::parse(as_span(k.b));
    CHECK(says(rk.error(), "key 'a\\x00\\x0ab' has unknown value type 13"));
    // The reader refuses names of 64 bytes or more (llama.cpp does not load them) and names them.
    gguf_bytes l;
    l.header(1, 0).str(n64).u32(1).u64(32).u32(0).u64(0);
    CHECK(says(gguf_file::parse(as_span(l.b)).error(), ("tensor name '" + shown + "' (info at byte 24) is 64 bytes long; ggml's limit is 63").c_str()));

    // safetensors: a JSON \u001b in a tensor name reaches the message escaped
    std::string header = "{\"\\u001b[2Jx\":{\"dtype\":\"Q9\",\"shape\":[1],\"data_offsets\":[0,1]}}";
    bytes_t f;
    for (int i = 0; i < 8; ++i) f.push_back(static_cast<std::uint8_t>(header.size() >> (8 * i)));
    f.insert(f.end(), header.begin(), header.end());
    f.push_back(0);
    auto st = safetensors::safetensors_file::parse(as_span(f));
    CHECK(says(st.error(), "tensor '\\x1b[2Jx' has unknown dtype 'Q9'"));
    CHECK(printable_ascii(st.error().message()));
}
