// Regenerates the importance-matrix and Q8_1/Q8_K goldens of this folder from
// ggml itself. Build against ggml-org/ggml d99724f2 without contraction:
//   gcc -std=c11 -O2 -ffp-contract=off -I<ggml>/include -I<ggml>/src \
//       make_imatrix_goldens.c <ggml>/src/ggml-quants.c -lm -o gen && ./gen .
// ggml-quants.c needs four helpers from ggml.c; small stand-ins are below.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ggml.h"
#include "ggml-quants.h"

void ggml_abort(const char* file, int line, const char* fmt, ...) {
    fprintf(stderr, "abort %s:%d %s\n", file, line, fmt);
    abort();
}
static size_t block_bytes(enum ggml_type t, int64_t* per) {
    switch (t) {
        case GGML_TYPE_Q4_0: *per = 32; return 18;
        case GGML_TYPE_Q4_1: *per = 32; return 20;
        case GGML_TYPE_Q5_0: *per = 32; return 22;
        case GGML_TYPE_Q5_1: *per = 32; return 24;
        case GGML_TYPE_Q8_0: *per = 32; return 34;
        case GGML_TYPE_Q8_1: *per = 32; return 36;
        case GGML_TYPE_Q2_K: *per = 256; return 84;
        case GGML_TYPE_Q3_K: *per = 256; return 110;
        case GGML_TYPE_Q4_K: *per = 256; return 144;
        case GGML_TYPE_Q5_K: *per = 256; return 176;
        case GGML_TYPE_Q6_K: *per = 256; return 210;
        case GGML_TYPE_Q8_K: *per = 256; return 292;
        default: abort();
    }
}
size_t ggml_row_size(enum ggml_type t, int64_t n) { int64_t per; size_t b = block_bytes(t, &per); return b * (size_t)(n / per); }
size_t ggml_type_size(enum ggml_type t) { int64_t per; return block_bytes(t, &per); }
const char* ggml_type_name(enum ggml_type t) { (void)t; return "?"; }

static void write_file(const char* dir, const char* name, const void* p, size_t n) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE* f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n) { perror(path); exit(1); }
    fclose(f);
}

int main(int argc, char** argv) {
    const char* dir = argc > 1 ? argv[1] : ".";
    const char* dists[] = {"gaussian", "laplace", "coswave", "zeros", "constant", "outlier", "tiny", "negative"};
    enum { N = 4096, NROW = 4, NPR = 1024 };
    // Importance weights: positive, uneven, deterministic (one row of NPR values, shared by all rows).
    static float w[NPR];
    unsigned s = 12345u;
    for (int i = 0; i < NPR; ++i) { s = s * 1664525u + 1013904223u; w[i] = 0.25f + (float)(s >> 8) / (float)(1u << 24) * 4.0f; }
    write_file(dir, "imatrix_weights.f32", w, sizeof w);
    struct { const char* name; enum ggml_type t; } types[] = {
        {"q4_0", GGML_TYPE_Q4_0}, {"q4_1", GGML_TYPE_Q4_1}, {"q5_0", GGML_TYPE_Q5_0}, {"q5_1", GGML_TYPE_Q5_1},
        {"q2_K", GGML_TYPE_Q2_K}, {"q3_K", GGML_TYPE_Q3_K}, {"q4_K", GGML_TYPE_Q4_K}, {"q5_K", GGML_TYPE_Q5_K},
        {"q6_K", GGML_TYPE_Q6_K},
    };
    static float x[N];
    static unsigned char out[N * 2];
    char name[256], path[512];
    for (int d = 0; d < 8; ++d) {
        snprintf(path, sizeof path, "%s/%s.f32", dir, dists[d]);
        FILE* f = fopen(path, "rb");
        if (!f || fread(x, sizeof(float), N, f) != N) { perror(path); return 1; }
        fclose(f);
        for (size_t k = 0; k < sizeof types / sizeof types[0]; ++k) {
            memset(out, 0, sizeof out);
            size_t n = 0;
            switch (types[k].t) {
                case GGML_TYPE_Q4_0: n = quantize_q4_0(x, out, NROW, NPR, w); break;
                case GGML_TYPE_Q4_1: n = quantize_q4_1(x, out, NROW, NPR, w); break;
                case GGML_TYPE_Q5_0: n = quantize_q5_0(x, out, NROW, NPR, w); break;
                case GGML_TYPE_Q5_1: n = quantize_q5_1(x, out, NROW, NPR, w); break;
                case GGML_TYPE_Q2_K: n = quantize_q2_K(x, out, NROW, NPR, w); break;
                case GGML_TYPE_Q3_K: n = quantize_q3_K(x, out, NROW, NPR, w); break;
                case GGML_TYPE_Q4_K: n = quantize_q4_K(x, out, NROW, NPR, w); break;
                case GGML_TYPE_Q5_K: n = quantize_q5_K(x, out, NROW, NPR, w); break;
                case GGML_TYPE_Q6_K: n = quantize_q6_K(x, out, NROW, NPR, w); break;
                default: return 1;
            }
            snprintf(name, sizeof name, "%s.%s.imatrix.bin", dists[d], types[k].name);
            write_file(dir, name, out, n);
        }
        memset(out, 0, sizeof out);  // ggml leaves Q8_K bsums of an all-zero block unwritten
        quantize_row_q8_K_ref(x, (block_q8_K*)out, N);
        snprintf(name, sizeof name, "%s.q8_K.bin", dists[d]);
        write_file(dir, name, out, ggml_row_size(GGML_TYPE_Q8_K, N));
        memset(out, 0, sizeof out);
        quantize_row_q8_1_ref(x, (block_q8_1*)out, N);
        snprintf(name, sizeof name, "%s.q8_1.bin", dists[d]);
        write_file(dir, name, out, ggml_row_size(GGML_TYPE_Q8_1, N));
    }
    return 0;
}
