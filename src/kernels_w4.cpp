// lowbit::compiled: the 4-bit schemes (kernels_width.inl).
#define LOWBIT_COMPILED_BITS 4
#include "kernels_width.inl"
