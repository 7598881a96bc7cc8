// lowbit::compiled: the 5-bit schemes (kernels_width.inl).
#define LOWBIT_COMPILED_BITS 5
#include "kernels_width.inl"
