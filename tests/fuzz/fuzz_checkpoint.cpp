// libFuzzer harness for the quantized-checkpoint importers
// (formats/gptq_checkpoint.hpp, awq_checkpoint.hpp,
// compressed_tensors_checkpoint.hpp).
//
// Input: 5 bytes of quantization config, then a safetensors file. A fuzzer
// fed whole safetensors files alone would spend its time in the JSON parser,
// which fuzz_safetensors already covers; the config bytes let it reach the
// importers with every format, width and group size:
//   [0] format: 0 GPTQ, 1 AWQ, 2 compressed-tensors (mod 3)
//   [1] bits (GPTQ bits, AWQ bits, compressed-tensors num_bits), taken as is
//   [2..3] group size, int16 little-endian (-1: per channel)
//   [4] flags: bit 0 sym / symmetric / AWQ zero_point, bit 1 GPTQ v2 format,
//       bits 2..3 compressed-tensors strategy (0 tensor, 1 channel, else group)
// The importers read the tensors of layer "layer".
//
// Properties beyond "no crash, no sanitizer report":
//   - an accepted matrix has the shape its tensors state (GPTQ: qweight
//     [K*b/32, N]; AWQ: qweight [K, N/8]; compressed-tensors: weight_shape
//     {N, K}), the config's bits and granularity, and storage of its layout's
//     size;
//   - every weight dequantizes to a finite value, and each input column is
//     written exactly once (the rows start as NaN: a permutation that repeats
//     a column leaves one NaN);
//   - parse plus import hold at most 32 bytes of memory per input byte
//     (+ 64 KiB), docs/reliability.md's bound (alloc_meter.hpp).
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <vector>

#include <lowbit/formats/awq_checkpoint.hpp>
#include <lowbit/formats/compressed_tensors_checkpoint.hpp>
#include <lowbit/formats/gptq_checkpoint.hpp>

#include "../hostile/alloc_meter.hpp"

using namespace lowbit;
namespace ck = lowbit::checkpoint;

namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_checkpoint: property violated: %s\n", what);
    std::abort();
}

struct expected_shape {
    std::uint64_t rows = 0, cols = 0;
    bool known = false;
};

// The shape the main tensor states; a file the importer accepted has it.
expected_shape stated_shape(const safetensors::safetensors_file& f, int format, int bits) {
    expected_shape e;
    if (format == 0 || format == 1) {
        const auto* q = f.find_tensor("layer.qweight");
        if (!q || q->shape.size() != 2) return e;
        e.rows = format == 0 ? q->shape[1] : q->shape[1] * 8;
        e.cols = format == 0 ? q->shape[0] * 32 / static_cast<std::uint64_t>(bits) : q->shape[0];
        e.known = true;
        return e;
    }
    const auto* s = f.find_tensor("layer.weight_shape");
    if (!s || s->shape.size() != 1 || s->shape[0] != 2) return e;
    e.rows = static_cast<std::uint64_t>(ck::detail::int_at(*s, 0));
    e.cols = static_cast<std::uint64_t>(ck::detail::int_at(*s, 1));
    e.known = true;
    return e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 5) return 0;
    const int format = data[0] % 3;
    const int bits = data[1];
    const int group = static_cast<std::int16_t>(static_cast<std::uint16_t>(data[2] | data[3] << 8));
    const bool sym = data[4] & 1, v2 = (data[4] & 2) != 0;
    const int strategy = (data[4] >> 2) & 3;
    const std::uint8_t* file = data + 5;
    const std::size_t n = size - 5;

    const std::size_t base = alloc_meter::mark();
    auto f = safetensors::safetensors_file::parse(span<const std::uint8_t>(file, n));
    static const bool verbose = std::getenv("FUZZ_VERBOSE") != nullptr;
    if (!f) {
        if (verbose) std::fprintf(stderr, "fuzz_checkpoint: safetensors: %s\n", f.error().message());
        return 0;
    }
    result<ck::imported_qmatrix> m = status::error(errc::invalid_argument, "unset");
    granularity want_gran = granularity::per_group;
    if (format == 0) {
        ck::gptq_config c;
        c.bits = bits, c.group_size = group, c.sym = sym, c.format = v2 ? ck::gptq_format::v2 : ck::gptq_format::v1;
        m = ck::read_gptq(*f, "layer", c);
        if (group == -1) want_gran = granularity::per_channel;
    } else if (format == 1) {
        ck::awq_config c;
        c.bits = bits, c.group_size = group, c.zero_point = sym;
        m = ck::read_awq(*f, "layer", c);
        if (group == -1) want_gran = granularity::per_channel;
    } else {
        using strat = ck::compressed_tensors_config::strategy_kind;
        ck::compressed_tensors_config c;
        c.num_bits = bits, c.group_size = group, c.symmetric = sym;
        c.strategy = strategy == 0 ? strat::tensor : strategy == 1 ? strat::channel : strat::group;
        m = ck::read_compressed_tensors(*f, "layer", c);
        want_gran = strategy == 0 ? granularity::per_tensor : strategy == 1 ? granularity::per_channel : granularity::per_group;
    }
    if (alloc_meter::peak_since(base) > 32 * size + 65536) {
        std::fprintf(stderr, "fuzz_checkpoint: import held %zu bytes for a %zu-byte input\n", alloc_meter::peak_since(base), size);
        std::abort();
    }
    // FUZZ_VERBOSE=1 prints each input's outcome (to check that seeds import).
    if (verbose) std::fprintf(stderr, "fuzz_checkpoint: %s\n", m ? "imported" : m.error().message());
    if (!m) {
        if (m.error().message()[0] == '\0') fail("an empty error message");
        return 0;
    }

    const ck::imported_qmatrix& q = *m;
    const expected_shape e = stated_shape(*f, format, bits);
    if (!e.known) fail("accepted without its main tensor");
    if (q.rows() != e.rows || q.cols() != e.cols) fail("shape differs from the tensors'");
    if (q.scheme.bits != bits) fail("bits differ from the config's");
    if (q.scheme.gran != want_gran) fail("granularity differs from the config's");
    const qlayout& l = q.storage.layout;
    if (l.rows != q.rows() || l.cols != q.cols()) fail("layout shape");
    if (q.storage.codes.size() < l.code_bytes()) fail("codes smaller than the layout");
    const std::size_t scales = q.scheme.scale == scale_type::f32 ? q.storage.scales_f32.size() : q.storage.scales_16.size();
    if (scales < l.n_scales) fail("scales smaller than the layout");
    if (!q.scheme.symmetric && q.storage.zeros.size() < l.n_zeros) fail("zeros smaller than the layout");
    if (!q.storage.perm.empty() && q.storage.perm.size() != q.cols()) fail("perm size");

    std::vector<float> row(q.cols());
    for (std::size_t r = 0; r < q.rows(); ++r) {
        for (float& v : row) v = std::numeric_limits<float>::quiet_NaN();
        q.dequantize_row(r, row.data());
        for (float v : row)
            if (!std::isfinite(v)) fail("a weight is not finite, or an input column was not written");
    }
    return 0;
}
