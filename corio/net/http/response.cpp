// SPDX-License-Identifier: MIT
//
// The response side of an exchange: reading the head, then the body through
// the parser (and the gzip stage), and the user-facing ways to consume it.
// Every failure funnels through fail_http / rethrow_io, which close the
// connection and name the request, so no path can hand out a short body as
// if it were whole.
#include <corio/net/http/response.hpp>

#include <corio/net/http/exchange.hpp>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <system_error>
#include <unistd.h>

namespace corio::http {

// --- fields ---------------------------------------------------------------------

void fields::set(std::string_view name, std::string value) {
  remove(name);
  add(std::string(name), std::move(value));
}

std::size_t fields::remove(std::string_view name) {
  return std::erase_if(v_, [&](const auto& f) { return ascii_iequals(f.first, name); });
}

std::optional<std::string_view> fields::find(std::string_view name) const noexcept {
  for (const auto& [n, v] : v_)
    if (ascii_iequals(n, name)) return std::string_view(v);
  return std::nullopt;
}

std::vector<std::string_view> fields::find_all(std::string_view name) const {
  std::vector<std::string_view> out;
  for (const auto& [n, v] : v_)
    if (ascii_iequals(n, name)) out.emplace_back(v);
  return out;
}

// --- exchange -------------------------------------------------------------------

namespace detail {

namespace {

constexpr std::size_t gzip_buffer = 64 * 1024;

bool connection_dropped(int err) { return err == ECONNRESET || err == EPIPE || err == ECONNABORTED; }

}  // namespace

void exchange::abort() noexcept {
  failed = true;
  done = true;
  lease.release(false);
}

void exchange::fail_http(const std::string& why) {
  abort();
  throw http_error(what + ": " + why, url);
}

void exchange::rethrow_io(const std::system_error& e) {
  abort();
  throw with_context(e, what);
}

void exchange::complete() noexcept {
  done = true;
  client_connection& c = lease.conn();
  // Extra bytes after the response (a broken server) make the connection unusable.
  lease.release(c.parser().keep_alive() && c.unconsumed().empty());
}

task<std::size_t> exchange::fill() {
  try {
    co_return co_await lease.conn().fill(deadlines, what);
  } catch (const std::system_error& e) {
    rethrow_io(e);
  } catch (...) {
    abort();
    throw;
  }
}

task<void> exchange::send(std::span<const std::byte> head, std::span<const std::byte> body) {
  std::exception_ptr error;
  try {
    co_await lease.conn().write(head, body, deadlines, what);
    co_return;
  } catch (const std::system_error& e) {
    if (!connection_dropped(e.code().value())) rethrow_io(e);
    error = std::current_exception();
  } catch (...) {
    abort();
    throw;
  }
  abort();
  throw stale_connection{error};
}

task<void> exchange::read_head(response& r, bool decompress) {
  client_connection& c = lease.conn();
  parser& p = c.parser();
  bool got_any = false;
  for (;;) {
    parse_result pr = p.feed(c.unconsumed());
    if (pr.event == parse_event::need_more) {
      std::size_t n = 0;
      std::exception_ptr error;
      try {
        n = co_await c.fill(deadlines, what);
      } catch (const std::system_error& e) {
        if (got_any || !connection_dropped(e.code().value())) rethrow_io(e);
        error = std::current_exception();
      } catch (...) {
        abort();
        throw;
      }
      if (error || (n == 0 && !got_any)) {
        abort();
        throw stale_connection{error};
      }
      if (n == 0) {
        (void)p.finish();
        fail_http("invalid response: " + std::string(p.error_message()));
      }
      got_any = true;
      continue;
    }
    if (pr.event == parse_event::error) fail_http("invalid response: " + std::string(p.error_message()));
    if (pr.event != parse_event::headers_complete) fail_http("invalid response");
    if (p.is_interim()) {
      c.consume(pr.consumed);
      continue;
    }
    r.status_ = p.status();
    r.reason_ = std::string(p.reason());
    r.version_ = p.version();
    for (const header& h : p.headers()) r.headers_.add(std::string(h.name), std::string(h.value));
    r.content_length_ = p.content_length();
    c.consume(pr.consumed);
    if (p.framing() == body_framing::none) {
      parse_result end = p.feed(c.unconsumed());
      c.consume(end.consumed);
      if (end.event == parse_event::message_complete) complete();
    } else if (decompress && r.status_ != 204 && r.status_ != 304) {
      if (auto ce = r.headers_.find("content-encoding")) {
        if (ascii_iequals(*ce, "gzip") || ascii_iequals(*ce, "x-gzip") || ascii_iequals(*ce, "deflate")) {
          gzip.emplace();
          gzip_out = std::make_unique<std::byte[]>(gzip_buffer);
        }
      }
    }
    co_return;
  }
}

task<std::span<const std::byte>> exchange::next_raw() {
  if (failed) throw http_error(what + ": the response was aborted by an earlier error", url);
  if (done) co_return std::span<const std::byte>{};
  client_connection& c = lease.conn();
  parser& p = c.parser();
  for (;;) {
    parse_result pr = p.feed(c.unconsumed());
    c.consume(pr.consumed);
    switch (pr.event) {
      case parse_event::body:
        co_return std::as_bytes(std::span(pr.body.data(), pr.body.size()));
      case parse_event::message_complete:
        for (const header& h : p.trailers()) trailers.add(std::string(h.name), std::string(h.value));
        complete();
        co_return std::span<const std::byte>{};
      case parse_event::need_more:
        if (co_await fill() == 0) {
          parse_result end = p.finish();
          if (end.event == parse_event::message_complete) {
            complete();
            co_return std::span<const std::byte>{};
          }
          std::string why(p.error_message());
          if (auto cl = p.content_length(); cl && p.error() == parse_errc::truncated_body)
            why += " (got " + std::to_string(p.body_bytes()) + " of " + std::to_string(*cl) + " bytes)";
          fail_http(why);
        }
        continue;
      default:
        fail_http("invalid response body: " + std::string(p.error_message()));
    }
  }
}

task<std::span<const std::byte>> exchange::next_chunk() {
  if (!gzip) {
    std::span<const std::byte> s = co_await next_raw();
    delivered += s.size();
    co_return s;
  }
  for (;;) {
    if (gzip_in.empty()) {
      gzip_in = co_await next_raw();
      if (gzip_in.empty()) {
        if (!gzip->finished()) fail_http("truncated gzip body");
        co_return std::span<const std::byte>{};
      }
    }
    gzip_decoder::result r{};
    try {
      r = gzip->decode(gzip_in, std::span(gzip_out.get(), gzip_buffer));
    } catch (const gzip_error& e) {
      fail_http(e.what());
    }
    gzip_in = gzip_in.subspan(r.consumed);
    if (r.produced > 0) {
      delivered += r.produced;
      co_return std::span<const std::byte>(gzip_out.get(), r.produced);
    }
    if (r.consumed == 0) fail_http("gzip: no progress (trailing garbage after the compressed body)");
  }
}

}  // namespace detail

// --- response -------------------------------------------------------------------

response::response() noexcept = default;
response::response(response&&) noexcept = default;
response& response::operator=(response&&) noexcept = default;
response::~response() = default;

bool response::decoded() const noexcept { return ex_ && ex_->gzip.has_value(); }

const fields& response::trailers() const noexcept {
  static const fields none;
  return ex_ ? ex_->trailers : none;
}

bool response::complete() const noexcept { return !ex_ || (ex_->done && !ex_->failed); }

std::uint64_t response::body_bytes() const noexcept { return ex_ ? ex_->delivered : 0; }

void response::close() noexcept {
  pending_ = {};
  if (ex_ && !ex_->done) ex_->abort();
}

task<std::span<const std::byte>> response::read_chunk() {
  if (!pending_.empty()) co_return std::exchange(pending_, {});
  if (!ex_) co_return std::span<const std::byte>{};
  co_return co_await ex_->next_chunk();
}

task<std::size_t> response::read_some(std::span<std::byte> buf) {
  if (buf.empty()) co_return 0;
  if (pending_.empty()) pending_ = co_await read_chunk();
  std::size_t n = std::min(buf.size(), pending_.size());
  if (n == 0) co_return 0;  // end of body (pending_ may be a null span)
  std::memcpy(buf.data(), pending_.data(), n);
  pending_ = pending_.subspan(n);
  co_return n;
}

async_generator<std::span<const std::byte>> response::chunks() {
  for (;;) {
    std::span<const std::byte> c = co_await read_chunk();
    if (c.empty()) co_return;
    co_yield c;
  }
}

task<std::string> response::text(std::size_t limit) {
  std::string out;
  if (content_length_ && !decoded() && *content_length_ <= limit) out.reserve(*content_length_);
  for (;;) {
    std::span<const std::byte> c = co_await read_chunk();
    if (c.empty()) co_return out;
    if (out.size() + c.size() > limit) {
      close();
      throw http_error(method_ + " " + url_.to_string() + ": body larger than the limit of " + std::to_string(limit) +
                           " bytes",
                       url_.to_string());
    }
    out.append(reinterpret_cast<const char*>(c.data()), c.size());
  }
}

task<std::vector<std::byte>> response::body(std::size_t limit) {
  std::string s = co_await text(limit);
  auto b = std::as_bytes(std::span(s.data(), s.size()));
  co_return std::vector<std::byte>(b.begin(), b.end());
}

task<void> response::discard(std::size_t limit) {
  std::size_t seen = 0;
  while (!complete()) {
    std::span<const std::byte> c = co_await read_chunk();
    if (c.empty()) break;
    seen += c.size();
    if (seen > limit) {
      close();
      break;
    }
  }
}

namespace {

// Removes the temporary file unless committed.
struct temp_file {
  std::string path;
  int fd = -1;
  bool committed = false;
  ~temp_file() {
    if (fd >= 0) ::close(fd);
    if (!committed && !path.empty()) ::unlink(path.c_str());
  }
};

void write_fully(int fd, std::span<const std::byte> data, const std::string& path) {
  while (!data.empty()) {
    ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw_system_error(errno, "write to " + path);
    }
    data = data.subspan(static_cast<std::size_t>(n));
  }
}

}  // namespace

task<std::uint64_t> response::save_to(std::string path, save_options options) {
  temp_file tmp;
  std::string templ = path + ".corio-XXXXXX";
  tmp.fd = ::mkostemp(templ.data(), O_CLOEXEC);
  if (tmp.fd < 0) throw_system_error(errno, "create a temporary file for " + path);
  tmp.path = templ;
  ::fchmod(tmp.fd, 0644);
  std::uint64_t total = 0;
  for (;;) {
    std::span<const std::byte> c = co_await read_chunk();
    if (c.empty()) break;
    try {
      write_fully(tmp.fd, c, tmp.path);
    } catch (...) {
      close();
      throw;
    }
    total += c.size();
  }
  if (options.fsync && ::fdatasync(tmp.fd) != 0) throw_system_error(errno, "fdatasync " + tmp.path);
  int fd = std::exchange(tmp.fd, -1);
  if (::close(fd) != 0) throw_system_error(errno, "close " + tmp.path);
  if (::rename(tmp.path.c_str(), path.c_str()) != 0) throw_system_error(errno, "rename to " + path);
  tmp.committed = true;
  co_return total;
}

}  // namespace corio::http
