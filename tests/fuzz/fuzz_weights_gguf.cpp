// libFuzzer harness for lowbit weights stored in GGUF
// (formats/weights_gguf_reader.hpp, weights_gguf_layout.hpp): whatever
// weights_gguf_reader::open accepts must be safe to run.
//
// The input is copied to a 64-byte aligned buffer first (what mmap gives, and
// what the reader requires of lowbit tensors); each input is opened once more
// at an address 64 bytes + 16 off, where a file with lowbit tensors must be
// refused as misaligned rather than read.
//
// Properties beyond "no crash, no sanitizer report":
//   - every listed weight and every ggml block tensor the reader finds has its
//     arrays inside the file's bytes, and gemv (the run-time front door, one
//     thread) on it with a small x either runs or returns an error, on every
//     path (automatic, dequant_fma, int8_dot); ASan catches a kernel that
//     reads past a view the reader accepted;
//   - open() holds at most 16 bytes of memory per input byte (+ 64 KiB):
//     the GGUF parse's 12 and the reader's index (alloc_meter.hpp).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <lowbit/formats/weights_gguf_reader.hpp>
#include <lowbit/kernels/weights_matmul.hpp>

#include "../hostile/alloc_meter.hpp"

using namespace lowbit;

namespace {

[[noreturn]] void fail(const char* what) {
    std::fprintf(stderr, "fuzz_weights_gguf: property violated: %s\n", what);
    std::abort();
}

bool inside(const void* p, std::size_t n, span<const std::uint8_t> file) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    return n == 0 || (b >= file.data() && b + n <= file.data() + file.size());
}

// gemv stays cheap: larger weights are checked for bounds, not run.
constexpr std::size_t max_run_elements = std::size_t{1} << 20;

void run(const weights_view& w, span<const std::uint8_t> file) {
    if (!inside(w.codes(), w.code_bytes(), file) || !inside(w.scales(), w.scale_bytes(), file) ||
        !inside(w.zeros(), w.zero_bytes(), file) || !inside(w.perm(), w.perm_bytes(), file))
        fail("a view's arrays lie outside the file");
    if (w.rows() == 0 || w.cols() == 0 || w.rows() > max_run_elements / w.cols()) return;
    std::vector<float> x(w.cols()), y(w.rows());
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(static_cast<int>(i % 7) - 3) * 0.25f;
    for (matmul_path p : {matmul_path::automatic, matmul_path::dequant_fma, matmul_path::int8_dot}) {
        matmul_options o;
        o.path = p;
        const status s = gemv(w, span<const float>(x.data(), x.size()), span<float>(y.data(), y.size()), serial_executor{}, o);
        if (!s.ok() && s.message()[0] == '\0') fail("gemv refused with an empty message");
    }
}

std::vector<std::uint8_t> buffer_;

span<const std::uint8_t> placed(const std::uint8_t* data, std::size_t size, std::size_t skew) {
    buffer_.assign(size + 128 + skew, 0);
    const auto a = reinterpret_cast<std::uintptr_t>(buffer_.data());
    std::uint8_t* p = buffer_.data() + ((64 - (a & 63)) & 63) + skew;
    if (size) std::memcpy(p, data, size);
    return span<const std::uint8_t>(p, size);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    {
        // Misaligned: lowbit tensors are refused, plain GGUF still opens.
        const span<const std::uint8_t> file = placed(data, size, 16);
        auto r = weights_gguf_reader::open(file);
        if (r && r->lowbit_count() != 0) fail("lowbit tensors accepted at a misaligned address");
    }
    const span<const std::uint8_t> file = placed(data, size, 0);
    const std::size_t base = alloc_meter::mark();
    auto r = weights_gguf_reader::open(file);
    if (alloc_meter::peak_since(base) > 16 * size + 65536) {
        std::fprintf(stderr, "fuzz_weights_gguf: open held %zu bytes for a %zu-byte input\n", alloc_meter::peak_since(base), size);
        std::abort();
    }
    if (!r) {
        if (r.error().message()[0] == '\0') fail("an empty error message");
        return 0;
    }
    for (std::size_t i = 0; i < r->lowbit_count(); ++i) {
        auto w = r->find(r->lowbit_name(i));
        if (!w) fail("a listed weight is not found");
        run(*w, file);
    }
    for (const gguf::tensor_info& t : r->file().tensors()) {
        auto w = r->find(t.name);
        if (w) run(*w, file);
    }
    return 0;
}
