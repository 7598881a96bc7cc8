// safetensors files (written by hand here) and the strict JSON reader under
// them: valid files read zero-copy, hostile ones give clear errors.
#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include <lowbit/formats/json.hpp>
#include <lowbit/formats/safetensors.hpp>

using namespace lowbit;
using namespace lowbit::safetensors;

namespace {

using bytes_t = std::vector<std::uint8_t>;

span<const std::uint8_t> as_span(const bytes_t& b) { return span<const std::uint8_t>(b.data(), b.size()); }
bool contains(const char* haystack, const char* needle) { return std::strstr(haystack, needle) != nullptr; }

// 8-byte length + header + data.
bytes_t make_file(const std::string& header, const bytes_t& data) {
    bytes_t f;
    const std::uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) f.push_back(static_cast<std::uint8_t>(n >> (8 * i)));
    f.insert(f.end(), header.begin(), header.end());
    f.insert(f.end(), data.begin(), data.end());
    return f;
}

void put_f32(bytes_t& b, float x) {
    std::uint32_t u;
    std::memcpy(&u, &x, 4);
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::uint8_t>(u >> (8 * i)));
}
void put_u16(bytes_t& b, std::uint16_t h) {
    b.push_back(static_cast<std::uint8_t>(h));
    b.push_back(static_cast<std::uint8_t>(h >> 8));
}

// A valid file: F32 [2,3], F16 [4], BF16 [2], I32 [1], a scalar, an empty tensor and metadata.
const char* k_header =
    "{\"__metadata__\": {\"format\": \"pt\", \"note\": \"caf\\u00e9 \\ud83d\\ude00\"},"
    " \"w\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]},"
    " \"h\\\"x\": {\"dtype\": \"F16\", \"shape\": [4], \"data_offsets\": [24, 32]},"
    " \"b\": {\"shape\": [2], \"dtype\": \"BF16\", \"data_offsets\": [32, 36], \"extra\": {\"ignored\": [1, 2.5e-3, null, true]}},"
    " \"i\": {\"dtype\": \"I32\", \"shape\": [1], \"data_offsets\": [36, 40]},"
    " \"s\": {\"dtype\": \"F32\", \"shape\": [], \"data_offsets\": [40, 44]},"
    " \"e\": {\"dtype\": \"F32\", \"shape\": [0, 5], \"data_offsets\": [44, 44]}}   ";

bytes_t k_data() {
    bytes_t d;
    for (float x : {1.0f, -2.0f, 3.5f, 0.25f, 1e-3f, -7.0f}) put_f32(d, x);
    for (float x : {1.0f, -2.0f, 0.5f, 65504.0f}) put_u16(d, f32_to_f16(x));
    for (float x : {3.0f, -0.125f}) put_u16(d, f32_to_bf16(x));
    put_f32(d, 0.0f);  // the I32 (bits only)
    put_f32(d, 42.0f);
    return d;
}

status parse_status(const bytes_t& b) {
    auto r = safetensors_file::parse(as_span(b));
    return r ? status() : r.error();
}

// A file with one tensor entry (JSON text) and `n` data bytes.
bytes_t one(const std::string& entry, std::size_t n) { return make_file("{\"t\": " + entry + "}", bytes_t(n, 0)); }

#define CHECK_FAILS_WITH(bytes, text)                       \
    do {                                                    \
        const status st_ = parse_status(bytes);             \
        CHECK_FALSE(st_.ok());                              \
        INFO("message: " << std::string(st_.message()));                 \
        CHECK(contains(st_.message(), text));               \
    } while (0)

}  // namespace

TEST_CASE("safetensors: a valid file reads zero-copy, with metadata and float data") {
    const bytes_t file = make_file(k_header, k_data());
    auto r = safetensors_file::parse(as_span(file));
    REQUIRE_MESSAGE(r.ok(), r.error().message());
    const safetensors_file& f = *r;
    CHECK(f.data_offset() == 8 + std::strlen(k_header));
    REQUIRE(f.tensors().size() == 6);
    CHECK(f.metadata().size() == 2);
    CHECK(*f.find_metadata("format") == "pt");
    CHECK(*f.find_metadata("note") == "caf\xc3\xa9 \xf0\x9f\x98\x80");
    CHECK_FALSE(f.find_metadata("nope").has_value());

    const tensor_info* w = f.find_tensor("w");
    REQUIRE(w != nullptr);
    CHECK(w->type == dtype::f32);
    CHECK(w->shape == std::vector<std::uint64_t>{2, 3});
    CHECK(w->n_elements == 6);
    CHECK(w->data.data() == file.data() + f.data_offset());
    std::vector<float> out(6);
    REQUIRE(read_f32(*w, out).ok());
    CHECK(out == std::vector<float>{1.0f, -2.0f, 3.5f, 0.25f, 1e-3f, -7.0f});

    const tensor_info* h = f.find_tensor("h\"x");
    REQUIRE(h != nullptr);
    CHECK(h->type == dtype::f16);
    out.resize(4);
    REQUIRE(read_f32(*h, out).ok());
    CHECK(out == std::vector<float>{1.0f, -2.0f, 0.5f, 65504.0f});

    const tensor_info* b = f.find_tensor("b");
    REQUIRE(b != nullptr);
    out.resize(2);
    REQUIRE(read_f32(*b, out).ok());
    CHECK(out == std::vector<float>{3.0f, -0.125f});

    const tensor_info* i = f.find_tensor("i");
    REQUIRE(i != nullptr);
    CHECK(std::string(dtype_name(i->type)) == "I32");
    CHECK_FALSE(i->is_float());
    const status st = read_f32(*i, span<float>(out.data(), 1));
    CHECK(st.code() == errc::unsupported);
    CHECK(contains(st.message(), "dtype I32"));

    const tensor_info* s = f.find_tensor("s");
    REQUIRE(s != nullptr);
    CHECK(s->shape.empty());
    CHECK(s->n_elements == 1);
    REQUIRE(read_f32(*s, span<float>(out.data(), 1)).ok());
    CHECK(out[0] == 42.0f);
    CHECK(f.find_tensor("e")->n_elements == 0);
    CHECK(f.find_tensor("e")->data.size() == 0);
    CHECK(f.tensors()[0].name == "w");  // header order
    CHECK(read_f32(*w, span<float>(out.data(), 2)).code() == errc::shape_mismatch);
}

TEST_CASE("safetensors: every truncation of a valid file is an error") {
    const bytes_t file = make_file(k_header, k_data());
    for (std::size_t len = 0; len < file.size(); ++len) {
        const bytes_t cut(file.begin(), file.begin() + static_cast<std::ptrdiff_t>(len));
        INFO("length " << len);
        CHECK_FALSE(safetensors_file::parse(as_span(cut)).ok());
    }
}

TEST_CASE("safetensors: flipped bytes never crash; what parses stays in bounds") {
    const bytes_t file = make_file(k_header, k_data());
    std::size_t parsed = 0;
    for (std::size_t i = 0; i < file.size(); ++i) {
        for (std::uint8_t v : {std::uint8_t(0), std::uint8_t(0xff), std::uint8_t('"'), std::uint8_t('9'),
                               std::uint8_t(file[i] ^ 0x01)}) {
            bytes_t m = file;
            m[i] = v;
            auto r = safetensors_file::parse(as_span(m));
            if (!r) continue;
            ++parsed;
            for (const auto& t : r->tensors()) {
                REQUIRE(t.data.data() >= m.data());
                REQUIRE(t.data.data() + t.data.size() <= m.data() + m.size());
            }
        }
    }
    CHECK(parsed > 0);
}

TEST_CASE("safetensors: hostile files give clear errors") {
    SUBCASE("header length") {
        CHECK_FAILS_WITH(bytes_t(7, 0), "truncated: 7 bytes");
        bytes_t huge = make_file("{}", {});
        huge[7] = 0x10;
        CHECK_FAILS_WITH(huge, "exceeds the 100000000-byte limit");
        bytes_t past = make_file("{}", {});
        past[0] = 3;
        CHECK_FAILS_WITH(past, "runs past the end of the 10-byte file");
        CHECK(parse_status(make_file("{}", {})).ok());
        CHECK_FAILS_WITH(make_file(" {}", {}), "does not start with '{'");
        CHECK_FAILS_WITH(make_file("[]", {}), "does not start with '{'");
    }
    SUBCASE("entries") {
        CHECK(parse_status(one("{\"dtype\": \"U8\", \"shape\": [3], \"data_offsets\": [0, 3]}", 3)).ok());
        CHECK_FAILS_WITH(one("{\"dtype\": \"Q4\", \"shape\": [3], \"data_offsets\": [0, 3]}", 3), "unknown dtype 'Q4'");
        CHECK_FAILS_WITH(one("{\"dtype\": 4, \"shape\": [3], \"data_offsets\": [0, 3]}", 3), "dtype at byte 24 is not a string");
        CHECK_FAILS_WITH(one("{\"shape\": [3], \"data_offsets\": [0, 3]}", 3), "lacks \"dtype\"");
        CHECK_FAILS_WITH(one("{\"dtype\": \"U8\", \"data_offsets\": [0, 3]}", 3), "lacks \"shape\"");
        CHECK_FAILS_WITH(one("{\"dtype\": \"U8\", \"shape\": [3]}", 3), "lacks \"data_offsets\"");
        CHECK_FAILS_WITH(one("{\"dtype\": \"U8\", \"dtype\": \"U8\", \"shape\": [3], \"data_offsets\": [0, 3]}", 3),
                         "repeats \"dtype\"");
        CHECK_FAILS_WITH(one("[1]", 0), "entry 't' at byte 14 is not an object");
        CHECK_FAILS_WITH(one("{\"dtype\": \"U8\", \"shape\": 3, \"data_offsets\": [0, 3]}", 3), "shape at byte");
        CHECK_FAILS_WITH(one("{\"dtype\": \"U8\", \"shape\": [3], \"data_offsets\": [0, 3, 4]}", 3), "more than 2 entries");
        CHECK_FAILS_WITH(one("{\"dtype\": \"U8\", \"shape\": [3], \"data_offsets\": [3]}", 3), "needs 2 entries, has 1");
        CHECK_FAILS_WITH(one("{\"dtype\": \"U8\", \"shape\": [-3], \"data_offsets\": [0, 3]}", 3), "expected a non-negative integer");
        CHECK_FAILS_WITH(one("{\"dtype\": \"U8\", \"shape\": [3.0], \"data_offsets\": [0, 3]}", 3), "expected a non-negative integer");
        CHECK_FAILS_WITH(one("{\"dtype\": \"U8\", \"shape\": [1e3], \"data_offsets\": [0, 3]}", 3), "expected a non-negative integer");
        CHECK_FAILS_WITH(one("{\"dtype\": \"U8\", \"shape\": [18446744073709551616], \"data_offsets\": [0, 3]}", 3),
                         "does not fit in 64 bits");
        std::string many = "[";
        for (int i = 0; i < 65; ++i) many += i ? ",1" : "1";
        many += "]";
        CHECK_FAILS_WITH(one("{\"dtype\": \"U8\", \"shape\": " + many + ", \"data_offsets\": [0, 1]}", 1), "more than 64 entries");
    }
    SUBCASE("sizes and offsets") {
        CHECK_FAILS_WITH(one("{\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [0, 8]}", 12),
                         "data_offsets [0, 8) do not hold 12 bytes (3 x F32)");
        CHECK_FAILS_WITH(one("{\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [12, 0]}", 12), "do not hold");
        CHECK_FAILS_WITH(one("{\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [4, 16]}", 12),
                         "end 16 is past the 12-byte data section");
        CHECK_FAILS_WITH(one("{\"dtype\": \"F32\", \"shape\": [3], \"data_offsets\": [18446744073709551610, 18446744073709551622]}", 12),
                         "does not fit in 64 bits");
        CHECK_FAILS_WITH(one("{\"dtype\": \"U8\", \"shape\": [4294967296, 4294967296, 2], \"data_offsets\": [0, 0]}", 0),
                         "element count overflows");
        CHECK_FAILS_WITH(one("{\"dtype\": \"F64\", \"shape\": [2147483648, 4294967296], \"data_offsets\": [0, 0]}", 0),
                         "byte size overflows");
        CHECK_FAILS_WITH(one("{\"dtype\": \"F4\", \"shape\": [3], \"data_offsets\": [0, 2]}", 2), "do not fill whole bytes");
        CHECK(parse_status(one("{\"dtype\": \"F4\", \"shape\": [4], \"data_offsets\": [0, 2]}", 2)).ok());
        CHECK_FAILS_WITH(make_file("{\"a\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [0, 4]},"
                                   " \"b\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [3, 5]}}",
                                   bytes_t(5, 0)),
                         "tensor 'b' [3, 5) overlaps 'a' [0, 4)");
        CHECK_FAILS_WITH(make_file("{\"a\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [0, 4]},"
                                   " \"a\": {\"dtype\": \"U8\", \"shape\": [2], \"data_offsets\": [4, 6]}}",
                                   bytes_t(6, 0)),
                         "duplicate tensor name 'a'");
        // Empty tensors take no bytes and overlap nothing.
        CHECK(parse_status(make_file("{\"a\": {\"dtype\": \"U8\", \"shape\": [4], \"data_offsets\": [0, 4]},"
                                     " \"z\": {\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [2, 2]}}",
                                     bytes_t(4, 0)))
                  .ok());
    }
    SUBCASE("metadata") {
        CHECK_FAILS_WITH(make_file("{\"__metadata__\": {\"a\": 1}}", {}), "__metadata__ value of 'a' at byte 31 is not a string");
        CHECK_FAILS_WITH(make_file("{\"__metadata__\": [\"a\"]}", {}), "__metadata__ is not an object");
        CHECK_FAILS_WITH(make_file("{\"__metadata__\": {\"a\": \"1\", \"a\": \"2\"}}", {}), "duplicate __metadata__ key 'a'");
        CHECK_FAILS_WITH(make_file("{\"__metadata__\": {}, \"__metadata__\": {}}", {}), "duplicate __metadata__ at byte");
    }
    SUBCASE("malformed JSON") {
        CHECK_FAILS_WITH(make_file("{\"__metadata__\": {}, }", {}), "trailing comma");
        CHECK_FAILS_WITH(make_file("{\"a\" {}}", {}), "expected ':'");
        CHECK_FAILS_WITH(make_file("{} x", {}), "trailing characters after the JSON value at byte 11");
        CHECK_FAILS_WITH(make_file("{ ", {}), "unterminated object");
        CHECK_FAILS_WITH(make_file("{\"a", {}), "unterminated string");
        CHECK_FAILS_WITH(make_file("{\"a\tb\": 1}", {}), "control character in a string at byte 11");
        CHECK_FAILS_WITH(make_file("{\"\\x\": 1}", {}), "invalid escape");
        CHECK_FAILS_WITH(make_file("{\"\\ud800\": 1}", {}), "unpaired high surrogate");
        CHECK_FAILS_WITH(make_file("{\"\\udc00\": 1}", {}), "unpaired low surrogate");
        CHECK_FAILS_WITH(make_file("{\"\\u12\": 1}", {}), "invalid hex digit");
        CHECK_FAILS_WITH(make_file("{\"\xc0\xaf\": 1}", {}), "invalid UTF-8 lead byte");
        CHECK_FAILS_WITH(make_file("{\"\xed\xa0\x80\": 1}", {}), "overlong, surrogate or out of range");
        CHECK_FAILS_WITH(make_file("{\"\xe2\x28\xa1\": 1}", {}), "continuation byte");
        std::string deep = "{\"t\": {\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [0, 0], \"x\": ";
        for (int i = 0; i < 70; ++i) deep += "[";
        for (int i = 0; i < 70; ++i) deep += "]";
        CHECK_FAILS_WITH(make_file(deep + "}}", {}), "nesting deeper than 64");
        CHECK_FAILS_WITH(one("{\"dtype\": \"U8\", \"shape\": [01], \"data_offsets\": [0, 1]}", 1), "leading zero");
        CHECK_FAILS_WITH(one("{\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [0, 0], \"x\": tru}", 0), "invalid literal");
        CHECK_FAILS_WITH(one("{\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [0, 0], \"x\": 1.}", 0), "digits expected after '.'");
        CHECK_FAILS_WITH(one("{\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [0, 0], \"x\": -}", 0), "invalid number");
        CHECK_FAILS_WITH(one("{\"dtype\": \"U8\", \"shape\": [0], \"data_offsets\": [0, 0], \"x\": 'a'}", 0), "unexpected character");
    }
}

TEST_CASE("json_reader: escapes, UTF-8 and numbers") {
    using lowbit::detail::json_reader;
    const std::string text = "[\"a\\n\\t\\\"\\\\\\/\\b\\f\\r\\u0041\\u00e9\\u20ac\\ud834\\udd1e\", 0, 123, -0.5e+7, true, false, null, {}, []]";
    json_reader j(text, 0);
    REQUIRE(j.begin_array().ok());
    bool more = false;
    REQUIRE(j.next_element(&more).ok());
    REQUIRE(more);
    std::string s;
    REQUIRE(j.read_string(&s).ok());
    CHECK(s == "a\n\t\"\\/\b\f\rA\xc3\xa9\xe2\x82\xac\xf0\x9d\x84\x9e");
    std::uint64_t u = 9;
    REQUIRE(j.next_element(&more).ok());
    REQUIRE(j.read_uint(&u).ok());
    CHECK(u == 0);
    REQUIRE(j.next_element(&more).ok());
    REQUIRE(j.read_uint(&u).ok());
    CHECK(u == 123);
    for (int i = 0; i < 6; ++i) {
        REQUIRE(j.next_element(&more).ok());
        REQUIRE(more);
        REQUIRE(j.skip_value().ok());
    }
    REQUIRE(j.next_element(&more).ok());
    CHECK_FALSE(more);
    CHECK(j.finish().ok());

    json_reader big("18446744073709551615", 0);
    REQUIRE(big.read_uint(&u).ok());
    CHECK(u == 18446744073709551615ull);
}
