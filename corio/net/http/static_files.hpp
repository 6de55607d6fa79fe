// SPDX-License-Identifier: MIT
//
// Why: serving a directory is the classic way a web server leaks the rest
// of the disk. The request path is attacker-controlled: "/../etc/passwd",
// its encoded twin "/%2e%2e/etc/passwd" (decoded once by the server before
// routing), and a symlink inside the root that points outside it must all
// be refused, while an ordinary file must go out fast (sendfile, Range).
//
// Approach, in two fences:
//   1. Lexical: the decoded path is split into segments; a ".." segment
//      anywhere is a 404 (nothing legitimate needs it once the client has
//      normalised the URL), as is a NUL byte or a backslash.
//   2. The kernel: the file is opened relative to the root's directory fd
//      with openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS) (Linux 5.6),
//      which fails with EXDEV for any resolution, symlinks included, that
//      would leave the root: 403. Where openat2 is missing (ENOSYS, or a
//      seccomp filter's EPERM) the fallback is realpath(3) of the whole path,
//      a prefix check against the root's realpath, then open with O_NOFOLLOW.
//      The fallback has the usual check-then-use race with someone who can
//      rename directories inside the root; openat2 does not.
// Everything is opened O_NONBLOCK (a FIFO under the root must not hang the
// loop) and must be a regular file (else 403); a directory redirects to its
// path with a '/' (301) and then serves its index file.
//
// Reading is blocking file I/O on the loop thread (pread or sendfile), as in
// nginx without aio: files served this way are expected to be in the page
// cache. Rejected: to_thread per request, which costs a thread hop for
// the common, cached case.
#pragma once

#include <corio/net/http/router.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace corio::http {

/// How static_files behaves.
struct static_files_options {
    /// Served for a path ending in '/'; empty: 404 for directories.
    std::string index = "index.html";
};

/// A handler serving the files under `root`, for GET and HEAD (route it
/// with route_prefix("GET", "/", ...) or under a prefix, which is stripped).
/// Sends Content-Type by extension, Last-Modified, Accept-Ranges; answers
/// If-Modified-Since with 304, one `Range: bytes=` range with 206 (416 when
/// it is past the end; several ranges get the whole file). Refusals: see the
/// top of this file. Throws std::system_error if `root` cannot be opened.
///
///     srv.route_prefix("GET", "/", corio::http::static_files("/var/www"));
handler static_files(const std::string& root, static_files_options options = {});

/// The Content-Type for a file name's extension ("text/html; charset=utf-8"),
/// "application/octet-stream" when unknown.
std::string_view mime_type(std::string_view filename) noexcept;

/// One byte range, inclusive, within a file of known size.
struct byte_range {
    std::uint64_t first;
    std::uint64_t last;
};

/// What a Range header asks of a file of `size` bytes (RFC 9110 14.1.2):
/// nullopt to ignore it (not "bytes=", malformed, or several ranges: the
/// whole file is sent), a range with first > last when it cannot be
/// satisfied (416), else the range, clamped to the file.
std::optional<byte_range> parse_range(std::string_view value, std::uint64_t size) noexcept;

} // namespace corio::http
