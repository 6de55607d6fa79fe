// SPDX-License-Identifier: MIT
//
// The resolver: numeric fast path, localhost, a TTL cache, and getaddrinfo
// on another thread. The cache is a small map guarded by a mutex; eviction
// first drops expired entries and then the entry closest to expiry, which
// is the oldest (all entries live the same TTL). At 256 entries a scan is
// cheaper than keeping an LRU list, and it runs only when the map is full.
#include <corio/net/resolver.hpp>

#include <corio/core/error.hpp>
#include <corio/core/future.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <map>
#include <mutex>
#include <netdb.h>
#include <thread>

namespace corio::net {

namespace {

class gai_category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "getaddrinfo"; }
  std::string message(int code) const override { return ::gai_strerror(code); }
};

using clock = std::chrono::steady_clock;

struct cache_entry {
  std::vector<address> addrs;  // port 0
  clock::time_point expires;
};

std::mutex cache_mutex;
std::map<std::pair<std::string, int>, cache_entry> cache;  // guarded by cache_mutex
std::atomic<std::uint64_t> lookups{0};

std::optional<std::vector<address>> cache_get(const std::pair<std::string, int>& key) {
  std::lock_guard lock(cache_mutex);
  auto it = cache.find(key);
  if (it == cache.end()) return std::nullopt;
  if (it->second.expires <= clock::now()) {
    cache.erase(it);
    return std::nullopt;
  }
  return it->second.addrs;
}

void cache_put(std::pair<std::string, int> key, const std::vector<address>& addrs) {
  std::lock_guard lock(cache_mutex);
  auto now = clock::now();
  if (cache.size() >= cache_capacity && !cache.contains(key)) {
    std::erase_if(cache, [&](const auto& kv) { return kv.second.expires <= now; });
    if (cache.size() >= cache_capacity) {
      auto oldest = std::min_element(cache.begin(), cache.end(), [](const auto& a, const auto& b) {
        return a.second.expires < b.second.expires;
      });
      cache.erase(oldest);
    }
  }
  cache[std::move(key)] = cache_entry{addrs, now + cache_ttl};
}

bool is_localhost(std::string_view host) noexcept {
  auto lower_eq = [](std::string_view a, std::string_view b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end(),
                      [](char x, char y) { return (x >= 'A' && x <= 'Z' ? x - 'A' + 'a' : x) == y; });
  };
  if (host.ends_with('.')) host.remove_suffix(1);
  return lower_eq(host, "localhost") ||
         (host.size() > 10 && lower_eq(host.substr(host.size() - 10), ".localhost"));
}

// Blocking: runs on a helper thread. Addresses with port 0, or throws.
std::vector<address> getaddrinfo_blocking(const std::string& host, int family) {
  ++lookups;
  ::addrinfo hints{};
  hints.ai_family = family;
  hints.ai_socktype = SOCK_STREAM;  // one entry per address, not one per socket type
  ::addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  std::string what = "resolve '" + host + "'";
  if (rc == EAI_SYSTEM) throw std::system_error(errno, std::system_category(), what);
  if (rc != 0) throw std::system_error(rc, resolve_category(), what);
  std::vector<address> out;
  for (::addrinfo* ai = res; ai; ai = ai->ai_next) {
    address a = address::from_sockaddr(ai->ai_addr, ai->ai_addrlen);
    if ((a.is_v4() || a.is_v6()) && std::find(out.begin(), out.end(), a) == out.end()) out.push_back(a);
  }
  ::freeaddrinfo(res);
  if (out.empty()) throw std::system_error(EAI_NONAME, resolve_category(), what);
  return out;
}

// The seam: where blocking work leaves the loop. A thread per lookup until
// the toolkit's thread_pool exists.
future<std::vector<address>> lookup_off_loop(std::string host, int family) {
  promise<std::vector<address>> p;
  future<std::vector<address>> f = p.get_future();
  std::thread([p = std::move(p), host = std::move(host), family]() mutable {
    try {
      std::vector<address> addrs = getaddrinfo_blocking(host, family);
      cache_put({host, family}, addrs);
      p.set_value(std::move(addrs));
    } catch (...) {
      p.set_exception(std::current_exception());
    }
  }).detach();
  return f;
}

std::vector<address> with_port(std::vector<address> addrs, std::uint16_t port) {
  for (address& a : addrs) a = a.with_port(port);
  return addrs;
}

}  // namespace

const std::error_category& resolve_category() noexcept {
  static const gai_category_impl c;
  return c;
}

task<std::vector<address>> resolve(std::string host, std::uint16_t port, resolve_options options) {
  if (host.empty()) throw std::system_error(EAI_NONAME, resolve_category(), "resolve ''");
  if (auto a = address::from_host(host, port)) {
    if (options.family != AF_UNSPEC && a->family() != options.family)
      throw std::system_error(EAI_ADDRFAMILY, resolve_category(), "resolve '" + host + "'");
    co_return std::vector<address>{*a};
  }
  if (is_localhost(host)) {
    std::vector<address> out;
    if (options.family != AF_INET) out.push_back(address::loopback_v6(port));
    if (options.family != AF_INET6) out.push_back(address::loopback_v4(port));
    co_return out;
  }
  std::pair<std::string, int> key{host, options.family};
  if (options.use_cache) {
    if (auto hit = cache_get(key)) co_return with_port(std::move(*hit), port);
  }
  std::vector<address> addrs = co_await lookup_off_loop(host, options.family);
  co_return with_port(std::move(addrs), port);
}

void clear_resolve_cache() noexcept {
  std::lock_guard lock(cache_mutex);
  cache.clear();
}

std::uint64_t resolver_lookups() noexcept { return lookups.load(); }

}  // namespace corio::net
