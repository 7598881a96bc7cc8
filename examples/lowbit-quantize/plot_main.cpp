// lowbit-plan-plot — draws the --bpw planner's quality plot (report_svg.hpp)
// from a table of measured points:
//   lowbit-plan-plot POINTS.txt OUT.svg [TITLE]
// POINTS.txt: lines "KIND LABEL BPW PREDICTED MEASURED", KIND plan | uniform |
// reference, '-' where a value is missing; docs/quality.md has the one it drew.
#include <cstdio>
#include <string>

#include "../common/output_file.hpp"
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
    // OUT.svg as every tool writes a file (docs/tools.md, "Outputs of every tool"): never POINTS.txt.
    std::vector<tool_files::input_path> inputs;
    tool_files::add_input(inputs, argv[1]);
    const std::string svg = lbq::plan_plot_svg(*pts, argc == 4 ? argv[3] : "mean KLD against size");
    tool_files::install_signal_handlers("lowbit-plan-plot");
    const lowbit::status st = tool_files::write_file(argv[2], inputs, svg);
    return st ? 0 : tool_files::report("lowbit-plan-plot", argv[2], st);
}
