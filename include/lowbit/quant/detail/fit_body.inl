// lowbit/quant/detail/fit_body.inl — the per-value arithmetic of
// calibrate::mse's passes, generic over the vector type B, stamped out twice
// by quant/detail/fit_simd.hpp: in namespace fit for its 4-lane (and AVX2
// builds' 8-lane) passes, and, on x86-64 with GCC or Clang, in namespace
// fit16 with LOWBIT_FIT_FN carrying the AVX-512 target attribute for the
// 16-lane passes the CPU picks at run time (always_inline helpers must carry
// the target of the function they are inlined into, so one copy cannot serve
// both). No #pragma once: included once per copy. Every operation is lane for
// lane the same, so each copy gives the same terms for the same values.
//
// LOWBIT_FIT_FN: how each function here is declared (always inline, plus a
// target attribute for the AVX-512 copy).
// log2 d for normal d > 0: d = (1 + t) 2^e with 1 + t in [sqrt(1/2), sqrt(2)),
// log2(1 + t) = t * P(t), P of degree 5 fitted by least squares on that
// interval (absolute error 3.8e-6).
template <class B>
LOWBIT_FIT_FN B log2_normal(B d) noexcept {
    using I = typename B::int_type;
    const I bits = v4::bits_of(d);
    // The mantissa above sqrt(2)'s moves to the binade below: 1 + t < sqrt(2).
    const I mant = bits & I(0x007fffff);
    const I up = v4::select(mant > I(0x003504f3), I(1), I(0));
    const B m = v4::float_from_bits(mant | v4::shift_left<23>(I(127) - up));
    const B e = v4::to_float(v4::shift_right<23>(bits) - I(127) + up);
    const B t = m - B(1.0f);
    B p(-0.206858124f);
    p = p * t + B(0.318407118f);
    p = p * t + B(-0.366413259f);
    p = p * t + B(0.479793884f);
    p = p * t + B(-0.721208468f);
    p = p * t + B(1.4427018f);
    return e + t * p;
}

// 2^y for y in [-126, 127]: 2^n exp2(f), n = round(y), f in [-1/2, 1/2],
// exp2(f) of degree 5 fitted on that interval (relative error 1.1e-7).
template <class B>
LOWBIT_FIT_FN B exp2_clamped(B y) noexcept {
    using I = typename B::int_type;
    const B magic(12582912.0f);  // 1.5 * 2^23: (y + magic) - magic rounds y
    const B n = (y + magic) - magic;
    const B f = y - n;
    B p(0.00134004322f);
    p = p * f + B(0.0096760371f);
    p = p * f + B(0.0555032721f);
    p = p * f + B(0.240221074f);
    p = p * f + B(0.693147207f);
    p = p * f + B(1.00000008f);
    const I ni = v4::to_int_trunc(n);
    return p * v4::float_from_bits(v4::shift_left<23>(ni + I(127)));
}

template <class B>
struct acc {
    B err{}, errt{}, w{}, wk{}, wk2{}, wy{}, wyk{};  // zeros (value-initialized: no call into a constructor)
};

// t^2.4 for t in [0, 1/2] (an unclipped value's error in candidate steps):
// t^2 (c2 + c3 t + ... + c7 t^5), least squares on that interval, absolute
// error below 1.7e-5 (3e-4 of the mean term). The terms' errors mostly cancel
// between candidates, whose unclipped errors spread over [0, 1/2] alike.
template <class B>
LOWBIT_FIT_FN B pow24_half(B t) noexcept {
    B p(12.4637709f);
    p = p * t + B(-23.8889542f);
    p = p * t + B(18.9011974f);
    p = p * t + B(-8.26929474f);
    p = p * t + B(2.75643849f);
    p = p * t + B(0.18793945f);
    return p * (t * t);
}

// d^q for d in [2^-20, 2^10], q = norm - 2 in (-1, 14]: log2 and exp2 as the
// float's bits read linearly (a few % off): the refit's weights only steer
// the refit; its candidate is then judged by its error.
template <class B>
LOWBIT_FIT_FN B pow_rough(B d, B q, B bias) noexcept {
    const B e = v4::to_float(v4::bits_of(d)) * q + bias;  // bias = (1 - q) 127 2^23
    return v4::float_from_bits(v4::to_int_trunc(v4::min(v4::max(e, B(8388608.0f)), B(2130706432.0f))));
}

// The constants of one pass: the candidate's, and for norms other than 2
// where the clipped values lie and how the rest's power is taken.
template <class B>
struct lane_consts {
    B scale, inv, unit_inv, kmin, kmax, pm2, rough_bias, poly_max;
};

// One batch of values x (valid: 1 for values of the block, 0 for padding).
// Norms other than 2: at norm 2.4 a value's error t = |x^ - x| / s, in the
// candidate's steps, is at most 1/2 unless the value is clipped, and t^2.4
// is a polynomial there (err_t, in steps); clipped values -- and every value
// at other norms (poly_max = -1) -- take the power from log2 and exp2
// polynomials (err, in units), for the batches that hold any.
// x^ - x (as dequantization computes it) for values x, and their codes k.
template <class B>
LOWBIT_FIT_FN B code_diff(B x, const lane_consts<B>& c, B& y, B& k) noexcept {
    // x / s, not x * (1/s): the codes must be quantize_value's, also at ties (values on a grid).
    y = x / c.scale;
    const B t = v4::min(v4::max(y, c.kmin), c.kmax);  // y is finite (finite x, s >= min/max's step / 10 > 0)
#if defined(__FAST_MATH__)
    k = v4::round_even(t);  // -ffast-math may fold the magic add; lowbit does not support it (docs/formats.md)
#else
    const B magic(12582912.0f);
    k = (t + magic) - magic;  // |t| <= 255: round half to even
#endif
    return c.scale * k - x;
}

template <fit_mode M, class B>
LOWBIT_FIT_FN void add(acc<B>& a, B x, B valid, const lane_consts<B>& c) noexcept {
    B y, k;
    const B diff = code_diff(x, c, y, k);
    const B r = diff * c.unit_inv;  // in units
    const B d2 = r * r;
    if constexpr (M == fit_mode::l2_error) {
        a.err += d2;  // padding adds 0
        return;
    } else {
        B w = valid;
        if constexpr (M == fit_mode::pow_error || M == fit_mode::pow_fit) {
            const B ts = v4::abs(diff) * c.inv;
            const auto far = ts > c.poly_max;
            const B d = v4::max(v4::abs(r), B(9.53674316e-07f));  // >= 2^-20 units: log2 finite, w <= 2^20 down to norm 1
            a.errt += v4::select(far, B(0.0f), pow24_half(v4::min(ts, B(0.5f))));  // padding: t = 0
            if (v4::any(far)) {
                const B ly = v4::min(v4::max(c.pm2 * log2_normal(d), B(-126.0f)), B(127.0f));
                const B wx = exp2_clamped(ly);
                a.err += v4::select(far, wx * d2, B(0.0f));  // padding: d2 = 0
                if constexpr (M == fit_mode::pow_fit) w = w * v4::select(far, wx, pow_rough(d, c.pm2, c.rough_bias));
            } else if constexpr (M == fit_mode::pow_fit) {
                w = w * pow_rough(d, c.pm2, c.rough_bias);
            }
        } else {
            a.err += d2;
        }
        if constexpr (fit_sums_wanted(M)) {
            const B wk = w * k;
            a.w += w;
            a.wk += wk;
            a.wk2 += wk * k;
            a.wy += w * y;
            a.wyk += wk * y;
        }
    }
}

template <class B>
LOWBIT_FIT_FN lane_consts<B> consts_for(const fit_candidate& c, float norm, bool exact) noexcept {
    // 2^-10 of a step above 1/2: a value that a tie or the rounding of x^ puts there is not clipped.
    const float poly_max = norm == 2.4f && !exact ? 0.5f + 0.5f / 1024.0f : -1.0f;
    const float q = norm - 2.0f;
    return {B(c.scale), B(c.inv), B(c.unit_inv), B(c.kmin), B(c.kmax), B(q), B((1.0f - q) * 1065353216.0f), B(poly_max)};
}

// The constants of the N candidates of a scan (fit_simd.hpp's scan_pass_w,
// fit_avx512.hpp's scan_pass16), their errors zeroed.
template <class B, std::size_t N>
LOWBIT_FIT_FN void scan_consts(const fit_candidate* c, float norm, bool exact, lane_consts<B> (&k)[N], double* err) noexcept {
    for (std::size_t j = 0; j < N; ++j) {
        k[j] = consts_for<B>(c[j], norm, exact);
        err[j] = 0.0;
    }
}

// The passes over W groups at once, one group a lane (calibrate::mse's
// batched search, quant/calibrate.hpp), for N candidates a group: xt holds
// the groups transposed, value i of group l at xt[i W + l], G values each (a
// multiple of 16, at most 256), and c[j W + l] is group l's candidate j, its
// sums out[j W + l]. Each group's sums are those of the one-group passes bit
// for bit: lane l of the vector runs group l's value arithmetic (the same
// add<M>), and the terms are added in those passes' order -- per quantity 16
// float sums, sum p taking values 16m + p in turn, then, in double, sums 0 to
// 15 in turn (G <= 256: the one-group passes flush once) and err + tnorm *
// errt unfused. The N candidates share the loads and run interleaved, as the
// one-group scans' (a lane whose candidate errs out: the caller drops its sums).
template <fit_mode M, std::size_t N, class B, std::size_t W>
LOWBIT_FIT_FN void lanes_pass(const float* xt, std::size_t G, const lane_batch& c, float norm, lane_sums& out) noexcept {
    constexpr bool pw = M == fit_mode::pow_error || M == fit_mode::pow_fit;
    constexpr bool fs = M == fit_mode::l2_fit || M == fit_mode::pow_fit;
    constexpr std::size_t Q = fs ? 7 : 2;  // err, errt[, w, wk, wk2, wy, wyk]
    lane_consts<B> k[N];
    for (std::size_t j = 0; j < N; ++j) {
        k[j] = consts_for<B>(idle_candidate, norm, false);  // (the norm's constants)
        k[j].scale = B::load(c.scale + j * W);
        k[j].inv = B::load(c.inv + j * W);
        k[j].unit_inv = B::load(c.unit_inv + j * W);
        k[j].kmin = B::load(c.kmin + j * W);
        k[j].kmax = B::load(c.kmax + j * W);
    }
    const B one(1.0f);
    double t[N][Q][W];
    for (std::size_t j = 0; j < N; ++j)
        for (std::size_t q = 0; q < Q; ++q)
            for (std::size_t l = 0; l < W; ++l) t[j][q][l] = 0.0;
    alignas(64) float f[Q][W];
    for (std::size_t p = 0; p < 16; ++p) {
        acc<B> a[N] = {};
        for (std::size_t i = p; i < G; i += 16) {
            const B v = B::load(xt + i * W);
            for (std::size_t j = 0; j < N; ++j) add<M>(a[j], v, one, k[j]);
        }
        for (std::size_t j = 0; j < N; ++j) {
            a[j].err.store(f[0]);
            if constexpr (pw) a[j].errt.store(f[1]);
            if constexpr (fs) {
                a[j].w.store(f[2]);
                a[j].wk.store(f[3]);
                a[j].wk2.store(f[4]);
                a[j].wy.store(f[5]);
                a[j].wyk.store(f[6]);
            }
            for (std::size_t q = 0; q < Q; ++q) {
                if (q == 1 && !pw) continue;
                for (std::size_t l = 0; l < W; ++l) t[j][q][l] += f[q][l];
            }
        }
    }
    for (std::size_t j = 0; j < N; ++j)
        for (std::size_t l = 0; l < W; ++l) {
            fit_sums s;
            s.err += mul_add_unfused(c.tnorm[j * W + l], t[j][1][l], t[j][0][l]);
            if constexpr (fs) {
                s.w += t[j][2][l];
                s.wk += t[j][3][l];
                s.wk2 += t[j][4][l];
                s.wy += t[j][5][l];
                s.wyk += t[j][6][l];
            }
            out.s[j * W + l] = s;
        }
}
