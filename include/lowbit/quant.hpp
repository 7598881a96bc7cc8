// lowbit/quant.hpp — the quantization layer: parameters and round-to-nearest,
// calibration, quality metrics, footprint, Hadamard rotations. No SIMD, standard library only.
#pragma once

#include "core.hpp"
#include "quant/calibrate.hpp"
#include "quant/footprint.hpp"
#include "quant/hadamard.hpp"
#include "quant/metrics.hpp"
#include "quant/params.hpp"
