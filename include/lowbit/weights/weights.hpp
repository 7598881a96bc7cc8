// lowbit/weights/weights.hpp — `weights`: quantized weights that own their
// memory, in any layout (weights/weights_view.hpp). What an engine keeps per
// weight matrix; repack (weights/repack.hpp) returns one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "weights_view.hpp"

namespace lowbit {

class weights {
public:
    weights() = default;  // empty: holds no matrix (empty() is true, view() must not be called)

    // A deep copy of valid weights (they stay valid: same fields, new memory).
    static weights copy_of(const weights_view& v) {
        weights w;
        w.d_ = v.desc();
        // resize + memcpy, not assign: GCC 12 warns (-Wnonnull, falsely) on assign from a range
        w.codes_.resize(v.code_bytes());
        std::memcpy(w.codes_.data(), v.codes(), v.code_bytes());
        w.scales_.resize((v.scale_bytes() + 3) / 4);
        if (v.scale_bytes()) std::memcpy(w.scales_.data(), v.scales(), v.scale_bytes());
        w.zeros_.resize(v.zero_bytes());
        if (v.zero_bytes()) std::memcpy(w.zeros_.data(), v.zeros(), v.zero_bytes());
        w.perm_.resize(v.perm_bytes() / sizeof(std::int32_t));
        if (v.perm()) std::memcpy(w.perm_.data(), v.perm(), v.perm_bytes());
        w.rebind();
        return w;
    }

    // Storage for weights described by `d` (its pointers are ignored): zero
    // codes, scales and zeros, no permutation. Checked as make_weights checks
    // (make_weights_shape).
    static result<weights> allocate(const weights_desc& d) {
        auto v = make_weights_shape(d);
        if (!v) return v.error();
        weights w;
        w.d_ = v->desc();
        w.codes_.resize(v->code_bytes());
        w.scales_.resize((v->scale_bytes() + 3) / 4);
        w.zeros_.resize(v->zero_bytes());
        w.rebind();
        return w;
    }

    bool empty() const noexcept { return d_.codes == nullptr; }
    weights_view view() const noexcept {
        LOWBIT_ASSERT(!empty(), "weights::view() of empty weights");
        return weights_view(d_);
    }
    std::size_t bytes() const noexcept { return empty() ? 0 : view().bytes(); }

    // Writable arrays, for filling weights made by allocate (sizes as the view's *_bytes()).
    std::uint8_t* codes() noexcept { return codes_.data(); }
    void* scales() noexcept { return scales_.data(); }
    std::uint8_t* zeros() noexcept { return zeros_.data(); }
    // Sets the input permutation (cols entries in [0, cols); checked).
    status set_perm(std::vector<std::int32_t> p) {
        if (empty() || !is_scheme_layout(d_.lay)) return status::error(errc::invalid_argument, "weights.set_perm: no dense or tiled matrix");
        if (p.size() != d_.cols) return status::error(errc::shape_mismatch, "weights.set_perm: %zu entries, cols = %zu", p.size(), d_.cols);
        LOWBIT_TRY(detail::check_scales_and_perm("weights", nullptr, 1, p.data(), d_.cols));
        perm_ = std::move(p);
        rebind();
        return {};
    }

    weights(const weights& o) : d_(o.d_), codes_(o.codes_), scales_(o.scales_), zeros_(o.zeros_), perm_(o.perm_) { rebind(); }
    weights(weights&& o) noexcept
        : d_(o.d_), codes_(std::move(o.codes_)), scales_(std::move(o.scales_)), zeros_(std::move(o.zeros_)), perm_(std::move(o.perm_)) {
        rebind();
        o.d_ = weights_desc{};
    }
    weights& operator=(weights o) noexcept {
        d_ = o.d_;
        codes_ = std::move(o.codes_);
        scales_ = std::move(o.scales_);
        zeros_ = std::move(o.zeros_);
        perm_ = std::move(o.perm_);
        rebind();
        return *this;
    }

private:
    // Point the description at this object's vectors.
    void rebind() noexcept {
        if (d_.codes == nullptr && codes_.empty()) return;
        d_.codes = codes_.data();
        d_.scales = scales_.empty() ? nullptr : scales_.data();
        d_.zeros = zeros_.empty() ? nullptr : zeros_.data();
        d_.perm = perm_.empty() ? nullptr : perm_.data();
    }

    weights_desc d_{};
    std::vector<std::uint8_t> codes_;
    std::vector<std::uint32_t> scales_;  // 4-byte aligned for f32 scales
    std::vector<std::uint8_t> zeros_;
    std::vector<std::int32_t> perm_;
};

}  // namespace lowbit
