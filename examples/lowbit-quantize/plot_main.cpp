// lowbit-plan-plot — draws the --bpw planner's quality plot (report_svg.hpp)
// from a table of measured points:
//   lowbit-plan-plot POINTS.txt OUT.svg [TITLE]
// POINTS.txt: lines "KIND LABEL BPW PREDICTED MEASURED", KIND plan | uniform |
// reference, '-' where a value is missing; docs/quality.md has the one it drew.
#include <cstdio>
#include <string>

#include "plan_files_io.hpp"
#include "report_svg.hpp"

int main(int argc, char** argv) {
    if (argc < 3 || argc > 4) {
        std::fprintf(stderr, "usage: lowbit-plan-plot POINTS.txt OUT.svg [TITLE]\n");
        return 2;
    }
    auto text = lbq::read_text_file(argv[1]);
    auto pts = text ? lbq::parse_plot_points(*text) : lowbit::result<std::vector<lbq::plot_point>>(text.error());
    if (!pts) {
        std::fprintf(stderr, "lowbit-plan-plot: %s: %s\n", argv[1], pts.error().message());
        return 2;
    }
    const std::string svg = lbq::plan_plot_svg(*pts, argc == 4 ? argv[3] : "mean KLD against size");
    std::FILE* f = std::fopen(argv[2], "wb");
    if (!f || std::fwrite(svg.data(), 1, svg.size(), f) != svg.size() || std::fclose(f) != 0) {
        std::fprintf(stderr, "lowbit-plan-plot: %s: cannot write it\n", argv[2]);
        return 1;
    }
    return 0;
}
