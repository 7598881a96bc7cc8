// lowbit/qat/observers.hpp — watching activations during training to choose
// their quantization range. docs/qat.md, "Observers".
//
//   minmax_observer     lo, hi = exponential moving averages of each batch's
//                       min and max: lo += m * (batch_min - lo) (the first batch
//                       sets them), m = momentum (PyTorch's averaging constant).
//   histogram_observer  a histogram of everything seen, over a range [-R, R]
//                       that doubles (merging bin pairs exactly) when a value
//                       falls outside; lo, hi = its (100 - p)th and p-th
//                       percentiles, interpolated linearly inside a bin.
// Both stop changing after `freeze_after` observed batches (0: never freeze):
// the usual QAT recipe fixes activation ranges once they settle, so the last
// epochs train against the ranges the deployed model will use. params<...>()
// turns the range into lowbit parameters (quant/params.hpp) for a scheme.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "../core/scheme.hpp"
#include "../core/status.hpp"
#include "../core/views.hpp"
#include "../quant/params.hpp"

namespace lowbit {
namespace qat {

namespace detail {
inline status batch_range(span<const float> x, float* lo, float* hi) noexcept {
    if (x.empty()) return status::error(errc::shape_mismatch, "x is empty");
    LOWBIT_TRY(lowbit::detail::check_span(x, "x"));
    float a = x[0], b = x[0];
    for (std::size_t i = 0; i < x.size(); ++i) {
        if (!std::isfinite(x[i]))
            return status::error(errc::non_finite, "x[%zu] = %g is not finite", i, static_cast<double>(x[i]));
        a = std::min(a, x[i]);
        b = std::max(b, x[i]);
    }
    *lo = a;
    *hi = b;
    return {};
}
}  // namespace detail

// Common part: batch counting and freezing.
class observer_base {
public:
    std::size_t batches() const noexcept { return batches_; }
    bool frozen() const noexcept { return freeze_after_ > 0 && batches_ >= freeze_after_; }
    void freeze() noexcept { freeze_after_ = batches_ > 0 ? batches_ : 1; }
    // lowbit parameters covering [lo(), hi()] (which includes 0 for asymmetric schemes).
    template <int Bits, bool Symmetric, class Codec = scale_f32, class Self>
    static group_params<Codec> params_of(const Self& self) noexcept {
        return params_for_range<Bits, Symmetric, Codec>(self.lo(), self.hi());
    }

protected:
    explicit observer_base(std::size_t freeze_after) noexcept : freeze_after_(freeze_after) {}
    std::size_t batches_ = 0;
    std::size_t freeze_after_ = 0;
};

class minmax_observer : public observer_base {
public:
    explicit minmax_observer(float momentum = 0.01f, std::size_t freeze_after = 0) noexcept
        : observer_base(freeze_after), momentum_(momentum) {}

    // Fold one batch in (no-op once frozen). Errors: empty or non-finite x, bad momentum.
    status observe(span<const float> x) noexcept {
        if (frozen()) return {};
        if (!(momentum_ > 0.0f && momentum_ <= 1.0f))
            return status::error(errc::invalid_argument, "momentum = %g, must be in (0, 1]", static_cast<double>(momentum_));
        float a = 0.0f, b = 0.0f;
        LOWBIT_TRY(detail::batch_range(x, &a, &b));
        if (batches_ == 0) {
            lo_ = a;
            hi_ = b;
        } else {
            lo_ += momentum_ * (a - lo_);
            hi_ += momentum_ * (b - hi_);
        }
        ++batches_;
        return {};
    }
    float lo() const noexcept { return lo_; }
    float hi() const noexcept { return hi_; }
    template <int Bits, bool Symmetric, class Codec = scale_f32>
    group_params<Codec> params() const noexcept {
        return params_of<Bits, Symmetric, Codec>(*this);
    }

private:
    float momentum_;
    float lo_ = 0.0f, hi_ = 0.0f;
};

class histogram_observer : public observer_base {
public:
    // bins: even, >= 2 (rounded up to even). percentile in (50, 100].
    explicit histogram_observer(float percentile = 99.99f, std::size_t bins = 2048, std::size_t freeze_after = 0)
        : observer_base(freeze_after), p_(percentile), counts_(std::max<std::size_t>(2, bins + (bins & 1u)), 0) {}

    status observe(span<const float> x) {
        if (frozen()) return {};
        if (!(p_ > 50.0f && p_ <= 100.0f))
            return status::error(errc::invalid_argument, "percentile = %g, must be in (50, 100]", static_cast<double>(p_));
        float a = 0.0f, b = 0.0f;
        LOWBIT_TRY(detail::batch_range(x, &a, &b));
        const float amax = std::max(-a, b);
        if (batches_ == 0) range_ = amax > 0.0f ? amax : 1.0f;
        while (amax > range_) grow();
        const std::size_t nb = counts_.size();
        const double scale = static_cast<double>(nb) / (2.0 * range_);
        for (float v : x) {
            const double pos = (static_cast<double>(v) + range_) * scale;
            const std::size_t bin = std::min(nb - 1, static_cast<std::size_t>(std::max(0.0, pos)));
            ++counts_[bin];
        }
        total_ += x.size();
        ++batches_;
        return {};
    }

    float lo() const noexcept { return quantile(1.0 - static_cast<double>(p_) / 100.0); }
    float hi() const noexcept { return quantile(static_cast<double>(p_) / 100.0); }
    float range() const noexcept { return range_; }
    const std::vector<std::uint64_t>& counts() const noexcept { return counts_; }
    template <int Bits, bool Symmetric, class Codec = scale_f32>
    group_params<Codec> params() const noexcept {
        return params_of<Bits, Symmetric, Codec>(*this);
    }

    // The value below which a fraction q of the observed mass lies (0 before any data).
    float quantile(double q) const noexcept {
        if (total_ == 0) return 0.0f;
        const double target = q * static_cast<double>(total_);
        const double width = 2.0 * range_ / static_cast<double>(counts_.size());
        double cum = 0.0;
        for (std::size_t i = 0; i < counts_.size(); ++i) {
            const double c = static_cast<double>(counts_[i]);
            if (c > 0.0 && cum + c >= target) {
                const double frac = std::min(1.0, std::max(0.0, (target - cum) / c));
                return static_cast<float>(-range_ + width * (static_cast<double>(i) + frac));
            }
            cum += c;
        }
        return range_;
    }

private:
    // [-R, R] -> [-2R, 2R]: old bins 2j, 2j+1 become new bin nb/4 + j (exact, as nb is even).
    void grow() {
        const std::size_t nb = counts_.size();
        std::vector<std::uint64_t> next(nb, 0);
        for (std::size_t j = 0; j < nb; ++j) next[nb / 4 + j / 2] += counts_[j];
        counts_.swap(next);
        range_ *= 2.0f;
    }

    float p_;
    std::vector<std::uint64_t> counts_;
    float range_ = 1.0f;
    std::uint64_t total_ = 0;
};

}  // namespace qat
}  // namespace lowbit
