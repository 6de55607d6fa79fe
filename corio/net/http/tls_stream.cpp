// SPDX-License-Identifier: MIT
//
// OpenSSL behind tls_stream. Every SSL_* call that may touch the socket is
// followed at once by SSL_get_error (OpenSSL's error queue is per thread and
// the next call would overwrite it), which `next_step` turns into what the
// task awaits next. The queue is always cleared before a call
// (ERR_clear_error) so that a stale error from another connection on this
// thread cannot be mistaken for ours.
#include <corio/net/http/tls_stream.hpp>

#include <corio/config.hpp>
#include <corio/core/io.hpp>

#if CORIO_HAS_TLS
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#endif

#include <cerrno>
#include <utility>

namespace corio::http {

#if CORIO_HAS_TLS

namespace {

std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown error" : out;
}

[[noreturn]] void throw_tls(const std::string& what) { throw tls_error(what + ": " + openssl_errors()); }

enum class step { done, want_read, want_write, eof };

// What OpenSSL asks for after a call that returned `ret` (<= 0).
step next_step(ssl_st* ssl, int ret, const std::string& what) {
  int e = SSL_get_error(ssl, ret);
  switch (e) {
    case SSL_ERROR_WANT_READ: return step::want_read;
    case SSL_ERROR_WANT_WRITE: return step::want_write;
    case SSL_ERROR_ZERO_RETURN: return step::eof;
    case SSL_ERROR_SYSCALL: {
      int err = errno;
      if (ERR_peek_error() == 0) {
        if (err == 0) return step::eof;  // the peer closed the TCP stream without close_notify
        throw_system_error(err, what);
      }
      throw_tls(what);
    }
    case SSL_ERROR_SSL: {
      long v = SSL_get_verify_result(ssl);
      if (v != X509_V_OK) {
        ERR_clear_error();
        throw tls_error(what + ": certificate verify failed: " + X509_verify_cert_error_string(v));
      }
      throw_tls(what);
    }
    default: throw_tls(what);
  }
}

task<void> wait(int fd, step s) {
  if (s == step::want_read)
    co_await io::wait_readable(fd);
  else
    co_await io::wait_writable(fd);
}

bool is_ip_literal(const std::string& host) { return net::address::from_host(host, 0).has_value(); }

}  // namespace

bool tls_available() noexcept { return true; }

std::shared_ptr<tls_context> tls_context::client(const tls_options& options) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) throw_tls("SSL_CTX_new");
  auto holder = std::shared_ptr<tls_context>(new tls_context(ctx, options.verify));
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
#endif
  if (options.verify) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
    if (!options.ca_file.empty()) {
      if (SSL_CTX_load_verify_locations(ctx, options.ca_file.c_str(), nullptr) != 1)
        throw_tls("load CA file '" + options.ca_file + "'");
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      throw_tls("load the system's CA store");
    }
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  if (!options.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(ctx, options.cert_file.c_str()) != 1)
      throw_tls("load certificate '" + options.cert_file + "'");
    if (SSL_CTX_use_PrivateKey_file(ctx, options.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
      throw_tls("load key '" + options.key_file + "'");
  }
  return holder;
}

std::shared_ptr<tls_context> tls_context::server(const tls_options& options) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (!ctx) throw_tls("SSL_CTX_new");
  auto holder = std::shared_ptr<tls_context>(new tls_context(ctx, false));
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(ctx, options.cert_file.c_str()) != 1)
    throw_tls("load certificate '" + options.cert_file + "'");
  if (SSL_CTX_use_PrivateKey_file(ctx, options.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    throw_tls("load key '" + options.key_file + "'");
  return holder;
}

tls_context::~tls_context() { SSL_CTX_free(ctx_); }

tls_stream::tls_stream(net::tcp_stream tcp, std::shared_ptr<tls_context> ctx, ssl_st* ssl) noexcept
    : tcp_(std::move(tcp)), ctx_(std::move(ctx)), ssl_(ssl) {}

tls_stream::~tls_stream() {
  if (ssl_) SSL_free(ssl_);
}

bool tls_stream::has_pending() const noexcept { return ssl_ && SSL_pending(ssl_) > 0; }

void tls_stream::close() noexcept {
  if (ssl_ && tcp_.is_open()) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // one non-blocking attempt at close_notify
    ERR_clear_error();
  }
  tcp_.close();
}

std::string tls_stream::version() const { return ssl_ ? SSL_get_version(ssl_) : ""; }

task<tls_stream> tls_stream::connect(net::tcp_stream tcp, std::shared_ptr<tls_context> ctx, std::string host) {
  SSL* ssl = SSL_new(ctx->native());
  if (!ssl) throw_tls("SSL_new");
  tls_stream s(std::move(tcp), std::move(ctx), ssl);
  if (SSL_set_fd(ssl, s.tcp_.fd()) != 1) throw_tls("SSL_set_fd");
  if (!is_ip_literal(host) && SSL_set_tlsext_host_name(ssl, host.c_str()) != 1) throw_tls("SNI " + host);
  if (s.ctx_->verify()) {
    if (is_ip_literal(host)) {
      if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host.c_str()) != 1) throw_tls("verify IP " + host);
    } else if (SSL_set1_host(ssl, host.c_str()) != 1) {
      throw_tls("verify host " + host);
    }
  }
  SSL_set_connect_state(ssl);
  co_return co_await handshake(std::move(s), std::move(host));
}

task<tls_stream> tls_stream::accept(net::tcp_stream tcp, std::shared_ptr<tls_context> ctx) {
  SSL* ssl = SSL_new(ctx->native());
  if (!ssl) throw_tls("SSL_new");
  tls_stream s(std::move(tcp), std::move(ctx), ssl);
  if (SSL_set_fd(ssl, s.tcp_.fd()) != 1) throw_tls("SSL_set_fd");
  SSL_set_accept_state(ssl);
  co_return co_await handshake(std::move(s), {});
}

task<tls_stream> tls_stream::handshake(tls_stream s, std::string name) {
  std::string what = "TLS handshake with " + (name.empty() ? s.tcp_.peer_address().to_string()
                                                           : name + " (" + s.tcp_.peer_address().to_string() + ")");
  for (;;) {
    ERR_clear_error();
    int r = SSL_do_handshake(s.ssl_);
    if (r == 1) co_return std::move(s);
    step st = next_step(s.ssl_, r, what);
    if (st == step::eof) throw tls_error(what + ": the peer closed the connection");
    co_await wait(s.tcp_.fd(), st);
  }
}

task<std::size_t> tls_stream::read_some(std::span<std::byte> buf) {
  if (buf.empty()) co_return 0;
  for (;;) {
    ERR_clear_error();
    std::size_t n = 0;
    int r = SSL_read_ex(ssl_, buf.data(), buf.size(), &n);
    if (r == 1) co_return n;
    step st = next_step(ssl_, r, "TLS read from " + tcp_.peer_address().to_string());
    if (st == step::eof) co_return 0;
    co_await wait(tcp_.fd(), st);
  }
}

task<void> tls_stream::write_all(std::span<const std::byte> buf) {
  while (!buf.empty()) {
    ERR_clear_error();
    std::size_t n = 0;
    int r = SSL_write_ex(ssl_, buf.data(), buf.size(), &n);
    if (r == 1) {
      buf = buf.subspan(n);
      continue;
    }
    step st = next_step(ssl_, r, "TLS write to " + tcp_.peer_address().to_string());
    if (st == step::eof) throw_system_error(EPIPE, "TLS write to " + tcp_.peer_address().to_string());
    co_await wait(tcp_.fd(), st);
  }
}

#else  // !CORIO_HAS_TLS

namespace {
[[noreturn]] void no_tls() {
  throw tls_error("corio was built without TLS support (meson feature 'tls', OpenSSL)");
}
}  // namespace

bool tls_available() noexcept { return false; }
std::shared_ptr<tls_context> tls_context::client(const tls_options&) { no_tls(); }
std::shared_ptr<tls_context> tls_context::server(const tls_options&) { no_tls(); }
tls_context::~tls_context() = default;
tls_stream::tls_stream(net::tcp_stream tcp, std::shared_ptr<tls_context> ctx, ssl_st* ssl) noexcept
    : tcp_(std::move(tcp)), ctx_(std::move(ctx)), ssl_(ssl) {}
tls_stream::~tls_stream() = default;
bool tls_stream::has_pending() const noexcept { return false; }
void tls_stream::close() noexcept { tcp_.close(); }
std::string tls_stream::version() const { return {}; }
task<tls_stream> tls_stream::connect(net::tcp_stream, std::shared_ptr<tls_context>, std::string) { no_tls(); }
task<tls_stream> tls_stream::accept(net::tcp_stream, std::shared_ptr<tls_context>) { no_tls(); }
task<tls_stream> tls_stream::handshake(tls_stream, std::string) { no_tls(); }
task<std::size_t> tls_stream::read_some(std::span<std::byte>) { no_tls(); }
task<void> tls_stream::write_all(std::span<const std::byte>) { no_tls(); }

#endif

tls_stream::tls_stream(tls_stream&& o) noexcept
    : tcp_(std::move(o.tcp_)), ctx_(std::move(o.ctx_)), ssl_(std::exchange(o.ssl_, nullptr)) {}

tls_stream& tls_stream::operator=(tls_stream&& o) noexcept {
  if (this != &o) {
    tls_stream tmp(std::move(o));
    std::swap(tcp_, tmp.tcp_);
    std::swap(ctx_, tmp.ctx_);
    std::swap(ssl_, tmp.ssl_);
  }
  return *this;
}

}  // namespace corio::http
