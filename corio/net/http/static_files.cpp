// SPDX-License-Identifier: MIT
//
// The static file handler; see static_files.hpp for the two fences.
#include <corio/net/http/static_files.hpp>

#include <corio/core/error.hpp>
#include <corio/net/http/http_date.hpp>
#include <corio/net/http/parser.hpp>
#include <corio/net/http/server.hpp>

#include <array>
#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <fcntl.h>
#ifdef __linux__
#include <linux/openat2.h>
#endif
#include <memory>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <utility>

// Elsewhere a plain read-only directory fd serves as the root's handle.
#ifndef O_PATH
#define O_PATH 0
#endif

namespace corio::http {

namespace {

struct mime_entry {
    std::string_view ext;
    std::string_view type;
};

constexpr std::array<mime_entry, 30> mime_table{{
    {"html", "text/html; charset=utf-8"},
    {"htm", "text/html; charset=utf-8"},
    {"css", "text/css; charset=utf-8"},
    {"js", "text/javascript; charset=utf-8"},
    {"mjs", "text/javascript; charset=utf-8"},
    {"json", "application/json"},
    {"txt", "text/plain; charset=utf-8"},
    {"md", "text/markdown; charset=utf-8"},
    {"csv", "text/csv; charset=utf-8"},
    {"xml", "application/xml"},
    {"svg", "image/svg+xml"},
    {"png", "image/png"},
    {"jpg", "image/jpeg"},
    {"jpeg", "image/jpeg"},
    {"gif", "image/gif"},
    {"webp", "image/webp"},
    {"avif", "image/avif"},
    {"ico", "image/x-icon"},
    {"pdf", "application/pdf"},
    {"wasm", "application/wasm"},
    {"mp4", "video/mp4"},
    {"webm", "video/webm"},
    {"mp3", "audio/mpeg"},
    {"ogg", "audio/ogg"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"ttf", "font/ttf"},
    {"zip", "application/zip"},
    {"gz", "application/gzip"},
    {"tar", "application/x-tar"},
}};

// An fd closed on scope exit.
struct fd_guard {
    int fd = -1;
    explicit fd_guard(int f) noexcept : fd(f) {}
    fd_guard(const fd_guard&) = delete;
    fd_guard& operator=(const fd_guard&) = delete;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

// Fence 1 (see the header): no "..", NUL or backslash in any segment.
bool lexically_safe(std::string_view rel) noexcept {
    if (rel.find('\0') != std::string_view::npos || rel.find('\\') != std::string_view::npos) return false;
    while (!rel.empty()) {
        std::size_t slash = rel.find('/');
        if (rel.substr(0, slash) == "..") return false;
        if (slash == std::string_view::npos) break;
        rel.remove_prefix(slash + 1);
    }
    return true;
}

class file_server {
public:
    file_server(const std::string& root, static_files_options options) : options_(std::move(options)) {
        root_fd_ = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (root_fd_ < 0) throw_system_error(errno, "open static root " + root);
        char buf[PATH_MAX];
        if (::realpath(root.c_str(), buf) == nullptr) {
            int err = errno;
            ::close(root_fd_);
            throw_system_error(err, "realpath of static root " + root);
        }
        root_real_ = buf;
    }
    ~file_server() { ::close(root_fd_); }
    file_server(const file_server&) = delete;
    file_server& operator=(const file_server&) = delete;

    task<void> serve(server_request& req, server_response& res) const;

private:
    // Fence 2: an fd for `rel` (relative, no leading '/'), or -errno.
    int open_beneath(const std::string& rel) const noexcept;

    static void refuse(server_response& res, int status) {
        res.set_status(status);
        res.set_body(std::string(reason_phrase(status)) + "\n", "text/plain; charset=utf-8");
    }

    static_files_options options_;
    int root_fd_ = -1;
    std::string root_real_;
};

int file_server::open_beneath(const std::string& rel) const noexcept {
#if defined(__linux__) && defined(SYS_openat2)
    static std::atomic<bool> have_openat2{true};
    const char* path = rel.empty() ? "." : rel.c_str();
    if (have_openat2) {
        ::open_how how{};
        how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
        long fd = ::syscall(SYS_openat2, root_fd_, path, &how, sizeof how);
        if (fd >= 0) return static_cast<int>(fd);
        if (errno != ENOSYS && errno != EPERM) return -errno;
        have_openat2 = false;
    }
#endif
    std::string full = root_real_ + "/" + rel;
    char buf[PATH_MAX];
    if (::realpath(full.c_str(), buf) == nullptr) return -errno;
    std::string_view real = buf;
    if (real != root_real_ && !(real.starts_with(root_real_) && real[root_real_.size()] == '/' ) &&
        root_real_ != "/")
        return -EXDEV;
    int fd = ::open(buf, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY | O_NOFOLLOW);
    return fd >= 0 ? fd : -errno;
}

task<void> file_server::serve(server_request& req, server_response& res) const {
    if (req.method() != "GET" && req.method() != "HEAD") {
        res.set_status(405);
        res.set_header("Allow", "GET, HEAD");
        co_return;
    }
    std::string_view path = req.path().substr(req.route_prefix().size());
    while (!path.empty() && path.front() == '/') path.remove_prefix(1);
    if (!lexically_safe(path)) {
        refuse(res, 404);
        co_return;
    }
    std::string rel(path);
    bool want_dir = rel.empty() || rel.back() == '/';
    if (want_dir) {
        if (options_.index.empty()) {
            refuse(res, 404);
            co_return;
        }
        rel += options_.index;
    }
    int fd = open_beneath(rel);
    if (fd < 0) {
        refuse(res, fd == -ENOENT || fd == -ENOTDIR || fd == -ENAMETOOLONG ? 404 : 403);
        co_return;
    }
    fd_guard guard(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        refuse(res, 403);
        co_return;
    }
    if (S_ISDIR(st.st_mode) && !want_dir) {
        std::string location(req.raw_path());
        location += '/';
        if (!req.query().empty()) location.append("?").append(req.query());
        res.set_status(301);
        res.set_header("Location", location);
        co_return;
    }
    if (!S_ISREG(st.st_mode)) {
        refuse(res, 403);
        co_return;
    }

    const auto size = static_cast<std::uint64_t>(st.st_size);
    std::string last_modified = format_http_date(st.st_mtime);
    res.set_header("Last-Modified", last_modified);
    res.set_header("Accept-Ranges", "bytes");
    if (auto ims = req.header("if-modified-since"); ims && !req.header("if-none-match")) {
        if (auto t = parse_http_date(*ims); t && st.st_mtime <= *t) {
            res.set_status(304);
            co_return;
        }
    }
    res.set_header("Content-Type", mime_type(rel));

    std::uint64_t offset = 0;
    std::uint64_t length = size;
    auto range = req.header("range");
    if (auto if_range = req.header("if-range"); range && if_range && *if_range != last_modified) range.reset();
    if (range) {
        if (auto r = parse_range(*range, size)) {
            if (r->first > r->last) {
                res.set_status(416);
                res.set_header("Content-Range", "bytes */" + std::to_string(size));
                res.set_body(std::string(reason_phrase(416)) + "\n");
                co_return;
            }
            offset = r->first;
            length = r->last - r->first + 1;
            res.set_status(206);
            res.set_header("Content-Range", "bytes " + std::to_string(r->first) + "-" + std::to_string(r->last) +
                                                "/" + std::to_string(size));
        }
    }
    co_await res.send_file(fd, offset, length);
}

} // namespace

std::string_view mime_type(std::string_view filename) noexcept {
    std::size_t slash = filename.rfind('/');
    if (slash != std::string_view::npos) filename.remove_prefix(slash + 1);
    std::size_t dot = filename.rfind('.');
    if (dot == std::string_view::npos) return "application/octet-stream";
    std::string_view ext = filename.substr(dot + 1);
    for (const mime_entry& e : mime_table)
        if (ascii_iequals(e.ext, ext)) return e.type;
    return "application/octet-stream";
}

std::optional<byte_range> parse_range(std::string_view value, std::uint64_t size) noexcept {
    constexpr std::string_view unit = "bytes=";
    if (value.size() < unit.size() || !ascii_iequals(value.substr(0, unit.size()), unit)) return std::nullopt;
    value.remove_prefix(unit.size());
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    if (value.find(',') != std::string_view::npos) return std::nullopt; // several ranges: send it all
    std::size_t dash = value.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    auto number = [](std::string_view s, std::uint64_t& out) {
        if (s.empty() || s.size() > 19) return false;
        std::uint64_t v = 0;
        for (char c : s) {
            if (c < '0' || c > '9') return false;
            v = v * 10 + static_cast<std::uint64_t>(c - '0');
        }
        out = v;
        return true;
    };
    std::string_view a = value.substr(0, dash);
    std::string_view b = value.substr(dash + 1);
    std::uint64_t first = 0;
    std::uint64_t last = 0;
    if (a.empty()) { // suffix: the last b bytes
        if (!number(b, last)) return std::nullopt;
        if (last == 0 || size == 0) return byte_range{1, 0};
        return byte_range{size - std::min(last, size), size - 1};
    }
    if (!number(a, first)) return std::nullopt;
    if (b.empty())
        last = size == 0 ? 0 : size - 1;
    else if (!number(b, last) || last < first)
        return std::nullopt;
    if (first >= size) return byte_range{1, 0};
    return byte_range{first, std::min(last, size - 1)};
}

handler static_files(const std::string& root, static_files_options options) {
    auto fs = std::make_shared<const file_server>(root, std::move(options));
    return [fs](server_request& req, server_response& res) { return fs->serve(req, res); };
}

} // namespace corio::http
