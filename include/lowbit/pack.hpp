// lowbit/pack.hpp — the packing layer: dense bit packing, qmatrix storage and
// round-to-nearest quantization into it.
#pragma once

#include "pack/bitpack.hpp"
#include "pack/qmatrix.hpp"
#include "pack/tiled.hpp"
#include "quant.hpp"
