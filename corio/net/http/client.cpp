// SPDX-License-Identifier: MIT
//
// client_session: request composition, the one retry, redirects. The wire
// work is the exchange's (exchange.hpp), the connections the pool's.
#include <corio/net/http/client.hpp>

#include <corio/config.hpp>
#include <corio/core/event_loop.hpp>
#include <corio/net/http/exchange.hpp>
#include <corio/net/http/gzip.hpp>

#include <set>
#include <stdexcept>
#include <system_error>

namespace corio::http {

namespace {

void check_field(const std::string& name, const std::string& value) {
  auto bad = [](char c) { return c == '\r' || c == '\n' || c == '\0'; };
  if (name.empty() || std::any_of(name.begin(), name.end(), [](char c) { return c <= ' ' || c == ':' || c == 127; }))
    throw std::invalid_argument("http request: invalid header name '" + name + "'");
  if (std::any_of(value.begin(), value.end(), bad))
    throw std::invalid_argument("http request: header '" + name + "' has a CR, LF or NUL in its value");
}

bool is_redirect(unsigned status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// "GET http://host:8080/path?q": the request as errors name it (no userinfo).
std::string describe(const std::string& method, const url& u) {
  return method + " " + u.scheme() + "://" + u.host_header() + u.target();
}

request_deadlines make_deadlines(const client_timeouts& t) {
  request_deadlines d{t.connect, t.read, t.total, std::nullopt};
  if (t.total) d.total_until = current_loop().now() + *t.total;
  return d;
}

}  // namespace

bool is_idempotent(std::string_view m) noexcept {
  return m == "GET" || m == "HEAD" || m == "PUT" || m == "DELETE" || m == "OPTIONS" || m == "TRACE";
}

client_session::client_session(client_options options)
    : options_(std::move(options)), pool_(std::make_shared<connection_pool>(options_.pool)) {
  if (options_.user_agent.empty()) options_.user_agent = "corio/" CORIO_VERSION;
  for (const auto& [n, v] : options_.default_headers) check_field(n, v);
}

client_session::~client_session() { pool_->close_idle(); }

std::string client_session::build_head(const std::string& method, const url& u, const fields& headers,
                                       const std::string& body) const {
  std::string h;
  h.reserve(256);
  h += method;
  h += ' ';
  h += u.target();
  h += " HTTP/1.1\r\n";
  auto put = [&](std::string_view name, std::string_view value) {
    h += name;
    h += ": ";
    h += value;
    h += "\r\n";
  };
  auto absent = [&](std::string_view name) { return !headers.contains(name) && !options_.default_headers.contains(name); };
  if (!headers.contains("host")) put("Host", u.host_header());
  if (absent("user-agent")) put("User-Agent", options_.user_agent);
  if (absent("accept")) put("Accept", "*/*");
  if (options_.auto_decompress && gzip_available() && absent("accept-encoding")) put("Accept-Encoding", "gzip");
  for (const auto& [n, v] : options_.default_headers)
    if (!headers.contains(n)) put(n, v);
  for (const auto& [n, v] : headers) put(n, v);
  bool needs_length = !body.empty() || method == "POST" || method == "PUT" || method == "PATCH";
  if (needs_length && !headers.contains("content-length") && !headers.contains("transfer-encoding"))
    put("Content-Length", std::to_string(body.size()));
  h += "\r\n";
  return h;
}

task<response> client_session::send_once(const std::string& method, const url& u, const fields& headers,
                                         const std::string& body, const request_deadlines& d) {
  std::string what = describe(method, u);
  std::string head = build_head(method, u, headers, body);
  std::string url_text = u.to_string();
  for (int attempt = 0;; ++attempt) {
    connection_lease lease = co_await pool_->acquire(u, d, what, attempt > 0);
    bool reused = lease.reused();
    lease.conn().parser().set_request_method(method);
    ++lease.conn().requests;
    response r;
    r.ex_ = std::make_unique<detail::exchange>(std::move(lease), what, url_text, d);
    std::optional<detail::stale_connection> stale;
    try {
      co_await r.ex_->send(std::as_bytes(std::span(head.data(), head.size())),
                           std::as_bytes(std::span(body.data(), body.size())));
      co_await r.ex_->read_head(r, options_.auto_decompress && method != "HEAD");
    } catch (detail::stale_connection& s) {
      stale = std::move(s);
    }
    if (stale) {
      if (reused && attempt == 0 && is_idempotent(method)) continue;
      if (stale->error) {
        try {
          std::rethrow_exception(stale->error);
        } catch (const std::system_error& e) {
          throw detail::with_context(e, what);
        }
      }
      throw http_error(what + ": the server closed the connection without responding", url_text);
    }
    r.url_ = u;
    r.method_ = method;
    co_return r;
  }
}

task<response> client_session::request(std::string method, std::string url_text, fields headers, std::string body,
                                       request_options options) {
  for (const auto& [n, v] : headers) check_field(n, v);
  for (char c : method)
    if (c <= ' ' || c >= 127) throw std::invalid_argument("http request: invalid method '" + method + "'");
  url u = url::parse(url_text);
  if (u.scheme() != "http" && u.scheme() != "https")
    throw std::invalid_argument("http request: unsupported URL scheme '" + u.scheme() + "' in " + url_text);
  request_deadlines d = make_deadlines(options.timeouts.value_or(options_.timeouts));
  bool follow = options.follow_redirects.value_or(options_.follow_redirects);
  unsigned max_redirects = options.max_redirects.value_or(options_.max_redirects);

  std::set<std::string> visited{method + " " + u.to_string()};
  for (unsigned redirects = 0;; ++redirects) {
    response r = co_await send_once(method, u, headers, body, d);
    r.redirects_ = redirects;
    std::optional<std::string_view> location = r.headers().find("location");
    if (!follow || !is_redirect(r.status()) || !location) co_return r;

    // Drained first, so that the connection goes back to the pool even when
    // the redirect turns out to be an error below.
    co_await r.discard();
    std::string what = describe(method, u);
    if (redirects == max_redirects)
      throw http_error(what + ": too many redirects (more than " + std::to_string(max_redirects) + ")", u.to_string());
    url next;
    try {
      next = url::resolve(u, *location);
    } catch (const url_error& e) {
      throw http_error(what + ": bad Location in a " + std::to_string(r.status()) + " redirect: " + e.what(),
                       u.to_string());
    }
    if (next.scheme() != "http" && next.scheme() != "https")
      throw http_error(what + ": redirect to an unsupported scheme: " + next.to_string(), u.to_string());
    unsigned s = r.status();
    if ((s == 301 || s == 302 || s == 303) && method != "GET" && method != "HEAD") {
      method = "GET";
      body.clear();
      headers.remove("content-length");
      headers.remove("content-type");
      headers.remove("transfer-encoding");
    }
    if (next.origin() != u.origin()) {
      headers.remove("authorization");
      headers.remove("proxy-authorization");
      headers.remove("cookie");
    }
    if (headers.contains("host")) headers.remove("host");
    if (!visited.insert(method + " " + next.to_string()).second)
      throw http_error(what + ": redirect loop: " + std::to_string(s) + " back to " + next.to_string(), u.to_string());
    u = std::move(next);
  }
}

}  // namespace corio::http
