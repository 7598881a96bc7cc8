// import_ckpt_gen.hpp — test generator for quantized checkpoints: packs known
// integer codes, zero points and f16 scales the way each tool's specification
// writes them (docs/formats.md, "Quantized checkpoints in"), into safetensors
// bytes. Written independently of the readers: GPTQ 3-bit uses AutoGPTQ's
// explicit three-word pattern (10 + 1 straddling + 10 + 1 + 10 codes), not a
// bit stream; AWQ packs through AWQ_ORDER (not its inverse); compressed-tensors
// packs signed values plus the offset. The expected weight is then computed
// directly as scale * (q - z).
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <lowbit/core/half.hpp>

namespace import_gen {

struct tensor {
    std::string name, dtype;
    std::vector<std::uint64_t> shape;
    std::vector<std::uint8_t> bytes;
};

inline tensor i32_tensor(const std::string& name, std::vector<std::uint64_t> shape, const std::vector<std::uint32_t>& words) {
    tensor t{name, "I32", std::move(shape), {}};
    for (std::uint32_t w : words)
        for (int b = 0; b < 4; ++b) t.bytes.push_back(static_cast<std::uint8_t>(w >> (8 * b)));
    return t;
}
inline tensor f16_tensor(const std::string& name, std::vector<std::uint64_t> shape, const std::vector<std::uint16_t>& h) {
    tensor t{name, "F16", std::move(shape), {}};
    for (std::uint16_t v : h) t.bytes.push_back(static_cast<std::uint8_t>(v)), t.bytes.push_back(static_cast<std::uint8_t>(v >> 8));
    return t;
}
inline tensor i8_tensor(const std::string& name, std::vector<std::uint64_t> shape, const std::vector<int>& v) {
    tensor t{name, "I8", std::move(shape), {}};
    for (int x : v) t.bytes.push_back(static_cast<std::uint8_t>(static_cast<std::int8_t>(x)));
    return t;
}

// A safetensors file holding `ts` in order.
inline std::vector<std::uint8_t> safetensors_bytes(const std::vector<tensor>& ts) {
    std::string h = "{";
    std::uint64_t off = 0;
    for (const tensor& t : ts) {
        if (h.size() > 1) h += ",";
        h += "\"" + t.name + "\":{\"dtype\":\"" + t.dtype + "\",\"shape\":[";
        for (std::size_t i = 0; i < t.shape.size(); ++i) h += (i ? "," : "") + std::to_string(t.shape[i]);
        h += "],\"data_offsets\":[" + std::to_string(off) + "," + std::to_string(off + t.bytes.size()) + "]}";
        off += t.bytes.size();
    }
    h += "}";
    while (h.size() % 8) h += " ";
    std::vector<std::uint8_t> out;
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(static_cast<std::uint64_t>(h.size()) >> (8 * i)));
    for (char c : h) out.push_back(static_cast<std::uint8_t>(c));
    for (const tensor& t : ts) out.insert(out.end(), t.bytes.begin(), t.bytes.end());
    return out;
}

// Random positive and negative f16 scales of moderate size.
inline std::uint16_t random_scale(std::mt19937& rng) {
    std::uniform_real_distribution<float> d(0.001f, 0.05f);
    const float s = d(rng);
    return lowbit::f32_to_f16(rng() % 5 == 0 ? -s : s);
}

// AutoGPTQ's packing of 32 b-bit values (b = 3) into three int32 words, as its
// pack() spells it: 10 values, then one value split across words, and so on.
inline void pack3_32(const std::uint32_t* v, std::uint32_t* w) {
    w[0] = w[1] = w[2] = 0;
    int i = 0;
    for (int j = 0; j < 10; ++j) w[0] |= v[i + j] << (3 * j);
    i += 10;
    w[0] |= v[i] << 30;
    w[1] |= (v[i] >> 2) & 1u;
    i += 1;
    for (int j = 0; j < 10; ++j) w[1] |= v[i + j] << (3 * j + 1);
    i += 10;
    w[1] |= v[i] << 31;
    w[2] |= (v[i] >> 1) & 3u;
    i += 1;
    for (int j = 0; j < 10; ++j) w[2] |= v[i + j] << (3 * j + 2);
}

// Packs `vals` (count a multiple of 32 / b, or of 32 for b = 3) into words the
// GPTQ way: b = 2, 4, 8 put value i at bits b*(i % (32/b)) of word i / (32/b).
inline std::vector<std::uint32_t> gptq_pack(const std::vector<std::uint32_t>& vals, int b) {
    std::vector<std::uint32_t> w(vals.size() * static_cast<std::size_t>(b) / 32, 0);
    if (b == 3) {
        for (std::size_t i = 0; i < vals.size() / 32; ++i) pack3_32(&vals[32 * i], &w[3 * i]);
        return w;
    }
    const std::size_t per = static_cast<std::size_t>(32 / b);
    for (std::size_t i = 0; i < vals.size(); ++i) w[i / per] |= vals[i] << (static_cast<std::size_t>(b) * (i % per));
    return w;
}

}  // namespace import_gen
