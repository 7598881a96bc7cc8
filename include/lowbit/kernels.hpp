// lowbit/kernels.hpp — matmuls on quantized weights (gemv, gemm, dequantize)
// and quality measurement.
#pragma once

#include "kernels/matmul.hpp"
#include "kernels/measure.hpp"
#include "kernels/tiled_matmul.hpp"
#include "pack.hpp"
#include "parallel.hpp"
