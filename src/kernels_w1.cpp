// lowbit::compiled: the 1-bit schemes (kernels_width.inl).
#define LOWBIT_COMPILED_BITS 1
#include "kernels_width.inl"
