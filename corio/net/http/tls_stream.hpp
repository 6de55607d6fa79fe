// SPDX-License-Identifier: MIT
//
// tls_stream: TLS over a corio tcp_stream, through OpenSSL, without a thread.
//
// The problem: OpenSSL's SSL_read/SSL_write want a socket they can block on,
// and corio's sockets never block. The approach (the one libcurl, nginx and
// Python's ssl module with asyncio take): OpenSSL owns the non-blocking fd
// (SSL_set_fd) and does its own read(2)/write(2); when it answers
// SSL_ERROR_WANT_READ or SSL_ERROR_WANT_WRITE the task awaits
// io::wait_readable / io::wait_writable on the fd, then calls OpenSSL again.
// A renegotiating peer may make a read want a write and the reverse; the loop
// follows whatever OpenSSL asks for. Rejected: memory BIOs fed by corio's
// read/write ops. They would let io_uring do the I/O, at the cost of a copy
// and of re-implementing OpenSSL's record buffering; TLS is rarely the
// bottleneck of a client, so the simple design won.
//
// Verification is on by default (a client that skips it is a client that
// talks to anyone): the system's CA store (SSL_CTX_set_default_verify_paths)
// or `ca_file`, and the host name checked against the certificate
// (SSL_set1_host, or the IP address for a literal). A failure throws
// tls_error whose message says why, from X509_verify_cert_error_string:
// "TLS handshake with 127.0.0.1:4433: certificate verify failed: self-signed
// certificate".
//
// Without the `tls` feature (CORIO_HAS_TLS == 0) every function here throws
// tls_error("corio was built without TLS support").
//
// A tls_stream is a readable_stream and a writable_stream (buffered.hpp),
// so buffered_reader works over it. Cancellation (and corio::timeout) of a
// read or write leaves the TLS session in an unknown state: close it.
#pragma once

#include <corio/core/error.hpp>
#include <corio/core/task.hpp>
#include <corio/net/tcp.hpp>

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

struct ssl_st;
struct ssl_ctx_st;

namespace corio::http {

// A TLS failure: handshake, verification, or a protocol error mid-stream.
class tls_error : public corio::error {
 public:
  using error::error;
};

struct tls_options {
  bool verify = true;        // check the chain and the host name
  std::string ca_file;       // PEM bundle of trusted CAs; empty: the system's store
  std::string cert_file;     // server (or client-auth) certificate chain, PEM
  std::string key_file;      // its private key, PEM
};

// An SSL_CTX: configuration shared by many connections (and its session
// cache). Build it once per client_session or server.
class tls_context {
 public:
  // A client context per `options`. Throws tls_error (a CA file that
  // cannot be read, no TLS support).
  static std::shared_ptr<tls_context> client(const tls_options& options = {});
  // A server context with cert_file and key_file. Throws tls_error.
  static std::shared_ptr<tls_context> server(const tls_options& options);

  ~tls_context();
  tls_context(const tls_context&) = delete;
  tls_context& operator=(const tls_context&) = delete;

  ssl_ctx_st* native() const noexcept { return ctx_; }
  bool verify() const noexcept { return verify_; }

 private:
  tls_context(ssl_ctx_st* ctx, bool verify) noexcept : ctx_(ctx), verify_(verify) {}
  ssl_ctx_st* ctx_;
  bool verify_;
};

// True if corio was built with TLS (the meson `tls` feature).
bool tls_available() noexcept;

class tls_stream {
 public:
  tls_stream() noexcept = default;
  tls_stream(tls_stream&& o) noexcept;
  tls_stream& operator=(tls_stream&& o) noexcept;
  tls_stream(const tls_stream&) = delete;
  tls_stream& operator=(const tls_stream&) = delete;
  ~tls_stream();

  // Client handshake over `tcp` with SNI = `host` (skipped for an IP
  // literal) and verification per the context. Throws tls_error naming the
  // peer and the reason; std::system_error for a socket failure.
  static task<tls_stream> connect(net::tcp_stream tcp, std::shared_ptr<tls_context> ctx, std::string host);
  // Server handshake over an accepted stream.
  static task<tls_stream> accept(net::tcp_stream tcp, std::shared_ptr<tls_context> ctx);

  // Decrypted bytes, at least one, at most buf.size(); 0 at EOF (a
  // close_notify, or the peer closing without one: HTTP frames its own
  // messages, so a truncation is the parser's to report).
  task<std::size_t> read_some(std::span<std::byte> buf);
  // Encrypts and sends every byte.
  task<void> write_all(std::span<const std::byte> buf);
  task<void> write_all(std::string_view text) { return write_all(std::as_bytes(std::span(text.data(), text.size()))); }
  // True if OpenSSL holds decrypted bytes not read yet (no syscall needed).
  bool has_pending() const noexcept;
  // Sends close_notify without waiting for the peer's (best effort, never
  // suspends), then closes the socket.
  void close() noexcept;

  net::tcp_stream& lower() noexcept { return tcp_; }
  bool is_open() const noexcept { return tcp_.is_open(); }
  // The negotiated protocol version, e.g. "TLSv1.3".
  std::string version() const;

 private:
  tls_stream(net::tcp_stream tcp, std::shared_ptr<tls_context> ctx, ssl_st* ssl) noexcept;
  static task<tls_stream> handshake(tls_stream s, std::string name);
  // Waits for what OpenSSL asked for after a call that returned `ret`;
  // false for a clean EOF; throws for an error.
  task<bool> wait_for_io(int ret, const char* what);

  net::tcp_stream tcp_;
  std::shared_ptr<tls_context> ctx_;
  ssl_st* ssl_ = nullptr;
};

}  // namespace corio::http
