// SPDX-License-Identifier: MIT
//
// detail::exchange: one request and its response on one leased connection,
// at the level of bytes and parser events. client_session drives it (send,
// read_head) and response reads the body through it (next_chunk). Users never
// name it.
//
// States:
//
//   sending ──send()──> awaiting head ──read_head()──> body ──next_chunk()...──> done
//      │                      │                          │                       (lease released:
//      └── stale_connection ──┘                          └── failed               idle if keep-alive)
//          (EOF, ECONNRESET or EPIPE before any response byte: the session
//           may retry an idempotent request once on a fresh connection)
//
// Body views. next_raw() returns the parser's body view, which points into
// the connection's receive buffer; that buffer is only compacted or refilled
// by the next fill(), which happens in a later call, so a view handed out
// stays valid until the caller asks for the next one. The gzip stage keeps
// its unconsumed input as such a view and does not ask for more until it is
// used up.
#pragma once

#include <corio/net/http/connection_pool.hpp>
#include <corio/net/http/gzip.hpp>
#include <corio/net/http/response.hpp>

#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>

namespace corio::http::detail {

// The connection failed before any response byte came back.
struct stale_connection {
  std::exception_ptr error;  // the std::system_error, or null for EOF
};

struct exchange {
  exchange(connection_lease l, std::string what, std::string url, const request_deadlines& d)
      : lease(std::move(l)), what(std::move(what)), url(std::move(url)), deadlines(d) {}

  // Writes the request. Throws stale_connection, or std::system_error naming it.
  task<void> send(std::span<const std::byte> head, std::span<const std::byte> body);
  // Reads the final response's head into `r` (1xx skipped). Throws
  // stale_connection, http_error, std::system_error, timeout_error.
  task<void> read_head(response& r, bool decompress);
  // The next piece of the encoded (de-chunked) body; empty at the end.
  task<std::span<const std::byte>> next_raw();
  // The next piece of the decoded body; empty at the end.
  task<std::span<const std::byte>> next_chunk();
  // Stops: the connection is closed, later reads throw.
  void abort() noexcept;

  [[noreturn]] void fail_http(const std::string& why);
  [[noreturn]] void rethrow_io(const std::system_error& e);

  connection_lease lease;
  std::string what;  // "GET http://h/p"
  std::string url;
  request_deadlines deadlines;
  bool done = false;
  bool failed = false;
  std::uint64_t delivered = 0;
  fields trailers;
  std::optional<gzip_decoder> gzip;
  std::span<const std::byte> gzip_in;
  std::unique_ptr<std::byte[]> gzip_out;

 private:
  void complete() noexcept;
  task<std::size_t> fill();
};

}  // namespace corio::http::detail
