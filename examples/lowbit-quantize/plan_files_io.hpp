// plan_files_io.hpp — reading the planner's small text files whole (plans,
// reports, plot points), with a size cap so a wrong path cannot eat memory.
#pragma once

#include <cstdio>
#include <string>

#include <lowbit/core.hpp>

namespace lbq {

using lowbit::errc;
using lowbit::result;
using lowbit::status;

// A whole (small) text file: a report or a plan.
inline result<std::string> read_text_file(const std::string& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return status::error(errc::io_error, "cannot open it");
    std::string text;
    char buf[1 << 16];
    std::size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
        text.append(buf, n);
        if (text.size() > (std::size_t(1) << 28)) {
            std::fclose(f);
            return status::error(errc::invalid_argument, "larger than 256 MiB; not a plan or report");
        }
    }
    const bool err = std::ferror(f) != 0;
    std::fclose(f);
    if (err) return status::error(errc::io_error, "read failed");
    return text;
}

// The lines of a text one by one (without '\n' or a trailing '\r'):
//   text_lines lines(text); std::string line; while (lines.next(&line)) ...
struct text_lines {
    const std::string& text;
    std::size_t at = 0, number = 0;  // number: of the line last returned, from 1
    explicit text_lines(const std::string& t) : text(t) {}
    bool next(std::string* line) {
        if (at >= text.size()) return false;
        std::size_t end = text.find('\n', at);
        if (end == std::string::npos) end = text.size();
        *line = text.substr(at, end - at);
        if (!line->empty() && line->back() == '\r') line->pop_back();
        at = end + 1, ++number;
        return true;
    }
};

}  // namespace lbq
