// progress.hpp — what the user sees while the tool runs: on a terminal, one
// progress line redrawn in place (tensor, bytes done/total, MB/s, ETA) with
// notes printed above it; otherwise one plain line per tensor.
#pragma once

#include <sys/ioctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

namespace lbq {

inline std::string human_bytes(double b) {
    static const char* const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (b >= 1024.0 && u < 4) {
        b /= 1024.0;
        ++u;
    }
    char s[32];
    std::snprintf(s, sizeof s, u == 0 ? "%.0f %s" : "%.2f %s", b, unit[u]);
    return s;
}

inline std::string human_seconds(double s) {
    if (!(s >= 0) || s > 359999) return "--:--";
    const long t = static_cast<long>(s + 0.5);
    char buf[32];
    if (t >= 3600) std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else std::snprintf(buf, sizeof buf, "%ld:%02ld", t / 60, t % 60);
    return buf;
}

class progress {
public:
    using clock = std::chrono::steady_clock;

    progress(bool quiet, std::uint64_t total_bytes, std::size_t n_tensors)
        : quiet_(quiet), tty_(!quiet && ::isatty(2)), total_(total_bytes), n_(n_tensors), start_(clock::now()) {}

    bool tty() const { return tty_; }
    double elapsed() const { return std::chrono::duration<double>(clock::now() - start_).count(); }
    std::uint64_t done() const { return done_; }

    void begin_tensor(std::size_t index, const std::string& name, const char* type) {
        index_ = index;
        name_ = name;
        type_ = type;
        draw(false);
    }
    // `bytes` more input bytes are done.
    void advance(std::uint64_t bytes) {
        done_ += bytes;
        draw(false);
    }

    // A line above the bar (or just a line, without a terminal).
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 2, 3)))
#endif
    void line(const char* fmt, ...) {
        if (quiet_) return;
        if (tty_ && drawn_) std::fputs("\r\033[K", stderr);
        va_list ap;
        va_start(ap, fmt);
        std::vfprintf(stderr, fmt, ap);
        va_end(ap);
        std::fputc('\n', stderr);
        if (tty_ && drawn_) draw(true);
    }
    // Per-tensor summary lines: only without a terminal (the bar says it otherwise).
    bool wants_tensor_lines() const { return !quiet_ && !tty_; }

    void finish() {
        if (tty_ && drawn_) {
            draw(true);
            std::fputc('\n', stderr);
        }
        drawn_ = false;
    }

private:
    void draw(bool force) {
        if (!tty_) return;
        const auto now = clock::now();
        if (!force && now - last_ < std::chrono::milliseconds(100)) return;
        last_ = now;
        const double t = elapsed();
        const double rate = t > 0 ? done_ / t : 0;  // bytes per second
        const double eta = rate > 0 ? (total_ - done_) / rate : -1;
        int cols = 100;
        struct winsize ws;
        if (::ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 20) cols = ws.ws_col;
        char tail[128];
        std::snprintf(tail, sizeof tail, " %s/%s  %.1f MB/s  ETA %s", human_bytes(static_cast<double>(done_)).c_str(),
                      human_bytes(static_cast<double>(total_)).c_str(), rate / 1e6, human_seconds(eta).c_str());
        char head[64];
        std::snprintf(head, sizeof head, "[%zu/%zu] ", index_ + 1, n_);
        const int bar = 20;
        const int fixed = static_cast<int>(std::strlen(head) + std::strlen(tail)) + bar + 3 + 8;
        int room = cols - 1 - fixed;
        if (room < 8) room = 8;
        std::string name = name_;
        if (static_cast<int>(name.size()) > room) name = ".." + name.substr(name.size() - static_cast<std::size_t>(room - 2));
        const int filled = total_ ? static_cast<int>(bar * static_cast<double>(done_) / static_cast<double>(total_)) : bar;
        std::string b(static_cast<std::size_t>(filled), '#');
        b.append(static_cast<std::size_t>(bar - filled), '.');
        std::fprintf(stderr, "\r\033[K%s%s -> %s |%s|%s", head, name.c_str(), type_, b.c_str(), tail);
        std::fflush(stderr);
        drawn_ = true;
    }

    bool quiet_, tty_;
    std::uint64_t total_, done_ = 0;
    std::size_t n_, index_ = 0;
    std::string name_;
    const char* type_ = "";
    clock::time_point start_, last_{};
    bool drawn_ = false;
};

}  // namespace lbq
