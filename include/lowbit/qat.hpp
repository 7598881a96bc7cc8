// lowbit/qat.hpp — the quantization-aware-training layer: fake quantization
// with straight-through and LSQ gradients, PACT, observers, and export of the
// trained weights to a qmatrix. docs/qat.md.
#pragma once

#include "qat/export.hpp"
#include "qat/fake_quant.hpp"
#include "qat/observers.hpp"
