// lowbit/algo.hpp — post-training quantization algorithms (docs/ptq.md):
// GPTQ, AWQ, SmoothQuant, HQQ, and the dense linear algebra they use.
#pragma once

#include "algo/awq.hpp"
#include "algo/gptq.hpp"
#include "algo/hqq.hpp"
#include "algo/linalg.hpp"
#include "algo/smoothquant.hpp"
