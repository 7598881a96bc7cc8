// report_svg.hpp — the planner's quality plot as an SVG file, written by hand
// (no plotting library): mean KLD (log scale) against bits per weight for
//   - the --bpw plans: measured KLD (filled dots, joined) and the planner's
//     predicted KLD (open dots, dashed),
//   - uniform recipes (squares) and reference files (diamonds), labelled.
// Input points come from a small whitespace-separated table (plot_points).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <lowbit/core.hpp>

#include "plan_files_io.hpp"

namespace lbq {

struct plot_point {
    std::string kind;   // "plan", "uniform" or "reference"
    std::string label;
    double bpw = 0, predicted = NAN, measured = NAN;  // predicted: plans only
};

// Lines "KIND LABEL BPW PREDICTED MEASURED" ('-' for none; '#' comments).
inline lowbit::result<std::vector<plot_point>> parse_plot_points(const std::string& text) {
    std::vector<plot_point> out;
    text_lines lines(text);
    std::string line;
    while (lines.next(&line)) {
        const std::size_t line_no = lines.number;
        if (line.empty() || line[0] == '#') continue;
        char kind[32], label[64], b[64], p[64], m[64];
        if (std::sscanf(line.c_str(), "%31s %63s %63s %63s %63s", kind, label, b, p, m) != 5)
            return lowbit::status::error(lowbit::errc::corrupt_data, "line %zu: expected KIND LABEL BPW PREDICTED MEASURED", line_no);
        plot_point q;
        q.kind = kind, q.label = label;
        auto num = [](const char* s, double* v) {
            if (std::string(s) == "-") return true;
            char* e = nullptr;
            *v = std::strtod(s, &e);
            return *e == '\0' && std::isfinite(*v) && *v > 0;
        };
        if (q.kind != "plan" && q.kind != "uniform" && q.kind != "reference")
            return lowbit::status::error(lowbit::errc::corrupt_data, "line %zu: KIND must be plan, uniform or reference", line_no);
        if (!num(b, &q.bpw) || std::isnan(q.bpw) || !num(p, &q.predicted) || !num(m, &q.measured) || std::isnan(q.measured))
            return lowbit::status::error(lowbit::errc::corrupt_data, "line %zu: BPW and MEASURED must be numbers > 0, PREDICTED too or '-'", line_no);
        out.push_back(q);
    }
    if (out.empty()) return lowbit::status::error(lowbit::errc::corrupt_data, "no points");
    return out;
}

// Characters that would end an SVG text node or attribute.
inline std::string svg_escape(const std::string& s) {
    std::string r;
    for (char c : s) r += c == '<' ? "&lt;" : c == '>' ? "&gt;" : c == '&' ? "&amp;" : c == '"' ? "&quot;" : std::string(1, c);
    return r;
}

inline std::string plan_plot_svg(const std::vector<plot_point>& pts, const std::string& title) {
    const double W = 760, H = 500, L = 80, R = 190, T = 50, B = 60;  // canvas and margins (legend on the right)
    double x0 = 1e9, x1 = -1e9, y0 = 1e9, y1 = -1e9;
    for (const plot_point& q : pts) {
        x0 = std::min(x0, q.bpw), x1 = std::max(x1, q.bpw);
        for (double v : {q.predicted, q.measured})
            if (!std::isnan(v)) y0 = std::min(y0, std::log10(v)), y1 = std::max(y1, std::log10(v));
    }
    x0 = std::floor(x0 - 0.25), x1 = std::ceil(x1 + 0.25);
    y0 = std::floor(y0), y1 = std::ceil(y1);
    if (y1 <= y0) y1 = y0 + 1;
    auto X = [&](double b) { return L + (b - x0) / (x1 - x0) * (W - L - R); };
    auto Y = [&](double v) { return T + (y1 - std::log10(v)) / (y1 - y0) * (H - T - B); };
    std::string s;
    char b[512];
    std::snprintf(b, sizeof b,
                  "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" font-family=\"sans-serif\" font-size=\"12\">\n"
                  "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n<text x=\"%.0f\" y=\"28\" font-size=\"15\">%s</text>\n",
                  W, H, L, svg_escape(title).c_str());
    s += b;
    for (double e = y0; e <= y1 + 1e-9; e += 1) {  // decades
        std::snprintf(b, sizeof b,
                      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#ddd\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">1e%.0f</text>\n",
                      L, Y(std::pow(10, e)), W - R, Y(std::pow(10, e)), L - 6, Y(std::pow(10, e)) + 4, e);
        s += b;
    }
    for (double x = x0; x <= x1 + 1e-9; x += 0.5) {
        std::snprintf(b, sizeof b,
                      "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/><text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.1f</text>\n",
                      X(x), T, X(x), H - B, X(x), H - B + 16, x);
        s += b;
    }
    std::snprintf(b, sizeof b,
                  "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"none\" stroke=\"black\"/>\n"
                  "<text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">bits per weight (all tensors' bytes x 8 / all values)</text>\n"
                  "<text transform=\"translate(20,%.0f) rotate(-90)\" text-anchor=\"middle\">mean KLD vs F16 (log scale)</text>\n",
                  L, T, W - L - R, H - T - B, (L + W - R) / 2, H - 18, (T + H - B) / 2);
    s += b;
    std::vector<plot_point> plans;
    for (const plot_point& q : pts)
        if (q.kind == "plan") plans.push_back(q);
    std::sort(plans.begin(), plans.end(), [](const plot_point& a, const plot_point& c) { return a.bpw < c.bpw; });
    for (int pred = 0; pred < 2; ++pred) {  // the plans' two curves
        std::string path;
        for (const plot_point& q : plans) {
            const double v = pred ? q.predicted : q.measured;
            if (std::isnan(v)) continue;
            std::snprintf(b, sizeof b, "%s%.1f,%.1f", path.empty() ? "" : " ", X(q.bpw), Y(v));
            path += b;
        }
        std::snprintf(b, sizeof b, "<polyline points=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"1.5\"%s/>\n", path.c_str(),
                      pred ? "#888" : "#1f77b4", pred ? " stroke-dasharray=\"5,4\"" : "");
        s += b;
    }
    for (const plot_point& q : pts) {
        if (q.kind == "plan") {
            if (!std::isnan(q.predicted)) {
                std::snprintf(b, sizeof b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"white\" stroke=\"#888\"/>\n", X(q.bpw), Y(q.predicted));
                s += b;
            }
            std::snprintf(b, sizeof b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"#1f77b4\"/>\n", X(q.bpw), Y(q.measured));
        } else if (q.kind == "uniform") {
            std::snprintf(b, sizeof b,
                          "<rect x=\"%.1f\" y=\"%.1f\" width=\"8\" height=\"8\" fill=\"#d62728\"/><text x=\"%.1f\" y=\"%.1f\" fill=\"#d62728\">%s</text>\n",
                          X(q.bpw) - 4, Y(q.measured) - 4, X(q.bpw) + 7, Y(q.measured) - 6, svg_escape(q.label).c_str());
        } else {
            std::snprintf(b, sizeof b,
                          "<path d=\"M%.1f,%.1f l5,5 l-5,5 l-5,-5 z\" fill=\"#2ca02c\"/><text x=\"%.1f\" y=\"%.1f\" fill=\"#2ca02c\">%s</text>\n",
                          X(q.bpw), Y(q.measured) - 5, X(q.bpw) + 7, Y(q.measured) + 14, svg_escape(q.label).c_str());
        }
        s += b;
    }
    const double lx = W - R + 14;
    std::snprintf(b, sizeof b,
                  "<circle cx=\"%.0f\" cy=\"%.0f\" r=\"4\" fill=\"#1f77b4\"/><text x=\"%.0f\" y=\"%.0f\">--bpw plan, measured</text>\n"
                  "<circle cx=\"%.0f\" cy=\"%.0f\" r=\"4\" fill=\"white\" stroke=\"#888\"/><text x=\"%.0f\" y=\"%.0f\">--bpw plan, predicted</text>\n"
                  "<rect x=\"%.0f\" y=\"%.0f\" width=\"8\" height=\"8\" fill=\"#d62728\"/><text x=\"%.0f\" y=\"%.0f\">uniform recipe</text>\n"
                  "<path d=\"M%.0f,%.0f l5,5 l-5,5 l-5,-5 z\" fill=\"#2ca02c\"/><text x=\"%.0f\" y=\"%.0f\">reference</text>\n</svg>\n",
                  lx, T + 10, lx + 10, T + 14, lx, T + 30, lx + 10, T + 34, lx - 4, T + 46, lx + 10, T + 54, lx, T + 62, lx + 10, T + 74);
    s += b;
    return s;
}

}  // namespace lbq
