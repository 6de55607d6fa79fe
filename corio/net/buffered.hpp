// SPDX-License-Identifier: MIT
//
// buffered_reader and buffered_writer: framing over any byte stream.
//
//   buffered_reader in(stream);                  // 64 KiB limit by default
//   while (auto line = co_await in.read_line())  // nullopt at EOF
//     handle(*line);                             // valid until the next read
//
//   buffered_writer out(stream);
//   co_await out.write("HTTP/1.1 200 OK\r\n");   // no syscall while it fits
//   co_await out.flush();
//
// Bounds are the point. The reader's buffer grows on demand up to
// `max_size` and no further: a line (or any item searched with read_until)
// longer than that throws buffer_limit_error instead of eating memory for a
// peer that never sends a newline. The writer holds at most `capacity`
// bytes; a write that does not fit first flushes, and that flush suspends
// while the peer does not read, so a slow reader slows the writer down
// (backpressure) instead of growing a queue. Writes of `capacity` or more
// go straight to the stream (gathered with what is buffered into one
// writev when the stream has one).
//
// Any type with `read_some(std::span<std::byte>)` (awaitable, yielding the
// count, 0 at EOF) is a readable stream; `write_all(std::span<const
// std::byte>)` makes a writable one. Both keep a reference to the stream,
// which must outlive them. Neither is safe to use from two tasks at once.
#pragma once

#include <corio/core/error.hpp>
#include <corio/core/task.hpp>
#include <corio/net/socket.hpp>

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <sys/uio.h>

namespace corio::net {

template <class S>
concept readable_stream = requires(S& s, std::span<std::byte> b) { s.read_some(b); };
template <class S>
concept writable_stream = requires(S& s, std::span<const std::byte> b) { s.write_all(b); };

// An item did not fit in the reader's limit.
class buffer_limit_error : public corio::error {
 public:
  using error::error;
};

namespace detail {

// A bounded byte buffer with a read and a write cursor. Storage is
// allocated on first use and grows by doubling up to `max`.
class byte_buffer {
 public:
  explicit byte_buffer(std::size_t max) noexcept : max_(max) {}

  std::span<const std::byte> data() const noexcept { return {buf_.get() + begin_, end_ - begin_}; }
  std::size_t size() const noexcept { return end_ - begin_; }
  bool empty() const noexcept { return begin_ == end_; }
  std::size_t max_size() const noexcept { return max_; }
  std::size_t capacity() const noexcept { return cap_; }

  // Free space after the data, at least `want` bytes if the limit allows
  // (compacting first, then growing); empty only when the buffer is full.
  std::span<std::byte> prepare(std::size_t want);
  void commit(std::size_t n) noexcept { end_ += n; }
  void consume(std::size_t n) noexcept;
  void append(std::span<const std::byte> bytes);

  // Offset of `delim` in data() at or after `from`, or npos.
  std::size_t find(std::string_view delim, std::size_t from) const noexcept;

 private:
  std::unique_ptr<std::byte[]> buf_;
  std::size_t cap_ = 0;
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  std::size_t max_;
};

std::string_view as_chars(std::span<const std::byte> b) noexcept;

}  // namespace detail

template <readable_stream Stream>
class buffered_reader {
 public:
  explicit buffered_reader(Stream& s, std::size_t max_size = 64 * 1024) : s_(&s), buf_(max_size) {}

  // Reads up to and including `delim`. The view points into the reader's
  // buffer and stays valid until the next call on the reader. Returns
  // nullopt at EOF with nothing buffered; throws incomplete_read_error at
  // EOF in the middle of an item, and buffer_limit_error when `delim` is not
  // within max_size bytes.
  task<std::optional<std::string_view>> read_until(std::string_view delim) {
    consume_last();
    std::size_t from = 0;
    for (;;) {
      std::size_t pos = buf_.find(delim, from);
      if (pos != std::string_view::npos) {
        last_ = pos + delim.size();
        co_return detail::as_chars(buf_.data().first(last_));
      }
      from = buf_.size() >= delim.size() ? buf_.size() - delim.size() + 1 : 0;
      if (buf_.size() >= buf_.max_size())
        throw buffer_limit_error("read_until: no delimiter within " + std::to_string(buf_.max_size()) +
                                 " bytes (the reader's limit)");
      if (!co_await fill()) {
        if (buf_.empty()) co_return std::nullopt;
        throw incomplete_read_error(buf_.size(), buf_.size() + delim.size(), "read_until");
      }
    }
  }

  // A line without its "\n" or "\r\n". At EOF: a last line without a
  // newline is returned as is, then nullopt. buffer_limit_error if longer
  // than max_size.
  task<std::optional<std::string_view>> read_line() {
    consume_last();
    std::size_t from = 0;
    for (;;) {
      std::size_t pos = buf_.find("\n", from);
      if (pos != std::string_view::npos) {
        last_ = pos + 1;
        std::size_t len = pos > 0 && buf_.data()[pos - 1] == std::byte{'\r'} ? pos - 1 : pos;
        co_return detail::as_chars(buf_.data().first(len));
      }
      from = buf_.size();
      if (buf_.size() >= buf_.max_size())
        throw buffer_limit_error("read_line: line longer than " + std::to_string(buf_.max_size()) +
                                 " bytes (the reader's limit)");
      if (!co_await fill()) {
        if (buf_.empty()) co_return std::nullopt;
        last_ = buf_.size();
        co_return detail::as_chars(buf_.data());
      }
    }
  }

  // Fills `out` exactly: buffered bytes first, then the stream.
  // incomplete_read_error at an early EOF.
  task<void> read_exact(std::span<std::byte> out) {
    std::size_t got = 0;
    while (got < out.size()) {
      std::size_t n = co_await read_some(out.subspan(got));
      if (n == 0) throw incomplete_read_error(got, out.size(), "read_exact");
      got += n;
    }
  }

  // Buffered bytes if any, else one read from the stream (straight into
  // `out` when it is at least as large as the buffer would be). 0 at EOF.
  task<std::size_t> read_some(std::span<std::byte> out) {
    consume_last();
    if (buf_.empty()) {
      if (out.size() >= buf_.max_size()) co_return co_await s_->read_some(out);
      if (!co_await fill()) co_return 0;
    }
    std::size_t n = std::min(out.size(), buf_.size());
    std::copy_n(buf_.data().begin(), n, out.begin());
    buf_.consume(n);
    co_return n;
  }

  // What is buffered and not yet returned.
  std::span<const std::byte> buffered() {
    consume_last();
    return buf_.data();
  }
  Stream& stream() noexcept { return *s_; }

 private:
  void consume_last() noexcept { buf_.consume(std::exchange(last_, 0)); }

  // One read into the free space; false at EOF.
  task<bool> fill() {
    std::span<std::byte> space = buf_.prepare(4096);
    std::size_t n = co_await s_->read_some(space);
    buf_.commit(n);
    co_return n > 0;
  }

  Stream* s_;
  detail::byte_buffer buf_;
  std::size_t last_ = 0;  // bytes of the item returned last, consumed on the next call
};

template <writable_stream Stream>
class buffered_writer {
 public:
  explicit buffered_writer(Stream& s, std::size_t capacity = 64 * 1024) : s_(&s), buf_(capacity) {}

  // Buffers `bytes`; when they do not fit, flushes first (suspending while
  // the peer does not read). Writes of capacity or more bypass the buffer.
  task<void> write(std::span<const std::byte> bytes) {
    if (bytes.size() <= buf_.max_size() - buf_.size()) {
      buf_.append(bytes);
      co_return;
    }
    if (bytes.size() < buf_.max_size()) {
      co_await flush();
      buf_.append(bytes);
      co_return;
    }
    if constexpr (requires(Stream& s, std::span<const ::iovec> v) { s.writev(v); }) {
      if (!buf_.empty()) {
        ::iovec v[2] = {{const_cast<std::byte*>(buf_.data().data()), buf_.size()},
                        {const_cast<std::byte*>(bytes.data()), bytes.size()}};
        co_await s_->writev(std::span<const ::iovec>(v));
        buf_.consume(buf_.size());
        co_return;
      }
    }
    co_await flush();
    co_await s_->write_all(bytes);
  }
  task<void> write(std::string_view text) { return write(std::as_bytes(std::span(text.data(), text.size()))); }

  // Writes out everything buffered.
  task<void> flush() {
    if (buf_.empty()) co_return;
    co_await s_->write_all(buf_.data());
    buf_.consume(buf_.size());
  }

  std::size_t buffered() const noexcept { return buf_.size(); }
  std::size_t capacity() const noexcept { return buf_.max_size(); }
  Stream& stream() noexcept { return *s_; }

 private:
  Stream* s_;
  detail::byte_buffer buf_;
};

}  // namespace corio::net
