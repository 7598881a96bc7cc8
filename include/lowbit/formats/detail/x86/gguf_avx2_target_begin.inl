// gguf_avx2_target_begin.inl — the target attributes of the ggml-block AVX2
// kernels (gguf_dot_avx2.hpp, gguf_dot_avx2_lattice.hpp), from here to the
// matching gguf_avx2_target_end.inl. Included once per region: no #pragma once.
#define LOWBIT_GGUF_AVX2 __attribute__((target("avx2,f16c")))
#define LOWBIT_GGUF_AVX2_INLINE LOWBIT_GGUF_AVX2 __attribute__((always_inline)) inline
