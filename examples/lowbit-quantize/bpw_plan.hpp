// bpw_plan.hpp — --bpw X: the budget over the whole file's tensors and the
// planner's choice within it (plan.hpp), from a sensitivity (measured or read
// back from a report).
//
// The budget counts every byte of every tensor: floor(X * elements / 8),
// elements of all tensors (token_embd, output and the norms included). The
// tensors the planner does not choose for (norms, anything the recipe keeps
// or no candidate type fits) take what the recipe gives them; the rest of the
// budget goes to the planned weights.
#pragma once

#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "plan.hpp"
#include "sensitivity.hpp"
#include "tensor_rules.hpp"

namespace lbq {

struct budget_plan {
    std::vector<std::size_t> index;   // src.tensors index of each sensitivity tensor
    std::vector<gguf_type> types;     // the type chosen for each
    allocation a;
    std::uint64_t elements = 0, fixed_bytes = 0, budget = 0;
    double bpw() const { return elements ? 8.0 * static_cast<double>(a.bytes + fixed_bytes) / static_cast<double>(elements) : 0.0; }
};

// The bytes a tensor takes in OUT under decision d (d.lowbit is refused earlier).
inline std::uint64_t decided_bytes(const source_tensor& t, const decision& d) {
    const gguf_type ty = d.convert ? d.type : t.kept_type ? *t.kept_type : t.desc.type;
    return static_cast<std::uint64_t>(gguf::row_size(ty, static_cast<std::int64_t>(t.row_length()))) * t.rows();
}

// Parses --bpw: a number in (0, 16]; 16 is F16 everywhere, above it there is nothing to plan.
inline result<double> parse_bpw(const std::string& v) {
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    if (v.empty() || *end != '\0' || !std::isfinite(x) || !(x > 0.0))
        return status::error(errc::invalid_argument, "--bpw '%.40s': expected a number of bits per weight > 0", v.c_str());
    if (x > 16.0)
        return status::error(errc::invalid_argument, "--bpw %.40s is above F16's 16 bits per weight; there is nothing to plan", v.c_str());
    return x;
}

// The plan for `bpw` bits per weight. `recipe`: the --type recipe's decisions
// (which tensors are quantized); `s` must list exactly the weights it quantizes
// that a candidate type fits, with their shapes.
inline result<budget_plan> plan_for_budget(const model_source& src, const std::vector<decision>& recipe, const sensitivity& s, double bpw) {
    budget_plan bp;
    std::map<std::string, std::size_t> by_name;
    for (std::size_t i = 0; i < src.tensors.size(); ++i) by_name[src.tensors[i].desc.name] = i;
    std::vector<bool> planned(src.tensors.size(), false);
    std::vector<plan_item> items;
    for (const tensor_sensitivity& t : s.tensors) {
        const auto it = by_name.find(t.name);
        if (it == by_name.end()) return status::error(errc::invalid_argument, "the sensitivity lists '%.80s', which the model does not have", t.name.c_str());
        const source_tensor& st = src.tensors[it->second];
        const decision& d = recipe[it->second];
        if (!d.convert || d.lowbit || !gguf::is_quantized(d.type))
            return status::error(errc::invalid_argument, "the sensitivity lists '%.80s', which the recipe does not quantize", t.name.c_str());
        if (st.rows() != t.rows || st.row_length() != t.row_length)
            return status::error(errc::invalid_argument, "the sensitivity gives '%.80s' %llu x %llu values; the model has %llu x %llu", t.name.c_str(),
                                 static_cast<unsigned long long>(t.rows), static_cast<unsigned long long>(t.row_length),
                                 static_cast<unsigned long long>(st.rows()), static_cast<unsigned long long>(st.row_length()));
        if (planned[it->second]) return status::error(errc::invalid_argument, "the sensitivity lists '%.80s' twice", t.name.c_str());
        planned[it->second] = true;
        plan_item pi;
        for (std::size_t i = 0; i < s.types.size(); ++i) {
            const bool ok = !std::isnan(t.loss[i]) && candidate_fits(s.types[i], t.row_length);
            pi.bytes.push_back(ok ? static_cast<std::uint64_t>(gguf::row_size(s.types[i], static_cast<std::int64_t>(t.row_length))) * t.rows : 0);
            pi.loss.push_back(ok ? t.loss[i] : 0.0);
        }
        items.push_back(std::move(pi));
        bp.index.push_back(it->second);
    }
    for (std::size_t i = 0; i < src.tensors.size(); ++i) {
        const source_tensor& t = src.tensors[i];
        bp.elements += t.rows() * t.row_length();
        if (!planned[i]) bp.fixed_bytes += decided_bytes(t, recipe[i]);
        // a weight the recipe quantizes that the sensitivity leaves out must be one no candidate fits
        const decision& d = recipe[i];
        if (!planned[i] && d.convert && !d.lowbit && gguf::is_quantized(d.type))
            for (gguf_type c : s.types)
                if (candidate_fits(c, t.row_length()))
                    return status::error(errc::invalid_argument, "the sensitivity has no line for '%.80s' (a report of another model or recipe?)",
                                         t.desc.name.c_str());
    }
    const double total = std::floor(bpw * static_cast<double>(bp.elements) / 8.0);
    if (total < static_cast<double>(bp.fixed_bytes))
        return status::error(errc::invalid_argument, "--bpw %g: %.0f bytes; the tensors the planner does not choose for take %llu already", bpw, total,
                             static_cast<unsigned long long>(bp.fixed_bytes));
    bp.budget = static_cast<std::uint64_t>(total) - bp.fixed_bytes;
    auto a = allocate(items, bp.budget);
    if (!a) {
        std::uint64_t least = bp.fixed_bytes;
        for (const plan_item& pi : items) {
            std::uint64_t lo = 0;
            for (std::uint64_t b : pi.bytes)
                if (b && (!lo || b < lo)) lo = b;
            least += lo;
        }
        return status::error(a.error().code(), "--bpw %g is below the smallest plan, %.4f bpw (every weight at its smallest type): %s", bpw,
                             8.0 * static_cast<double>(least) / static_cast<double>(bp.elements), a.error().message());
    }
    bp.a = std::move(*a);
    for (std::size_t i = 0; i < items.size(); ++i) bp.types.push_back(s.types[bp.a.choice[i]]);
    return bp;
}

}  // namespace lbq
