// SPDX-License-Identifier: MIT
//
// zlib behind gzip_decoder. z_stream holds pointers into itself, so it lives
// on the heap (impl) and the decoder moves by pointer.
#include <corio/net/http/gzip.hpp>

#include <corio/config.hpp>

#if CORIO_HAS_ZLIB
#include <zlib.h>
#endif

#include <climits>
#include <cstring>

namespace corio::http {

#if CORIO_HAS_ZLIB

struct gzip_decoder::impl {
  z_stream zs{};
  bool finished = false;  // the last member ended
  bool started = false;   // a member has begun
  impl() {
    if (inflateInit2(&zs, 15 + 32) != Z_OK) throw gzip_error("gzip: inflateInit2 failed");
  }
  ~impl() { inflateEnd(&zs); }
};

bool gzip_available() noexcept { return true; }

gzip_decoder::gzip_decoder() : impl_(std::make_unique<impl>()) {}

gzip_decoder::result gzip_decoder::decode(std::span<const std::byte> in, std::span<std::byte> out) {
  z_stream& zs = impl_->zs;
  result res{0, 0};
  while (res.consumed < in.size() && res.produced < out.size()) {
    if (impl_->finished) {
      // Another member follows (concatenated gzip files).
      if (inflateReset(&zs) != Z_OK) throw gzip_error("gzip: inflateReset failed");
      impl_->finished = false;
    }
    std::size_t in_left = in.size() - res.consumed;
    std::size_t out_left = out.size() - res.produced;
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<std::byte*>(in.data() + res.consumed));
    zs.avail_in = static_cast<uInt>(std::min<std::size_t>(in_left, UINT_MAX));
    zs.next_out = reinterpret_cast<Bytef*>(out.data() + res.produced);
    zs.avail_out = static_cast<uInt>(std::min<std::size_t>(out_left, UINT_MAX));
    uInt avail_in = zs.avail_in;
    uInt avail_out = zs.avail_out;
    int r = inflate(&zs, Z_NO_FLUSH);
    impl_->started = true;
    res.consumed += avail_in - zs.avail_in;
    res.produced += avail_out - zs.avail_out;
    if (r == Z_STREAM_END) {
      impl_->finished = true;
      continue;
    }
    if (r == Z_BUF_ERROR) break;  // no progress possible: needs more input or more room
    if (r != Z_OK) throw gzip_error(std::string("gzip: corrupt compressed body: ") + (zs.msg ? zs.msg : "inflate failed"));
  }
  return res;
}

bool gzip_decoder::finished() const noexcept { return impl_->finished || !impl_->started; }

std::string gzip_compress(std::string_view data) {
  z_stream zs{};
  if (deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    throw gzip_error("gzip: deflateInit2 failed");
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int r = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (r != Z_STREAM_END) throw gzip_error("gzip: deflate failed");
  return out;
}

#else  // !CORIO_HAS_ZLIB

struct gzip_decoder::impl {};

bool gzip_available() noexcept { return false; }
gzip_decoder::gzip_decoder() { throw gzip_error("corio was built without zlib: cannot decode gzip"); }
gzip_decoder::result gzip_decoder::decode(std::span<const std::byte>, std::span<std::byte>) { return {0, 0}; }
bool gzip_decoder::finished() const noexcept { return true; }
std::string gzip_compress(std::string_view) { throw gzip_error("corio was built without zlib: cannot gzip"); }

#endif

gzip_decoder::~gzip_decoder() = default;
gzip_decoder::gzip_decoder(gzip_decoder&&) noexcept = default;
gzip_decoder& gzip_decoder::operator=(gzip_decoder&&) noexcept = default;

}  // namespace corio::http
