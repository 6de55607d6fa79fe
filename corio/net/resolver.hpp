// SPDX-License-Identifier: MIT
//
// resolve(host, port): names to addresses without blocking the loop.
//
//   std::vector<address> addrs = co_await resolve("example.com", 443);
//
// getaddrinfo blocks (it may talk to DNS for seconds), so it runs off the
// loop thread and its answer comes back through a corio::promise; the task
// that asked suspends meanwhile, and cancelling it stops the wait (the
// lookup finishes in the background and still fills the cache).
//
// - Numeric hosts ("127.0.0.1", "::1", "[::1]") are parsed in place: no
//   thread, no cache.
// - "localhost" and names under ".localhost" are loopback without asking
//   anyone (RFC 6761 §6.3): [::1] and 127.0.0.1, in that order, as curl and
//   the browsers do, so that Happy Eyeballs covers both stacks.
// - Answers are cached per (host, family) for `cache_ttl` (getaddrinfo does
//   not expose the DNS TTL), at most `cache_capacity` names; failures are
//   not cached. The cache is shared by every thread.
// - Errors are std::system_error naming the host, with getaddrinfo's code
//   in resolve_category(): "resolve 'nope.invalid': Name or service not known".
//
// Off the loop: for now one short-lived std::thread per lookup
// (detail::lookup_off_loop, the one seam); the toolkit's thread_pool will
// take its place.
#pragma once

#include <corio/core/task.hpp>
#include <corio/net/address.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <system_error>
#include <vector>

namespace corio::net {

// getaddrinfo's EAI_* codes (EAI_SYSTEM is reported as errno instead).
const std::error_category& resolve_category() noexcept;

struct resolve_options {
  int family = AF_UNSPEC;  // AF_INET or AF_INET6 to ask for one family only
  bool use_cache = true;
};

// The addresses of `host` with `port`, in getaddrinfo's order (RFC 6724),
// without duplicates. Never empty: no address is an error.
task<std::vector<address>> resolve(std::string host, std::uint16_t port, resolve_options options = {});

inline constexpr std::chrono::seconds cache_ttl{60};
inline constexpr std::size_t cache_capacity = 256;

// Empties the cache (tests; a network change).
void clear_resolve_cache() noexcept;
// How many lookups went to getaddrinfo since the start (tests, metrics).
std::uint64_t resolver_lookups() noexcept;

}  // namespace corio::net
