// SPDX-License-Identifier: MIT
//
// Why: a server dispatches each request to a coroutine by method and path,
// and must tell "no such resource" (404) from "not with this method" (405,
// which RFC 9110 15.5.6 requires to carry an Allow header listing what
// would work).
//
// Approach: two small tables. Exact routes ("/hello") are checked first,
// then prefix routes ("/static/"), longest prefix first. The path that
// matched decides the answer: its handler for the method, else 405 with the
// methods registered for that path. HEAD falls back to GET (RFC 9110 9.3.2:
// the same headers, no body; the response writer drops the body), so Allow
// lists HEAD wherever GET is. A prefix matches at a segment boundary:
// "/static" matches "/static" and "/static/a.css", never "/staticx".
//
// The tables are vectors scanned in order. A server has a handful of
// routes, and a scan of a few short strings beats hashing the path (which
// needs an owned key or transparent lookup). Rejected: a radix tree with
// path parameters ("/users/{id}"), which is more than the examples and
// tests need; a handler can split server_request::path() itself.
#pragma once

#include <corio/core/task.hpp>

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace corio::http {

class server_request;
class server_response;

/// A request handler: fills in `response` (or streams it) and returns.
/// An exception escaping it becomes a 500 if nothing was sent yet.
using handler = std::function<task<void>(server_request&, server_response&)>;

/// Per-route behaviour.
struct route_options {
    /// false: the server reads the whole body (up to server_options::max_body)
    /// before the handler runs, and server_request::body() holds it. true: the
    /// handler reads it piece by piece with server_request::read_some().
    bool stream_body = false;
};

/// Method + path dispatch; see the top of this file.
class router {
public:
    /// What `find` decided.
    struct match {
        const handler* target = nullptr; ///< null when status is 404 or 405
        route_options options{};
        int status = 0;                  ///< 0 (found), 404 or 405
        std::string_view allow;          ///< for 405: "GET, HEAD, POST"
        std::string_view prefix;         ///< the prefix that matched; empty for an exact route
    };

    /// Routes `methods` (one method, a comma-separated list such as
    /// "GET,POST", or "*" for any) on exactly `path`.
    /// Throws std::invalid_argument for a path not starting with '/' or a
    /// method already routed on that path.
    void add(std::string_view methods, std::string path, handler h, route_options options = {});
    /// The same for every path under `prefix` (see the top of this file).
    void add_prefix(std::string_view methods, std::string prefix, handler h, route_options options = {});

    /// The route for `method` and the (percent-decoded) `path`.
    match find(std::string_view method, std::string_view path) const noexcept;

private:
    struct method_route {
        std::string method; // "*" matches every method
        handler h;
        route_options options;
    };
    struct entry {
        std::string path;
        std::vector<method_route> methods;
        std::string allow;
    };

    void add_to(std::vector<entry>& table, std::string_view methods, std::string path, handler h,
                route_options options);
    match pick(const entry& e, std::string_view method, std::string_view prefix) const noexcept;

    std::vector<entry> exact_;
    std::vector<entry> prefix_; // longest first
};

} // namespace corio::http
