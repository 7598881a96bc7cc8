// Compiled with -fno-exceptions -fno-rtti (tests/CMakeLists.txt): the GGUF block
// header must build and work in game/embedded configurations. Called from
// test_gguf_blocks.cpp.
#include <cmath>
#include <cstdint>
#include <cstring>

#include <lowbit/formats/gguf_blocks.hpp>

int gguf_blocks_noexcept_smoke() {
    using namespace lowbit::gguf;
    float x[256];
    for (int i = 0; i < 256; ++i) x[i] = static_cast<float>((i * 37) % 101) / 17.0f - 3.0f;
    block_q6_K q6[1];
    block_q4_0 q4[8];
    float back[256];
    int failures = 0;
    failures += !quantize_row_q6_K(x, q6, 256).ok();
    failures += !dequantize_row_q6_K(q6, back, 256).ok();
    failures += !quantize(gguf_type::q4_0, x, q4, 1, 256, x).ok();  // odd weights, but finite: accepted
    failures += quantize_row_q4_0(x, q4, 255).ok();                     // must fail: not a multiple of 32
    float worst = 0.0f;
    for (int i = 0; i < 256; ++i) worst = worst > std::fabs(back[i] - x[i]) ? worst : std::fabs(back[i] - x[i]);
    failures += !(worst < 0.2f);
    return failures;
}
