// SPDX-License-Identifier: MIT
//
// Parsing and formatting of addresses. inet_pton/inet_ntop do the numeric
// work (they are strict: no leading zeros tricks, no shorthand IPv4 such as
// "127.1"), this file does the framing: brackets, ports, scopes, "unix:".
#include <corio/net/address.hpp>

#include <arpa/inet.h>
#include <charconv>
#include <cstddef>
#include <cstring>
#include <net/if.h>
#include <netinet/in.h>
#include <stdexcept>
#include <sys/un.h>

namespace corio::net {

namespace {

constexpr std::string_view unix_prefix = "unix:";

std::optional<std::uint16_t> parse_port(std::string_view s) noexcept {
  if (s.empty() || s.size() > 5) return std::nullopt;
  unsigned v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}

std::optional<std::uint32_t> parse_scope(std::string_view s) noexcept {
  if (s.empty() || s.size() >= IF_NAMESIZE) return std::nullopt;
  std::uint32_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec == std::errc() && end == s.data() + s.size()) return v;
  char name[IF_NAMESIZE] = {};
  std::memcpy(name, s.data(), s.size());
  unsigned idx = ::if_nametoindex(name);
  if (idx == 0) return std::nullopt;
  return idx;
}

// An IPv6 literal without brackets, with an optional "%scope".
std::optional<address> parse_v6(std::string_view host, std::uint16_t port) noexcept {
  std::uint32_t scope = 0;
  if (auto pct = host.find('%'); pct != std::string_view::npos) {
    auto s = parse_scope(host.substr(pct + 1));
    if (!s) return std::nullopt;
    scope = *s;
    host = host.substr(0, pct);
  }
  char buf[INET6_ADDRSTRLEN] = {};
  if (host.empty() || host.size() >= sizeof buf) return std::nullopt;
  std::memcpy(buf, host.data(), host.size());
  std::uint8_t bytes[16];
  if (::inet_pton(AF_INET6, buf, bytes) != 1) return std::nullopt;
  return address::ipv6(bytes, port, scope);
}

std::optional<address> parse_v4(std::string_view host, std::uint16_t port) noexcept {
  char buf[INET_ADDRSTRLEN] = {};
  if (host.empty() || host.size() >= sizeof buf) return std::nullopt;
  std::memcpy(buf, host.data(), host.size());
  ::in_addr a{};
  if (::inet_pton(AF_INET, buf, &a) != 1) return std::nullopt;
  return address::ipv4(ntohl(a.s_addr), port);
}

const ::sockaddr_in& v4(const ::sockaddr_storage& s) noexcept { return reinterpret_cast<const ::sockaddr_in&>(s); }
const ::sockaddr_in6& v6(const ::sockaddr_storage& s) noexcept { return reinterpret_cast<const ::sockaddr_in6&>(s); }
const ::sockaddr_un& un(const ::sockaddr_storage& s) noexcept { return reinterpret_cast<const ::sockaddr_un&>(s); }

constexpr ::socklen_t unix_path_offset = offsetof(::sockaddr_un, sun_path);

}  // namespace

address::address() noexcept : storage_{} { storage_.ss_family = AF_UNSPEC; }

address address::ipv4(std::uint32_t host_order, std::uint16_t port) noexcept {
  address a;
  auto& s = reinterpret_cast<::sockaddr_in&>(a.storage_);
  s.sin_family = AF_INET;
  s.sin_port = htons(port);
  s.sin_addr.s_addr = htonl(host_order);
  a.len_ = sizeof(::sockaddr_in);
  return a;
}

address address::ipv6(const std::uint8_t (&bytes)[16], std::uint16_t port, std::uint32_t scope_id) noexcept {
  address a;
  auto& s = reinterpret_cast<::sockaddr_in6&>(a.storage_);
  s.sin6_family = AF_INET6;
  s.sin6_port = htons(port);
  std::memcpy(&s.sin6_addr, bytes, 16);
  s.sin6_scope_id = scope_id;
  a.len_ = sizeof(::sockaddr_in6);
  return a;
}

address address::unix_path(std::string_view path) {
  address a;
  auto& s = reinterpret_cast<::sockaddr_un&>(a.storage_);
  // A filesystem path needs its terminating NUL inside sun_path.
  if (path.size() + (path.starts_with('@') ? 0 : 1) > sizeof s.sun_path)
    throw std::invalid_argument("unix socket path too long (" + std::to_string(path.size()) + " bytes, max " +
                                std::to_string(sizeof s.sun_path - 1) + "): " + std::string(path));
  s.sun_family = AF_UNIX;
  std::memcpy(s.sun_path, path.data(), path.size());
  if (path.starts_with('@')) {
    s.sun_path[0] = '\0';  // abstract: the length, not a NUL, ends the name
    a.len_ = static_cast<::socklen_t>(unix_path_offset + path.size());
  } else {
    a.len_ = static_cast<::socklen_t>(unix_path_offset + (path.empty() ? 0 : path.size() + 1));
  }
  return a;
}

address address::loopback_v4(std::uint16_t port) noexcept { return ipv4(INADDR_LOOPBACK, port); }
address address::any_v4(std::uint16_t port) noexcept { return ipv4(INADDR_ANY, port); }
address address::loopback_v6(std::uint16_t port) noexcept {
  static constexpr std::uint8_t one[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  return ipv6(one, port);
}
address address::any_v6(std::uint16_t port) noexcept {
  static constexpr std::uint8_t zero[16] = {};
  return ipv6(zero, port);
}

address address::from_sockaddr(const ::sockaddr* sa, ::socklen_t len) noexcept {
  address a;
  if (!sa || len < sizeof(sa_family_t) || len > sizeof(::sockaddr_storage)) return a;
  std::memcpy(&a.storage_, sa, len);
  a.len_ = len;
  // Callers that pass the buffer's size rather than the kernel's length
  // still get the canonical length (it is what operator== compares).
  if (a.is_v4() && len >= sizeof(::sockaddr_in)) a.len_ = sizeof(::sockaddr_in);
  if (a.is_v6() && len >= sizeof(::sockaddr_in6)) a.len_ = sizeof(::sockaddr_in6);
  return a;
}

std::optional<address> address::from_host(std::string_view host, std::uint16_t port) noexcept {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') return parse_v6(host.substr(1, host.size() - 2), port);
  if (auto a = parse_v4(host, port)) return a;
  return parse_v6(host, port);
}

std::optional<address> address::try_parse(std::string_view text) noexcept {
  if (text.starts_with(unix_prefix)) {
    std::string_view path = text.substr(unix_prefix.size());
    if (path.empty() || path.size() >= sizeof(::sockaddr_un{}.sun_path)) return std::nullopt;
    try {
      return unix_path(path);
    } catch (...) {
      return std::nullopt;
    }
  }
  if (text.starts_with('[')) {
    auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') return std::nullopt;
    auto port = parse_port(text.substr(close + 2));
    if (!port) return std::nullopt;
    return parse_v6(text.substr(1, close - 1), *port);
  }
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  auto port = parse_port(text.substr(colon + 1));
  if (!port) return std::nullopt;
  // A bare IPv6 literal ("::1:80") is ambiguous: brackets are required.
  return parse_v4(text.substr(0, colon), *port);
}

address address::parse(std::string_view text) {
  if (auto a = try_parse(text)) return *a;
  throw std::invalid_argument("invalid socket address '" + std::string(text) +
                              "' (expected 1.2.3.4:port, [v6]:port or unix:/path)");
}

std::uint16_t address::port() const noexcept {
  if (is_v4()) return ntohs(v4(storage_).sin_port);
  if (is_v6()) return ntohs(v6(storage_).sin6_port);
  return 0;
}

address address::with_port(std::uint16_t port) const noexcept {
  address a = *this;
  if (is_v4()) reinterpret_cast<::sockaddr_in&>(a.storage_).sin_port = htons(port);
  if (is_v6()) reinterpret_cast<::sockaddr_in6&>(a.storage_).sin6_port = htons(port);
  return a;
}

bool address::is_abstract() const noexcept { return is_unix() && len_ > unix_path_offset && un(storage_).sun_path[0] == '\0'; }

std::string address::path() const {
  if (!is_unix() || len_ <= unix_path_offset) return {};
  const auto& s = un(storage_);
  std::size_t n = len_ - unix_path_offset;
  std::string out;
  if (s.sun_path[0] == '\0') {
    out.push_back('@');
    out.append(s.sun_path + 1, n - 1);
  } else {
    out.append(s.sun_path, ::strnlen(s.sun_path, n));
  }
  return out;
}

std::string address::host() const {
  char buf[INET6_ADDRSTRLEN] = {};
  if (is_v4()) return ::inet_ntop(AF_INET, &v4(storage_).sin_addr, buf, sizeof buf);
  if (is_v6()) {
    std::string h = ::inet_ntop(AF_INET6, &v6(storage_).sin6_addr, buf, sizeof buf);
    if (auto scope = v6(storage_).sin6_scope_id) {
      h.push_back('%');
      h.append(std::to_string(scope));
    }
    return h;
  }
  return path();
}

std::string address::to_string() const {
  std::string out;
  if (is_v6()) out.push_back('[');
  if (is_unix()) out.append(unix_prefix);
  out.append(host());
  if (is_v6()) out.push_back(']');
  if (is_v4() || is_v6()) {
    out.push_back(':');
    out.append(std::to_string(port()));
  }
  return out;
}

bool address::is_loopback() const noexcept {
  if (is_v4()) return (ntohl(v4(storage_).sin_addr.s_addr) >> 24) == 127;
  if (is_v6()) {
    const auto& a = v6(storage_).sin6_addr;
    if (IN6_IS_ADDR_LOOPBACK(&a)) return true;
    return IN6_IS_ADDR_V4MAPPED(&a) && a.s6_addr[12] == 127;
  }
  return false;
}

bool address::is_unspecified() const noexcept {
  if (is_v4()) return v4(storage_).sin_addr.s_addr == INADDR_ANY;
  if (is_v6()) return IN6_IS_ADDR_UNSPECIFIED(&v6(storage_).sin6_addr);
  return false;
}

bool operator==(const address& a, const address& b) noexcept {
  if (a.family() != b.family()) return false;
  if (a.is_v4()) return v4(a.storage_).sin_port == v4(b.storage_).sin_port &&
                        v4(a.storage_).sin_addr.s_addr == v4(b.storage_).sin_addr.s_addr;
  if (a.is_v6())
    return v6(a.storage_).sin6_port == v6(b.storage_).sin6_port &&
           v6(a.storage_).sin6_scope_id == v6(b.storage_).sin6_scope_id &&
           std::memcmp(&v6(a.storage_).sin6_addr, &v6(b.storage_).sin6_addr, 16) == 0;
  if (a.is_unix()) return a.len_ == b.len_ && std::memcmp(&a.storage_, &b.storage_, a.len_) == 0;
  return true;
}

}  // namespace corio::net
