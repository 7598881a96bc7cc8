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

}  // namespace lbq
