// tests/token_ids.hpp — dev_tokens.npy and other uint16 token-id arrays
// (numpy '<u2', one dimension) read by lowbit's .npy reader, for the tests
// that compare against the ids SentencePiece wrote.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <lowbit/formats/npy.hpp>

namespace lowbit_test {

// The ids of a one-dimensional .npy of integers, each checked to fit uint16.
inline std::vector<int> read_u16_token_ids(const std::string& path) {
    auto a = lowbit::read_npy_ints(path.c_str());
    REQUIRE_MESSAGE(a.ok(), a.error().message());
    REQUIRE(a->shape.size() == 1);
    std::vector<int> out;
    out.reserve(a->data.size());
    for (const std::int64_t t : a->data) {
        REQUIRE((t >= 0 && t <= 65535));
        out.push_back(static_cast<int>(t));
    }
    return out;
}

}  // namespace lowbit_test
