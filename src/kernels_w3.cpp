// lowbit::compiled: the 3-bit schemes (kernels_width.inl).
#define LOWBIT_COMPILED_BITS 3
#include "kernels_width.inl"
