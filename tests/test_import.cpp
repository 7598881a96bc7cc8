// Quantized checkpoints in (issue 17, item 3): GPTQ (v1/v2, 2/3/4/8 bits,
// act-order), AutoAWQ GEMM and compressed-tensors pack-quantized tensors,
// packed by tests/import_ckpt_gen.hpp from known codes, read back by the
// readers; every dequantized weight must equal scale * (q - z) bit for bit, and
// the storage must be a valid lowbit qmatrix that lowbit's own qmatrix_view
// reads to the same values. Malformed tensors are refused with one line.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <lowbit/formats/awq_checkpoint.hpp>
#include <lowbit/formats/compressed_tensors_checkpoint.hpp>
#include <lowbit/formats/gptq_checkpoint.hpp>
#include <lowbit/formats/imported_to_ggml.hpp>

#include "import_ckpt_gen.hpp"

namespace {

using namespace lowbit;
using namespace import_gen;
namespace ck = lowbit::checkpoint;

// Known quantized weight: codes q[n][k], zeros z[g][n], scale bits s[g][n],
// group of each input column gi[k].
struct truth {
    std::size_t N = 0, K = 0, G = 0, groups = 0;
    int bits = 4;
    std::vector<std::uint32_t> q;   // n * K + k
    std::vector<std::uint32_t> z;   // g * N + n
    std::vector<std::uint16_t> s;   // g * N + n
    std::vector<std::int32_t> gi;   // k

    float expected(std::size_t n, std::size_t k) const {
        const std::size_t g = static_cast<std::size_t>(gi[k]);
        return f16_to_f32(s[g * N + n]) * static_cast<float>(static_cast<int>(q[n * K + k]) - static_cast<int>(z[g * N + n]));
    }
};

truth make_truth(std::size_t N, std::size_t K, std::size_t G, int bits, bool sym, bool act_order, std::uint32_t seed,
                 std::uint32_t zmax = 0) {
    std::mt19937 rng(seed);
    truth t;
    t.N = N, t.K = K, t.G = G, t.bits = bits, t.groups = (K + G - 1) / G;
    const std::uint32_t qmax = (1u << bits) - 1u;
    if (zmax == 0) zmax = qmax;
    t.q.resize(N * K);
    for (auto& v : t.q) v = rng() % (qmax + 1);
    t.z.resize(t.groups * N);
    for (auto& v : t.z) v = sym ? (1u << (bits - 1)) : rng() % (zmax + 1);
    t.s.resize(t.groups * N);
    for (auto& v : t.s) v = random_scale(rng);
    t.gi.resize(K);
    for (std::size_t k = 0; k < K; ++k) t.gi[k] = static_cast<std::int32_t>(k / G);
    if (act_order) std::shuffle(t.gi.begin(), t.gi.end(), rng);  // same group sizes, columns scattered
    return t;
}

// Every weight equals the formula, bit for bit, through imported_qmatrix and
// through lowbit's qmatrix_view<S> (which validate() accepts).
template <class S>
void check_values(const ck::imported_qmatrix& m, const truth& t) {
    REQUIRE(m.rows() == t.N);
    REQUIRE(m.cols() == t.K);
    std::vector<float> row(t.K);
    std::size_t mismatches = 0;
    for (std::size_t n = 0; n < t.N; ++n) {
        m.dequantize_row(n, row.data());
        for (std::size_t k = 0; k < t.K; ++k) {
            const float e = t.expected(n, k);
            if (std::memcmp(&e, &row[k], 4) != 0 && ++mismatches == 1)
                MESSAGE("first mismatch at (" << n << ", " << k << "): expected " << e << ", got " << row[k] << " q " << t.q[n * t.K + k]
                                             << " z " << t.z[static_cast<std::size_t>(t.gi[k]) * t.N + n] << " code " << m.code(n, k)
                                             << " zero " << m.zero(n, static_cast<std::size_t>(t.gi[k])));
        }
    }
    CHECK(mismatches == 0);
    auto v = storage_view<qmatrix_view<S>>(m.storage);
    REQUIRE(v.validate().ok());
    mismatches = 0;
    for (std::size_t n = 0; n < t.N; ++n)
        for (std::size_t j = 0; j < t.K; ++j) {
            const std::size_t k = v.perm ? static_cast<std::size_t>(v.perm[j]) : j;
            const float e = t.expected(n, k), got = v.value(n, j);
            if (std::memcmp(&e, &got, 4) != 0) ++mismatches;
        }
    CHECK(mismatches == 0);
}

std::vector<tensor> gptq_tensors(const truth& t, bool v1, bool with_g_idx, const std::string& p = "layer") {
    // qweight [K*b/32, N]: column n packs q[n][0..K).
    std::vector<std::uint32_t> qw(t.K * static_cast<std::size_t>(t.bits) / 32 * t.N);
    std::vector<std::uint32_t> col(t.K);
    const std::size_t rows = t.K * static_cast<std::size_t>(t.bits) / 32;
    for (std::size_t n = 0; n < t.N; ++n) {
        for (std::size_t k = 0; k < t.K; ++k) col[k] = t.q[n * t.K + k];
        const auto w = gptq_pack(col, t.bits);
        for (std::size_t r = 0; r < rows; ++r) qw[r * t.N + n] = w[r];
    }
    // qzeros [groups, N*b/32]: row g packs the (v1: minus one) zeros of group g.
    std::vector<std::uint32_t> qz;
    const std::uint32_t mask = (1u << t.bits) - 1u;
    for (std::size_t g = 0; g < t.groups; ++g) {
        std::vector<std::uint32_t> zs(t.N);
        for (std::size_t n = 0; n < t.N; ++n) zs[n] = (t.z[g * t.N + n] - (v1 ? 1u : 0u)) & mask;
        const auto w = gptq_pack(zs, t.bits);
        qz.insert(qz.end(), w.begin(), w.end());
    }
    std::vector<tensor> ts{i32_tensor(p + ".qweight", {rows, t.N}, qw),
                           i32_tensor(p + ".qzeros", {t.groups, t.N * static_cast<std::size_t>(t.bits) / 32}, qz),
                           f16_tensor(p + ".scales", {t.groups, t.N}, t.s)};
    if (with_g_idx) {
        std::vector<std::uint32_t> g(t.gi.begin(), t.gi.end());
        ts.push_back(i32_tensor(p + ".g_idx", {t.K}, g));
    }
    return ts;
}

// Safetensors bytes and the file parsed over them (its spans point into bytes).
struct st_file {
    std::vector<std::uint8_t> bytes;
    safetensors::safetensors_file f;
    explicit st_file(const std::vector<tensor>& ts) : bytes(safetensors_bytes(ts)) {
        auto r = safetensors::safetensors_file::parse(span<const std::uint8_t>(bytes.data(), bytes.size()));
        REQUIRE_MESSAGE(r.ok(), r.error().message());
        f = std::move(*r);
    }
};

result<ck::imported_qmatrix> read_gptq_bytes(const std::vector<std::uint8_t>& bytes, const ck::gptq_config& c) {
    auto f = safetensors::safetensors_file::parse(span<const std::uint8_t>(bytes.data(), bytes.size()));
    if (!f) return f.error();
    return ck::read_gptq(*f, "layer", c);
}

template <int B, bool Sym>
using gscheme = scheme<B, per_group_dynamic, std::conditional_t<Sym, symmetric, asymmetric>, scale_f16>;

template <int B, bool Sym>
void gptq_case(bool v1, bool act_order, std::size_t G) {
    CAPTURE(B);
    CAPTURE(Sym);
    CAPTURE(v1);
    CAPTURE(act_order);
    CAPTURE(G);
    const std::size_t N = 64, K = 256;
    // v1 stores z - 1, so z = 0 is not representable (it wraps to 2^b, see the
    // docs); draw zeros in [1, 2^b - 1] there, [0, 2^b - 1] in v2.
    truth t = make_truth(N, K, G, B, Sym, act_order, 1000 + B * 10 + v1 * 3 + act_order);
    if (v1 && !Sym)
        for (auto& z : t.z) z = z == 0 ? 1 : z;
    const auto bytes = safetensors_bytes(gptq_tensors(t, v1, true));
    ck::gptq_config c;
    c.bits = B;
    c.group_size = static_cast<int>(G);
    c.sym = Sym;
    c.desc_act = act_order;
    c.format = v1 ? ck::gptq_format::v1 : ck::gptq_format::v2;
    auto m = read_gptq_bytes(bytes, c);
    REQUIRE_MESSAGE(m.ok(), m.error().message());
    CHECK(m->scheme.bits == B);
    CHECK(m->scheme.symmetric == Sym);
    CHECK(m->storage.perm.empty() == !act_order);
    check_values<gscheme<B, Sym>>(*m, t);
}

}  // namespace

TEST_CASE("gptq: 2/3/4/8 bits, v1 and v2, sym and asym, with and without act-order") {
    for (bool v1 : {true, false})
        for (bool ao : {false, true}) {
            gptq_case<2, false>(v1, ao, 32);
            gptq_case<3, false>(v1, ao, 64);
            gptq_case<3, true>(v1, ao, 128);
            gptq_case<4, true>(v1, ao, 128);
            gptq_case<4, false>(v1, ao, 32);
            gptq_case<8, true>(v1, ao, 64);
            gptq_case<8, false>(v1, ao, 128);
        }
}

TEST_CASE("gptq: no g_idx means k / G; group_size -1 is per channel; v1 zero fields of 2^b - 1 read as 2^b") {
    truth t = make_truth(32, 64, 32, 4, false, false, 7);
    auto ts = gptq_tensors(t, false, false);
    ck::gptq_config c;
    c.sym = false;
    c.group_size = 32;
    c.format = ck::gptq_format::v2;
    st_file f(ts);
    auto m = ck::read_gptq(f.f, "layer", c);
    REQUIRE(m.ok());
    check_values<gscheme<4, false>>(*m, t);

    truth pc = make_truth(32, 64, 64, 4, false, false, 8);
    st_file f2(gptq_tensors(pc, false, true));
    c.group_size = -1;
    auto m2 = ck::read_gptq(f2.f, "layer", c);
    REQUIRE(m2.ok());
    CHECK(m2->scheme.gran == granularity::per_channel);
    check_values<scheme<4, per_channel, asymmetric, scale_f16>>(*m2, pc);

    // v1 with true zero 0: stored as (0 - 1) & 15 = 15, which v1 readers decode
    // as 15 + 1 = 16 (AutoGPTQ's reference adds 1 after masking).
    truth w = make_truth(32, 64, 32, 4, false, false, 9);
    for (auto& z : w.z) z = 0;
    st_file f3(gptq_tensors(w, true, true));
    c.group_size = 32;
    c.format = ck::gptq_format::v1;
    auto m3 = ck::read_gptq(f3.f, "layer", c);
    REQUIRE(m3.ok());
    for (auto& z : w.z) z = 16;
    check_values<gscheme<4, false>>(*m3, w);
}

TEST_CASE("gptq: malformed tensors are refused with one line naming them") {
    const truth t = make_truth(32, 128, 32, 4, true, true, 11);
    ck::gptq_config c;
    c.group_size = 32;
    c.desc_act = true;
    auto refused = [&](std::vector<tensor> ts, const ck::gptq_config& cc, const char* needle) {
        auto m = read_gptq_bytes(safetensors_bytes(ts), cc);
        REQUIRE_FALSE(m.ok());
        const std::string msg = m.error().message();
        CAPTURE(msg);
        CHECK(msg.find(needle) != std::string::npos);
        CHECK(msg.find('\n') == std::string::npos);
    };
    {  // wrong qzeros shape
        auto ts = gptq_tensors(t, true, true);
        ts[1].shape = {2, ts[1].shape[1] * 2};
        refused(ts, c, "layer.qzeros' has shape [2, 8], expected [4, 4]");
    }
    {  // g_idx out of range
        auto ts = gptq_tensors(t, true, true);
        ts[3].bytes[4 * 5] = 9;
        refused(ts, c, "layer.g_idx[5] = 9 is outside [0, 4)");
    }
    {  // g_idx that is not a permutation of whole groups
        truth u = t;
        u.gi[0] = u.gi[0] == 0 ? 1 : 0;
        refused(gptq_tensors(u, true, true), c, "lowbit needs every group to hold 32 columns");
    }
    {  // bits the config does not allow, and bits that do not match the tensors
        ck::gptq_config b = c;
        b.bits = 5;
        refused(gptq_tensors(t, true, true), b, "bits = 5 in the quantization config");
        b.bits = 8;  // qweight then packs K = 64, not 128: the g_idx and scales disagree
        refused(gptq_tensors(t, true, true), b, "layer.qzeros' has shape");
    }
    {  // sym in the config, zero points that are not 2^(b-1)
        truth u = make_truth(32, 128, 32, 4, false, false, 12);
        for (auto& z : u.z) z = z == 8 ? 3 : z;
        refused(gptq_tensors(u, true, true), c, "sym is true in the quantization config");
    }
    {  // a missing tensor, a wrong dtype
        auto ts = gptq_tensors(t, true, true);
        ts.erase(ts.begin() + 2);
        refused(ts, c, "tensor 'layer.scales' is missing");
        auto ts2 = gptq_tensors(t, true, true);
        ts2[0].dtype = "F32";
        refused(ts2, c, "has dtype F32, expected I32");
    }
    {  // a NaN scale
        auto ts = gptq_tensors(t, true, true);
        ts[2].bytes[0] = 0x00, ts[2].bytes[1] = 0x7e;
        refused(ts, c, "is not finite");
    }
    {  // 8-bit v1 field 255 decodes to 256, which no 8-bit zero point holds
        truth u = make_truth(32, 64, 32, 8, false, false, 13);
        u.z[3] = 0;  // stored as 255
        ck::gptq_config b;
        b.bits = 8, b.group_size = 32, b.sym = false;
        refused(gptq_tensors(u, true, true), b, "v1 zero 256 does not fit");
    }
    {  // truncated file
        auto bytes = safetensors_bytes(gptq_tensors(t, true, true));
        bytes.resize(bytes.size() - 7);
        auto m = read_gptq_bytes(bytes, c);
        REQUIRE_FALSE(m.ok());
        CHECK(std::string(m.error().message()).find("past the") != std::string::npos);
    }
}

namespace {
// AutoAWQ GEMM: qweight [K, N/8], nibble i of word (k, w) holds output 8w + AWQ_ORDER[i].
std::vector<tensor> awq_tensors(const truth& t, const std::string& p = "layer") {
    static const int order[8] = {0, 2, 4, 6, 1, 3, 5, 7};
    const std::size_t W = t.N / 8;
    std::vector<std::uint32_t> qw(t.K * W, 0), qz(t.groups * W, 0);
    for (std::size_t k = 0; k < t.K; ++k)
        for (std::size_t w = 0; w < W; ++w)
            for (int i = 0; i < 8; ++i) qw[k * W + w] |= t.q[(w * 8 + static_cast<std::size_t>(order[i])) * t.K + k] << (4 * i);
    for (std::size_t g = 0; g < t.groups; ++g)
        for (std::size_t w = 0; w < W; ++w)
            for (int i = 0; i < 8; ++i) qz[g * W + w] |= t.z[g * t.N + w * 8 + static_cast<std::size_t>(order[i])] << (4 * i);
    return {i32_tensor(p + ".qweight", {t.K, W}, qw), i32_tensor(p + ".qzeros", {t.groups, W}, qz),
            f16_tensor(p + ".scales", {t.groups, t.N}, t.s)};
}
}  // namespace

TEST_CASE("awq gemm: interleaved nibbles, zero points, group 128 and 64") {
    for (std::size_t G : {std::size_t(128), std::size_t(64)}) {
        truth t = make_truth(48, 256, G, 4, false, false, 20 + static_cast<std::uint32_t>(G));
        st_file f(awq_tensors(t));
        ck::awq_config c;
        c.group_size = static_cast<int>(G);
        auto m = ck::read_awq(f.f, "layer", c);
        REQUIRE_MESSAGE(m.ok(), m.error().message());
        check_values<gscheme<4, false>>(*m, t);
    }
    truth t = make_truth(16, 64, 32, 4, false, false, 21);
    auto ts = awq_tensors(t);
    ts[1].shape = {1, 2};
    ts[1].bytes.resize(8);
    st_file f(ts);
    ck::awq_config c;
    c.group_size = 32;
    auto m = ck::read_awq(f.f, "layer", c);
    REQUIRE_FALSE(m.ok());
    CHECK(std::string(m.error().message()).find("layer.qzeros' has shape [1, 2], expected [2, 2]") != std::string::npos);
    c.bits = 3;
    st_file f2(awq_tensors(t));
    auto m2 = ck::read_awq(f2.f, "layer", c);
    REQUIRE_FALSE(m2.ok());
    CHECK(std::string(m2.error().message()).find("AutoAWQ GEMM packing is 4-bit") != std::string::npos);
}

namespace {
// compressed-tensors pack-quantized: signed values + 2^(b-1), 32/b per word along
// the input dim; asymmetric zero points packed the same way along the output dim
// (or as unpacked int8 in older files).
std::vector<tensor> ct_tensors(const truth& t, bool channel, bool sym, bool zp_packed, bool with_g_idx, const std::string& p = "layer") {
    const std::size_t b = static_cast<std::size_t>(t.bits), per = 32 / b, words = (t.K + per - 1) / per;
    const int half = 1 << (t.bits - 1);
    std::vector<std::uint32_t> packed(t.N * words, 0);
    for (std::size_t n = 0; n < t.N; ++n)
        for (std::size_t k = 0; k < t.K; ++k) {
            const int signed_q = static_cast<int>(t.q[n * t.K + k]) - half;  // the value the tool quantized to
            packed[n * words + k / per] |= static_cast<std::uint32_t>(signed_q + half) << (b * (k % per));
        }
    const std::size_t ng = channel ? 1 : t.groups;
    std::vector<std::uint16_t> sc(t.N * ng);
    for (std::size_t n = 0; n < t.N; ++n)
        for (std::size_t g = 0; g < ng; ++g) sc[n * ng + g] = t.s[g * t.N + n];
    std::vector<tensor> ts{i32_tensor(p + ".weight_packed", {t.N, words}, packed),
                           i32_tensor(p + ".weight_shape", {2}, {static_cast<std::uint32_t>(t.N), static_cast<std::uint32_t>(t.K)}),
                           f16_tensor(p + ".weight_scale", {t.N, ng}, sc)};
    if (!sym) {
        if (zp_packed) {
            std::vector<std::uint32_t> zp(((t.N + per - 1) / per) * ng, 0);
            for (std::size_t n = 0; n < t.N; ++n)
                for (std::size_t g = 0; g < ng; ++g) zp[(n / per) * ng + g] |= t.z[g * t.N + n] << (b * (n % per));
            ts.push_back(i32_tensor(p + ".weight_zero_point", {(t.N + per - 1) / per, ng}, zp));
        } else {
            std::vector<int> zp(t.N * ng);
            for (std::size_t n = 0; n < t.N; ++n)
                for (std::size_t g = 0; g < ng; ++g) zp[n * ng + g] = static_cast<int>(t.z[g * t.N + n]) - half;
            ts.push_back(i8_tensor(p + ".weight_zero_point", {t.N, ng}, zp));
        }
    }
    if (with_g_idx) ts.push_back(i32_tensor(p + ".weight_g_idx", {t.K}, std::vector<std::uint32_t>(t.gi.begin(), t.gi.end())));
    return ts;
}

template <int B, bool Sym, bool Channel>
void ct_case(bool zp_packed, bool act_order, std::size_t K) {
    CAPTURE(B);
    CAPTURE(Sym);
    CAPTURE(Channel);
    CAPTURE(zp_packed);
    CAPTURE(act_order);
    const std::size_t N = 40, G = Channel ? K : 32;
    truth t = make_truth(N, K, G, B, Sym, act_order, 300 + B + Sym * 2 + Channel * 5 + act_order * 11);
    st_file f(ct_tensors(t, Channel, Sym, zp_packed, act_order));
    ck::compressed_tensors_config c;
    c.num_bits = B;
    c.strategy = Channel ? ck::compressed_tensors_config::strategy_kind::channel : ck::compressed_tensors_config::strategy_kind::group;
    c.group_size = static_cast<int>(G);
    c.symmetric = Sym;
    auto m = ck::read_compressed_tensors(f.f, "layer", c);
    REQUIRE_MESSAGE(m.ok(), m.error().message());
    using S = scheme<B, std::conditional_t<Channel, per_channel, per_group_dynamic>, std::conditional_t<Sym, symmetric, asymmetric>, scale_f16>;
    check_values<S>(*m, t);
}
}  // namespace

TEST_CASE("compressed-tensors pack-quantized: int4/int8, group/channel, sym/asym, packed and int8 zero points, g_idx") {
    for (bool zp_packed : {true, false}) {
        ct_case<4, true, false>(zp_packed, false, 128);
        ct_case<4, false, false>(zp_packed, false, 128);
        ct_case<4, false, true>(zp_packed, false, 100);  // K not a multiple of 8: the last word is padded
        ct_case<8, true, true>(zp_packed, false, 128);
        ct_case<8, false, false>(zp_packed, false, 96);
        ct_case<4, true, false>(zp_packed, true, 128);
    }
    // Malformed: the shape tensor disagrees with the packed words; asym without zero points.
    truth t = make_truth(8, 64, 32, 4, false, false, 33);
    auto ts = ct_tensors(t, false, false, true, false);
    ts[1] = i32_tensor("layer.weight_shape", {2}, {8, 72});
    st_file f(ts);
    ck::compressed_tensors_config c;
    c.group_size = 32;
    c.symmetric = false;
    auto m = ck::read_compressed_tensors(f.f, "layer", c);
    REQUIRE_FALSE(m.ok());
    CHECK(std::string(m.error().message()).find("layer.weight_packed' has shape [8, 8], expected [8, 9]") != std::string::npos);
    auto ts2 = ct_tensors(t, false, false, true, false);
    ts2.pop_back();
    st_file f2(ts2);
    auto m2 = ck::read_compressed_tensors(f2.f, "layer", c);
    REQUIRE_FALSE(m2.ok());
    CHECK(std::string(m2.error().message()).find("weight_zero_point' is missing") != std::string::npos);
}

TEST_CASE("symmetric 4-bit group 32 -> Q4_0 and 8-bit group 32 -> Q8_0 without requantizing: bit-identical values") {
    for (int bits : {4, 8}) {
        CAPTURE(bits);
        const gguf::gguf_type to = bits == 4 ? gguf::gguf_type::q4_0 : gguf::gguf_type::q8_0;
        truth t = make_truth(16, 128, 32, bits, true, false, 40 + static_cast<std::uint32_t>(bits));
        ck::gptq_config c;
        c.bits = bits;
        c.group_size = 32;
        auto m = read_gptq_bytes(safetensors_bytes(gptq_tensors(t, true, true)), c);
        REQUIRE(m.ok());
        REQUIRE(ck::exact_ggml_type(*m, to));
        std::vector<std::uint8_t> blocks(static_cast<std::size_t>(gguf::row_size(to, 128)));
        std::vector<float> a(128), b(128);
        std::size_t mismatches = 0;
        for (std::size_t n = 0; n < 16; ++n) {
            REQUIRE(ck::encode_exact_row(*m, to, n, blocks.data()).ok());
            REQUIRE(gguf::dequantize_row(to, blocks.data(), a.data(), 128).ok());
            m->dequantize_row(n, b.data());
            for (std::size_t k = 0; k < 128; ++k) {
                const float e = t.expected(n, k);
                mismatches += std::memcmp(&a[k], &b[k], 4) != 0 || std::memcmp(&a[k], &e, 4) != 0;
            }
        }
        CHECK(mismatches == 0);
    }
    // Not representable: asymmetric, group 128, act-order, Q4_0 asked of 8 bits.
    ck::gptq_config c;
    c.group_size = 32;
    c.sym = false;
    auto asym = read_gptq_bytes(safetensors_bytes(gptq_tensors(make_truth(8, 64, 32, 4, false, false, 50), false, true)),
                                [&] { auto x = c; x.format = ck::gptq_format::v2; return x; }());
    REQUIRE(asym.ok());
    CHECK_FALSE(ck::exact_ggml_type(*asym, gguf::gguf_type::q4_0));
    c.sym = true;
    c.desc_act = true;
    auto ao = read_gptq_bytes(safetensors_bytes(gptq_tensors(make_truth(8, 64, 32, 4, true, true, 51), true, true)), c);
    REQUIRE(ao.ok());
    REQUIRE_FALSE(ao->storage.perm.empty());
    CHECK_FALSE(ck::exact_ggml_type(*ao, gguf::gguf_type::q4_0));
    CHECK_FALSE(ck::encode_exact_row(*ao, gguf::gguf_type::q4_0, 0, nullptr).ok());
}

TEST_CASE("hostile: random byte flips in a GPTQ, an AWQ and a compressed-tensors file are read or refused, never crash") {
    const truth t = make_truth(32, 64, 32, 4, false, true, 60);
    ck::gptq_config gc;
    gc.group_size = 32, gc.sym = false, gc.desc_act = true, gc.format = ck::gptq_format::v2;
    ck::awq_config ac;
    ac.group_size = 32;
    ck::compressed_tensors_config cc;
    cc.group_size = 32, cc.symmetric = false;
    const std::vector<std::vector<std::uint8_t>> files = {safetensors_bytes(gptq_tensors(t, false, true)),
                                                          safetensors_bytes(awq_tensors(make_truth(32, 64, 32, 4, false, false, 61))),
                                                          safetensors_bytes(ct_tensors(t, false, false, true, true))};
    std::mt19937 rng(62);
    std::size_t read = 0, refused = 0;
    for (int iter = 0; iter < 3000; ++iter) {
        const std::size_t which = static_cast<std::size_t>(iter % 3);
        std::vector<std::uint8_t> b = files[which];
        const int flips = 1 + static_cast<int>(rng() % 4);
        for (int i = 0; i < flips; ++i) {
            // Half the flips hit the JSON header (shapes, dtypes, names), half the data.
            const std::size_t hdr = 8 + (b[0] | b[1] << 8);
            const std::size_t at = rng() % 2 ? 8 + rng() % (hdr - 8) : hdr + rng() % (b.size() - hdr);
            b[at] = static_cast<std::uint8_t>(rng());
        }
        if (rng() % 8 == 0) b.resize(rng() % b.size());  // truncated
        auto f = safetensors::safetensors_file::parse(span<const std::uint8_t>(b.data(), b.size()));
        if (!f) {
            ++refused;
            continue;
        }
        const bool ok = which == 0 ? ck::read_gptq(*f, "layer", gc).ok()
                        : which == 1 ? ck::read_awq(*f, "layer", ac).ok()
                                     : ck::read_compressed_tensors(*f, "layer", cc).ok();
        (ok ? read : refused) += 1;
    }
    CHECK(read + refused == 3000);
    CHECK(read > 0);     // data flips that leave a valid file (other codes) are read
    CHECK(refused > 0);  // broken headers, bad g_idx, NaN scales are refused
}
