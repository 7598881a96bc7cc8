// tool_test_util.hpp — what the tests of lowbit-quantize share: a temporary
// folder removed at the end, whole-file reads and writes, and running the
// built tool (LOWBIT_QUANTIZE_TOOL, set by tests/CMakeLists.txt) with its
// output captured. POSIX only, like the tool.
#pragma once

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

namespace tool_test {

struct tmpdir {
    std::string path;
    explicit tmpdir(const char* prefix = "lowbit-tool-test") {
        const char* base = std::getenv("TMPDIR");
        std::string t = std::string(base && *base ? base : "/tmp") + "/" + prefix + "-XXXXXX";
        std::vector<char> buf(t.begin(), t.end());
        buf.push_back('\0');
        REQUIRE(::mkdtemp(buf.data()) != nullptr);
        path = buf.data();
    }
    ~tmpdir() { std::system(("rm -rf '" + path + "'").c_str()); }
    tmpdir(const tmpdir&) = delete;
    tmpdir& operator=(const tmpdir&) = delete;
    std::string operator/(const std::string& f) const { return path + "/" + f; }
};

inline bool exists(const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0;
}

inline std::vector<std::uint8_t> read_file(const std::string& p) {
    std::ifstream f(p, std::ios::binary);
    return std::vector<std::uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

inline void write_file(const std::string& p, const char* data, std::size_t n) {
    std::ofstream f(p, std::ios::binary);
    f.write(data, static_cast<std::streamsize>(n));
    REQUIRE(f.good());
}
inline void write_file(const std::string& p, const std::string& s) { write_file(p, s.data(), s.size()); }
inline void write_file(const std::string& p, const std::vector<std::uint8_t>& b) {
    write_file(p, reinterpret_cast<const char*>(b.data()), b.size());
}

// A file's bytes at a 64-byte aligned address, as mmap gives them: what
// weights_gguf_reader (and lowbit-llama's loader) require of lowbit weights.
struct aligned_file {
    std::vector<std::uint8_t> storage;
    const std::uint8_t* data = nullptr;
    std::size_t size = 0;
    explicit aligned_file(const std::string& path) {
        const std::vector<std::uint8_t> b = read_file(path);
        storage.resize(b.size() + 64);
        const auto a = reinterpret_cast<std::uintptr_t>(storage.data());
        std::uint8_t* p = storage.data() + ((64 - (a & 63)) & 63);
        if (!b.empty()) std::memcpy(p, b.data(), b.size());
        data = p;
        size = b.size();
    }
    aligned_file(aligned_file&&) = default;  // the heap buffer moves with the vector: data stays valid
    aligned_file(const aligned_file&) = delete;
    aligned_file& operator=(const aligned_file&) = delete;
};

#ifdef LOWBIT_QUANTIZE_TOOL
// Runs the tool with `argv` (already quoted as the shell needs); returns its
// exit code and leaves its stdout and stderr in *log.
inline int run_tool(const tmpdir& d, const std::string& argv, std::string* log = nullptr) {
    const std::string log_path = d / "tool.log";
    const std::string cmd = std::string("'") + LOWBIT_QUANTIZE_TOOL + "' " + argv + " > '" + log_path + "' 2>&1";
    const int rc = std::system(cmd.c_str());
    std::ifstream f(log_path);
    std::stringstream ss;
    ss << f.rdbuf();
    if (log) *log = ss.str();
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}
#endif

}  // namespace tool_test
