// lowbit::compiled: the 7-bit schemes (kernels_width.inl).
#define LOWBIT_COMPILED_BITS 7
#include "kernels_width.inl"
