// files.hpp — the input mapped read-only (pages handed back after use) and
// scratch space on disk (spill_file). The output is written as every tool
// writes one (../common/output_file.hpp): under a temporary name that only
// becomes OUT on success; OUT is never the input, never anything but a
// regular file (docs/tools.md, "Input and output").
#pragma once

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <lowbit/core/status.hpp>
#include <lowbit/core/views.hpp>

#include "../common/output_file.hpp"

namespace lbq {

using lowbit::errc;
using lowbit::span;
using lowbit::status;
// The output side, shared with the other tools.
using tool_files::check_output_path;
using tool_files::file_id;
using tool_files::input_path;
using tool_files::install_signal_handlers;
using tool_files::output_file;
using tool_files::remove_stale_temps;
using tool_files::split_path;

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
        id_ = file_id{st.st_dev, st.st_ino};
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
    file_id id() const { return id_; }

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
    file_id id_;
    const std::uint8_t* map_ = nullptr;
    std::size_t size_ = 0;
    std::vector<std::uint8_t> buf_;
};

// Bytes put aside on disk until the output is written: a calibrated run
// quantizes layer by layer long before OUT is written, and keeping every
// quantized tensor in memory until then would make its peak grow with the
// model. The file has no name (O_TMPFILE, or a mkstemp name unlinked at
// once) in OUT's folder, where the output's bytes go anyway: nothing is left
// behind, whatever ends the process.
class spill_file {
public:
    spill_file() = default;
    spill_file(const spill_file&) = delete;
    spill_file& operator=(const spill_file&) = delete;
    ~spill_file() {
        if (fd_ >= 0) ::close(fd_);
    }

    status open_near(const std::string& out_path) {
        const std::string dir = split_path(out_path).first;
#ifdef O_TMPFILE
        fd_ = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif
        if (fd_ < 0) {  // no O_TMPFILE here (kernel or file system): a name that is gone at once
            std::string name = dir + "/.lowbit-spill-XXXXXX";
            std::vector<char> buf(name.begin(), name.end());
            buf.push_back('\0');
            fd_ = ::mkstemp(buf.data());
            if (fd_ >= 0) ::unlink(buf.data());
        }
        if (fd_ < 0) return status::error(errc::io_error, "cannot create a temporary file in %s: %s", dir.c_str(), std::strerror(errno));
        return status();
    }
    bool is_open() const { return fd_ >= 0; }

    // Appends b; its offset in the file is returned through `at`.
    status put(span<const std::uint8_t> b, std::uint64_t* at) {
        *at = size_;
        const std::uint8_t* p = b.data();
        std::size_t n = b.size();
        while (n > 0) {
            const ssize_t r = ::pwrite(fd_, p, n, static_cast<off_t>(size_));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return status::error(errc::io_error, "writing the temporary file failed: %s", std::strerror(r < 0 ? errno : ENOSPC));
            p += r, n -= static_cast<std::size_t>(r), size_ += static_cast<std::uint64_t>(r);
        }
        return status();
    }
    // Reads n bytes at offset `at` (put() wrote them).
    status get(std::uint64_t at, std::uint8_t* dst, std::size_t n) const {
        while (n > 0) {
            const ssize_t r = ::pread(fd_, dst, n, static_cast<off_t>(at));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return status::error(errc::io_error, "reading the temporary file failed: %s", r < 0 ? std::strerror(errno) : "short read");
            dst += r, n -= static_cast<std::size_t>(r), at += static_cast<std::uint64_t>(r);
        }
        return status();
    }

private:
    int fd_ = -1;
    std::uint64_t size_ = 0;
};

}  // namespace lbq
