// SPDX-License-Identifier: MIT
//
// gzip_decoder: streaming inflate of a gzip (or zlib) Content-Encoding, and
// gzip_compress for servers and tests.
//
// The client decodes `Content-Encoding: gzip` transparently, piece by piece
// as the body arrives, so memory stays bounded by one output buffer however
// large the body is. zlib's inflate with windowBits 15 + 32 detects gzip or
// zlib headers itself (RFC 1952 / RFC 1950; "deflate" in HTTP means zlib in
// practice, RFC 9110 8.4.1.2). A body that holds several gzip members (what
// `cat a.gz b.gz` gives) is decoded member after member, as gunzip does.
//
// Without zlib (CORIO_HAS_ZLIB == 0) the client does not advertise gzip,
// and constructing a decoder throws gzip_error.
#pragma once

#include <corio/core/error.hpp>

#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace corio::http {

// A corrupt or truncated compressed body.
class gzip_error : public corio::error {
 public:
  using error::error;
};

// True if corio was built with zlib (the meson `zlib` feature).
bool gzip_available() noexcept;

class gzip_decoder {
 public:
  gzip_decoder();
  ~gzip_decoder();
  gzip_decoder(gzip_decoder&&) noexcept;
  gzip_decoder& operator=(gzip_decoder&&) noexcept;

  struct result {
    std::size_t consumed;  // bytes of `in` used
    std::size_t produced;  // bytes written to `out`
  };
  // Inflates from `in` into `out`. Call again with the rest of `in` (and
  // more input) until everything is consumed. Throws gzip_error for
  // corrupt data.
  result decode(std::span<const std::byte> in, std::span<std::byte> out);
  // True at the end of a complete member with no input left inside zlib:
  // the body may end here. A body that ends while !finished() is truncated.
  bool finished() const noexcept;

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

// One-shot gzip of `data` (level 6). Throws gzip_error without zlib.
std::string gzip_compress(std::string_view data);

}  // namespace corio::http
