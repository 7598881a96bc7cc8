// lowbit weights in GGUF (formats/weights_gguf_*.hpp, docs/formats.md "lowbit
// weights in GGUF"): every scheme the library produces — widths 1-8 x
// per-tensor / per-channel / groups x symmetric / asymmetric x f32 / f16 / bf16
// scales x with / without permutation x dense / tiled — saved, loaded back as
// views into the file's bytes (zero-copy), and run: dequantized values and
// GEMV outputs (f32 and int8 paths) bit-identical to the in-memory weights.
// Codebook weights (CB4 / CB3, NF and learned grids) likewise. Files mixing
// ggml block tensors, plain F32 tensors and lowbit weights; and hostile files
// (truncated, keys that disagree with the tensors, unknown version, misaligned
// data, schemes out of range, bad grids) refused with a message.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <numeric>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <lowbit/formats/codebook.hpp>
#include <lowbit/formats/gguf_blocks.hpp>
#include <lowbit/formats/weights_gguf_reader.hpp>
#include <lowbit/formats/weights_gguf_writer.hpp>
#include <lowbit/kernels/weights_matmul.hpp>
#include <lowbit/runtime.hpp>
#include <lowbit/weights/repack.hpp>

using namespace lowbit;

namespace {

// File bytes at a 64-byte aligned address (what mmap gives), plus `skew` bytes.
struct aligned_bytes {
    std::vector<std::uint8_t> storage;
    span<const std::uint8_t> bytes;
    aligned_bytes(const std::vector<std::uint8_t>& file, std::size_t skew = 0) : storage(file.size() + 128) {
        const auto a = reinterpret_cast<std::uintptr_t>(storage.data());
        std::uint8_t* p = storage.data() + ((64 - (a & 63)) & 63) + skew;
        if (!file.empty()) std::memcpy(p, file.data(), file.size());
        bytes = span<const std::uint8_t>(p, file.size());
    }
};

std::vector<float> random_floats(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> nd;
    std::vector<float> v(n);
    for (auto& x : v) x = nd(rng);
    return v;
}

// Quantized weights of scheme `rs` (dense), with a shuffled input permutation
// when asked.
weights make_dense(const runtime_scheme& rs, std::size_t rows, std::size_t cols, unsigned seed, bool with_perm) {
    const auto w = random_floats(rows * cols, seed);
    auto q = quantize(rs, matrix_view<const float>(w.data(), rows, cols));
    REQUIRE(q.ok());
    const qstorage& st = q->storage;
    weights_desc d;
    d.lay = layout::dense;
    d.scheme = rs;
    d.rows = rows;
    d.cols = cols;
    d.group = st.layout.group;
    d.row_bytes = st.layout.row_bytes;
    d.codes = st.codes.data();
    d.scales = rs.scale == scale_type::f32 ? static_cast<const void*>(st.scales_f32.data()) : st.scales_16.data();
    d.zeros = rs.symmetric ? nullptr : st.zeros.data();
    auto v = make_weights(d);
    REQUIRE(v.ok());
    weights out = weights::copy_of(*v);
    if (with_perm) {
        std::vector<std::int32_t> p(cols);
        std::iota(p.begin(), p.end(), 0);
        std::mt19937 rng(seed + 1);
        std::shuffle(p.begin(), p.end(), rng);
        REQUIRE(out.set_perm(p).ok());
    }
    return out;
}

// W as f32 (input order), whatever the layout (tiled goes through dense).
std::vector<float> dequantized(const weights_view& w) {
    std::vector<float> out(w.rows() * w.cols());
    if (w.lay() == layout::ggml) {
        REQUIRE(gguf::dequantize_row(w.ggml_type(), w.codes(), out.data(), static_cast<std::int64_t>(out.size())).ok());
        return out;
    }
    if (w.lay() == layout::codebook) {
        REQUIRE(codebook::dequantize(w, matrix_view<float>(out.data(), w.rows(), w.cols())).ok());
        return out;
    }
    if (w.lay() == layout::tiled) {
        auto d = repack(w, layout::dense);
        REQUIRE(d.ok());
        return dequantized(d->view());
    }
    const status s = visit_kernel_scheme(w.scheme(), [&](auto tag) {
        using S = decltype(tag);
        return dequantize(detail::qmatrix_of<S>(w), matrix_view<float>(out.data(), w.rows(), w.cols()));
    });
    REQUIRE(s.ok());
    return out;
}

std::vector<float> gemv_out(const weights_view& w, const std::vector<float>& x, matmul_path path) {
    std::vector<float> y(w.rows());
    matmul_options o;
    o.path = path;
    const status s = gemv(w, span<const float>(x.data(), x.size()), span<float>(y.data(), y.size()), serial_executor{}, o);
    REQUIRE_MESSAGE(s.ok(), std::string(s.message()));
    return y;
}

bool same_bytes(const void* a, const void* b, std::size_t n) { return n == 0 || std::memcmp(a, b, n) == 0; }

bool inside(const void* p, std::size_t n, span<const std::uint8_t> file) {
    const auto* b = static_cast<const std::uint8_t*>(p);
    return n == 0 || (b >= file.data() && b + n <= file.data() + file.size());
}

// The loaded view has the fields and bytes of the original, its arrays lie in
// the file's bytes, and it computes the same bits.
void check_loaded(const weights_view& a, const weights_view& b, span<const std::uint8_t> file) {
    REQUIRE(a.lay() == b.lay());
    REQUIRE(a.rows() == b.rows());
    REQUIRE(a.cols() == b.cols());
    REQUIRE(a.group() == b.group());
    REQUIRE(a.row_bytes() == b.row_bytes());
    REQUIRE(a.bytes() == b.bytes());
    if (a.lay() == layout::ggml) {
        CHECK(a.ggml_type() == b.ggml_type());
    } else {
        CHECK(a.scheme().bits == b.scheme().bits);
        CHECK(a.scheme().gran == b.scheme().gran);
        CHECK(a.scheme().group == b.scheme().group);
        CHECK(a.scheme().symmetric == b.scheme().symmetric);
        CHECK(a.scheme().scale == b.scheme().scale);
    }
    if (a.lay() == layout::codebook) CHECK(same_bytes(a.grid(), b.grid(), sizeof a.desc().grid));
    CHECK((a.perm() == nullptr) == (b.perm() == nullptr));
    CHECK(same_bytes(a.codes(), b.codes(), a.code_bytes()));
    CHECK(same_bytes(a.scales(), b.scales(), a.scale_bytes()));
    CHECK(same_bytes(a.zeros(), b.zeros(), a.zero_bytes()));
    CHECK(same_bytes(a.perm(), b.perm(), a.perm_bytes()));
    // zero-copy: every array of the loaded view points into the file
    CHECK(inside(b.codes(), b.code_bytes(), file));
    CHECK(inside(b.scales(), b.scale_bytes(), file));
    CHECK(inside(b.zeros(), b.zero_bytes(), file));
    CHECK(inside(b.perm(), b.perm_bytes(), file));
    const auto da = dequantized(a), db = dequantized(b);
    CHECK(same_bytes(da.data(), db.data(), da.size() * sizeof(float)));
    const auto x = random_floats(a.cols(), 77);
    for (matmul_path p : {matmul_path::automatic, matmul_path::dequant_fma, matmul_path::int8_dot}) {
        if (!is_scheme_layout(a.lay()) && p == matmul_path::dequant_fma) continue;  // ggml and codebook blocks have only the int8 path
        const auto ya = gemv_out(a, x, p), yb = gemv_out(b, x, p);
        CHECK(same_bytes(ya.data(), yb.data(), ya.size() * sizeof(float)));
    }
}

struct named {
    std::string name;
    weights w;
};

// A file of `ws` and, optionally, plain tensors added by `extra` (declared
// after the weights and written by `extra_data`).
std::vector<std::uint8_t> write_file(const std::vector<named>& ws, const std::function<void(gguf::gguf_writer&)>& extra = {},
                                     const std::function<void(gguf::gguf_writer&)>& extra_data = {}) {
    gguf::gguf_writer g;
    REQUIRE(g.set("general.architecture", gguf::meta_value::string("lowbit-test")).ok());
    weights_gguf_writer w(g);
    for (const named& n : ws) REQUIRE(w.declare(n.name, n.w.view()).ok());
    if (extra) extra(g);
    std::vector<std::uint8_t> out;
    REQUIRE(w.write_header(gguf::byte_sink::to_vector(out)).ok());
    for (const named& n : ws) REQUIRE(w.write(n.name, n.w.view()).ok());
    if (extra_data) extra_data(g);
    REQUIRE(g.finish().ok());
    return out;
}

// The weights of one scheme in every granularity, with and without a
// permutation, dense and tiled.
std::vector<named> grid_for(int bits, bool sym, scale_type sc, unsigned& seed) {
    const std::size_t rows = 20, cols = 96;  // a partial tile; a partial group for g64
    std::vector<named> out;
    const char* gran_names[] = {"pt", "pc", "g32", "g64"};
    for (int g = 0; g < 4; ++g)
        for (int perm = 0; perm < 2; ++perm) {
            runtime_scheme rs;
            rs.bits = bits;
            rs.symmetric = sym;
            rs.scale = sc;
            rs.gran = g == 0 ? granularity::per_tensor : g == 1 ? granularity::per_channel : granularity::per_group;
            rs.group = g == 2 ? 32 : 64;
            weights dense = make_dense(rs, rows, cols, seed++, perm != 0);
            auto tiled = repack(dense.view(), layout::tiled);
            REQUIRE(tiled.ok());
            const std::string base = std::string("blk.") + gran_names[g] + (perm ? ".perm" : ".plain");
            out.push_back({base + ".dense.weight", std::move(dense)});
            out.push_back({base + ".tiled.weight", std::move(*tiled)});
        }
    return out;
}

// A copy of a parsed file, re-written with edits: kv(key, value) may change
// or drop (nullopt) a pair; tensor(name, type, dims, data) may change a tensor
// or drop it (false); extra(w) adds pairs or tensors (declaring them).
struct rewrite_edits {
    std::function<std::optional<gguf::meta_value>(std::string_view, const gguf::meta_value&)> kv;
    std::function<bool(std::string_view, gguf::gguf_type&, std::vector<std::uint64_t>&, std::vector<std::uint8_t>&)> tensor;
    std::function<void(gguf::gguf_writer&, std::vector<std::vector<std::uint8_t>>&)> extra;
};
// An edit that appends one tensor of `count` elements of `type` (zero bytes).
rewrite_edits extra_tensor(std::string name, gguf::gguf_type type, std::uint64_t count, std::size_t bytes) {
    rewrite_edits e;
    e.extra = [=](gguf::gguf_writer& g, std::vector<std::vector<std::uint8_t>>& data) {
        REQUIRE(g.add_tensor(name, type, {count}).ok());
        data.emplace_back(bytes, 0);
    };
    return e;
}
std::vector<std::uint8_t> rewrite(const std::vector<std::uint8_t>& good, const rewrite_edits& e) {
    aligned_bytes in(good);
    auto f = gguf::gguf_file::parse(in.bytes);
    REQUIRE(f.ok());
    gguf::gguf_writer g;
    for (std::size_t i = 0; i < f->kv_count(); ++i) {
        const auto kv = f->kv(i);
        std::optional<gguf::meta_value> v = gguf::meta_value::copy_of(kv.value);
        if (e.kv) v = e.kv(kv.key, *v);
        if (v) REQUIRE(g.set(kv.key, *v).ok());
    }
    std::vector<std::vector<std::uint8_t>> data;
    for (const auto& t : f->tensors()) {
        gguf::gguf_type type = t.type;
        std::vector<std::uint64_t> dims(t.dims, t.dims + t.n_dims);
        std::vector<std::uint8_t> bytes(t.data.begin(), t.data.end());
        if (e.tensor && !e.tensor(t.name, type, dims, bytes)) continue;
        REQUIRE(g.add_tensor(t.name, type, span<const std::uint64_t>(dims.data(), dims.size())).ok());
        data.push_back(std::move(bytes));
    }
    if (e.extra) e.extra(g, data);
    std::vector<std::uint8_t> out;
    REQUIRE(g.write_header(gguf::byte_sink::to_vector(out)).ok());
    for (auto& d : data) {
        REQUIRE(g.write_tensor_data(span<const std::uint8_t>(d.data(), d.size())).ok());
        (void)d;
    }
    REQUIRE(g.finish().ok());
    return out;
}

// The file is refused, with a message that contains `needle`.
void refused(const std::vector<std::uint8_t>& file, const char* needle, std::size_t skew = 0) {
    aligned_bytes b(file, skew);
    auto r = weights_gguf_reader::open(b.bytes);
    REQUIRE_FALSE(r.ok());
    CAPTURE(r.error().message());
    CHECK(std::string(r.error().message()).find(needle) != std::string::npos);
}

// An edit that sets metadata key `key` to `value`.
rewrite_edits set_key(const std::string& key, gguf::meta_value value) {
    rewrite_edits e;
    e.kv = [key, value](std::string_view k, const gguf::meta_value& v) -> std::optional<gguf::meta_value> { return k == key ? value : v; };
    return e;
}

// Every prefix of `good` that ends before its last tensor's data is refused.
void refused_when_truncated(const std::vector<std::uint8_t>& good) {
    aligned_bytes b(good);
    auto f = gguf::gguf_file::parse(b.bytes);
    REQUIRE(f.ok());
    const auto& last = f->tensors().back();
    const std::size_t end = static_cast<std::size_t>(f->data_offset() + last.offset + last.n_bytes);
    for (std::size_t n = 0; n < end; ++n) {
        std::vector<std::uint8_t> cut(good.begin(), good.begin() + static_cast<std::ptrdiff_t>(n));
        aligned_bytes c(cut);
        CHECK_FALSE(weights_gguf_reader::open(c.bytes).ok());
    }
}

// A small valid file: one asymmetric grouped weight with a permutation.
std::vector<std::uint8_t> small_file() {
    runtime_scheme rs;
    rs.bits = 4;
    rs.group = 32;
    rs.symmetric = false;
    std::vector<named> ws;
    ws.push_back({"blk.0.attn_q.weight", make_dense(rs, 8, 64, 5, true)});
    return write_file(ws);
}

// Codebook weights on the NF grid or one learned from the weights (squared
// Gaussians: heavy tails, so the learned grid is not the NF one).
weights make_codebook(int bits, bool learned, std::size_t rows, std::size_t cols, unsigned seed) {
    auto v = random_floats(rows * cols, seed);
    for (float& x : v) x *= std::fabs(x);
    const matrix_view<const float> x(v.data(), rows, cols);
    codebook::grid g = codebook::nf_grid(bits);
    if (learned) {
        auto l = codebook::learn_grid(x, bits);
        REQUIRE(l.ok());
        g = *l;
    }
    auto q = codebook::quantize(x, g);
    REQUIRE(q.ok());
    return std::move(*q);
}

}  // namespace

TEST_CASE("weights gguf: every scheme x granularity x permutation x layout round-trips bit for bit, zero-copy") {
    unsigned seed = 1;
    std::size_t checked = 0;
    for (int bits = 1; bits <= 8; ++bits)
        for (int sym = 0; sym < 2; ++sym)
            for (int sc = 0; sc < 3; ++sc) {
                CAPTURE(bits);
                CAPTURE(sym);
                CAPTURE(sc);
                const auto ws = grid_for(bits, sym != 0, static_cast<scale_type>(sc), seed);
                const auto file = write_file(ws);
                aligned_bytes b(file);
                auto r = weights_gguf_reader::open(b.bytes);
                REQUIRE_MESSAGE(r.ok(), std::string(r.error().message()));
                REQUIRE(r->lowbit_count() == ws.size());
                CHECK(r->file().alignment() >= 64);
                for (std::size_t i = 0; i < ws.size(); ++i) {
                    CAPTURE(ws[i].name);
                    CHECK(r->lowbit_name(i) == ws[i].name);
                    auto v = r->find(ws[i].name);
                    REQUIRE(v.ok());
                    check_loaded(ws[i].w.view(), *v, b.bytes);
                    CHECK(reinterpret_cast<std::uintptr_t>(v->codes()) % 64 == 0);
                    ++checked;
                }
            }
    CHECK(checked == 8 * 2 * 3 * 4 * 2 * 2);
}

TEST_CASE("weights gguf: a file mixing ggml blocks, plain F32 tensors and lowbit weights") {
    const std::size_t rows = 16, cols = 256;
    const auto src = random_floats(rows * cols, 9);
    std::vector<std::uint8_t> q4k(rows * gguf::row_size(gguf::gguf_type::q4_K, cols));
    REQUIRE(gguf::quantize_row(gguf::gguf_type::q4_K, src.data(), q4k.data(), static_cast<std::int64_t>(rows * cols)).ok());
    auto ggml = make_ggml_weights(gguf::gguf_type::q4_K, q4k.data(), rows, cols);
    REQUIRE(ggml.ok());
    runtime_scheme rs;  // w4g128, the tools' default
    std::vector<named> ws;
    ws.push_back({"blk.0.attn_q.weight", make_dense(rs, rows, cols, 3, false)});
    ws.push_back({"token_embd.weight", weights::copy_of(*ggml)});
    const std::vector<float> norm(cols, 1.5f);
    const auto file = write_file(
        ws, [&](gguf::gguf_writer& g) { REQUIRE(g.add_tensor("output_norm.weight", gguf::gguf_type::f32, {cols}).ok()); },
        [&](gguf::gguf_writer& g) {
            REQUIRE(g.write_tensor("output_norm.weight", span<const std::uint8_t>(reinterpret_cast<const std::uint8_t*>(norm.data()),
                                                                                 norm.size() * 4))
                        .ok());
        });
    aligned_bytes b(file);
    auto r = weights_gguf_reader::open(b.bytes);
    REQUIRE_MESSAGE(r.ok(), std::string(r.error().message()));
    CHECK(r->lowbit_count() == 1);
    CHECK(r->is_lowbit("blk.0.attn_q.weight"));
    CHECK_FALSE(r->is_lowbit("token_embd.weight"));
    // The ggml tensor is a standard Q4_K tensor under its own name.
    const gguf::tensor_info* t = r->file().find_tensor("token_embd.weight");
    REQUIRE(t);
    CHECK(t->type == gguf::gguf_type::q4_K);
    CHECK(r->file().find_tensor("blk.0.attn_q.weight") == nullptr);
    CHECK(r->file().find_tensor("blk.0.attn_q.weight.lowbit.codes") != nullptr);
    for (const named& n : ws) {
        auto v = r->find(n.name);
        REQUIRE(v.ok());
        check_loaded(n.w.view(), *v, b.bytes);
    }
    const gguf::tensor_info* nt = r->file().find_tensor("output_norm.weight");
    REQUIRE(nt);
    CHECK(same_bytes(nt->data.data(), norm.data(), norm.size() * 4));
    CHECK(r->find("output_norm.weight").error().code() == errc::unsupported);
    CHECK_FALSE(r->find("no.such.weight").ok());
    // A plain GGUF file (no lowbit key) opens with no lowbit weights.
    const auto plain = rewrite(file, {[](std::string_view k, const gguf::meta_value& v) -> std::optional<gguf::meta_value> {
                                          if (k.substr(0, 7) == "lowbit.") return std::nullopt;
                                          return v;
                                      },
                                      [](std::string_view n, gguf::gguf_type&, std::vector<std::uint64_t>&, std::vector<std::uint8_t>&) {
                                          return n.find(".lowbit.") == std::string_view::npos;
                                      },
                                      {}});
    aligned_bytes pb(plain);
    auto pr = weights_gguf_reader::open(pb.bytes);
    REQUIRE(pr.ok());
    CHECK(pr->lowbit_count() == 0);
    CHECK(pr->find("token_embd.weight").ok());
}

TEST_CASE("weights gguf: the writer refuses what it cannot store") {
    runtime_scheme rs;
    rs.group = 32;
    const weights a = make_dense(rs, 4, 64, 1, true);
    const weights b = make_dense(rs, 4, 64, 2, false);
    gguf::gguf_writer g;
    weights_gguf_writer w(g);
    CHECK_FALSE(w.declare(std::string(50, 'x'), a.view()).ok());   // + ".lowbit.scales" > 63 bytes
    CHECK(w.declare(std::string(49, 'x'), a.view()).ok());
    CHECK_FALSE(w.declare("x.lowbit.y", a.view()).ok());           // reserved marker
    CHECK(w.declare("a", a.view()).ok());
    CHECK_FALSE(w.declare("a", a.view()).ok());                    // twice
    CHECK(w.declare("b", b.view()).ok());
    CHECK_FALSE(w.write("a", a.view()).ok());                      // before the header
    std::vector<std::uint8_t> out;
    REQUIRE(w.write_header(gguf::byte_sink::to_vector(out)).ok());
    CHECK(w.write(std::string(49, 'x'), a.view()).ok());
    CHECK_FALSE(w.write("a", b.view()).ok());                      // b has no permutation: not a's shape
    CHECK_FALSE(w.write("b", b.view()).ok());                      // out of order
    CHECK_FALSE(w.write("c", b.view()).ok());                      // never declared
    CHECK(w.write("a", a.view()).ok());
    CHECK(w.write("b", b.view()).ok());
    CHECK(g.finish().ok());
    // An alignment below 64 set by the caller is refused, not silently kept.
    gguf::gguf_writer g2;
    REQUIRE(g2.set_alignment(32).ok());
    weights_gguf_writer w2(g2);
    REQUIRE(w2.declare("a", a.view()).ok());
    std::vector<std::uint8_t> out2;
    CHECK_FALSE(w2.write_header(gguf::byte_sink::to_vector(out2)).ok());
    // A shape alone is checked as make_weights checks it.
    weights_desc bad = a.view().desc();
    bad.scheme.bits = 9;
    CHECK_FALSE(w2.declare("z", bad, false).ok());
}

TEST_CASE("weights gguf: hostile files are refused with one clear line") {
    const auto good = small_file();
    {
        aligned_bytes b(good);
        REQUIRE(weights_gguf_reader::open(b.bytes).ok());
    }
    using meta = gguf::meta_value;
    const std::string p = "lowbit.tensor.blk.0.attn_q.weight.";
    SUBCASE("truncated anywhere before the end of the last tensor") { refused_when_truncated(good); }
    SUBCASE("unknown format version") { refused(rewrite(good, set_key("lowbit.format_version", meta::u32(2))), "this reader knows version 1"); }
    SUBCASE("version of the wrong type") {
        refused(rewrite(good, set_key("lowbit.format_version", meta::string("1"))), "not an unsigned integer");
    }
    SUBCASE("no version but lowbit tensors") {
        rewrite_edits e;
        e.kv = [](std::string_view k, const meta& v) -> std::optional<meta> {
            if (k == "lowbit.format_version") return std::nullopt;
            return v;
        };
        refused(rewrite(good, e), "without lowbit.format_version");
    }
    SUBCASE("bits out of range") { refused(rewrite(good, set_key(p + "bits", meta::u32(9))), "out of range"); }
    SUBCASE("bits that disagree with the scheme name") { refused(rewrite(good, set_key(p + "bits", meta::u32(3))), "the fields say w3g32a"); }
    SUBCASE("bits and name that disagree with the code tensor") {
        rewrite_edits e;
        e.kv = [&](std::string_view k, const meta& v) -> std::optional<meta> {
            if (k == p + "bits") return meta::u32(3);
            if (k == p + "scheme") return meta::string("w3g32a");
            if (k == p + "row_bytes") return meta::u64(24);
            return v;
        };
        refused(rewrite(good, e), "the keys say I8 [24, 8]");
    }
    SUBCASE("unknown granularity") { refused(rewrite(good, set_key(p + "granularity", meta::string("per_block"))), "not a known value"); }
    SUBCASE("unknown layout") { refused(rewrite(good, set_key(p + "layout", meta::string("ggml"))), "not a known value"); }
    SUBCASE("group 0") { refused(rewrite(good, set_key(p + "group", meta::u32(0))), "group is 0"); }
    SUBCASE("shape that disagrees with the tensors") {
        const std::uint64_t s[2] = {9, 64};
        refused(rewrite(good, set_key(p + "shape", meta::array_of(span<const std::uint64_t>(s, 2)))), "the keys say");
    }
    SUBCASE("row_bytes below the packed row") { refused(rewrite(good, set_key(p + "row_bytes", meta::u64(31))), "row_bytes"); }
    SUBCASE("row_bytes that disagrees with the code tensor") { refused(rewrite(good, set_key(p + "row_bytes", meta::u64(33))), "the keys say"); }
    SUBCASE("a missing key") {
        rewrite_edits e;
        e.kv = [&](std::string_view k, const meta& v) -> std::optional<meta> {
            if (k == p + "symmetric") return std::nullopt;
            return v;
        };
        refused(rewrite(good, e), "not found");
    }
    SUBCASE("a key of the wrong type") { refused(rewrite(good, set_key(p + "symmetric", meta::u32(1))), "expected bool"); }
    SUBCASE("a stray lowbit.tensor key") {
        rewrite_edits e;
        e.extra = [&](gguf::gguf_writer& g, std::vector<std::vector<std::uint8_t>>&) { REQUIRE(g.set(p + "extra", meta::u32(1)).ok()); };
        refused(rewrite(good, e), "lowbit.tensor.* keys");
    }
    SUBCASE("a missing component") {
        rewrite_edits e;
        e.tensor = [](std::string_view n, gguf::gguf_type&, std::vector<std::uint64_t>&, std::vector<std::uint8_t>&) {
            return n.find(".lowbit.zeros") == std::string_view::npos;
        };
        refused(rewrite(good, e), "lowbit.zeros is missing");
    }
    SUBCASE("a component of the wrong type") {
        rewrite_edits e;
        e.tensor = [](std::string_view n, gguf::gguf_type& t, std::vector<std::uint64_t>&, std::vector<std::uint8_t>& d) {
            if (n.find(".lowbit.scales") != std::string_view::npos) {
                t = gguf::gguf_type::f32;
                d.resize(d.size() * 2);
            }
            return true;
        };
        refused(rewrite(good, e), "the keys say F16");
    }
    SUBCASE("a stray component tensor") {
        refused(rewrite(good, extra_tensor("other.lowbit.codes", gguf::gguf_type::i8, 64, 64)), "belong to no listed weights");
    }
    SUBCASE("a listed name that is also a plain tensor") {
        refused(rewrite(good, extra_tensor("blk.0.attn_q.weight", gguf::gguf_type::f32, 4, 16)), "both lowbit weights and a plain tensor");
    }
    SUBCASE("a name listed twice") {
        const std::string_view names[2] = {"blk.0.attn_q.weight", "blk.0.attn_q.weight"};
        refused(rewrite(good, set_key("lowbit.tensors", meta::array_of_strings(span<const std::string_view>(names, 2)))), "listed twice");
    }
    SUBCASE("a list that is not strings") {
        const std::uint32_t n[1] = {1};
        refused(rewrite(good, set_key("lowbit.tensors", meta::array_of(span<const std::uint32_t>(n, 1)))), "not an array of strings");
    }
    SUBCASE("general.alignment below 64") { refused(rewrite(good, set_key("general.alignment", meta::u32(32))), "need >= 64"); }
    SUBCASE("data misaligned in memory") {
        refused(good, "not 64-byte aligned", 1);
        refused(good, "not 64-byte aligned", 32);
    }
    SUBCASE("a permutation entry outside [0, cols)") {
        rewrite_edits e;
        e.tensor = [](std::string_view n, gguf::gguf_type&, std::vector<std::uint64_t>&, std::vector<std::uint8_t>& d) {
            if (n.find(".lowbit.perm") != std::string_view::npos) {
                const std::int32_t bad = 64;
                std::memcpy(d.data() + 12, &bad, 4);
            }
            return true;
        };
        refused(rewrite(good, e), "perm[3] = 64");
    }
    SUBCASE("not a GGUF file at all") {
        std::vector<std::uint8_t> junk(256, 0x41);
        refused(junk, "gguf");
    }
}

TEST_CASE("weights gguf: codebook weights (CB4, CB3; NF and learned grids) round-trip bit for bit, zero-copy") {
    std::vector<named> ws;
    runtime_scheme rs;
    rs.group = 32;
    ws.push_back({"blk.0.attn_q.weight", make_dense(rs, 16, 96, 3, false)});
    unsigned seed = 20;
    for (int bits : {4, 3})
        for (int learned = 0; learned < 2; ++learned)
            ws.push_back({"blk.cb" + std::to_string(bits) + (learned ? ".learned" : ".nf") + ".weight",
                          make_codebook(bits, learned != 0, 21, 96, seed++)});
    const codebook::grid nf4 = codebook::nf_grid(4), nf3 = codebook::nf_grid(3);
    CHECK(std::memcmp(ws[2].w.view().grid(), nf4.levels, 16) != 0);  // learned: the file must carry it
    CHECK(std::memcmp(ws[4].w.view().grid(), nf3.levels, 16) != 0);
    const auto file = write_file(ws);
    aligned_bytes b(file);
    auto r = weights_gguf_reader::open(b.bytes);
    REQUIRE_MESSAGE(r.ok(), std::string(r.error().message()));
    REQUIRE(r->lowbit_count() == ws.size());
    for (const named& n : ws) {
        CAPTURE(n.name);
        auto v = r->find(n.name);
        REQUIRE(v.ok());
        check_loaded(n.w.view(), *v, b.bytes);
        if (v->lay() != layout::codebook) continue;
        const int bits = v->scheme().bits;
        CHECK(*r->file().get_string("lowbit.tensor." + n.name + ".scheme") == (bits == 4 ? "cb4" : "cb3"));
        CHECK(*r->file().get_string("lowbit.tensor." + n.name + ".layout") == "codebook");
        const gguf::tensor_info* g = r->file().find_tensor(n.name + ".lowbit.grid");
        REQUIRE(g);
        CHECK(g->type == gguf::gguf_type::i8);
        CHECK(g->n_dims == 1);
        CHECK(g->dims[0] == (1u << bits));
        CHECK(same_bytes(g->data.data(), n.w.view().grid(), g->dims[0]));
        const gguf::tensor_info* c = r->file().find_tensor(n.name + ".lowbit.codes");
        REQUIRE(c);
        CHECK(c->dims[0] == 96 / 32 * codebook_block_bytes(bits));
        CHECK(c->dims[1] == 21);
        CHECK(r->file().find_tensor(n.name + ".lowbit.scales") == nullptr);  // inside the blocks
    }
    // No permutation can be declared for codebook weights; a declared shape must match what is written.
    gguf::gguf_writer g;
    weights_gguf_writer w(g);
    CHECK_FALSE(w.declare("p", ws[1].w.view().desc(), true).ok());
    auto tiled = codebook::to_tiled(ws[1].w.view());  // a kernel layout: written as codebook weights only
    REQUIRE(tiled.ok());
    CHECK(w.declare("t", tiled->view()).code() == errc::unsupported);
    REQUIRE(w.declare("a", ws[1].w.view()).ok());  // CB4
    std::vector<std::uint8_t> out;
    REQUIRE(w.write_header(gguf::byte_sink::to_vector(out)).ok());
    CHECK_FALSE(w.write("a", ws[3].w.view()).ok());  // CB3: not the declared shape
    CHECK(w.write("a", ws[2].w.view()).ok());        // CB4 on another grid: the grid is data
}

TEST_CASE("weights gguf: hostile codebook files are refused with one clear line") {
    std::vector<named> ws;
    ws.push_back({"blk.0.ffn_down.weight", make_codebook(3, true, 8, 64, 31)});
    const auto good = write_file(ws);
    {
        aligned_bytes b(good);
        REQUIRE(weights_gguf_reader::open(b.bytes).ok());
    }
    using meta = gguf::meta_value;
    const std::string p = "lowbit.tensor.blk.0.ffn_down.weight.";
    // Edits the grid tensor's bytes (type, dims and size unchanged unless `f` changes them).
    auto edit_grid = [](std::function<void(std::vector<std::uint64_t>&, std::vector<std::uint8_t>&)> f) {
        rewrite_edits e;
        e.tensor = [f](std::string_view n, gguf::gguf_type&, std::vector<std::uint64_t>& dims, std::vector<std::uint8_t>& d) {
            if (n.find(".lowbit.grid") != std::string_view::npos) f(dims, d);
            return true;
        };
        return e;
    };
    SUBCASE("truncated anywhere before the end of the last tensor") { refused_when_truncated(good); }
    SUBCASE("grid levels not ascending") {
        refused(rewrite(good, edit_grid([](auto&, auto& d) { std::swap(d[2], d[3]); })), "not strictly ascending");
    }
    SUBCASE("a grid level of -128") {
        refused(rewrite(good, edit_grid([](auto&, auto& d) { d[0] = 0x80; })), "is -128");
    }
    SUBCASE("a grid of 16 levels for 3-bit indices") {
        refused(rewrite(good, edit_grid([](auto& dims, auto& d) {
                    dims[0] = 16;
                    d.resize(16, 0);
                })),
                "the keys say I8 [8, 1]");
    }
    SUBCASE("no grid") {
        rewrite_edits e;
        e.tensor = [](std::string_view n, gguf::gguf_type&, std::vector<std::uint64_t>&, std::vector<std::uint8_t>&) {
            return n.find(".lowbit.grid") == std::string_view::npos;
        };
        refused(rewrite(good, e), "lowbit.grid is missing");
    }
    SUBCASE("a grid on uniform weights") {
        const auto dense = small_file();
        refused(rewrite(dense, extra_tensor("blk.0.attn_q.weight.lowbit.grid", gguf::gguf_type::i8, 16, 16)), "present but the scheme has none");
    }
    SUBCASE("a permutation on codebook weights") {
        refused(rewrite(good, extra_tensor("blk.0.ffn_down.weight.lowbit.perm", gguf::gguf_type::i32, 64, 256)), "present but the scheme has none");
    }
    SUBCASE("a scheme name that disagrees with the bits") { refused(rewrite(good, set_key(p + "scheme", meta::string("cb4"))), "the fields say cb3"); }
    SUBCASE("bits and name of an index width codebooks do not have") {
        rewrite_edits e;
        e.kv = [&](std::string_view k, const meta& v) -> std::optional<meta> {
            if (k == p + "bits") return meta::u32(5);
            if (k == p + "scheme") return meta::string("cb5");
            return v;
        };
        refused(rewrite(good, e), "codebooks have 3 or 4");
    }
    SUBCASE("bits that disagree with the blocks and the grid") {
        rewrite_edits e;
        e.kv = [&](std::string_view k, const meta& v) -> std::optional<meta> {
            if (k == p + "bits") return meta::u32(4);
            if (k == p + "scheme") return meta::string("cb4");
            if (k == p + "row_bytes") return meta::u64(36);
            return v;
        };
        refused(rewrite(good, e), "the keys say I8 [36, 8]");
    }
    SUBCASE("a block size other than 32, other scales") {
        refused(rewrite(good, set_key(p + "group", meta::u32(64))), "must be per_group, group 32");
        refused(rewrite(good, set_key(p + "scale_type", meta::string("f32"))), "must be per_group, group 32");
        refused(rewrite(good, set_key(p + "symmetric", meta::boolean(false))), "must be per_group, group 32");
        refused(rewrite(good, set_key(p + "granularity", meta::string("per_channel"))), "must be per_group, group 32");
    }
    SUBCASE("row_bytes that is not the blocks'") { refused(rewrite(good, set_key(p + "row_bytes", meta::u64(30))), "row_bytes"); }
    SUBCASE("a shape whose columns are not whole blocks") {
        const std::uint64_t sh[2] = {8, 48};
        refused(rewrite(good, set_key(p + "shape", meta::array_of(span<const std::uint64_t>(sh, 2)))), "not a multiple of 32");
    }
    SUBCASE("uniform weights' keys that claim the codebook layout") {
        refused(rewrite(small_file(), set_key("lowbit.tensor.blk.0.attn_q.weight.layout", meta::string("codebook"))), "must be per_group");
    }
}
