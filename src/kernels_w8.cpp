// lowbit::compiled: the 8-bit schemes (kernels_width.inl).
#define LOWBIT_COMPILED_BITS 8
#include "kernels_width.inl"
