// imatrix_out.hpp — an importance matrix written in llama.cpp's GGUF imatrix
// format (tools/imatrix/imatrix.cpp, save_imatrix), which llama-quantize
// --imatrix and lowbit-quantize --imatrix read:
//   general.type         "imatrix"
//   imatrix.datasets     [string] the calibration files
//   imatrix.chunk_count  u32     chunks the statistics cover
//   imatrix.chunk_size   u32     tokens per chunk
//   per weight W, in name order:
//     W.in_sum2  F32 [K, 1]  sum over the calibration tokens of x_j^2 (raw, not divided)
//     W.counts   F32 [1, 1]  the number of tokens
#pragma once

#include <map>
#include <string>
#include <vector>

#include <lowbit/formats/gguf.hpp>

#include "calibrate.hpp"
#include "files.hpp"

namespace lbq {

// Writes `cal`'s imatrix to `path` through output_file (temporary name,
// renamed on success; never replaces one of `inputs`).
inline status write_imatrix(const std::string& path, const calibration& cal, const std::string& dataset,
                            const std::vector<input_path>& inputs) {
    gguf::gguf_writer w;
    LOWBIT_TRY(w.set("general.type", gguf::meta_value::string("imatrix")));
    const std::string_view ds[1] = {dataset};
    LOWBIT_TRY(w.set("imatrix.datasets", gguf::meta_value::array_of_strings(span<const std::string_view>(ds, 1))));
    LOWBIT_TRY(w.set("imatrix.chunk_count", gguf::meta_value::u32(static_cast<std::uint32_t>(cal.chunks))));
    LOWBIT_TRY(w.set("imatrix.chunk_size", gguf::meta_value::u32(static_cast<std::uint32_t>(cal.ctx))));
    for (const auto& kv : cal.imatrix) {  // std::map: name order, as llama-imatrix sorts them
        LOWBIT_TRY(w.add_tensor(kv.first + ".in_sum2", gguf_type::f32, {static_cast<std::uint64_t>(kv.second.sum2.size()), 1}));
        LOWBIT_TRY(w.add_tensor(kv.first + ".counts", gguf_type::f32, {1, 1}));
    }
    output_file out;
    LOWBIT_TRY(out.open(path, inputs));
    const gguf::byte_sink sink(&out, output_file::write_to);
    LOWBIT_TRY(w.write_header(sink));
    for (const auto& kv : cal.imatrix) {
        const auto* s = reinterpret_cast<const std::uint8_t*>(kv.second.sum2.data());
        LOWBIT_TRY(w.write_tensor_data(span<const std::uint8_t>(s, kv.second.sum2.size() * sizeof(float))));
        LOWBIT_TRY(w.write_tensor_data(span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(&kv.second.count), sizeof(float))));
    }
    LOWBIT_TRY(w.finish());
    return out.commit();
}

}  // namespace lbq
