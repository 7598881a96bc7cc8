// lowbit/qat.hpp — the quantization-aware-training layer: fake quantization
// with straight-through and LSQ gradients, PACT, observers, export of the
// trained weights to a qmatrix, and their run-time-scheme twins. docs/qat.md.
#pragma once

#include "qat/export.hpp"
#include "qat/fake_quant.hpp"
#include "qat/observers.hpp"
#include "qat/runtime.hpp"
