// SPDX-License-Identifier: MIT
//
// Turning a captured site into a readable one (await_trace.hpp). Runs only
// when a chain is printed, never when it is recorded.
//
// GCC gives a pretty function name, and inside a coroutine it is either the
// coroutine's own or that of its "actor" (the function that runs the body):
//   corio::task<int> ns::{anonymous}::fetch(int)
//   void ns::{anonymous}::fetch(fetch(int)::_ZN2ns12_GLOBAL__N_15fetchEi.Frame*)
//   void main()::<lambda(int)>::operator()(main()::<lambda(int)>::_ZZ4main...Frame*)
// In both the name the user wrote ends at the parenthesis matching the last
// ')' and starts after the last space outside brackets before it. Anything
// that does not parse is shown as it is.
#include <corio/core/await_trace.hpp>

namespace corio::detail {

namespace {
[[maybe_unused]] std::string_view qualified_name(std::string_view raw) noexcept {
  std::size_t close = raw.rfind(')');
  if (close == std::string_view::npos) return raw;
  int depth = 0;
  std::size_t open = close + 1;
  for (std::size_t i = close + 1; i-- > 0;) {
    if (raw[i] == ')') ++depth;
    if (raw[i] == '(' && --depth == 0) {
      open = i;
      break;
    }
  }
  if (open > close) return raw;
  depth = 0;
  for (std::size_t i = open; i-- > 0;) {
    char c = raw[i];
    if (c == ')' || c == '>') ++depth;
    if (c == '(' || c == '<') --depth;
    if (depth < 0) return raw;
    if (c == ' ' && depth == 0) return raw.substr(i + 1, open - i - 1);
  }
  return raw.substr(0, open);
}
}  // namespace

#ifdef CORIO_SITE_IS_SOURCE_LOCATION
source_site site_ref::get() const noexcept {
  auto l = std::bit_cast<std::source_location>(loc);
  return {l.file_name(), qualified_name(l.function_name()), static_cast<unsigned>(l.line())};
}
#endif

}  // namespace corio::detail
