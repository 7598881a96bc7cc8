// lowbit/weights.hpp — one run-time description of quantized weights in any
// layout (dense qmatrix, tiled, ggml blocks): weights_view, the owning
// weights, and conversions from the typed views. No SIMD. repack() between
// layouts is weights/repack.hpp (included on its own: header-only, it
// instantiates the packer for every scheme).
#pragma once

#include "weights/convert.hpp"
#include "weights/weights.hpp"
#include "weights/weights_view.hpp"
