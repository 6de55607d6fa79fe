// SPDX-License-Identifier: MIT
//
// The byte buffer under buffered_reader and buffered_writer. Compaction
// moves the unread bytes to the front only when the free tail is too small,
// so a reader that consumes line by line copies each byte at most once more.
#include <corio/net/buffered.hpp>

#include <algorithm>
#include <cstring>

namespace corio::net::detail {

std::span<std::byte> byte_buffer::prepare(std::size_t want) {
  if (cap_ - end_ >= want) return {buf_.get() + end_, cap_ - end_};
  std::size_t used = end_ - begin_;
  // Compact when that alone makes room (or when the buffer may not grow).
  if (begin_ > 0 && (cap_ - used >= want || cap_ >= max_)) {
    std::memmove(buf_.get(), buf_.get() + begin_, used);
    begin_ = 0;
    end_ = used;
    if (cap_ - end_ >= want || cap_ >= max_) return {buf_.get() + end_, cap_ - end_};
  }
  std::size_t cap = std::max<std::size_t>(cap_ ? cap_ : 1024, 1024);
  while (cap - used < want && cap < max_) cap *= 2;
  cap = std::min(cap, max_);
  if (cap > cap_) {
    auto grown = std::make_unique<std::byte[]>(cap);
    if (used) std::memcpy(grown.get(), buf_.get() + begin_, used);
    buf_ = std::move(grown);
    cap_ = cap;
    begin_ = 0;
    end_ = used;
  }
  return {buf_.get() + end_, cap_ - end_};
}

void byte_buffer::consume(std::size_t n) noexcept {
  begin_ += n;
  if (begin_ == end_) begin_ = end_ = 0;  // empty: start over at the front, for free
}

void byte_buffer::append(std::span<const std::byte> bytes) {
  if (bytes.empty()) return;
  std::span<std::byte> space = prepare(bytes.size());
  std::memcpy(space.data(), bytes.data(), bytes.size());  // callers checked the limit
  commit(bytes.size());
}

std::size_t byte_buffer::find(std::string_view delim, std::size_t from) const noexcept {
  std::string_view hay = as_chars(data());
  if (delim.empty()) return from <= hay.size() ? from : std::string_view::npos;
  return hay.find(delim, from);
}

std::string_view as_chars(std::span<const std::byte> b) noexcept {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace corio::net::detail
