// GGUF files: writer -> reader round trips, and hostile inputs that must give
// clear errors (never crashes, never out-of-bounds reads).
#include <doctest/doctest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include <lowbit/formats/gguf.hpp>

using namespace lowbit;
using namespace lowbit::gguf;

namespace {

using bytes_t = std::vector<std::uint8_t>;

span<const std::uint8_t> as_span(const bytes_t& b) { return span<const std::uint8_t>(b.data(), b.size()); }

bool contains(const char* haystack, const char* needle) { return std::strstr(haystack, needle) != nullptr; }

// Deterministic bytes for tensor data.
bytes_t pattern(std::size_t n, std::uint32_t seed) {
    bytes_t b(n);
    std::uint32_t s = seed * 2654435761u + 1;
    for (auto& x : b) {
        s = s * 1664525u + 1013904223u;
        x = static_cast<std::uint8_t>(s >> 24);
    }
    return b;
}

struct tensor_spec {
    std::string name;
    gguf_type type;
    std::vector<std::uint64_t> dims;
};

std::uint64_t tensor_bytes(const tensor_spec& t) {
    std::uint64_t ne = 1;
    for (auto d : t.dims) ne *= d;
    return ne / type_block_size(t.type) * type_size(t.type);
}

// Metadata with every value type, arrays of strings and nested arrays.
void add_all_metadata(gguf_writer& w) {
    REQUIRE(w.set("general.architecture", meta_value::string("llama")).ok());
    REQUIRE(w.set("t.u8", meta_value::u8(200)).ok());
    REQUIRE(w.set("t.i8", meta_value::i8(-100)).ok());
    REQUIRE(w.set("t.u16", meta_value::u16(60000)).ok());
    REQUIRE(w.set("t.i16", meta_value::i16(-30000)).ok());
    REQUIRE(w.set("t.u32", meta_value::u32(4000000000u)).ok());
    REQUIRE(w.set("t.i32", meta_value::i32(-2000000000)).ok());
    REQUIRE(w.set("t.f32", meta_value::f32(1.5f)).ok());
    REQUIRE(w.set("t.bool", meta_value::boolean(true)).ok());
    REQUIRE(w.set("t.string", meta_value::string(std::string("h\xc3\xa9llo\0x", 8))).ok());
    REQUIRE(w.set("t.u64", meta_value::u64(0xfedcba9876543210ull)).ok());
    REQUIRE(w.set("t.i64", meta_value::i64(-0x123456789abcdefll)).ok());
    REQUIRE(w.set("t.f64", meta_value::f64(-2.25e300)).ok());
    const std::uint8_t u8s[] = {1, 2, 3, 255};
    REQUIRE(w.set("t.arr_u8", meta_value::array_of(span<const std::uint8_t>(u8s, 4))).ok());
    const float f32s[] = {0.5f, -1.0f, 3.25f};
    REQUIRE(w.set("t.arr_f32", meta_value::array_of(span<const float>(f32s, 3))).ok());
    const bool bools[] = {true, false, true};
    REQUIRE(w.set("t.arr_bool", meta_value::array_of(span<const bool>(bools, 3))).ok());
    const std::int64_t i64s[] = {-1, 0, 1};
    REQUIRE(w.set("t.arr_i64", meta_value::array_of(span<const std::int64_t>(i64s, 3))).ok());
    const std::string_view strs[] = {"<s>", "", "\xe2\x96\x81the"};
    REQUIRE(w.set("tokenizer.ggml.tokens", meta_value::array_of_strings(span<const std::string_view>(strs, 3))).ok());
    REQUIRE(w.set("t.arr_empty", meta_value::array(value_type::u32, {})).ok());
    // [[1, 2], [], [[\"x\"]]] : arrays of arrays with different element types.
    const std::int32_t a1[] = {1, 2};
    const std::string_view xs[] = {"x"};
    const meta_value nested = meta_value::array(
        value_type::array, {meta_value::array_of(span<const std::int32_t>(a1, 2)), meta_value::array(value_type::f64, {}),
                            meta_value::array(value_type::array,
                                              {meta_value::array_of_strings(span<const std::string_view>(xs, 1))})});
    REQUIRE(w.set("t.nested", nested).ok());
}

void check_all_metadata(const gguf_file& f) {
    CHECK(*f.get_string("general.architecture") == "llama");
    CHECK(*f.get<std::uint8_t>("t.u8") == 200);
    CHECK(*f.get<std::int8_t>("t.i8") == -100);
    CHECK(*f.get<std::uint16_t>("t.u16") == 60000);
    CHECK(*f.get<std::int16_t>("t.i16") == -30000);
    CHECK(*f.get<std::uint32_t>("t.u32") == 4000000000u);
    CHECK(*f.get<std::int32_t>("t.i32") == -2000000000);
    CHECK(*f.get<float>("t.f32") == 1.5f);
    CHECK(*f.get_bool("t.bool") == true);
    CHECK(*f.get_string("t.string") == std::string_view("h\xc3\xa9llo\0x", 8));
    CHECK(*f.get<std::uint64_t>("t.u64") == 0xfedcba9876543210ull);
    CHECK(*f.get<std::int64_t>("t.i64") == -0x123456789abcdefll);
    CHECK(*f.get<double>("t.f64") == -2.25e300);
    CHECK(*f.get_uint("t.u8") == 200);
    CHECK(*f.get_int("t.i32") == -2000000000);
    CHECK(*f.get_float("t.f32") == 1.5);

    auto a = *f.find_kv("t.arr_u8");
    REQUIRE(a.is_array());
    CHECK(a.element_type() == value_type::u8);
    REQUIRE(a.size() == 4);
    CHECK(*a[3].get<std::uint8_t>() == 255);
    CHECK(a.raw_elements().size() == 4);
    auto af = *f.find_kv("t.arr_f32");
    REQUIRE(af.size() == 3);
    CHECK(*af[2].get<float>() == 3.25f);
    auto ab = *f.find_kv("t.arr_bool");
    REQUIRE(ab.size() == 3);
    CHECK(*ab[0].get<bool>() == true);
    CHECK(*ab[1].get<bool>() == false);
    auto ai = *f.find_kv("t.arr_i64");
    CHECK(*ai[0].get<std::int64_t>() == -1);
    auto tok = *f.find_kv("tokenizer.ggml.tokens");
    REQUIRE(tok.element_type() == value_type::string);
    REQUIRE(tok.size() == 3);
    CHECK(*tok[0].get<std::string_view>() == "<s>");
    CHECK(tok[1].get<std::string_view>()->empty());
    CHECK(*tok[2].get<std::string_view>() == "\xe2\x96\x81the");
    auto e = *f.find_kv("t.arr_empty");
    CHECK(e.is_array());
    CHECK(e.size() == 0);
    CHECK(e.element_type() == value_type::u32);
    auto n = *f.find_kv("t.nested");
    REQUIRE(n.size() == 3);
    REQUIRE(n[0].element_type() == value_type::i32);
    CHECK(*n[0][1].get<std::int32_t>() == 2);
    CHECK(n[1].size() == 0);
    CHECK(n[1].element_type() == value_type::f64);
    REQUIRE(n[2].size() == 1);
    REQUIRE(n[2][0].size() == 1);
    CHECK(*n[2][0][0].get<std::string_view>() == "x");
}

const std::vector<tensor_spec> k_tensors = {
    {"token_embd.weight", gguf_type::q4_0, {64, 3}},
    {"blk.0.attn_q.weight", gguf_type::q6_K, {256, 2}},
    {"blk.0.ffn.weight", gguf_type::f16, {5, 1, 1, 3}},
    {"blk.0.norm", gguf_type::bf16, {7}},
    {"output.weight", gguf_type::f32, {8, 2}},  // 64 bytes: the file ends with it, no padding
};

// Writes k_tensors (data: pattern(i)) with the given alignment, in odd-sized chunks.
bytes_t write_model(std::uint32_t alignment, bool all_metadata = true) {
    gguf_writer w;
    if (alignment != default_alignment) REQUIRE(w.set_alignment(alignment).ok());
    if (all_metadata) add_all_metadata(w);
    for (const auto& t : k_tensors)
        REQUIRE(w.add_tensor(t.name, t.type, span<const std::uint64_t>(t.dims.data(), t.dims.size())).ok());
    bytes_t out;
    REQUIRE(w.write_header(byte_sink::to_vector(out)).ok());
    CHECK(out.size() == w.data_offset());
    bytes_t all;
    for (std::size_t i = 0; i < k_tensors.size(); ++i) {
        const bytes_t d = pattern(static_cast<std::size_t>(tensor_bytes(k_tensors[i])), static_cast<std::uint32_t>(i));
        all.insert(all.end(), d.begin(), d.end());
    }
    for (std::size_t pos = 0; pos < all.size();) {  // chunks of 7 bytes cross tensor boundaries
        const std::size_t n = std::min<std::size_t>(7, all.size() - pos);
        REQUIRE(w.write_tensor_data(span<const std::uint8_t>(all.data() + pos, n)).ok());
        pos += n;
    }
    REQUIRE(w.finish().ok());
    CHECK(out.size() == w.file_size());
    return out;
}

void check_tensors(const gguf_file& f) {
    REQUIRE(f.tensors().size() == k_tensors.size());
    for (std::size_t i = 0; i < k_tensors.size(); ++i) {
        const tensor_info& t = f.tensors()[i];
        CHECK(t.name == k_tensors[i].name);
        CHECK(t.type == k_tensors[i].type);
        REQUIRE(t.n_dims == k_tensors[i].dims.size());
        for (std::size_t d = 0; d < t.n_dims; ++d) CHECK(t.shape()[d] == k_tensors[i].dims[d]);
        CHECK(t.n_bytes == tensor_bytes(k_tensors[i]));
        CHECK(t.offset % f.alignment() == 0);
        CHECK((f.data_offset() + t.offset) % f.alignment() == 0);
        const bytes_t want = pattern(static_cast<std::size_t>(t.n_bytes), static_cast<std::uint32_t>(i));
        REQUIRE(t.data.size() == want.size());
        CHECK(std::memcmp(t.data.data(), want.data(), want.size()) == 0);
        CHECK(f.find_tensor(t.name) == &t);
    }
    CHECK(f.find_tensor("nope") == nullptr);
    CHECK(f.find_tensor("blk.0.norm")->rows() == 1);
    CHECK(f.find_tensor("blk.0.ffn.weight")->rows() == 3);
}

// ---- a tiny builder for hand-made (hostile) files -----------------------------------
struct builder {
    bytes_t b;
    builder& raw(const void* p, std::size_t n) {
        b.insert(b.end(), static_cast<const std::uint8_t*>(p), static_cast<const std::uint8_t*>(p) + n);
        return *this;
    }
    builder& le(std::uint64_t v, std::size_t n) {
        for (std::size_t i = 0; i < n; ++i) b.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
        return *this;
    }
    builder& u32(std::uint64_t v) { return le(v, 4); }
    builder& u64(std::uint64_t v) { return le(v, 8); }
    builder& str(std::string_view s) { return u64(s.size()).raw(s.data(), s.size()); }
    builder& header(std::uint64_t n_tensors, std::uint64_t n_kv, std::uint32_t version = 3) {
        return raw("GGUF", 4).u32(version).u64(n_tensors).u64(n_kv);
    }
    builder& tensor(std::string_view name, std::vector<std::uint64_t> dims, std::uint32_t type, std::uint64_t off) {
        str(name).u32(dims.size());
        for (auto d : dims) u64(d);
        return u32(type).u64(off);
    }
    builder& pad(std::size_t a = 32) {
        while (b.size() % a) b.push_back(0);
        return *this;
    }
    builder& zeros(std::size_t n) {
        b.insert(b.end(), n, 0);
        return *this;
    }
};

status parse_status(const bytes_t& b) {
    auto r = gguf_file::parse(as_span(b));
    return r ? status() : r.error();
}

#define CHECK_FAILS_WITH(bytes, text)                                         \
    do {                                                                      \
        const status st_ = parse_status(bytes);                               \
        CHECK_FALSE(st_.ok());                                                \
        INFO("message: " << std::string(st_.message()));                                   \
        CHECK(contains(st_.message(), text));                                 \
    } while (0)

}  // namespace

TEST_CASE("gguf_types: ids and block geometry follow ggml") {
    CHECK(static_cast<int>(gguf_type::bf16) == 30);
    CHECK(type_size(gguf_type::q8_0) == 34);
    CHECK(type_size(gguf_type::q8_K) == 292);
    CHECK(type_size(gguf_type::q2_K) == 84);
    CHECK(type_size(gguf_type::q3_K) == 110);
    CHECK(type_size(gguf_type::q4_K) == 144);
    CHECK(type_size(gguf_type::q5_K) == 176);
    CHECK(type_block_size(gguf_type::q4_1) == 32);
    CHECK(std::string(type_name(gguf_type::q5_1)) == "Q5_1");
    CHECK_FALSE(is_valid_type_id(4));
    CHECK_FALSE(is_valid_type_id(31));
    CHECK_FALSE(is_valid_type_id(40));
    CHECK(is_valid_type_id(39));
    CHECK(std::string(type_name(static_cast<gguf_type>(5))) == "unknown");
}

TEST_CASE("gguf: a written file reads back identically (metadata and tensors)") {
    for (std::uint32_t alignment : {32u, 64u, 1u, 8u}) {
        CAPTURE(alignment);
        const bytes_t file = write_model(alignment);
        auto r = gguf_file::parse(as_span(file));
        REQUIRE_MESSAGE(r.ok(), r.error().message());
        const gguf_file& f = *r;
        CHECK(f.version() == 3);
        CHECK(f.alignment() == alignment);
        CHECK(f.data_offset() % alignment == 0);
        check_all_metadata(f);
        check_tensors(f);
        CHECK(f.kv_count() == (alignment != 32 ? 21u : 20u));
        CHECK(f.kv(alignment != 32 ? 1 : 0).key == "general.architecture");

        // Copy everything through the writer again: the bytes must be identical.
        gguf_writer w;
        for (std::size_t i = 0; i < f.kv_count(); ++i) REQUIRE(w.set(f.kv(i).key, meta_value::copy_of(f.kv(i).value)).ok());
        for (const tensor_info& t : f.tensors()) REQUIRE(w.add_tensor(t.name, t.type, t.shape()).ok());
        bytes_t again;
        REQUIRE(w.write_header(byte_sink::to_vector(again)).ok());
        for (const tensor_info& t : f.tensors()) REQUIRE(w.write_tensor(t.name, t.data).ok());
        REQUIRE(w.finish().ok());
        CHECK(again == file);
    }
}

TEST_CASE("gguf: streaming to a FILE* and version 2 headers") {
    std::FILE* fp = std::tmpfile();
    REQUIRE(fp != nullptr);
    gguf_writer w;
    REQUIRE(w.set("general.name", meta_value::string("tiny")).ok());
    REQUIRE(w.add_tensor("a", gguf_type::q8_0, {32, 2}).ok());
    REQUIRE(w.add_tensor("b", gguf_type::f32, {3}).ok());
    REQUIRE(w.write_header(byte_sink::to_file(fp)).ok());
    const bytes_t a = pattern(68, 1), b = pattern(12, 2);
    REQUIRE(w.write_tensor("a", as_span(a)).ok());
    REQUIRE(w.write_tensor("b", as_span(b)).ok());
    REQUIRE(w.finish().ok());
    std::fflush(fp);
    bytes_t file(static_cast<std::size_t>(std::ftell(fp)));
    CHECK(file.size() == w.file_size());
    std::rewind(fp);
    REQUIRE(std::fread(file.data(), 1, file.size(), fp) == file.size());
    std::fclose(fp);
    auto r = gguf_file::parse(as_span(file));
    REQUIRE_MESSAGE(r.ok(), r.error().message());
    CHECK(r->tensors()[1].offset == 96);  // 68 bytes padded to 96
    CHECK(std::memcmp(r->find_tensor("b")->data.data(), b.data(), 12) == 0);

    file[4] = 2;  // v2 has the same layout
    auto r2 = gguf_file::parse(as_span(file));
    REQUIRE(r2.ok());
    CHECK(r2->version() == 2);
}

TEST_CASE("gguf: typed getters name the key on errors") {
    const bytes_t file = write_model(32);
    auto r = gguf_file::parse(as_span(file));
    REQUIRE(r.ok());
    auto missing = r->get_uint("no.such.key");
    REQUIRE_FALSE(missing.ok());
    CHECK(contains(missing.error().message(), "'no.such.key' not found"));
    auto wrong = r->get<std::uint64_t>("t.u32");
    REQUIRE_FALSE(wrong.ok());
    CHECK(contains(wrong.error().message(), "'t.u32' is uint32, expected uint64"));
    CHECK(*r->get_uint("t.u32") == 4000000000u);
    CHECK_FALSE(r->get_uint("t.i8").ok());  // negative
    CHECK_FALSE(r->get_int("t.u64").ok());  // beyond int64
    CHECK_FALSE(r->get_float("t.string").ok());
    CHECK_FALSE(r->find_kv("t.u8")->get<std::int8_t>().has_value());
}

TEST_CASE("gguf: every truncation of a valid file is an error") {
    const bytes_t file = write_model(32);
    for (std::size_t len = 0; len < file.size(); ++len) {
        const bytes_t cut(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(len));
        auto r = gguf_file::parse(as_span(cut));
        INFO("length " << len);
        REQUIRE_FALSE(r.ok());
        CHECK(r.error().code() == errc::corrupt_data);
    }
    CHECK(gguf_file::parse(as_span(file)).ok());
}

TEST_CASE("gguf: flipped bytes never crash; a file that still parses stays in bounds") {
    const bytes_t file = write_model(32, false);
    std::size_t parsed = 0;
    for (std::size_t i = 0; i < file.size(); ++i) {
        for (std::uint8_t v : {std::uint8_t(0x00), std::uint8_t(0xff), std::uint8_t(file[i] ^ 0x01), std::uint8_t(file[i] ^ 0x80)}) {
            bytes_t m = file;
            m[i] = v;
            auto r = gguf_file::parse(as_span(m));
            if (!r) continue;
            ++parsed;
            for (const tensor_info& t : r->tensors()) {
                REQUIRE(t.data.data() >= m.data());
                REQUIRE(t.data.data() + t.data.size() <= m.data() + m.size());
            }
        }
    }
    CHECK(parsed > 0);  // flips inside tensor data are harmless
}

TEST_CASE("gguf: hostile headers give clear errors") {
    SUBCASE("magic and version") {
        CHECK_FAILS_WITH(bytes_t{}, "truncated: magic");
        CHECK_FAILS_WITH(builder().raw("GGUG", 4).u32(3).u64(0).u64(0).b, "bad magic at byte 0");
        CHECK_FAILS_WITH(builder().header(0, 0, 1).b, "version 1 at byte 4");
        CHECK_FAILS_WITH(builder().header(0, 0, 4).b, "version 4");
        CHECK_FAILS_WITH(builder().header(0, 0, 0x03000000).b, "big-endian");
        CHECK(parse_status(builder().header(0, 0).b).ok());  // an empty file is valid
    }
    SUBCASE("huge counts are rejected before allocation") {
        CHECK_FAILS_WITH(builder().header(0, ~0ull).b, "metadata count 18446744073709551615 at byte 16");
        CHECK_FAILS_WITH(builder().header(1ull << 62, 0).b, "tensor count 4611686018427387904 at byte 8");
        CHECK_FAILS_WITH(builder().header(1, 1).str("k").u32(0).le(1, 1).b, "tensor count");
    }
    SUBCASE("string lengths") {
        CHECK_FAILS_WITH(builder().header(0, 1).u64(~0ull).u32(0).u32(0).b, "metadata key at byte 24 is 18446744073709551615 bytes long");
        CHECK_FAILS_WITH(builder().header(0, 1).u64(100).raw("abcdefgh", 8).b, "truncated: metadata key needs 100 bytes at byte 32");
        CHECK_FAILS_WITH(builder().header(0, 1).str("k").u32(8).u64(1ull << 40).u64(0).b, "truncated: string value");
        const std::string long_key(70000, 'k');
        CHECK_FAILS_WITH(builder().header(0, 1).str(long_key).u32(0).le(1, 1).b, "limit 65535");
        CHECK_FAILS_WITH(builder().header(1, 0).tensor(std::string(65, 'n'), {32}, 0, 0).pad().zeros(128).b,
                         "(info at byte 24) is 65 bytes long; ggml's limit is 63");
        // 64 bytes: the spec's prose allows it, ggml (GGML_MAX_NAME = 64 with the NUL) does not load it
        CHECK_FAILS_WITH(builder().header(1, 0).tensor(std::string(64, 'n'), {32}, 0, 0).pad().zeros(128).b,
                         "is 64 bytes long; ggml's limit is 63");
        CHECK(parse_status(builder().header(1, 0).tensor(std::string(63, 'n'), {32}, 0, 0).pad().zeros(128).b).ok());
    }
    SUBCASE("value types and arrays") {
        CHECK_FAILS_WITH(builder().header(0, 1).str("k").u32(13).u64(0).b, "unknown value type 13 at byte 33");
        CHECK_FAILS_WITH(builder().header(0, 1).str("k").u32(7).le(2, 1).b, "bool value 2 at byte 37");
        CHECK_FAILS_WITH(builder().header(0, 1).str("k").u32(9).u32(14).u64(0).b, "unknown element type 14");
        CHECK_FAILS_WITH(builder().header(0, 1).str("k").u32(9).u32(4).u64(1ull << 61).u64(0).b,
                         "array length 2305843009213693952 at byte 41 does not fit");
        CHECK_FAILS_WITH(builder().header(0, 1).str("k").u32(9).u32(8).u64(3).str("a").b, "does not fit");
        CHECK_FAILS_WITH(builder().header(0, 1).str("k").u32(9).u32(7).u64(2).le(1, 1).le(5, 1).b,
                         "bool array element at byte 50 is 5");
        builder deep;
        deep.header(0, 1).str("k").u32(9);
        for (int i = 0; i < 40; ++i) deep.u32(9).u64(1);
        deep.u32(0).u64(0);
        CHECK_FAILS_WITH(deep.b, "nested deeper than 32");
        builder ok_depth;
        ok_depth.header(0, 1).str("k").u32(9);
        for (int i = 0; i < 31; ++i) ok_depth.u32(9).u64(1);
        ok_depth.u32(0).u64(0);
        CHECK(parse_status(ok_depth.b).ok());
    }
    SUBCASE("duplicate keys and alignment") {
        CHECK_FAILS_WITH(builder().header(0, 2).str("a.b").u32(0).le(1, 1).str("a.b").u32(4).u32(7).b,
                         "duplicate metadata key 'a.b' at bytes 24 and 40");
        CHECK_FAILS_WITH(builder().header(0, 1).str("general.alignment").u32(4).u32(48).b, "48 at byte 24 is not a power of two");
        CHECK_FAILS_WITH(builder().header(0, 1).str("general.alignment").u32(4).u32(0).b, "not a power of two");
        CHECK_FAILS_WITH(builder().header(0, 1).str("general.alignment").u32(10).u64(64).b, "is uint64, expected uint32");
        CHECK_FAILS_WITH(builder().header(1, 1).str("general.alignment").u32(4).u32(1u << 20).tensor("t", {1}, 0, 0).zeros(4).b,
                         "past the end");
        CHECK_FAILS_WITH(builder().header(1, 1).str("general.alignment").u32(4).u32(1u << 31).tensor("t", {1}, 0, 0).zeros(4).b,
                         "2147483648 at byte 24 is not a power of two up to 1048576");
    }
    SUBCASE("tensor infos") {
        auto one = [](std::vector<std::uint64_t> dims, std::uint32_t type, std::uint64_t off, std::size_t data) {
            return builder().header(1, 0).tensor("t", dims, type, off).pad().zeros(data).b;
        };
        CHECK(parse_status(one({8}, 0, 0, 32)).ok());
        CHECK_FAILS_WITH(one({8, 1, 1, 1, 1}, 0, 0, 32), "has 5 dimensions, limit 4");
        CHECK_FAILS_WITH(one({8, 0}, 0, 0, 32), "dimension 1 at byte 45 is 0");
        CHECK_FAILS_WITH(one({8}, 4, 0, 32), "unknown ggml type 4");
        CHECK_FAILS_WITH(one({8}, 1000, 0, 32), "unknown ggml type 1000");
        CHECK_FAILS_WITH(one({1ull << 32, 1ull << 32}, 0, 0, 32), "element count overflows int64");
        CHECK_FAILS_WITH(one({1ull << 62, 2}, 0, 0, 32), "element count overflows int64");
        CHECK_FAILS_WITH(one({1ull << 62}, 0, 0, 32), "byte size overflows");  // 2^62 x 4 bytes
        CHECK_FAILS_WITH(one({33}, 2, 0, 64), "row length 33 is not a multiple of the Q4_0 block size 32");
        CHECK_FAILS_WITH(one({8}, 0, 16, 64), "offset 16 is not a multiple of the alignment 32");
        CHECK_FAILS_WITH(one({8}, 0, 32, 32), "runs past the end of the data section");
        CHECK_FAILS_WITH(one({8}, 0, ~0ull << 5, 32), "runs past the end of the data section");
        CHECK_FAILS_WITH(one({9}, 0, 0, 32), "runs past the end");
        CHECK_FAILS_WITH(builder().header(1, 0).tensor("t", {8}, 0, 0).b, "past the end of the 57-byte file");
    }
    SUBCASE("tensors overlapping or sharing a name") {
        CHECK_FAILS_WITH(builder().header(2, 0).tensor("a", {16}, 0, 0).tensor("b", {8}, 0, 32).pad().zeros(96).b,
                         "tensor 'b' data at offset 32 overlaps tensor 'a' [0, 64)");
        CHECK_FAILS_WITH(builder().header(2, 0).tensor("a", {8}, 0, 0).tensor("b", {8}, 0, 0).pad().zeros(64).b,
                         "overlaps");
        CHECK_FAILS_WITH(builder().header(2, 0).tensor("a", {8}, 0, 0).tensor("a", {8}, 0, 32).pad().zeros(64).b,
                         "duplicate tensor name 'a' at bytes 24 and 57");
        CHECK(parse_status(builder().header(2, 0).tensor("a", {8}, 0, 32).tensor("b", {8}, 0, 0).pad().zeros(64).b).ok());
    }
}

TEST_CASE("gguf_writer: misuse is reported") {
    gguf_writer w;
    CHECK(w.set("k", meta_value::u8(1)).ok());
    CHECK(contains(w.set("k", meta_value::u8(2)).message(), "duplicate key 'k'"));
    CHECK_FALSE(w.set("", meta_value::u8(2)).ok());
    CHECK(contains(w.set_alignment(24).message(), "not a power of two"));
    CHECK(contains(w.set("general.alignment", meta_value::u64(64)).message(), "must be uint32"));
    CHECK(contains(w.add_tensor(std::string(64, 'x'), gguf_type::f32, {1}).message(), "outside 1..63"));
    CHECK(contains(w.add_tensor("z", gguf_type::f32, {2, 0}).message(), "dim 1 is 0"));
    CHECK(contains(w.add_tensor("z", gguf_type::q4_K, {128}).message(), "not a multiple of the Q4_K block 256"));
    CHECK(contains(w.add_tensor("z", static_cast<gguf_type>(5), {1}).message(), "invalid type 5"));
    CHECK(contains(w.add_tensor("z", gguf_type::f32, {1ull << 40, 1ull << 40}).message(), "overflows"));
    CHECK_FALSE(w.add_tensor("z", gguf_type::f32, {1, 1, 1, 1, 1}).ok());
    CHECK(w.add_tensor("t", gguf_type::f32, {4}).ok());
    CHECK(contains(w.add_tensor("t", gguf_type::f32, {4}).message(), "duplicate tensor name 't'"));
    CHECK(w.add_tensor("u", gguf_type::f32, {2}).ok());
    const bytes_t d16 = pattern(16, 0), d8 = pattern(8, 0);
    CHECK(contains(w.write_tensor_data(as_span(d16)).message(), "before write_header"));
    bytes_t out;
    REQUIRE(w.write_header(byte_sink::to_vector(out)).ok());
    CHECK(contains(w.set("late", meta_value::u8(1)).message(), "after write_header"));
    CHECK(contains(w.write_tensor("u", as_span(d8)).message(), "'t' is next"));
    CHECK(contains(w.write_tensor("t", as_span(d8)).message(), "takes 16 bytes, got 8"));
    CHECK(w.write_tensor("t", as_span(d16)).ok());
    CHECK(contains(w.finish().message(), "'u' incomplete (0 of 8 bytes)"));
    CHECK(contains(w.write_tensor_data(as_span(d16)).message(), "8 bytes more than the declared tensors hold"));
    CHECK(w.finish().ok());
    CHECK_FALSE(w.finish().ok());
    auto r = gguf_file::parse(as_span(out));
    REQUIRE(r.ok());
    CHECK(r->tensors()[1].offset == 32);
}
