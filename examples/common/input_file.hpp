// input_file.hpp — how every example tool reads a whole input file
// (docs/tools.md, "Inputs of every tool"): its bytes are mapped read-only
// where the file can be mapped, and read into memory otherwise (a pipe,
// /dev/stdin, a character device, a file system without mmap). Either way
// they start on a page boundary, so a GGUF file's 64-byte aligned tensors are
// 64-byte aligned in memory, as weights_gguf_reader requires. A regular file
// is never read into memory just because it is large: it is mapped, and a
// mapping that fails for any reason but "this file system cannot map" is an
// error. Messages do not name the file (a long path would cut the reason off
// a status message); the caller does, or open_input() below. POSIX only.
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include <lowbit/core/status.hpp>
#include <lowbit/core/views.hpp>

#include "output_file.hpp"  // file_id, file_kind

namespace tool_files {

using lowbit::result;
using lowbit::span;

// What a tool accepts as an input, and how it reads it.
struct input_options {
    // Only a regular file. For a tool that opens its input more than once
    // (lowbit-llama reads the model, later its vocabulary): a pipe gives its
    // bytes once, and a second open would wait for a writer that never comes.
    // The refusal does not block: the file is opened non-blocking.
    bool regular_only = false;
    // Read once, front to back: the kernel may read further ahead
    // (MADV_SEQUENTIAL), and release() drops the pages from the page cache too.
    bool sequential = false;
    // The most bytes read into memory (a pipe, a device, a file that cannot
    // be mapped); 0: this machine's physical memory. A stream without end
    // (/dev/zero, `yes |`) is then an error, not a process the system kills.
    std::size_t max_read = 0;
};

class input_file {
public:
    input_file() = default;
    input_file(const input_file&) = delete;
    input_file& operator=(const input_file&) = delete;
    ~input_file() { close(); }

    status open(const std::string& path, input_options o = {}) {
        close();
        sequential_ = o.sequential;
        // Blocking where a pipe is accepted: `tool fifo & cat model > fifo` waits for its writer.
        fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | (o.regular_only ? O_NONBLOCK : 0));
        if (fd_ < 0) return status::error(errc::io_error, "cannot open: %s", std::strerror(errno));
        struct stat st;
        if (::fstat(fd_, &st) != 0) return status::error(errc::io_error, "cannot look at it: %s", std::strerror(errno));
        id_ = file_id{st.st_dev, st.st_ino};
        if (S_ISDIR(st.st_mode)) return status::error(errc::io_error, "is a directory");
        if (!S_ISREG(st.st_mode)) {
            if (o.regular_only) return status::error(errc::io_error, "is %s, not a regular file", file_kind(st.st_mode));
            return read_all(0, o.max_read);
        }
        // Files of /proc and /sys say 0 bytes and have more: read, they say what they hold.
        if (st.st_size == 0) return read_all(0, o.max_read);
        if (static_cast<std::uint64_t>(st.st_size) > SIZE_MAX)
            return status::error(errc::io_error, "is %lld bytes, more than this system can map", static_cast<long long>(st.st_size));
        const std::size_t n = static_cast<std::size_t>(st.st_size);
        void* p = ::mmap(nullptr, n, PROT_READ, MAP_PRIVATE, fd_, 0);
        if (p == MAP_FAILED) {
            if (errno == ENODEV) return read_all(n, o.max_read);  // this file system cannot map files
            return status::error(errc::io_error, "mmap failed: %s", std::strerror(errno));
        }
        data_ = static_cast<std::uint8_t*>(p);
        size_ = held_ = n;
        mapped_ = true;
        if (o.sequential) ::madvise(p, n, MADV_SEQUENTIAL);
        return status();
    }

    span<const std::uint8_t> bytes() const { return {data_, size_}; }
    // Whether bytes() is the file's mapping (else a copy in memory, which a
    // tool reading large inputs says it made).
    bool mapped() const { return mapped_; }
    // The file's identity, for output_file's "OUT is never an input" check.
    file_id id() const { return id_; }

    // Gives back the pages of `part` (bytes of this file the tool is done
    // with, e.g. copied out): the whole pages inside it, and the file's last
    // page when `part` reaches the end. They leave the resident set
    // (MADV_DONTNEED on a private read-only file mapping only drops the
    // mapping: a later read finds the file's bytes again); a sequential input
    // also drops them from the page cache. Nothing for a copy in memory.
    void release(span<const std::uint8_t> part) const {
        const long page = ::sysconf(_SC_PAGESIZE);
        if (!mapped_ || page <= 0 || part.empty() || part.data() < data_ || part.data() + part.size() > data_ + size_) return;
        const auto pg = static_cast<std::size_t>(page);
        const std::size_t at = static_cast<std::size_t>(part.data() - data_), to = at + part.size();
        const std::size_t first = (at + pg - 1) / pg * pg, end = to == size_ ? size_ : to / pg * pg;
        if (end <= first) return;
        ::madvise(data_ + first, end - first, MADV_DONTNEED);
        if (sequential_) ::posix_fadvise(fd_, static_cast<off_t>(first), static_cast<off_t>(end - first), POSIX_FADV_DONTNEED);
    }

private:
    // The whole stream into page-aligned anonymous memory, doubled as it
    // fills (linear in the size); `expect` bytes, if known, are room made
    // at once; at most `most` bytes (0: physical memory). Read-only
    // afterwards, as a mapping would be.
    status read_all(std::size_t expect, std::size_t most) {
        const long page = ::sysconf(_SC_PAGESIZE), pages = ::sysconf(_SC_PHYS_PAGES);
        const std::size_t pg = page > 0 ? static_cast<std::size_t>(page) : 4096;
        if (most == 0) most = pages > 0 && static_cast<std::size_t>(pages) <= SIZE_MAX / pg ? static_cast<std::size_t>(pages) * pg : SIZE_MAX;
        most = std::min(most, SIZE_MAX / 4);  // so that the sizes below cannot overflow
        for (;;) {
            if (size_ == held_) {
                if (size_ > most) break;  // said below
                // One byte over the limit is room enough to see that the stream goes on.
                const std::size_t first = ((expect ? std::min(expect, most) + 1 : std::size_t(1) << 16) + pg - 1) / pg * pg;
                const std::size_t want = std::min(held_ ? 2 * held_ : first, (most / pg + 1) * pg);
                void* p = ::mmap(nullptr, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (p == MAP_FAILED) return status::error(errc::io_error, "cannot hold it in memory: %s", std::strerror(errno));
                if (size_) std::memcpy(p, data_, size_);
                if (data_) ::munmap(data_, held_);
                data_ = static_cast<std::uint8_t*>(p);
                held_ = want;
            }
            const ssize_t r = ::read(fd_, data_ + size_, held_ - size_);
            if (r == 0) break;
            if (r < 0) {
                if (errno == EINTR) continue;
                return status::error(errc::io_error, "read failed: %s", std::strerror(errno));
            }
            size_ += static_cast<std::size_t>(r);
        }
        if (size_ > most) return status::error(errc::io_error, "is more than %zu bytes, the most read into memory; not read", most);
        if (size_ == 0) return status::error(errc::corrupt_data, "is empty");
        ::mprotect(data_, held_, PROT_READ);
        return status();
    }

    void close() {
        if (data_) ::munmap(data_, held_);
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        data_ = nullptr;
        size_ = held_ = 0;
        mapped_ = false;
    }

    int fd_ = -1;
    file_id id_;
    std::uint8_t* data_ = nullptr;
    std::size_t size_ = 0;  // the file's bytes
    std::size_t held_ = 0;  // the mapping's bytes: size_ for a file, the buffer's for a copy
    bool mapped_ = false, sequential_ = false;
};

// An input for a caller that passes the status on (a loader returning
// result<model>): the message starts with the path.
inline result<std::unique_ptr<input_file>> open_input(const std::string& path, input_options o = {}) {
    auto f = std::unique_ptr<input_file>(new input_file);
    if (status s = f->open(path, o); !s.ok()) return status::error(s.code(), "%s: %s", path.c_str(), s.message());
    return f;
}

}  // namespace tool_files
