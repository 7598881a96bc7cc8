// bench/bench_threads.hpp — the `--threads=LIST` flag every lowbit bench binary
// takes (issue 19: every case runnable at any thread count). Apart from
// bench_common.hpp so that the small binaries (lowbit_bench_gguf) get it
// without parsing lowbit.hpp.
#pragma once

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace bench {

// Thread counts every threaded case runs at: `--threads=1,2,4,8,16` (taken
// out of argv by take_threads_flag before Google Benchmark sees it), default 1,2.
inline std::vector<int>& thread_counts() {
    static std::vector<int> t = {1, 2};
    return t;
}
// Reads and removes --threads=LIST from argv; false (after a message) when LIST
// is not a comma-separated list of counts in 1..1024.
inline bool take_threads_flag(int& argc, char** argv) {
    const std::string flag = "--threads=";
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a.compare(0, flag.size(), flag) != 0) continue;
        std::vector<int> t;
        std::size_t pos = flag.size();
        while (pos <= a.size()) {
            const std::size_t end = std::min(a.find(',', pos), a.size());
            const std::string item = a.substr(pos, end - pos);
            char* stop = nullptr;
            const long n = std::strtol(item.c_str(), &stop, 10);
            if (item.empty() || *stop != 0 || n < 1 || n > 1024) {
                std::fprintf(stderr, "--threads: '%s' is not a thread count (1..1024)\n", item.c_str());
                return false;
            }
            t.push_back(static_cast<int>(n));
            pos = end + 1;
        }
        thread_counts() = t;
        for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];
        --argc;
        --i;
    }
    return true;
}

}  // namespace bench
