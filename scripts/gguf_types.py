#!/usr/bin/env python3
"""Print "name type" for every tensor of a GGUF file, in file order.

Used by scripts/compare_llama_quantize.sh (docs/tools.md) to compare the
per-tensor types of lowbit-quantize and llama-quantize. Standard library only;
reads the GGUF v3 header as the format specification describes it.
"""
import struct
import sys

# GGUF type ids -> names (the ggml_type enumeration of the format).
TYPES = {0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 6: "Q5_0", 7: "Q5_1", 8: "Q8_0", 9: "Q8_1", 10: "Q2_K", 11: "Q3_K",
         12: "Q4_K", 13: "Q5_K", 14: "Q6_K", 15: "Q8_K", 16: "IQ2_XXS", 17: "IQ2_XS", 18: "IQ3_XXS", 19: "IQ1_S",
         20: "IQ4_NL", 21: "IQ3_S", 22: "IQ2_S", 23: "IQ4_XS", 24: "I8", 25: "I16", 26: "I32", 27: "I64", 28: "F64",
         29: "IQ1_M", 30: "BF16", 34: "TQ1_0", 35: "TQ2_0", 39: "MXFP4"}
SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


def main(path, want_kv=False):
    with open(path, "rb") as f:
        data = f.read(64 << 20)  # the header of any test model fits
    pos = 0

    def take(fmt):
        nonlocal pos
        v = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return v[0]

    def string():
        nonlocal pos
        n = take("Q")
        s = data[pos:pos + n].decode("utf-8", "replace")
        pos += n
        return s

    def value(t):
        if t == 8:
            return string()
        if t == 9:
            et, n = take("I"), take("Q")
            return [value(et) for _ in range(n)]
        return take(SCALAR[t])

    if data[:4] != b"GGUF":
        sys.exit(f"{path}: not a GGUF file")
    pos = 4
    take("I")
    n_tensors, n_kv = take("Q"), take("Q")
    for _ in range(n_kv):
        key = string()
        t = take("I")
        v = value(t)
        if want_kv:
            print(f"kv {key} {v if not isinstance(v, list) else '[%d]' % len(v)}")
    for _ in range(n_tensors):
        name = string()
        nd = take("I")
        dims = [take("Q") for _ in range(nd)]
        t = take("I")
        take("Q")
        print(f"{name} {TYPES.get(t, t)} {'x'.join(map(str, dims))}")


if __name__ == "__main__":
    main(sys.argv[1], "--kv" in sys.argv[2:])
