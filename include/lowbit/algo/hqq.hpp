// lowbit/algo/hqq.hpp — HQQ-style calibration-free optimisation of the zero
// point (Badri & Shaji, 2023, "Half-Quadratic Quantization"), as the HQQ
// reference's optimize_weights_proximal: no activations needed. docs/ptq.md.
//
// Per group, with a = 1/s fixed (the min/max step) and z the zero point,
// minimise sum |W - (Q - z)/a|^p, p = 0.7 (sparse errors), by half-quadratic
// splitting with an auxiliary error W_e:
//   Q   = clamp(round(W a + z), 0, 2^b - 1),  W_r = (Q - z) / a
//   W_e = shrink_p(W - W_r, beta)  = sign(d) max(|d| - |d|^(p-1) / beta, 0)
//   z   = mean(Q - (W - W_e) a)                 (closed form, per group)
//   beta *= kappa
// for 20 iterations (beta = 10, kappa = 1.01), stopping when the mean |W - W_r|
// over the whole matrix stops decreasing (as the reference).
// lowbit stores integer zero points (HQQ's are floats), and a rounded zero
// alone rarely moves, so each iteration rounds z and also refits the step by
// least squares to the same half-quadratic target W - W_e:
//   s = sum (W - W_e)(Q - z) / sum (Q - z)^2   (stored scale type applied).
// A group keeps its min/max parameters when the result is worse in the HQQ
// objective (sum |err|^p), so HQQ is never worse than min/max in it.
// Asymmetric schemes only: the method optimises the zero point.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include "../compiled_mode.hpp"
#include "../core/status.hpp"
#include "../core/views.hpp"
#include "../executor_ref.hpp"
#include "../pack/qmatrix.hpp"
#include "../parallel.hpp"
#include "../pack/any_qmatrix.hpp"

namespace lowbit {

struct hqq_options {
    float p = 0.7f;
    float beta = 10.0f;
    float kappa = 1.01f;
    int iters = 20;
    int group = 0;  // for per_group_dynamic schemes
};

struct hqq_report {
    int iterations = 0;
    double mean_abs_error_minmax = 0, mean_abs_error = 0;  // weight error before / after
    std::size_t groups_improved = 0, groups = 0;
};

template <class S>
struct hqq_result {
    qmatrix<S> q;
    hqq_report report;
};

template <class S, class Exec = serial_executor>
result<hqq_result<S>> hqq_quantize(matrix_view<const float> w, const hqq_options& opt = {}, Exec&& exec = Exec{}) {
    using codec = typename S::scale_codec;
    constexpr int B = S::bits;
    if (S::is_symmetric) return status::error(errc::unsupported, "HQQ optimises the zero point: use an asymmetric scheme");
    if (S::gran == granularity::per_tensor) return status::error(errc::unsupported, "HQQ needs per-channel or per-group scales");
    if (!(opt.p > 0.0f && opt.p < 2.0f) || !(opt.beta > 0.0f) || !(opt.kappa >= 1.0f) || opt.iters < 0)
        return status::error(errc::invalid_argument, "hqq options: p in (0, 2), beta > 0, kappa >= 1, iters >= 0 required");
    if (!w.data() || w.empty()) return status::error(errc::invalid_argument, "w is null or empty (%zu x %zu)", w.rows(), w.cols());
    const int group = S::gran == granularity::per_group ? (S::static_group ? S::static_group : opt.group) : static_cast<int>(w.cols());
    if (group < 1) return status::error(errc::invalid_argument, "options.group = %d: per-group HQQ needs a group size >= 1", opt.group);
    auto qm = quantize<S>(w, [&] {
        quantize_options o;
        o.group = group;
        return o;
    }(), exec);  // min/max start; also validates w (finite, f16 range)
    if (!qm) return qm.error();
    const std::size_t N = w.rows(), K = w.cols(), G = static_cast<std::size_t>(group), gpr = (K + G - 1) / G;
    const float qmax = static_cast<float>(max_code(B));
    const qmatrix_mut_view<S> out = qm->mut_view();
    const qmatrix_view<S> v = out;
    std::vector<float> sf(N * gpr), zf(N * gpr);  // the parameters being optimised
    for (std::size_t r = 0; r < N; ++r)
        for (std::size_t g = 0; g < gpr; ++g) sf[r * gpr + g] = v.scale(r, g), zf[r * gpr + g] = v.zero(r, g);
    const std::size_t RB = 64, n_tasks = (N + RB - 1) / RB;
    std::vector<double> part(n_tasks);
    auto sweep = [&](float beta) {  // one iteration over every group; returns sum |W - W_r|
        exec(n_tasks, [&](std::size_t t) {
            double err = 0;
            for (std::size_t r = t * RB; r < std::min(N, (t + 1) * RB); ++r)
                for (std::size_t g = 0; g < gpr; ++g) {
                    const float s = sf[r * gpr + g], z = zf[r * gpr + g];
                    if (!(s > 0.0f)) continue;
                    const std::size_t c0 = g * G, c1 = std::min(K, c0 + G);
                    double zsum = 0;
                    for (std::size_t c = c0; c < c1; ++c) {  // W_r, W_e, and the zero's closed form
                        const float x = w(r, c);
                        const float q = static_cast<float>(quantize_value<B, false>(x, s, z));
                        const float d = x - dequantize_value(static_cast<std::uint8_t>(q), s, z);
                        err += std::fabs(d);
                        const float ad = std::fabs(d);
                        const float sh = ad > 0 ? std::max(ad - std::pow(ad, opt.p - 1.0f) / beta, 0.0f) : 0.0f;
                        zsum += q - (x - (d < 0 ? -sh : sh)) / s;
                    }
                    const float zn = std::min(std::max(std::nearbyint(static_cast<float>(zsum / static_cast<double>(c1 - c0))), 0.0f), qmax);
                    double num = 0, den = 0;  // least-squares step for the target W - W_e at the new zero
                    for (std::size_t c = c0; c < c1; ++c) {
                        const float x = w(r, c);
                        const float q = static_cast<float>(quantize_value<B, false>(x, s, z));
                        const float d = x - dequantize_value(static_cast<std::uint8_t>(q), s, z), ad = std::fabs(d);
                        const float sh = ad > 0 ? std::max(ad - std::pow(ad, opt.p - 1.0f) / beta, 0.0f) : 0.0f;
                        const double target = x - (d < 0 ? -sh : sh), u = q - zn;
                        num += target * u;
                        den += u * u;
                    }
                    zf[r * gpr + g] = zn;
                    if (den > 0 && num > 0) {
                        const float sn = codec::decode(codec::encode(static_cast<float>(num / den)));
                        if (sn > 0.0f && std::isfinite(sn)) sf[r * gpr + g] = sn;
                    }
                }
            part[t] = err;
        });
        double e = 0;
        for (double p : part) e += p;
        return e;
    };
    hqq_result<S> res{qmatrix<S>{}, {}};
    hqq_report& rep = res.report;
    double best = 1e300;
    float beta = opt.beta;
    std::vector<float> best_s = sf, best_z = zf;
    for (int i = 0; i < opt.iters; ++i) {
        const std::vector<float> s0 = sf, z0 = zf;
        const double e = sweep(beta);  // error of the parameters (s0, z0) it started from
        beta *= opt.kappa;
        rep.iterations = i + 1;
        if (e < best) {
            best = e;
            best_s = s0;
            best_z = z0;
        } else {
            break;
        }
    }
    // Keep, per group, the optimised parameters where they beat min/max in sum |err|^p.
    rep.groups = N * gpr;
    std::vector<std::uint8_t> codes(K);
    double e0 = 0, e1 = 0;
    for (std::size_t r = 0; r < N; ++r) {
        for (std::size_t g = 0; g < gpr; ++g) {
            const std::size_t idx = v.scale_index(r, g), c0 = g * G, c1 = std::min(K, c0 + G);
            const float smm = v.scale(r, g), zmm = v.zero(r, g), sh = best_s[r * gpr + g], zh = best_z[r * gpr + g];
            double lp_mm = 0, lp_h = 0, a_mm = 0, a_h = 0;
            for (std::size_t c = c0; c < c1; ++c) {
                const float x = w(r, c);
                const float d0 = std::fabs(x - dequantize_value(quantize_value<B, false>(x, smm, zmm), smm, zmm));
                const float d1 = std::fabs(x - dequantize_value(quantize_value<B, false>(x, sh, zh), sh, zh));
                lp_mm += std::pow(d0, opt.p), lp_h += std::pow(d1, opt.p), a_mm += d0, a_h += d1;
            }
            const bool take = smm > 0.0f && lp_h < lp_mm;
            if (take) {
                out.scales[idx] = codec::encode(sh);
                out.zeros[idx] = static_cast<std::uint8_t>(zh);
            }
            rep.groups_improved += take;
            e0 += a_mm;
            e1 += take ? a_h : a_mm;
            const float s = v.scale(r, g), z = v.zero(r, g);
            for (std::size_t c = c0; c < c1; ++c) codes[c] = quantize_value<B, false>(w(r, c), s, z);
        }
        pack_codes<B>(codes.data(), K, out.codes + r * out.row_bytes);
    }
    rep.mean_abs_error_minmax = e0 / static_cast<double>(N * K);
    rep.mean_abs_error = e1 / static_cast<double>(N * K);
    res.q = std::move(*qm);
    return res;
}

// The run-time twin, compiled once per width like gptq's (gptq.hpp).
struct hqq_any_result {
    any_qmatrix q;
    hqq_report report;
};
namespace detail {
template <int B>
struct hqq_width {
    static status run(const runtime_scheme& s, matrix_view<const float> w, const hqq_options& opt, executor_ref exec,
                      hqq_any_result& out);
};
template <int B>
status hqq_width<B>::run(const runtime_scheme& s, matrix_view<const float> w, const hqq_options& opt, executor_ref exec,
                         hqq_any_result& out) {
    auto f = [&](auto tag) {
        auto r = hqq_quantize<decltype(tag)>(w, opt, exec);
        return take_typed_result(r, out);
    };
    return visit_symmetry<B>(s, f);
}
LOWBIT_EXTERN_WIDTHS(hqq_width)
}  // namespace detail

template <class Exec = serial_executor>
result<hqq_any_result> hqq_quantize(const runtime_scheme& s, matrix_view<const float> w, hqq_options opt = {}, Exec&& exec = Exec{}) {
    hqq_any_result out;
    out.q.scheme = s;
    opt.group = s.group;
    const executor_ref ex(exec);
    LOWBIT_TRY(detail::visit_width(s, [&](auto b) { return detail::hqq_width<decltype(b)::value>::run(s, w, opt, ex, out); }));
    return out;
}

}  // namespace lowbit
