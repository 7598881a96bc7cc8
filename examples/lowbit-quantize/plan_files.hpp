// plan_files.hpp — the --bpw planner's two text files:
//   - the sensitivity report (--report FILE): per weight its predicted KLD at
//     each candidate type and the type the plan chose, one line each; read
//     back by --sensitivity FILE to plan again without measuring;
//   - the plan (--plan-out FILE): one --tensor-type REGEX=TYPE per line, each
//     regex naming one tensor; --plan FILE replays it.
// Both start with '#' comment lines saying what made them.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <lowbit/formats/gguf.hpp>

#include "plan.hpp"
#include "plan_files_io.hpp"
#include "sensitivity.hpp"

namespace lbq {

// The column line of a report; its type names fix the loss columns' order.
inline std::string report_columns(const std::vector<gguf_type>& types) {
    std::string s = "# tensor rows row_length probe_kld";
    for (gguf_type t : types) s += std::string(" ") + gguf::type_name(t);
    return s + " chosen";
}

// The report: `head` (comment lines, each starting with '#'), the column line,
// then a line per weight. choice[i]: index into s.types chosen for weight i.
inline std::string sensitivity_report(const sensitivity& s, const std::vector<std::size_t>& choice, const std::string& head) {
    std::string r = head + report_columns(s.types) + "\n";
    char b[64];
    for (std::size_t i = 0; i < s.tensors.size(); ++i) {
        const tensor_sensitivity& t = s.tensors[i];
        std::snprintf(b, sizeof b, " %llu %llu %.9e", static_cast<unsigned long long>(t.rows), static_cast<unsigned long long>(t.row_length),
                      t.probe_kld);
        r += t.name + b;
        for (double l : t.loss) {
            if (std::isnan(l)) r += " -";
            else std::snprintf(b, sizeof b, " %.9e", l), r += b;
        }
        r += std::string(" ") + (i < choice.size() ? gguf::type_name(s.types[choice[i]]) : "-") + "\n";
    }
    return r;
}

// The report's loss columns as indices into plan_candidates(), from its
// column line; false when the line is not one. A report may hold a subset of
// the candidates in their order (one written before IQ4_XS and IQ4_NL were
// candidates has the six K-quant columns, one from before IQ3_XXS and IQ3_S
// session 28's eight): the others read as "cannot hold".
inline bool report_column_types(const std::string& line, std::vector<std::size_t>& at) {
    const std::string head = "# tensor rows row_length probe_kld", tail = " chosen";
    if (line.compare(0, head.size(), head) != 0 || line.size() < head.size() + tail.size() ||
        line.compare(line.size() - tail.size(), tail.size(), tail) != 0)
        return false;
    const std::vector<gguf_type>& all = plan_candidates();
    at.clear();
    std::size_t next = 0;  // candidates in order, none twice
    const std::string mid = line.substr(head.size(), line.size() - head.size() - tail.size());
    for (std::size_t i = 0; i < mid.size();) {
        if (mid[i] != ' ') return false;
        const std::size_t j = std::min(mid.find(' ', i + 1), mid.size());
        const std::string name = mid.substr(i + 1, j - i - 1);
        std::size_t k = next;
        while (k < all.size() && name != gguf::type_name(all[k])) ++k;
        if (k == all.size()) return false;
        at.push_back(k);
        next = k + 1, i = j;
    }
    return !at.empty();
}

// Reads a report back (its numbers, not its choices). Errors name the line.
inline result<sensitivity> parse_sensitivity_report(const std::string& text) {
    sensitivity s;
    s.types = plan_candidates();
    const std::string columns = report_columns(s.types);
    bool seen_columns = false;
    std::vector<std::size_t> col;  // loss field i is candidate col[i]
    text_lines lines(text);
    std::string line;
    while (lines.next(&line)) {
        const std::size_t line_no = lines.number;
        if (!seen_columns && report_column_types(line, col)) {
            seen_columns = true;
            continue;
        }
        if (line.empty() || line[0] == '#') continue;
        if (!seen_columns)
            return status::error(errc::corrupt_data, "line %zu: data before the column line '%s' (not a lowbit-quantize --report file?)",
                                 line_no, columns.c_str());
        std::vector<std::string> f;
        for (std::size_t i = 0; i < line.size();) {
            while (i < line.size() && line[i] == ' ') ++i;
            std::size_t j = i;
            while (j < line.size() && line[j] != ' ') ++j;
            if (j > i) f.push_back(line.substr(i, j - i));
            i = j;
        }
        if (f.size() != 5 + col.size())
            return status::error(errc::corrupt_data, "line %zu: %zu fields, expected %zu", line_no, f.size(), 5 + col.size());
        tensor_sensitivity t;
        t.name = f[0];
        auto num = [&](const std::string& v, double* out) {
            char* e = nullptr;
            *out = std::strtod(v.c_str(), &e);
            return !v.empty() && *e == '\0' && std::isfinite(*out) && *out >= 0.0;
        };
        double rows = 0, k = 0;
        if (!num(f[1], &rows) || !num(f[2], &k) || rows != std::floor(rows) || k != std::floor(k) || rows < 1 || k < 1 || rows > 1e12 || k > 1e12 ||
            !num(f[3], &t.probe_kld))
            return status::error(errc::corrupt_data, "line %zu: rows, row_length and probe_kld must be numbers >= 0 (rows, row_length >= 1)",
                                 line_no);
        t.rows = static_cast<std::uint64_t>(rows), t.row_length = static_cast<std::uint64_t>(k);
        t.loss.assign(s.types.size(), NAN);
        t.rel_err.assign(s.types.size(), NAN);
        for (std::size_t i = 0; i < col.size(); ++i) {
            if (f[4 + i] == "-") continue;
            if (!num(f[4 + i], &t.loss[col[i]]))
                return status::error(errc::corrupt_data, "line %zu: %s's loss '%.40s' is not a finite number >= 0", line_no,
                                     gguf::type_name(s.types[col[i]]), f[4 + i].c_str());
        }
        s.tensors.push_back(std::move(t));
    }
    if (!seen_columns) return status::error(errc::corrupt_data, "no column line '%s' (not a lowbit-quantize --report file?)", columns.c_str());
    return s;
}

// The plan as --tensor-type lines after `head`.
inline std::string plan_recipe(const std::vector<std::string>& names, const std::vector<gguf_type>& types, const std::string& head) {
    std::string r = head;
    for (std::size_t i = 0; i < names.size(); ++i) r += exact_name_regex(names[i]) + "=" + gguf::type_name(types[i]) + "\n";
    return r;
}

// --plan FILE: its REGEX=TYPE lines (comments and blank lines skipped).
inline result<std::vector<std::string>> read_plan_lines(const std::string& text) {
    std::vector<std::string> out;
    text_lines lines(text);
    std::string line;
    while (lines.next(&line)) {
        if (line.empty() || line[0] == '#') continue;
        out.push_back(line);
    }
    if (out.empty()) return status::error(errc::invalid_argument, "no REGEX=TYPE line");
    return out;
}

}  // namespace lbq
