// files.hpp — the input read as every tool reads one
// (../common/input_file.hpp: mapped read-only, pages handed back after use;
// pipes read into memory) and scratch space on disk (spill_file). The output
// is written as every tool writes one (../common/output_file.hpp): under a
// temporary name that only becomes OUT on success; OUT is never the input,
// never anything but a regular file (docs/tools.md, "Input and output").
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <lowbit/core/status.hpp>
#include <lowbit/core/views.hpp>

#include "../common/input_file.hpp"
#include "../common/output_file.hpp"

namespace lbq {

using lowbit::errc;
using lowbit::span;
using lowbit::status;
// Both sides, shared with the other tools.
using tool_files::check_output_path;
using tool_files::file_id;
using tool_files::input_file;
using tool_files::input_path;
using tool_files::install_signal_handlers;
using tool_files::output_file;
using tool_files::remove_stale_temps;
using tool_files::split_path;

// The tool reads each input once, front to back: sequential advice, and
// pages it is done with leave the page cache too.
inline tool_files::input_options read_once() {
    tool_files::input_options o;
    o.sequential = true;
    return o;
}

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
