// files.hpp — the input mapped read-only (pages handed back after use) and the
// output written to a temporary name that only becomes OUT on success.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <lowbit/core/status.hpp>
#include <lowbit/core/views.hpp>

namespace lbq {

using lowbit::errc;
using lowbit::span;
using lowbit::status;

// A whole file as bytes: mmap'd when possible, read into memory otherwise
// (pipes, character devices, file systems without mmap).
class input_file {
public:
    input_file() = default;
    input_file(const input_file&) = delete;
    input_file& operator=(const input_file&) = delete;
    ~input_file() { close(); }

    status open(const char* path) {
        close();
        fd_ = ::open(path, O_RDONLY | O_CLOEXEC);
        if (fd_ < 0) return status::error(errc::io_error, "cannot open: %s", std::strerror(errno));
        struct stat st;
        if (::fstat(fd_, &st) != 0) return status::error(errc::io_error, "cannot stat: %s", std::strerror(errno));
        if (S_ISDIR(st.st_mode)) return status::error(errc::io_error, "is a directory");
        if (S_ISREG(st.st_mode)) {
            if (st.st_size == 0) return status::error(errc::corrupt_data, "file is empty");
            size_ = static_cast<std::size_t>(st.st_size);
            void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd_, 0);
            if (p != MAP_FAILED) {
                map_ = static_cast<const std::uint8_t*>(p);
                ::madvise(p, size_, MADV_SEQUENTIAL);
                return status();
            }
        }
        return read_all();
    }

    span<const std::uint8_t> bytes() const { return map_ ? span<const std::uint8_t>(map_, size_) : span<const std::uint8_t>(buf_); }
    bool mapped() const { return map_ != nullptr; }

    // Tells the kernel that [p, p + n) is done with: the pages leave this
    // process's resident set (MADV_DONTNEED on a read-only file mapping only
    // drops the mapping; the bytes are re-read from the file if touched again)
    // and the page cache may drop them too.
    void release(const std::uint8_t* p, std::size_t n) const {
        if (!map_ || n == 0) return;
        const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
        const std::size_t off = static_cast<std::size_t>(p - map_);
        const std::size_t begin = off / page * page;
        const std::size_t end = off + n == size_ ? size_ : (off + n) / page * page;
        if (end <= begin) return;
        ::madvise(const_cast<std::uint8_t*>(map_) + begin, end - begin, MADV_DONTNEED);
        ::posix_fadvise(fd_, static_cast<off_t>(begin), static_cast<off_t>(end - begin), POSIX_FADV_DONTNEED);
    }

private:
    status read_all() {
        std::uint8_t chunk[1 << 16];
        for (;;) {
            const ssize_t r = ::read(fd_, chunk, sizeof chunk);
            if (r == 0) break;
            if (r < 0) {
                if (errno == EINTR) continue;
                return status::error(errc::io_error, "read failed: %s", std::strerror(errno));
            }
            buf_.insert(buf_.end(), chunk, chunk + r);
        }
        if (buf_.empty()) return status::error(errc::corrupt_data, "file is empty");
        return status();
    }
    void close() {
        if (map_) ::munmap(const_cast<std::uint8_t*>(map_), size_);
        if (fd_ >= 0) ::close(fd_);
        map_ = nullptr;
        fd_ = -1;
        size_ = 0;
        buf_.clear();
    }

    int fd_ = -1;
    const std::uint8_t* map_ = nullptr;
    std::size_t size_ = 0;
    std::vector<std::uint8_t> buf_;
};

namespace detail {
// The temporary output's name, for the signal handler (which may only unlink).
inline char g_temp_path[4096];
inline volatile std::sig_atomic_t g_temp_live = 0;

inline void on_fatal_signal(int sig) {
    if (g_temp_live) ::unlink(g_temp_path);
    const char* msg = sig == SIGBUS ? "lowbit-quantize: the input changed or could not be read (SIGBUS); no output written\n"
                                    : "lowbit-quantize: interrupted; no output written\n";
    const ssize_t ignored = ::write(2, msg, std::strlen(msg));
    (void)ignored;
    ::_exit(sig == SIGBUS ? 1 : 128 + sig);
}
}  // namespace detail

// OUT is written as "OUT.tmp-XXXXXX" next to it and renamed over OUT by
// commit(); any other exit (error, signal) removes the temporary file.
class output_file {
public:
    output_file() = default;
    output_file(const output_file&) = delete;
    output_file& operator=(const output_file&) = delete;
    ~output_file() { abort(); }

    status open(const std::string& final_path) {
        final_ = final_path;
        temp_ = final_path + ".tmp-XXXXXX";
        if (temp_.size() >= sizeof detail::g_temp_path)
            return status::error(errc::invalid_argument, "output path is too long");
        std::vector<char> name(temp_.begin(), temp_.end());
        name.push_back('\0');
        const int fd = ::mkstemp(name.data());
        if (fd < 0) return status::error(errc::io_error, "cannot create a file next to it: %s", std::strerror(errno));
        temp_.assign(name.data());
        std::memcpy(detail::g_temp_path, name.data(), name.size());
        detail::g_temp_live = 1;
        const mode_t mask = ::umask(0);
        ::umask(mask);
        ::fchmod(fd, 0666 & ~mask);  // mkstemp makes 0600; give OUT the usual permissions
        fp_ = ::fdopen(fd, "wb");
        if (!fp_) {
            ::close(fd);
            abort();
            return status::error(errc::io_error, "fdopen failed: %s", std::strerror(errno));
        }
        std::setvbuf(fp_, nullptr, _IOFBF, 1 << 20);
        return status();
    }

    std::FILE* stream() const { return fp_; }

    status commit() {
        if (std::fflush(fp_) != 0 || ::fsync(::fileno(fp_)) != 0) {
            const int e = errno;
            abort();
            return status::error(errc::io_error, "write failed: %s", std::strerror(e));
        }
        const int rc = std::fclose(fp_);
        fp_ = nullptr;
        if (rc != 0) {
            const int e = errno;
            abort();
            return status::error(errc::io_error, "close failed: %s", std::strerror(e));
        }
        if (std::rename(temp_.c_str(), final_.c_str()) != 0) {
            const int e = errno;
            abort();
            return status::error(errc::io_error, "cannot rename the temporary file to it: %s", std::strerror(e));
        }
        detail::g_temp_live = 0;
        temp_.clear();
        return status();
    }

    void abort() {
        if (fp_) std::fclose(fp_);
        fp_ = nullptr;
        if (!temp_.empty()) ::unlink(temp_.c_str());
        temp_.clear();
        detail::g_temp_live = 0;
    }

private:
    std::string final_, temp_;
    std::FILE* fp_ = nullptr;
};

inline void install_signal_handlers() {
    // A closed stderr pipe (`… 2>&1 | head`) must not kill the run half-way:
    // writes then fail with EPIPE, which the log ignores and the output checks.
    std::signal(SIGPIPE, SIG_IGN);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGBUS}) {
        struct sigaction sa;
        std::memset(&sa, 0, sizeof sa);
        sa.sa_handler = detail::on_fatal_signal;
        sigemptyset(&sa.sa_mask);
        ::sigaction(sig, &sa, nullptr);
    }
}

}  // namespace lbq
