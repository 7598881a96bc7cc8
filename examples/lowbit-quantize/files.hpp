// files.hpp — the input mapped read-only (pages handed back after use) and the
// output written to a temporary name that only becomes OUT on success. OUT is
// never the input, never anything but a regular file (docs/tools.md, "Input
// and output").
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include <lowbit/core/status.hpp>
#include <lowbit/core/views.hpp>

namespace lbq {

using lowbit::errc;
using lowbit::span;
using lowbit::status;

// A file's identity: two paths name the same file when these are equal
// (hard links, symbolic links, "./a" and "a" all resolve to one inode).
struct file_id {
    dev_t dev = 0;
    ino_t ino = 0;
};

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

// A file this run reads, which OUT must never replace.
struct input_path {
    std::string path;
    file_id id;
};

inline const char* file_kind(mode_t m) {
    if (S_ISLNK(m)) return "a symbolic link";
    if (S_ISDIR(m)) return "a directory";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    return "not a regular file";
}

// Whether OUT may be written: absent (*exists = false), or a regular file
// that is none of the inputs (*exists = true). A symbolic link at OUT is
// refused even when it points to a regular file: replacing it would quietly
// turn the link into a file. invalid_argument means "refused" (exit 2).
inline status check_output_path(const std::string& out, const std::vector<input_path>& inputs, bool* exists) {
    struct stat st;
    if (::stat(out.c_str(), &st) == 0)
        for (const input_path& in : inputs)
            if (st.st_dev == in.id.dev && st.st_ino == in.id.ino)
                return status::error(errc::invalid_argument,
                                     "is the same file as the input %s (same device and inode); refusing to overwrite the input",
                                     in.path.c_str());
    if (::lstat(out.c_str(), &st) != 0) {
        if (errno != ENOENT) return status::error(errc::io_error, "cannot look at it: %s", std::strerror(errno));
        *exists = false;
        return status();
    }
    if (!S_ISREG(st.st_mode))
        return status::error(errc::invalid_argument, "exists and is %s, not a regular file; refusing to replace it",
                             file_kind(st.st_mode));
    *exists = true;
    return status();
}

// Temporary outputs are named "OUT.lowbit-tmp-<pid>-XXXXXX": a later run for
// the same OUT recognises those whose process is gone (SIGKILL, power loss)
// and removes them.
constexpr const char* temp_marker = ".lowbit-tmp-";

// (folder, file name) of a path; the folder is "." for a bare name.
inline std::pair<std::string, std::string> split_path(const std::string& p) {
    const std::size_t slash = p.rfind('/');
    if (slash == std::string::npos) return {".", p};
    return {slash == 0 ? "/" : p.substr(0, slash), p.substr(slash + 1)};
}

// The pid in "<base>.lowbit-tmp-<pid>-XXXXXX", or 0 if `name` is not such a name.
inline pid_t temp_owner(const std::string& name, const std::string& base) {
    const std::string prefix = base + temp_marker;
    if (name.size() <= prefix.size() || name.compare(0, prefix.size(), prefix) != 0) return 0;
    std::size_t i = prefix.size();
    long long pid = 0;
    const std::size_t digits_at = i;
    while (i < name.size() && name[i] >= '0' && name[i] <= '9' && i - digits_at < 10) pid = pid * 10 + (name[i++] - '0');
    if (i == digits_at || i >= name.size() || name[i] != '-' || name.size() - i - 1 != 6) return 0;
    for (std::size_t j = i + 1; j < name.size(); ++j)
        if (!std::isalnum(static_cast<unsigned char>(name[j]))) return 0;
    return pid > 0 && pid <= 0x7fffffff ? static_cast<pid_t>(pid) : 0;
}

// Removes OUT's temporary files left by runs whose process no longer exists
// (kill(pid, 0) says ESRCH) and returns their names. A pid that exists (also
// EPERM: another user's live process) keeps its file: it may be writing it.
// Limits: a pid reused by an unrelated process keeps a stale file until that
// process ends; a folder shared between machines or pid namespaces can hold
// temporary files of live runs elsewhere, whose pids mean nothing here.
inline std::vector<std::string> remove_stale_temps(const std::string& out) {
    std::vector<std::string> removed;
    const auto [dir, base] = split_path(out);
    DIR* d = ::opendir(dir.c_str());
    if (!d) return removed;
    while (const dirent* e = ::readdir(d)) {
        const std::string name = e->d_name;
        const pid_t pid = temp_owner(name, base);
        if (pid == 0 || pid == ::getpid()) continue;
        if (::kill(pid, 0) == 0 || errno != ESRCH) continue;
        struct stat st;
        if (::fstatat(::dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) continue;
        if (::unlinkat(::dirfd(d), name.c_str(), 0) == 0) removed.push_back(name);
    }
    ::closedir(d);
    return removed;
}

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

// rename(2) that fails with EEXIST instead of replacing; plain rename where
// the system or file system has no such call.
inline int rename_noreplace(const char* from, const char* to) {
#if defined(__linux__) && defined(RENAME_NOREPLACE)
    if (::renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0) return 0;
    if (errno != EINVAL && errno != ENOSYS) return -1;
#endif
    return std::rename(from, to);
}
}  // namespace detail

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

// OUT is written as "OUT.lowbit-tmp-<pid>-XXXXXX" next to it and renamed to
// OUT by commit(); any other exit (error, signal) removes the temporary file.
// Writes go straight to the descriptor so that a failure keeps its errno
// (ENOSPC, EFBIG, EIO) for the message.
class output_file {
public:
    output_file() = default;
    output_file(const output_file&) = delete;
    output_file& operator=(const output_file&) = delete;
    ~output_file() { abort(); }

    // `inputs`: files that commit() must refuse to replace, checked again there.
    status open(const std::string& final_path, std::vector<input_path> inputs) {
        final_ = final_path;
        inputs_ = std::move(inputs);
        temp_ = final_path + temp_marker + std::to_string(::getpid()) + "-XXXXXX";
        if (temp_.size() >= sizeof detail::g_temp_path)
            return status::error(errc::invalid_argument, "output path is too long");
        std::vector<char> name(temp_.begin(), temp_.end());
        name.push_back('\0');
        fd_ = ::mkstemp(name.data());
        if (fd_ < 0) {
            temp_.clear();
            return status::error(errc::io_error, "cannot create a file next to it: %s", std::strerror(errno));
        }
        temp_.assign(name.data());
        std::memcpy(detail::g_temp_path, name.data(), name.size());
        detail::g_temp_live = 1;
        const mode_t mask = ::umask(0);
        ::umask(mask);
        ::fchmod(fd_, 0666 & ~mask);  // mkstemp makes 0600; give OUT the usual permissions
        return status();
    }

    status write(const std::uint8_t* p, std::size_t n) {
        while (n > 0) {
            const ssize_t r = ::write(fd_, p, n);
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) {
                const int e = r < 0 ? errno : ENOSPC;
                error_ = status::error(errc::io_error, "write failed: %s", std::strerror(e));
                return error_;
            }
            p += r;
            n -= static_cast<std::size_t>(r);
        }
        return status();
    }
    // The first write error, if any: the caller reports it against OUT.
    bool write_failed() const { return !error_.ok(); }
    const status& write_error() const { return error_; }

    status commit() {
        if (::fsync(fd_) != 0) {
            const int e = errno;
            abort();
            return status::error(errc::io_error, "write failed: %s", std::strerror(e));
        }
        const int rc = ::close(fd_);
        fd_ = -1;
        if (rc != 0) {
            const int e = errno;
            abort();
            return status::error(errc::io_error, "close failed: %s", std::strerror(e));
        }
        // Signals wait while OUT is checked and replaced, so the handler can
        // never unlink a name that the rename has just given away.
        sigset_t block, old;
        sigemptyset(&block);
        for (int sig : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&block, sig);
        ::sigprocmask(SIG_BLOCK, &block, &old);
        const status s = place();
        if (s.ok()) {
            detail::g_temp_live = 0;
            temp_.clear();
        }
        ::sigprocmask(SIG_SETMASK, &old, nullptr);
        if (!s.ok()) abort();
        return s;
    }

    void abort() {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        if (!temp_.empty()) ::unlink(temp_.c_str());
        temp_.clear();
        detail::g_temp_live = 0;
    }

private:
    // The rename, after OUT is checked again (it may have changed during the
    // run). An absent OUT is claimed with RENAME_NOREPLACE, so nothing that
    // appears there meanwhile is replaced. A regular OUT is replaced with
    // rename(2); between that check and the rename another process could put
    // a link, FIFO or device there, and the rename would replace that entry
    // (the entry only: rename never writes through a link or into a device).
    // No POSIX call closes this window.
    status place() {
        for (int attempt = 0; attempt < 3; ++attempt) {
            bool exists = false;
            LOWBIT_TRY(check_output_path(final_, inputs_, &exists));
            const int rc = exists ? std::rename(temp_.c_str(), final_.c_str()) : detail::rename_noreplace(temp_.c_str(), final_.c_str());
            if (rc == 0) return status();
            if (exists || errno != EEXIST)
                return status::error(errc::io_error, "cannot rename the temporary file to it: %s", std::strerror(errno));
        }
        return status::error(errc::io_error, "kept changing while it was being replaced; left as it was");
    }

    std::string final_, temp_;
    std::vector<input_path> inputs_;
    int fd_ = -1;
    status error_;
};

inline void install_signal_handlers() {
    // A closed stderr pipe (`… 2>&1 | head`) must not kill the run half-way:
    // writes then fail with EPIPE, which the log ignores and the output checks.
    std::signal(SIGPIPE, SIG_IGN);
    // A file size limit (ulimit -f) must not kill the run with the temporary
    // file left behind: ignored, it makes write() fail with EFBIG, reported
    // like any write error.
    std::signal(SIGXFSZ, SIG_IGN);
    for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGBUS}) {
        struct sigaction sa;
        std::memset(&sa, 0, sizeof sa);
        sa.sa_handler = detail::on_fatal_signal;
        sigemptyset(&sa.sa_mask);
        ::sigaction(sig, &sa, nullptr);
    }
}

}  // namespace lbq
