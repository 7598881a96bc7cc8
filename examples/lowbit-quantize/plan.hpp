// plan.hpp — the --bpw planner: one ggml type per weight, the least summed
// predicted KLD (sensitivity.hpp) whose bytes fit the budget.
//
// A multiple-choice knapsack, solved exactly by dynamic programming over
// bytes counted in units of `unit` (the gcd of every option's bytes, made
// coarser only when the table would pass max_units; options are then rounded
// up, so a plan never exceeds the budget). The unit depends on the model
// alone, not on the budget, and best[u] is the least loss within u units, so
// a larger budget never gives a larger predicted loss. Ties keep the smaller
// type: the result is a function of the inputs only. Cost: weights x options x
// units; memory: one byte per weight and unit.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include <lowbit/core.hpp>

namespace lbq {

// One weight's options: bytes[i] and predicted loss[i] (bytes 0: not possible).
struct plan_item {
    std::vector<std::uint64_t> bytes;
    std::vector<double> loss;
};

struct allocation {
    std::vector<std::size_t> choice;  // an option per item
    std::uint64_t bytes = 0;          // exact
    double loss = 0;
};

constexpr std::uint64_t plan_max_units = std::uint64_t(1) << 18;

// The least-loss choice with sum of bytes <= budget. Errors: an item without
// options, a NaN or negative loss, a budget below the smallest plan (the
// message gives that plan's bytes).
inline lowbit::result<allocation> allocate(const std::vector<plan_item>& items, std::uint64_t budget) {
    using lowbit::errc;
    using lowbit::status;
    std::uint64_t unit = 0, top = 0, least = 0;
    for (std::size_t t = 0; t < items.size(); ++t) {
        const plan_item& it = items[t];
        std::uint64_t hi = 0, lo = std::numeric_limits<std::uint64_t>::max();
        for (std::size_t i = 0; i < it.bytes.size(); ++i) {
            if (!it.bytes[i]) continue;
            if (!(it.loss[i] >= 0.0) || !std::isfinite(it.loss[i]))
                return status::error(errc::invalid_argument, "plan: weight %zu, option %zu: predicted loss %g is not a finite value >= 0", t, i,
                                     it.loss[i]);
            unit = std::gcd(unit, it.bytes[i]);
            hi = std::max(hi, it.bytes[i]), lo = std::min(lo, it.bytes[i]);
        }
        if (!hi) return status::error(errc::invalid_argument, "plan: weight %zu has no type to choose", t);
        top += hi, least += lo;
    }
    if (budget < least)
        return status::error(errc::invalid_argument, "the budget is %llu bytes; the smallest plan takes %llu",
                             static_cast<unsigned long long>(budget), static_cast<unsigned long long>(least));
    if (items.empty()) return allocation{};
    if (top / unit > plan_max_units) unit = (top + plan_max_units - 1) / plan_max_units;
    auto units = [&](std::uint64_t b) { return (b + unit - 1) / unit; };
    const std::size_t U = static_cast<std::size_t>(std::min(budget, top) / unit);
    const double inf = std::numeric_limits<double>::infinity();
    std::vector<double> best(U + 1, 0.0), next(U + 1);
    std::vector<std::vector<std::uint8_t>> pick(items.size(), std::vector<std::uint8_t>(U + 1, 0));
    for (std::size_t t = 0; t < items.size(); ++t) {
        const plan_item& it = items[t];
        for (std::size_t u = 0; u <= U; ++u) {
            double b = inf;
            std::uint8_t bi = 0;
            for (std::size_t i = 0; i < it.bytes.size(); ++i) {
                if (!it.bytes[i] || units(it.bytes[i]) > u) continue;
                const double v = best[u - static_cast<std::size_t>(units(it.bytes[i]))] + it.loss[i];
                if (v < b) b = v, bi = static_cast<std::uint8_t>(i);
            }
            next[u] = b, pick[t][u] = bi;
        }
        best.swap(next);
    }
    if (!std::isfinite(best[U]))  // coarse units rounded the smallest plan past the budget
        return status::error(errc::invalid_argument, "the budget is %llu bytes; the smallest plan takes %llu (%llu after rounding to units of %llu)",
                             static_cast<unsigned long long>(budget), static_cast<unsigned long long>(least),
                             static_cast<unsigned long long>(budget / unit * unit + unit), static_cast<unsigned long long>(unit));
    allocation a;
    a.choice.assign(items.size(), 0);
    std::size_t u = U;
    for (std::size_t t = items.size(); t-- > 0;) {
        const std::size_t i = pick[t][u];
        a.choice[t] = i;
        a.bytes += items[t].bytes[i];
        a.loss += items[t].loss[i];
        u -= static_cast<std::size_t>(units(items[t].bytes[i]));
    }
    return a;
}

// A tensor name as a --tensor-type regex that matches it alone.
inline std::string exact_name_regex(const std::string& name) {
    std::string r = "^";
    for (char ch : name) {
        if (std::string("\\^$.|?*+()[]{}").find(ch) != std::string::npos) r += '\\';
        r += ch;
    }
    return r + "$";
}

}  // namespace lbq
