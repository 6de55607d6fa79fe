// SPDX-License-Identifier: MIT
//
// response: what client_session::request() gives back, with the status and
// headers already read and the body still on the wire.
//
//   response r = co_await session.get("http://example.com/big.iso");
//   if (r.status() != 200) ...;
//   co_await r.save_to("big.iso");            // streamed; renamed when complete
//
//   std::string page = co_await r.text();     // or: the whole body, bounded
//   while (auto piece = co_await r.read_chunk(); !piece.empty()) consume(piece);
//
// The body is read on demand, so memory stays bounded by the connection's
// receive buffer however large the body is. The connection goes back to the
// session's pool the moment the body's last byte has been read (if the server
// allows keep-alive); a response destroyed before that closes its connection
// instead, since its state is unknown.
//
// Never a silent truncation. A body shorter than its Content-Length, a
// connection reset mid-body, a bad chunk, a truncated gzip stream: each ends
// the read with an exception naming the request ("GET http://h/f: body
// shorter than declared..."), http_error for what the peer sent and
// std::system_error for what the kernel said. Timeouts are timeout_error
// naming which (read, total). After an exception the response is finished
// and its connection closed.
#pragma once

#include <corio/core/async_generator.hpp>
#include <corio/core/error.hpp>
#include <corio/core/task.hpp>
#include <corio/net/http/parser.hpp>
#include <corio/net/http/url.hpp>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace corio::http {

// The peer broke HTTP: a malformed or truncated response, a redirect loop,
// too many redirects, a body over the caller's limit. The message names the
// request; url() is the URL that was being fetched.
class http_error : public corio::error {
 public:
  http_error(const std::string& message, std::string url) : error(message), url_(std::move(url)) {}
  const std::string& url() const noexcept { return url_; }

 private:
  std::string url_;
};

// Owned header fields, in order, with case-insensitive lookup: the request
// headers a caller passes and the response headers it gets.
//
//   fields h{{"Accept", "text/html"}, {"X-Trace", "1"}};
//   h.set("accept", "*/*");                     // replaces every Accept
//   if (auto v = h.find("x-trace")) use(*v);
class fields {
 public:
  fields() = default;
  fields(std::initializer_list<std::pair<std::string, std::string>> init) : v_(init) {}

  void add(std::string name, std::string value) { v_.emplace_back(std::move(name), std::move(value)); }
  // Removes every field named `name`, then adds one.
  void set(std::string_view name, std::string value);
  // Removes every field named `name`; returns how many.
  std::size_t remove(std::string_view name);
  std::optional<std::string_view> find(std::string_view name) const noexcept;
  bool contains(std::string_view name) const noexcept { return find(name).has_value(); }
  std::vector<std::string_view> find_all(std::string_view name) const;

  auto begin() const noexcept { return v_.begin(); }
  auto end() const noexcept { return v_.end(); }
  std::size_t size() const noexcept { return v_.size(); }
  bool empty() const noexcept { return v_.empty(); }

 private:
  std::vector<std::pair<std::string, std::string>> v_;
};

struct save_options {
  bool fsync = false;  // fdatasync the file before the rename (durable, slower)
};

namespace detail {
struct exchange;
}

class response {
 public:
  // The default body limit of text() and body().
  static constexpr std::size_t default_limit = 64 * 1024 * 1024;

  response() noexcept;
  response(response&&) noexcept;
  response& operator=(response&&) noexcept;
  ~response();

  unsigned status() const noexcept { return status_; }
  bool ok() const noexcept { return status_ >= 200 && status_ < 300; }
  const std::string& reason() const noexcept { return reason_; }
  http_version version() const noexcept { return version_; }
  const fields& headers() const noexcept { return headers_; }
  // The URL that answered (after redirects), and how many redirects led there.
  const http::url& url() const noexcept { return url_; }
  unsigned redirects() const noexcept { return redirects_; }
  const std::string& method() const noexcept { return method_; }
  // The Content-Length header, if any (of the encoded body when gzip is
  // decoded).
  std::optional<std::uint64_t> content_length() const noexcept { return content_length_; }
  // True if the body is being gunzipped on the fly.
  bool decoded() const noexcept;

  // The next piece of the (decoded) body: a view into the connection's
  // buffer, valid until the next call on this response. Empty at the end.
  // Throws http_error, std::system_error, timeout_error (see the top).
  task<std::span<const std::byte>> read_chunk();
  // Copies up to buf.size() body bytes into buf; 0 at the end.
  task<std::size_t> read_some(std::span<std::byte> buf);
  // The body as an async generator of chunks (read_chunk's views).
  //   auto g = r.chunks();
  //   while (auto c = co_await g.next()) hash.update(*c);
  async_generator<std::span<const std::byte>> chunks();
  // The whole body; http_error if it exceeds `limit` bytes (the connection
  // is then closed).
  task<std::string> text(std::size_t limit = default_limit);
  task<std::vector<std::byte>> body(std::size_t limit = default_limit);
  // Streams the body into `path`: a temporary file in the same directory,
  // renamed to `path` only when the body is complete. On any failure
  // (network, ENOSPC, cancellation) the temporary file is removed and
  // nothing appears under `path`. Returns the bytes written. Throws
  // std::system_error naming the file for a file failure.
  task<std::uint64_t> save_to(std::string path, save_options options = {});
  // Reads and drops the rest of the body (at most `limit` bytes; beyond
  // that the connection is closed instead), so the connection can be reused.
  task<void> discard(std::size_t limit = 64 * 1024);

  // Trailer fields of a chunked body, once it is complete.
  const fields& trailers() const noexcept;
  // True once the whole body has been read.
  bool complete() const noexcept;
  // Decoded body bytes handed out so far.
  std::uint64_t body_bytes() const noexcept;
  // Drops the connection now (it is not reused); later reads throw.
  void close() noexcept;

 private:
  friend class client_session;
  friend struct detail::exchange;

  std::unique_ptr<detail::exchange> ex_;
  std::span<const std::byte> pending_;  // what read_some has not copied out of the last chunk
  unsigned status_ = 0;
  std::string reason_;
  http_version version_;
  fields headers_;
  http::url url_;
  std::string method_;
  std::optional<std::uint64_t> content_length_;
  unsigned redirects_ = 0;
};

}  // namespace corio::http
