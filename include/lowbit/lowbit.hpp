// lowbit.hpp — the whole public API. See README.md for a tour and
// docs/design.md for the layers:
//   core/     schemes, views, errors, fp16/bf16         (standard library only)
//   quant/    parameters, round-to-nearest, calibration, metrics, footprint, Hadamard rotations
//   pack/     bit packing, qmatrix storage, quantize()
//   kernels/  gemv, gemm, dequantize, measure()
//   runtime   the run-time-scheme twins for tools
#pragma once

#include "core.hpp"
#include "kernels.hpp"
#include "pack.hpp"
#include "parallel.hpp"
#include "quant.hpp"
#include "runtime.hpp"
