// lowbit/core.hpp — the core layer: configuration, errors, fp16/bf16,
// schemes and views. Standard library only: an engine that merely stores
// lowbit weights includes this and pays for nothing else.
#pragma once

#include "core/config.hpp"
#include "core/half.hpp"
#include "core/scheme.hpp"
#include "core/status.hpp"
#include "core/views.hpp"
