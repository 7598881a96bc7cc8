// lowbit/formats/gguf.hpp — GGUF (v3, and v2) files: a validating zero-copy
// reader over a caller's memory span (gguf_reader.hpp: gguf_file::parse) and a
// streaming writer (gguf_writer.hpp: gguf_writer); what both share, the
// metadata value types, the limits and the value view, is gguf_format.hpp.
#pragma once

#include "gguf_reader.hpp"
#include "gguf_writer.hpp"
