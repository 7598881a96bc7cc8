// tests/amx_emulated.cpp — the emulated tiles' dot-product loops
// (tests/amx_emulated.hpp says what they model), in a TU of their own so that
// the sanitizer build compiles them -O1 (tests/CMakeLists.txt) while the AMX
// bodies that call them stay -O0: at -O0 under ASan+UBSan these loops were
// most of test_amx's run. Same loops, same instrumentation.
#include "amx_emulated.hpp"

#if defined(LOWBIT_HAVE_AMX_KERNELS)
namespace lowbit {
namespace kdetail {

void amx_emulated::int8_rows(int c, int a, int b, bool signed_a, bool signed_b) noexcept {
    const int m_rows = cfg_.rows[c], k_quads = cfg_.colsb[a] / 4, n_cols = cfg_.colsb[c] / 4;
    for (int m = 0; m < m_rows; ++m) {
        std::uint32_t acc[16];
        std::memcpy(acc, tiles_[c][m], sizeof acc);
        for (int k = 0; k < k_quads; ++k)
            for (int n = 0; n < n_cols; ++n) {
                std::uint32_t d = 0;  // int32 sums with wrap-around: unsigned arithmetic, no UB
                for (int e = 0; e < 4; ++e)
                    d += static_cast<std::uint32_t>(byte_of(tiles_[a][m], 4 * k + e, signed_a) *
                                                    byte_of(tiles_[b][k], 4 * n + e, signed_b));
                acc[n] += d;
            }
        for (int n = n_cols; n < 16; ++n) acc[n] = 0;
        std::memcpy(tiles_[c][m], acc, sizeof acc);
    }
    for (int m = m_rows; m < amx_max_rows; ++m) std::memset(tiles_[c][m], 0, sizeof tiles_[c][m]);
}

void amx_emulated::bf16_rows(int c, int a, int b) noexcept {
    const int m_rows = cfg_.rows[c], k_pairs = cfg_.colsb[a] / 4, n_cols = cfg_.colsb[c] / 4;
    for (int m = 0; m < m_rows; ++m) {
        float acc[16];
        std::memcpy(acc, tiles_[c][m], sizeof acc);
        float even[16] = {}, odd[16] = {};
        for (int k = 0; k < k_pairs; ++k)
            for (int n = 0; n < n_cols; ++n) {
                even[n] = flushed(std::fma(flushed(bf16_at(tiles_[a][m], 2 * k)), flushed(bf16_at(tiles_[b][k], 2 * n)), even[n]));
                odd[n] = flushed(std::fma(flushed(bf16_at(tiles_[a][m], 2 * k + 1)), flushed(bf16_at(tiles_[b][k], 2 * n + 1)), odd[n]));
            }
        for (int n = 0; n < n_cols; ++n) acc[n] = flushed(flushed(acc[n]) + flushed(even[n] + odd[n]));
        for (int n = n_cols; n < 16; ++n) acc[n] = 0.0f;
        std::memcpy(tiles_[c][m], acc, sizeof acc);
    }
    for (int m = m_rows; m < amx_max_rows; ++m) std::memset(tiles_[c][m], 0, sizeof tiles_[c][m]);
}

}  // namespace kdetail
}  // namespace lowbit
#endif
