// lowbit/qat/runtime.hpp — run-time-scheme twins of the QAT entry points, for
// tools: each is a switch onto the template (lowbit::visit_scheme), never a
// second implementation. The scheme's group (per_group) replaces options.group.
#pragma once

#include <utility>

#include "../pack/any_qmatrix.hpp"
#include "export.hpp"
#include "fake_quant.hpp"

namespace lowbit {
namespace qat {

template <class Exec = serial_executor>
status fake_quantize(const runtime_scheme& s, matrix_view<const float> w, span<const float> steps, span<const std::uint8_t> zeros,
                     matrix_view<float> out, fq_options opt = {}, Exec&& exec = Exec{}) {
    opt.group = s.group;
    return visit_scheme(s, [&](auto tag) { return fake_quantize<decltype(tag)>(w, steps, zeros, out, opt, exec); });
}

template <class Exec = serial_executor>
status fake_quantize_backward(const runtime_scheme& s, matrix_view<const float> w, span<const float> steps,
                              span<const std::uint8_t> zeros, matrix_view<const float> grad_out, matrix_view<float> grad_w,
                              span<float> grad_steps, fq_backward_options opt = {}, Exec&& exec = Exec{}) {
    opt.group = s.group;
    return visit_scheme(s, [&](auto tag) {
        return fake_quantize_backward<decltype(tag)>(w, steps, zeros, grad_out, grad_w, grad_steps, opt, exec);
    });
}

inline status lsq_init(const runtime_scheme& s, matrix_view<const float> w, span<float> steps, span<std::uint8_t> zeros) {
    fq_options opt;
    opt.group = s.group;
    return visit_scheme(s, [&](auto tag) { return lsq_init<decltype(tag)>(w, steps, zeros, opt); });
}

inline status calibrated_init(const runtime_scheme& s, matrix_view<const float> w, const calibration& calib, span<float> steps,
                              span<std::uint8_t> zeros) {
    fq_options opt;
    opt.group = s.group;
    return visit_scheme(s, [&](auto tag) { return calibrated_init<decltype(tag)>(w, calib, steps, zeros, opt); });
}

inline status project_steps(const runtime_scheme& s, span<float> steps) {
    return visit_scheme(s, [&](auto tag) { return project_steps<decltype(tag)>(steps); });
}

inline result<any_qmatrix> export_qmatrix(const runtime_scheme& s, matrix_view<const float> w, span<const float> steps,
                                          span<const std::uint8_t> zeros) {
    any_qmatrix out;
    out.scheme = s;
    status st = visit_scheme(s, [&](auto tag) {
        auto q = export_qmatrix<decltype(tag)>(w, steps, zeros, s.group);
        if (!q) return q.error();
        out.storage = std::move(*q).release();
        return status{};
    });
    if (!st) return st;
    return out;
}

}  // namespace qat
}  // namespace lowbit
