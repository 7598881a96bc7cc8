// gguf_avx2_target_end.inl — closes gguf_avx2_target_begin.inl's region.
#undef LOWBIT_GGUF_AVX2_INLINE
#undef LOWBIT_GGUF_AVX2
