// lowbit::compiled: the 6-bit schemes (kernels_width.inl).
#define LOWBIT_COMPILED_BITS 6
#include "kernels_width.inl"
