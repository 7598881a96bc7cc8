// fp_contract_off_begin.inl — no FP contraction (no fused multiply-add) from
// here to the matching fp_contract_off_end.inl. ggml's reference quantizers
// define their bytes without contraction (docs/formats.md), so every codec
// body sits between this pair. Included once per region: no #pragma once.
#if defined(__clang__)
#pragma float_control(push)
#pragma clang fp contract(off)
#elif defined(__GNUC__)
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
#endif
