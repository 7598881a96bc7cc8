// lowbit-kernels — prints kernel table entries: for a few schemes in the dense
// and tiled layouts, for six ggml block types, for codebook weights (both
// layouts) and for tiled K-quant weights (Q4_K, Q5_K, Q6_K), each entry's name
// (weights/layout/path/body arch), the arch it serves, and whether this CPU
// runs it; then which kernel a call picks now, and whether that is a fallback.
//
//   lowbit-kernels                       LOWBIT_FORCE_ARCH=sse2 lowbit-kernels
//
// The whole table (all 96 kernel schemes) is lowbit::for_each_kernel in
// kernels/kernel_list.hpp; walking it compiles every kernel, so this example
// lists the schemes it names only.
#include <cstdio>

#include <lowbit/formats/codebook_matmul.hpp>
#include <lowbit/formats/gguf_matmul.hpp>
#include <lowbit/formats/tiled_kquant_matmul.hpp>
#include <lowbit/kernels/tiled_matmul.hpp>

using namespace lowbit;

static void print(span<const kernel_entry> entries) {
    for (const kernel_entry& e : entries) {
        char name[64];
        kernel_name(e, name, sizeof name);
        std::printf("%-34s serves %-10s %s\n", name, arch_name(e.key.a), detail::cpu().has(e.key.a) ? "runs here" : "-");
    }
}

int main() {
    print(dense_kernels<scheme<4, per_group<32>>>());
    print(tiled_kernels<scheme<4, per_group<32>>>());
    print(dense_kernels<scheme<8, per_channel, asymmetric, scale_f32>>());
    for (auto t : {gguf::gguf_type::q4_0, gguf::gguf_type::q5_0, gguf::gguf_type::q8_0, gguf::gguf_type::q4_K,
                   gguf::gguf_type::q5_K, gguf::gguf_type::q6_K})
        print(gguf::kernels(t));
    for (int bits : {4, 3}) {
        print(codebook::kernels(bits, layout::codebook));
        print(codebook::kernels(bits, layout::tiled_codebook));
    }
    for (auto t : {gguf::gguf_type::q4_K, gguf::gguf_type::q5_K, gguf::gguf_type::q6_K}) print(kquant::kernels(t));
    // What a call picks now (active arch, fallback chain): int8 GEMV on a w4g32 tiled matrix.
    std::vector<float> w(64 * 64, 0.25f), x(64, 1.0f), y(64);
    auto q = quantize<scheme<4, per_group<32>>>(matrix_view<const float>(w.data(), 64, 64), quantize_options{});
    auto t = q ? repack_tiled(q->view()) : result<tiled<scheme<4, per_group<32>>>>(q.error());
    matmul_info info;
    matmul_options opt;
    opt.path = matmul_path::int8_dot;
    opt.info = &info;
    if (!t || !gemv(t->view(), span<const float>(x), span<float>(y), serial_executor{}, opt)) return 1;
    std::printf("active arch %s: gemv ran %s%s\n", arch_name(active_arch()), info.kernel, info.fell_back ? " (a fallback)" : "");
    return 0;
}
