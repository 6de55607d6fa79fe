// SPDX-License-Identifier: MIT
//
// libFuzzer target for `url`. A URL that parses must print back to a string
// that parses to the same value, resolve against a base to something that
// round-trips too, and throw nothing but url_error; any string must survive
// a percent_encode/percent_decode round trip. The whole input is the text.
#include <corio/net/http/url.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace corio::http;

namespace {

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "url fuzz: %s\n", what);
    std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    try {
        url u = url::parse_reference(text);
        std::string s = u.to_string();
        if (url::parse_reference(s) != u) die("url does not round-trip through to_string");
        static const url base = url::parse("http://a/b/c/d;p?q");
        url r = url::resolve(base, u);
        if (url::parse_reference(r.to_string()).to_string() != r.to_string()) die("resolved url does not round-trip");
        if (u.is_absolute()) (void)u.target(), (void)u.origin(), (void)u.host_header();
        (void)remove_dot_segments(u.path());
    } catch (const url_error&) {
    }
    for (auto c : {url_component::userinfo, url_component::path, url_component::path_segment, url_component::query,
                   url_component::query_value, url_component::fragment})
        if (percent_decode(percent_encode(text, c)) != text) die("percent_encode/decode round trip failed");
    if (percent_decode(percent_encode(text, url_component::form), true) != text)
        die("form encode/decode round trip failed");
    try {
        (void)percent_decode(text);
    } catch (const url_error&) {
    }
    return 0;
}
