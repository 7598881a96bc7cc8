// hf_json.hpp — the small JSON files of a Hugging Face folder (config.json,
// tokenizer.json, tokenizer_config.json, model.safetensors.index.json) as a
// tree, built on lowbit's strict pull parser (formats/json.hpp).
//
// A tree because these files are read by key in any order and are small next
// to the weights (a 128k-token tokenizer.json is ~10 MB); building it costs
// time and memory linear in the text. Numbers keep their literal text and are
// converted on request, so an integer id is never routed through a double.
#pragma once

#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <lowbit/core/status.hpp>
#include <lowbit/formats/json.hpp>

namespace lbq {

struct json_value {
    enum class kind { null, boolean, number, string, array, object };
    kind k = kind::null;
    std::string text;  // a string's contents, a number's literal, "true" / "false"
    std::vector<json_value> items;                              // array elements
    std::vector<std::pair<std::string, json_value>> members;  // object members, in file order

    bool is(kind x) const { return k == x; }
    // The member named `key` (the last one, as Python's json keeps), or nullptr.
    const json_value* find(std::string_view key) const {
        if (k != kind::object) return nullptr;
        for (auto it = members.rbegin(); it != members.rend(); ++it)
            if (it->first == key) return &it->second;
        return nullptr;
    }
    const json_value* find(std::string_view a, std::string_view b) const {
        const json_value* v = find(a);
        return v ? v->find(b) : nullptr;
    }
    std::optional<std::string_view> str() const {
        if (k != kind::string) return std::nullopt;
        return std::string_view(text);
    }
    std::optional<bool> boolean() const {
        if (k != kind::boolean) return std::nullopt;
        return text == "true";
    }
    std::optional<double> number() const {
        if (k != kind::number) return std::nullopt;
        errno = 0;
        const double v = std::strtod(text.c_str(), nullptr);
        if (errno == ERANGE && std::isinf(v)) return std::nullopt;
        return v;
    }
    // An integer literal (no fraction, no exponent) that fits in int64; Python
    // writes integers that way, so 2.0 is not an integer here either.
    std::optional<std::int64_t> integer() const {
        if (k != kind::number || text.find_first_of(".eE") != std::string::npos) return std::nullopt;
        errno = 0;
        char* end = nullptr;
        const long long v = std::strtoll(text.c_str(), &end, 10);
        if (errno == ERANGE || !end || *end != '\0') return std::nullopt;
        return static_cast<std::int64_t>(v);
    }
};

namespace detail {

inline lowbit::status read_json_value(lowbit::detail::json_reader& j, std::string_view text, json_value* out) {
    using K = lowbit::detail::json_reader::kind;
    switch (j.peek()) {
        case K::object: {
            out->k = json_value::kind::object;
            LOWBIT_TRY(j.begin_object());
            for (;;) {
                bool more = false;
                std::string key;
                LOWBIT_TRY(j.next_key(&more, &key));
                if (!more) return lowbit::status();
                out->members.emplace_back(std::move(key), json_value{});
                LOWBIT_TRY(read_json_value(j, text, &out->members.back().second));
            }
        }
        case K::array: {
            out->k = json_value::kind::array;
            LOWBIT_TRY(j.begin_array());
            for (;;) {
                bool more = false;
                LOWBIT_TRY(j.next_element(&more));
                if (!more) return lowbit::status();
                out->items.emplace_back();
                LOWBIT_TRY(read_json_value(j, text, &out->items.back()));
            }
        }
        case K::string:
            out->k = json_value::kind::string;
            return j.read_string(&out->text);
        case K::number:
        case K::boolean:
        case K::null: {
            // The parser validates scalars without converting them: keep the literal.
            const std::size_t a = j.offset();
            const K kind = j.peek();
            LOWBIT_TRY(j.skip_value());
            std::size_t b = j.offset();
            while (b > a && (text[b - 1] == ' ' || text[b - 1] == '\t' || text[b - 1] == '\n' || text[b - 1] == '\r')) --b;
            out->k = kind == K::number ? json_value::kind::number : kind == K::boolean ? json_value::kind::boolean : json_value::kind::null;
            out->text.assign(text.substr(a, b - a));
            return lowbit::status();
        }
        default: return j.skip_value();  // reports the error at its offset
    }
}

}  // namespace detail

// Parses a whole JSON document; errors name the byte offset.
inline lowbit::status parse_json(std::string_view text, json_value* out) {
    *out = json_value{};
    lowbit::detail::json_reader j(text, 0);
    LOWBIT_TRY(detail::read_json_value(j, text, out));
    return j.finish();
}

}  // namespace lbq
