// SPDX-License-Identifier: MIT
//
// client_session: an HTTP/1.1 client in the image of aiohttp's ClientSession.
//
//   corio::http::client_session session;                 // one per program
//   corio::http::response r = co_await session.get("https://example.com/");
//   std::string html = co_await r.text();
//
//   auto r2 = co_await session.request("POST", "http://h/api", {{"Content-Type", "application/json"}},
//                                      R"({"x":1})");
//
// What a request does, in order:
//   1. parses the URL (url_error for a bad one) and fixes the deadlines;
//   2. takes a connection from the pool (connection_pool.hpp: keep-alive per
//      origin, `limit` / `limit_per_host`, Happy Eyeballs connect through the
//      resolver's shared DNS cache, TLS with verification for https);
//   3. writes the head (Host, User-Agent: corio/<version>, Accept,
//      Accept-Encoding: gzip when built with zlib, the session's default
//      headers, the request's own, Content-Length) and the body;
//   4. reads the head of the final response (1xx skipped);
//   5. follows redirects: 301/302/303 become GET without a body (HEAD stays
//      HEAD), 307/308 keep the method and the body; a relative Location is
//      resolved against the current URL; Authorization is dropped when the
//      origin changes; at most `max_redirects`, and a URL visited twice with
//      the same method is a loop; both are http_error;
//   6. returns the response with the body still to be read (response.hpp).
//
// One silent retry. If a *reused* keep-alive connection fails before any
// response byte (EOF, ECONNRESET, EPIPE: the server closed it while it sat
// idle) and the method is idempotent (GET, HEAD, PUT, DELETE, OPTIONS,
// TRACE), the request is sent again once on a new connection. Anything else
// is the caller's to retry; a POST is never replayed.
//
// Timeouts (client_options, overridable per request): connect (each
// connection, TLS handshake included), read (idle: longest wait for the
// next bytes, during the head and the body), total (from the call to the
// body's last byte, redirects included). Each expiry is a timeout_error
// whose message names which: "GET http://h/: read timeout (no data for
// 5 s)". Cancellation of the calling task is a cancelled_error as usual, and
// the connection involved is closed.
//
// Errors name the request: std::system_error for a socket failure ("GET
// http://h/: connect to 10.0.0.1:80: Connection refused"), tls_error,
// http_error (malformed response, redirects), url_error (bad URL),
// std::invalid_argument (a header with CR or LF, an unsupported scheme).
//
// Not thread-safe: a session belongs to one event loop.
#pragma once

#include <corio/net/http/connection_pool.hpp>
#include <corio/net/http/response.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace corio::http {

struct client_timeouts {
  std::optional<std::chrono::milliseconds> connect = std::chrono::seconds(30);
  std::optional<std::chrono::milliseconds> read = std::chrono::seconds(300);
  std::optional<std::chrono::milliseconds> total;  // none by default
};

struct client_options {
  pool_options pool;                // limit (100), limit_per_host (none), idle_timeout (15 s), tls
  client_timeouts timeouts;
  fields default_headers;           // sent unless a request sets a field of the same name
  std::string user_agent;           // empty: "corio/<version>"
  bool auto_decompress = true;      // Accept-Encoding: gzip and transparent decoding (with zlib)
  bool follow_redirects = true;
  unsigned max_redirects = 10;
};

struct request_options {
  std::optional<client_timeouts> timeouts;  // instead of the session's
  std::optional<bool> follow_redirects;
  std::optional<unsigned> max_redirects;
};

class client_session {
 public:
  explicit client_session(client_options options = {});
  // Closes the idle connections; responses still held keep their own.
  ~client_session();
  client_session(const client_session&) = delete;
  client_session& operator=(const client_session&) = delete;

  // Sends one request (see the top of the file) and returns the response
  // with its head read.
  task<response> request(std::string method, std::string url, fields headers = {}, std::string body = {},
                         request_options options = {});

  task<response> get(std::string url, fields headers = {}) {
    return request("GET", std::move(url), std::move(headers));
  }
  task<response> head(std::string url, fields headers = {}) {
    return request("HEAD", std::move(url), std::move(headers));
  }
  task<response> post(std::string url, std::string body, fields headers = {}) {
    return request("POST", std::move(url), std::move(headers), std::move(body));
  }

  connection_pool& pool() noexcept { return *pool_; }
  const client_options& options() const noexcept { return options_; }

 private:
  task<response> send_once(const std::string& method, const url& u, const fields& headers, const std::string& body,
                           const request_deadlines& d);
  std::string build_head(const std::string& method, const url& u, const fields& headers,
                         const std::string& body) const;

  client_options options_;
  std::shared_ptr<connection_pool> pool_;
};

// True for the methods a client may resend without asking (RFC 9110 9.2.2).
bool is_idempotent(std::string_view method) noexcept;

}  // namespace corio::http
