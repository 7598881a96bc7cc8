// output_file.hpp — how every example tool writes a file it was asked to
// write (docs/tools.md, "Outputs of every tool"): OUT is written under a
// temporary name next to it and only becomes OUT when the run succeeds; OUT
// is never one of the run's inputs (same device and inode: the same name, a
// hard link, a symbolic link) and never anything but a regular file; a signal
// removes the temporary file; temporary files of dead runs are removed by the
// next run for the same OUT. POSIX only (stat, mkstemp, rename, signals).
#pragma once

#include <dirent.h>
#include <fcntl.h>
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

namespace tool_files {

using lowbit::errc;
using lowbit::status;

// A file's identity: two paths name the same file when these are equal
// (hard links, symbolic links, "./a" and "a" all resolve to one inode).
struct file_id {
    dev_t dev = 0;
    ino_t ino = 0;
};

// A file this run reads, which OUT must never replace.
struct input_path {
    std::string path;
    file_id id;
};

// Adds `path` to `inputs` if it names a file now. One that does not exist
// cannot be replaced by OUT; reading it fails with its own message.
inline void add_input(std::vector<input_path>& inputs, const std::string& path) {
    struct stat st;
    if (!path.empty() && ::stat(path.c_str(), &st) == 0) inputs.push_back({path, file_id{st.st_dev, st.st_ino}});
}

// (folder, file name) of a path; the folder is "." for a bare name.
inline std::pair<std::string, std::string> split_path(const std::string& p) {
    const std::size_t slash = p.rfind('/');
    if (slash == std::string::npos) return {".", p};
    return {slash == 0 ? "/" : p.substr(0, slash), p.substr(slash + 1)};
}

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
// that is none of the inputs (*exists = true), in a folder this process may
// write (the temporary file and the rename need it). A symbolic link at OUT
// is refused even when it points to a regular file: replacing it would
// quietly turn the link into a file. invalid_argument means "refused" (exit
// 2); io_error (exit 1): OUT or its folder cannot be looked at or written, so
// that a run checked up front fails before its work, not at the end of it.
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
    } else if (!S_ISREG(st.st_mode)) {
        return status::error(errc::invalid_argument, "exists and is %s, not a regular file; refusing to replace it",
                             file_kind(st.st_mode));
    } else {
        *exists = true;
    }
    // access(2), not a trial file: nothing is created in the folder by a check.
    if (::access(split_path(out).first.c_str(), W_OK) != 0)
        return status::error(errc::io_error, "cannot create a file next to it: %s", std::strerror(errno));
    return status();
}

// The exit status of a failed output: 2 when it was refused
// (check_output_path's invalid_argument), 1 for an I/O error.
inline int exit_code(const status& s) { return s.code() == errc::invalid_argument ? 2 : 1; }

// "PROGRAM: OUT: message" on stderr; returns exit_code(s).
inline int report(const char* program, const std::string& out, const status& s) {
    std::fprintf(stderr, "%s: %s: %s\n", program, out.c_str(), s.message());
    return exit_code(s);
}

// check_output_path for a run that is about to start: 0 if OUT may be
// written, else report()'s exit status. Runs that take long check first, so
// that a bad OUT is refused before the work, not after it.
inline int check_output(const char* program, const std::string& out, const std::vector<input_path>& inputs) {
    bool exists = false;
    const status s = check_output_path(out, inputs, &exists);
    return s.ok() ? 0 : report(program, out, s);
}

// check_output for every output of a run, which must also be distinct
// names (the second would replace the first): 0, or the first refusal's exit
// status after its one line.
inline int check_outputs(const char* program, const std::vector<std::string>& outputs, const std::vector<input_path>& inputs) {
    for (std::size_t i = 0; i < outputs.size(); ++i) {
        for (std::size_t j = 0; j < i; ++j)
            if (outputs[j] == outputs[i])
                return report(program, outputs[i], status::error(errc::invalid_argument, "is another output of this run"));
        if (const int rc = check_output(program, outputs[i], inputs)) return rc;
    }
    return 0;
}

// Temporary outputs are named "OUT.lowbit-tmp-<pid>-XXXXXX": a later run for
// the same OUT recognises those whose process is gone (SIGKILL, power loss)
// and removes them.
constexpr const char* temp_marker = ".lowbit-tmp-";

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
// The temporary output's name, for the signal handler (which may only unlink
// and write): one output is written at a time.
inline char g_temp_path[4096];
inline volatile std::sig_atomic_t g_temp_live = 0;
// The handler's two messages, made by install_signal_handlers with the
// program's name (snprintf is not async-signal-safe; write is).
inline char g_msg_interrupted[160];
inline char g_msg_sigbus[200];

inline void on_fatal_signal(int sig) {
    if (g_temp_live) ::unlink(g_temp_path);
    const char* msg = sig == SIGBUS ? g_msg_sigbus : g_msg_interrupted;
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

// OUT is written as "OUT.lowbit-tmp-<pid>-XXXXXX" next to it and renamed to
// OUT by commit(); any other exit (error, signal) removes the temporary file.
// Writes go straight to the descriptor so that a failure keeps its errno
// (ENOSPC, EFBIG, EIO) for the message. Messages do not name OUT: the caller
// does (report()).
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

    // write() as a plain function of a context pointer, the form byte sinks
    // take (gguf::byte_sink(&out, output_file::write_to)).
    static status write_to(void* out, const std::uint8_t* p, std::size_t n) { return static_cast<output_file*>(out)->write(p, n); }

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
    status write(const std::string& s) { return write(reinterpret_cast<const std::uint8_t*>(s.data()), s.size()); }
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

// OUT written by `fill(output_file&)`, which returns a status: temporary
// files of dead runs removed, then open, fill, commit. On any error the
// temporary file is removed and OUT is left as it was; a write error is
// reported with its errno (ENOSPC, EFBIG), not as the short write that a
// writer on top of output_file may have made of it.
template <class Fill>
status write_output(const std::string& out, const std::vector<input_path>& inputs, Fill&& fill) {
    remove_stale_temps(out);
    output_file f;
    LOWBIT_TRY(f.open(out, inputs));
    const status s = fill(f);
    if (f.write_failed()) return f.write_error();
    LOWBIT_TRY(s);
    return f.commit();
}

// The whole of OUT at once (a plan, an SVG).
inline status write_file(const std::string& out, const std::vector<input_path>& inputs, const std::string& bytes) {
    return write_output(out, inputs, [&](output_file& f) { return f.write(bytes); });
}

// `program` names the tool in the handler's messages.
inline void install_signal_handlers(const char* program) {
    std::snprintf(detail::g_msg_interrupted, sizeof detail::g_msg_interrupted, "%s: interrupted; no output written\n", program);
    std::snprintf(detail::g_msg_sigbus, sizeof detail::g_msg_sigbus,
                  "%s: the input changed or could not be read (SIGBUS); no output written\n", program);
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

}  // namespace tool_files
