// examples/common/input_file.hpp, the one reader of every tool's whole input
// files: the bytes it gives are the file's (against what was written, the
// plain reference), mapped from a regular file and read into memory from a
// pipe, page-aligned either way; each bad input is one error naming what is
// wrong; a FIFO is refused without blocking where only regular files are
// accepted; a stream over the read limit is an error, not a truncated input.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../examples/common/input_file.hpp"
#include "tool_test_util.hpp"

namespace {

using tool_files::input_file;
using tool_files::input_options;
using tool_test::tmpdir;
using tool_test::write_file;

std::vector<std::uint8_t> random_bytes(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::vector<std::uint8_t> b(n);
    for (auto& x : b) x = static_cast<std::uint8_t>(rng());
    return b;
}

bool same(lowbit::span<const std::uint8_t> got, const std::vector<std::uint8_t>& want) {
    return got.size() == want.size() && std::memcmp(got.data(), want.data(), want.size()) == 0;
}

bool page_aligned(const void* p) { return reinterpret_cast<std::uintptr_t>(p) % static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE)) == 0; }

std::string message(const lowbit::status& s) { return s.message(); }

// Writes `b` into the FIFO at `path` from another thread (open blocks until the
// reader opens it); a reader that stops early makes the write fail with EPIPE.
std::thread feed(const std::string& path, std::vector<std::uint8_t> b) {
    return std::thread([path, b = std::move(b)] {
        const int fd = ::open(path.c_str(), O_WRONLY);
        if (fd < 0) return;
        std::size_t at = 0;
        while (at < b.size()) {
            const ssize_t r = ::write(fd, b.data() + at, b.size() - at);
            if (r <= 0) break;
            at += static_cast<std::size_t>(r);
        }
        ::close(fd);
    });
}

}  // namespace

TEST_CASE("input_file: a regular file is mapped, page-aligned, its bytes and identity") {
    tmpdir d("lowbit-input-file");
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    for (std::size_t n : {std::size_t(1), std::size_t(63), page - 1, page, page + 1, std::size_t(1) << 20}) {
        CAPTURE(n);
        const std::vector<std::uint8_t> want = random_bytes(n, static_cast<unsigned>(n));
        write_file(d / "f.bin", want);
        input_file f;
        REQUIRE(f.open(d / "f.bin").ok());
        CHECK(f.mapped());
        CHECK(same(f.bytes(), want));
        CHECK(page_aligned(f.bytes().data()));
        struct stat st;
        REQUIRE(::stat((d / "f.bin").c_str(), &st) == 0);
        CHECK(f.id().dev == st.st_dev);
        CHECK(f.id().ino == st.st_ino);
        // Pages handed back are read again from the file when touched.
        f.release(f.bytes().subspan(n / 3, n / 3));
        f.release(f.bytes().subspan(n / 2, n - n / 2));
        CHECK(same(f.bytes(), want));
        input_file s;
        input_options o;
        o.sequential = true;
        o.regular_only = true;
        REQUIRE(s.open(d / "f.bin", o).ok());
        s.release(s.bytes());
        CHECK(same(s.bytes(), want));
    }
}

TEST_CASE("input_file: each bad input is one error saying what is wrong") {
    tmpdir d("lowbit-input-file");
    write_file(d / "empty", std::vector<std::uint8_t>{});
    REQUIRE(::mkdir((d / "dir").c_str(), 0700) == 0);
    REQUIRE(::symlink("nowhere", (d / "dangling").c_str()) == 0);
    REQUIRE(::mkfifo((d / "fifo").c_str(), 0600) == 0);
    struct bad_case {
        std::string path;
        bool regular_only;
        lowbit::errc code;
        std::string says;
    };
    const std::vector<bad_case> cases = {
        {d / "empty", false, lowbit::errc::corrupt_data, "is empty"},
        {d / "dir", false, lowbit::errc::io_error, "is a directory"},
        {d / "dir", true, lowbit::errc::io_error, "is a directory"},
        {d / "missing", false, lowbit::errc::io_error, std::string("cannot open: ") + std::strerror(ENOENT)},
        {d / "dangling", false, lowbit::errc::io_error, std::string("cannot open: ") + std::strerror(ENOENT)},
        {d / "fifo", true, lowbit::errc::io_error, "is a FIFO, not a regular file"},  // no writer: must not block
        {"/dev/null", true, lowbit::errc::io_error, "is a character device, not a regular file"},
        {"/dev/null", false, lowbit::errc::corrupt_data, "is empty"},
    };
    for (const bad_case& c : cases) {
        CAPTURE(c.path);
        CAPTURE(c.regular_only);
        input_file f;
        input_options o;
        o.regular_only = c.regular_only;
        const lowbit::status s = f.open(c.path, o);
        CHECK(s.code() == c.code);
        CHECK(message(s) == c.says);
        CHECK(f.bytes().empty());
        // open_input names the path first, for callers that pass the status on
        auto g = tool_files::open_input(c.path, o);
        REQUIRE(!g.ok());
        CHECK(message(g.error()) == c.path + ": " + c.says);
    }
    write_file(d / "locked", std::vector<std::uint8_t>{1, 2, 3});
    REQUIRE(::chmod((d / "locked").c_str(), 0) == 0);
    input_file f;
    const lowbit::status s = f.open(d / "locked");
    if (::geteuid() == 0) {
        MESSAGE("unreadable file: running as root, which reads it whatever its mode; checked that it is read");
        CHECK(s.ok());
    } else {
        CHECK(message(s) == std::string("cannot open: ") + std::strerror(EACCES));
    }
}

TEST_CASE("input_file: a FIFO is read into page-aligned memory, whole, and bounded") {
    std::signal(SIGPIPE, SIG_IGN);  // the writer of a refused stream sees EPIPE
    tmpdir d("lowbit-input-file");
    REQUIRE(::mkfifo((d / "fifo").c_str(), 0600) == 0);
    const std::size_t page = static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
    for (std::size_t n : {std::size_t(1), std::size_t(65535), std::size_t(65536), std::size_t(65537), std::size_t(300001)}) {
        CAPTURE(n);
        const std::vector<std::uint8_t> want = random_bytes(n, static_cast<unsigned>(n) + 7);
        std::thread w = feed(d / "fifo", want);
        input_file f;
        const lowbit::status s = f.open(d / "fifo");
        w.join();
        REQUIRE_MESSAGE(s.ok(), s.message());
        CHECK(!f.mapped());
        CHECK(same(f.bytes(), want));
        CHECK(page_aligned(f.bytes().data()));
        f.release(f.bytes());  // a copy: nothing to hand back, the bytes stay
        CHECK(same(f.bytes(), want));
    }
    // The read limit: exactly the limit is read, one byte more is an error.
    for (std::size_t extra : {std::size_t(0), std::size_t(1), 3 * page}) {
        CAPTURE(extra);
        const std::vector<std::uint8_t> want = random_bytes(2 * page + extra, 11);
        std::thread w = feed(d / "fifo", want);
        lowbit::status s;
        {
            input_file f;
            input_options o;
            o.max_read = 2 * page;
            s = f.open(d / "fifo", o);
        }  // closed: a writer still writing sees EPIPE
        w.join();
        if (extra == 0) {
            CHECK(s.ok());
        } else {
            CHECK(message(s) == "is more than " + std::to_string(2 * page) + " bytes, the most read into memory; not read");
        }
    }
}

TEST_CASE("input_file: a regular file that says 0 bytes and has more (/proc) is read") {
    input_file f;
    const lowbit::status s = f.open("/proc/self/status");
    REQUIRE_MESSAGE(s.ok(), s.message());
    CHECK(!f.mapped());
    const std::string text(f.bytes().begin(), f.bytes().end());
    CHECK(text.find("Name:") == 0);
}
