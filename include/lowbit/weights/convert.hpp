// lowbit/weights/convert.hpp — between the typed views (qmatrix_view<S>,
// tiled_view<S>) and the run-time weights_view, both ways.
//
//   auto w = lowbit::to_weights(q.view());        // validated once, here
//   auto q2 = lowbit::as_qmatrix<S>(*w);          // back, checked against S
//
// No SIMD: this header needs pack/ only.
#pragma once

#include "../pack/qmatrix.hpp"
#include "../pack/tiled.hpp"
#include "weights.hpp"
#include "weights_view.hpp"

namespace lowbit {

// The typed views run the same validator (plus their own static checks).
template <class S>
result<weights_view> to_weights(const qmatrix_view<S>& q) noexcept {
    if (S::static_group && q.group != S::static_group)
        return status::error(errc::invalid_argument, "qmatrix.group = %d but the scheme's group is %d", q.group, S::static_group);
    return make_weights(q.desc());
}
template <class S>
result<weights_view> to_weights(const tiled_view<S>& t) noexcept {
    LOWBIT_TRY(t.validate());
    return make_weights(t.desc());
}
template <class S>
weights to_weights(const qmatrix<S>& q) {
    return weights::copy_of(*make_weights(q.view().desc()));  // an owning qmatrix is valid by construction
}
template <class S>
result<weights> to_weights(const tiled<S>& t) {
    auto v = to_weights(t.view());
    if (!v) return v.error();
    return weights::copy_of(*v);
}

namespace detail {
// Views of w's arrays typed for the scheme S, unchecked: w is valid
// (make_weights ran) and the caller knows its layout and scheme are S's — the
// kernel table's entries and repack. as_qmatrix / as_tiled below check first.
// The members both typed views have (V: qmatrix_view<S> or tiled_view<S>).
template <class S, class V>
V typed_view_of(const weights_view& w) noexcept {
    V v;
    v.codes = w.codes();
    v.scales = static_cast<const typename S::scale_storage*>(w.scales());
    v.zeros = w.zeros();
    v.perm = w.perm();
    v.rows = w.rows();
    v.cols = w.cols();
    v.group = w.group();
    return v;
}
template <class S>
qmatrix_view<S> qmatrix_of(const weights_view& w) noexcept {
    qmatrix_view<S> q = typed_view_of<S, qmatrix_view<S>>(w);
    q.row_bytes = w.row_bytes();
    return q;
}
template <class S>
tiled_view<S> tiled_of(const weights_view& w) noexcept {
    using T = layout_traits<layout::tiled>;
    tiled_view<S> t = typed_view_of<S, tiled_view<S>>(w);
    t.tiles = T::tiles(w.desc());
    t.blocks = T::blocks(w.desc());
    t.groups = T::groups(w.desc());
    t.blocks_per_group = T::blocks_per_group(w.desc());
    return t;
}

// Whether weights of run-time scheme `rs` can be read as the compile-time S.
template <class S>
status scheme_matches(const runtime_scheme& rs, int group, const char* what) noexcept {
    const bool gran_ok = rs.gran == S::gran && (!S::static_group || group == S::static_group);
    if (rs.bits != S::bits || rs.symmetric != S::is_symmetric || rs.scale != S::scale || !gran_ok) {
        char have[48], want[48];
        runtime_scheme r = rs;
        if (r.gran == granularity::per_group) r.group = group;
        r.name(have, sizeof have);
        S::runtime(group).name(want, sizeof want);
        return status::error(errc::invalid_argument, "%s: the weights are %s, not %s", what, have, want);
    }
    return {};
}
}  // namespace detail

// Checked ways back: the layout and scheme must be S's.
template <class S>
result<qmatrix_view<S>> as_qmatrix(const weights_view& w) noexcept {
    if (w.lay() != layout::dense) return status::error(errc::invalid_argument, "as_qmatrix: the weights are %s, not dense", layout_name(w.lay()));
    LOWBIT_TRY(detail::scheme_matches<S>(w.scheme(), w.group(), "as_qmatrix"));
    return detail::qmatrix_of<S>(w);
}
template <class S>
result<tiled_view<S>> as_tiled(const weights_view& w) noexcept {
    if (w.lay() != layout::tiled) return status::error(errc::invalid_argument, "as_tiled: the weights are %s, not tiled", layout_name(w.lay()));
    LOWBIT_TRY(detail::scheme_matches<S>(w.scheme(), w.group(), "as_tiled"));
    return detail::tiled_of<S>(w);
}

}  // namespace lowbit
