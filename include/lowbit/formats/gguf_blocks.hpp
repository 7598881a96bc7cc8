// lowbit/formats/gguf_blocks.hpp — llama.cpp's block formats, byte-exact with
// ggml: every block type lowbit reads and writes, and the row API over them.
//
// An umbrella: include this for the whole set. Each part has one job:
//   gguf_block_structs.hpp   the legacy and K-quant block structs (no code)
//   gguf_rows.hpp            quantize_row_<t> / quantize_<t> / dequantize_row_<t>
//                            for Q4_0 … Q8_1, Q2_K … Q8_K
//   gguf_block_rows.hpp      the one checked row writer/reader they all use
//   gguf_iquants.hpp, gguf_mxfp4.hpp, gguf_ternary.hpp, gguf_iq_lattice.hpp,
//   gguf_iq{1,2,3}_encode.hpp   the newer types, each with its own row API
//   gguf_row_dispatch.hpp    quantize_row / dequantize_row / quantize on a gguf_type
//   detail/gguf_arith.hpp    why the arithmetic is guarded against FMA
//   detail/gguf_search.hpp   ggml's scale searches
//   detail/gguf_block_grid.hpp, gguf_legacy_grids.hpp, gguf_kquant_grids.hpp,
//   gguf_iq4_grids.hpp       a block's grid (scale choice apart from coding,
//                            for GPTQ on these formats: algo/gptq_gguf.hpp)
//   detail/gguf_iq3_grids.hpp  the IQ3 lattices as GPTQ codes them (a grid
//                            point's columns at a time)
//   detail/gguf_encode.hpp, gguf_decode.hpp   one block to bytes and back
// docs/formats.md draws every layout and states the formulas.
//
// Only the standard library and lowbit/core are used: an engine that merely
// stores GGUF blocks pays for no SIMD code.
#pragma once

#include "detail/gguf_block_grid.hpp"
#include "detail/gguf_iq3_grids.hpp"
#include "detail/gguf_iq4_grids.hpp"
#include "gguf_block_rows.hpp"
#include "gguf_block_structs.hpp"
#include "gguf_row_dispatch.hpp"
#include "gguf_rows.hpp"
