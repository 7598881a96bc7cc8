// lowbit::compiled: the 2-bit schemes (kernels_width.inl).
#define LOWBIT_COMPILED_BITS 2
#include "kernels_width.inl"
