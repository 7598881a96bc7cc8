// fp_contract_off_end.inl — ends the region opened by fp_contract_off_begin.inl.
#if defined(__clang__)
#pragma float_control(pop)
#elif defined(__GNUC__)
#pragma GCC pop_options
#endif
