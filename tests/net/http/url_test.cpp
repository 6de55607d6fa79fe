// SPDX-License-Identifier: MIT
//
// Why: URL handling decides where the client connects and what it sends, so
// the tests pin down the split of every component, the rejections (each with
// a message that quotes the input and names the problem) and reference
// resolution. Resolution is checked against every example of RFC 3986
// section 5.4 (normal 5.4.1 and abnormal 5.4.2), which exercise merge and
// remove_dot_segments together; tables keep the cases readable.
#include <corio/net/http/url.hpp>

#include <doctest/doctest.h>

#include <string>
#include <string_view>

using corio::http::host_kind;
using corio::http::percent_decode;
using corio::http::percent_encode;
using corio::http::remove_dot_segments;
using corio::http::url;
using corio::http::url_component;
using corio::http::url_error;

namespace {

std::string error_of(std::string_view text, bool reference = false) {
    try {
        if (reference) (void)url::parse_reference(text);
        else (void)url::parse(text);
    } catch (const url_error& e) {
        return e.what();
    }
    return "no error";
}

} // namespace

TEST_SUITE("url") {

TEST_CASE("an absolute URL is split into its components") {
    auto u = url::parse("HTTPS://user:pw@Example.COM:8443/a%20b/c?q=1&r=%2F#top");
    CHECK(u.scheme() == "https");
    CHECK(u.userinfo() == "user:pw");
    CHECK(u.host() == "example.com");
    CHECK(u.kind() == host_kind::name);
    CHECK(u.port() == 8443);
    CHECK(u.port_or_default() == 8443);
    CHECK(u.path() == "/a%20b/c");
    CHECK(u.query() == "q=1&r=%2F");
    CHECK(u.fragment() == "top");
    CHECK(u.target() == "/a%20b/c?q=1&r=%2F");
    CHECK(u.origin() == "https://example.com:8443");
    CHECK(u.host_header() == "example.com:8443");
    CHECK(u.to_string() == "https://user:pw@example.com:8443/a%20b/c?q=1&r=%2F#top");
}

TEST_CASE("components parse as the table says") {
    struct row {
        std::string_view in;
        std::string_view scheme, host, path, query, fragment;
        int port; // -1: none
        host_kind kind;
        std::string_view target;
    };
    const row rows[] = {
        {"http://example.com", "http", "example.com", "", "", "", -1, host_kind::name, "/"},
        {"http://example.com/", "http", "example.com", "/", "", "", -1, host_kind::name, "/"},
        {"http://example.com?x", "http", "example.com", "", "x", "", -1, host_kind::name, "/?x"},
        {"http://127.0.0.1:8080/p", "http", "127.0.0.1", "/p", "", "", 8080, host_kind::ipv4, "/p"},
        {"http://[::1]:80/", "http", "::1", "/", "", "", 80, host_kind::ipv6, "/"},
        {"http://[2001:DB8::a:1]/x", "http", "2001:db8::a:1", "/x", "", "", -1, host_kind::ipv6, "/x"},
        {"http://[::ffff:192.0.2.1]/", "http", "::ffff:192.0.2.1", "/", "", "", -1, host_kind::ipv6, "/"},
        {"http://[1:2:3:4:5:6:7:8]/", "http", "1:2:3:4:5:6:7:8", "/", "", "", -1, host_kind::ipv6, "/"},
        {"http://h:/p", "http", "h", "/p", "", "", -1, host_kind::name, "/p"},
        {"http://h:0065535/", "http", "h", "/", "", "", 65535, host_kind::name, "/"},
        {"http://h/a?b?c#d?e/", "http", "h", "/a", "b?c", "d?e/", -1, host_kind::name, "/a?b?c"},
        {"http://h/%7Euser/;p=1:@!$&'()*+,", "http", "h", "/%7Euser/;p=1:@!$&'()*+,", "", "", -1,
         host_kind::name, "/%7Euser/;p=1:@!$&'()*+,"},
        {"http://1.2.3/", "http", "1.2.3", "/", "", "", -1, host_kind::name, "/"},
        {"mailto:someone@example.com", "mailto", "", "someone@example.com", "", "", -1, host_kind::name,
         "someone@example.com"},
        {"file:///etc/hosts", "file", "", "/etc/hosts", "", "", -1, host_kind::name, "/etc/hosts"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.in);
        auto u = url::parse(r.in);
        CHECK(u.scheme() == r.scheme);
        CHECK(u.host() == r.host);
        CHECK(u.path() == r.path);
        CHECK(u.query() == r.query);
        CHECK(u.fragment() == r.fragment);
        CHECK(u.port().has_value() == (r.port >= 0));
        if (r.port >= 0) CHECK(*u.port() == r.port);
        CHECK(u.kind() == r.kind);
        if (r.target.starts_with("/")) CHECK(u.target() == r.target);
    }
}

TEST_CASE("bad URLs are rejected with a message quoting them and saying what is wrong") {
    struct row {
        std::string_view in;
        std::string_view says;
    };
    const row rows[] = {
        {"example.com/x", "missing scheme"},
        {"//example.com/x", "missing scheme"},
        {"", "empty"},
        {"1http://h/", "missing scheme"},
        {"http://h:8o/", "port is not a number"},
        {"http://h:65536/", "port out of range"},
        {"http://h:99999999999999999999/", "port out of range"},
        {"http://h:-1/", "port is not a number"},
        {"http://h/a b", "space in path at offset 10"},
        {"http://h /", "space in host"},
        {"http://h/\x01", "control character 0x01 in path"},
        {"http://h/a\tb", "control character 0x09"},
        {"http://h/?q=\x7f", "control character 0x7f in query"},
        {"http://h/caf\xc3\xa9", "non-ASCII byte 0xc3"},
        {"http://h/%zz", "bad percent escape in path"},
        {"http://h/%4", "bad percent escape"},
        {"http://h/?%", "bad percent escape in query"},
        {"http://h/#%g0", "bad percent escape in fragment"},
        {"http://[::1/", "unterminated '['"},
        {"http://[::1", "unterminated '['"},
        {"http://[::1]x/", "after ']'"},
        {"http://[::1::2]/", "invalid IPv6 address"},
        {"http://[1:2:3:4:5:6:7:8:9]/", "invalid IPv6 address"},
        {"http://[12345::]/", "invalid IPv6 address"},
        {"http://[fe80::1%25eth0]/", "zone identifiers are not supported"},
        {"http://[v1.x]/", "IPvFuture"},
        {"http://1.2.3.256/", "invalid IPv4 address"},
        {"http://01.2.3.4/", "invalid IPv4 address"},
        {"http://a@b@c/", "invalid character '@' in host"},
        {"http://h/<x>", "invalid character '<' in path"},
        {"http:///path", "missing host"},
        {"http:path", "missing \"//\""},
        {"http://us er@h/", "space in userinfo"},
        {"http://h/#a#b", "invalid character '#' in fragment"},
    };
    for (const auto& r : rows) {
        CAPTURE(r.in);
        std::string msg = error_of(r.in);
        CAPTURE(msg);
        CHECK(msg.starts_with("invalid URL \""));
        CHECK(msg.find(r.says) != std::string::npos);
    }
    // The quote escapes what it cannot print.
    CHECK(error_of("http://h/\x01").find("\"http://h/\\x01\"") != std::string::npos);
}

TEST_CASE("url_error is an invalid_argument") {
    CHECK_THROWS_AS(url::parse("nope"), std::invalid_argument);
}

TEST_CASE("default ports are 80 for http and 443 for https") {
    CHECK(url::parse("http://h/").port_or_default() == 80);
    CHECK(url::parse("https://h/").port_or_default() == 443);
    CHECK(url::parse("ws://h/").port_or_default() == 80);
    CHECK(url::parse("wss://h/").port_or_default() == 443);
    CHECK(url::parse("foo://h/").port_or_default() == 0);
    CHECK(url::parse("http://h/").origin() == "http://h:80");
    CHECK(url::parse("https://[::1]/").origin() == "https://[::1]:443");
    CHECK(url::parse("http://h:80/").host_header() == "h");
    CHECK(url::parse("http://[::1]:8080/").host_header() == "[::1]:8080");
}

TEST_CASE("to_string round-trips what was parsed") {
    for (std::string_view s : {"http://h", "http://h/", "http://u@h:1/p?q#f", "http://h?", "http://h#",
                               "http://@h/", "http://[::1]:2/", "mailto:a@b", "file:///x", "urn:isbn:0451450523"}) {
        CAPTURE(s);
        CHECK(url::parse(s).to_string() == s);
    }
}

TEST_CASE("an empty query is kept apart from no query") {
    auto a = url::parse("http://h/p?");
    auto b = url::parse("http://h/p");
    CHECK(a.has_query());
    CHECK_FALSE(b.has_query());
    CHECK(a.target() == "/p?");
    CHECK(b.target() == "/p");
    CHECK(a != b);
}

TEST_CASE("relative references parse without a scheme") {
    auto r = url::parse_reference("../a/b?x#y");
    CHECK_FALSE(r.is_absolute());
    CHECK_FALSE(r.has_authority());
    CHECK(r.path() == "../a/b");
    CHECK(r.query() == "x");
    CHECK(r.fragment() == "y");
    auto n = url::parse_reference("//other:81/z");
    CHECK(n.has_authority());
    CHECK(n.host() == "other");
    CHECK(n.port() == 81);
    CHECK(error_of("a b", true).find("space in path") != std::string::npos);
}

TEST_CASE("references resolve as in RFC 3986 section 5.4.1 (normal examples)") {
    const auto base = url::parse("http://a/b/c/d;p?q");
    const std::pair<std::string_view, std::string_view> rows[] = {
        {"g:h", "g:h"},
        {"g", "http://a/b/c/g"},
        {"./g", "http://a/b/c/g"},
        {"g/", "http://a/b/c/g/"},
        {"/g", "http://a/g"},
        {"//g", "http://g"},
        {"?y", "http://a/b/c/d;p?y"},
        {"g?y", "http://a/b/c/g?y"},
        {"#s", "http://a/b/c/d;p?q#s"},
        {"g#s", "http://a/b/c/g#s"},
        {"g?y#s", "http://a/b/c/g?y#s"},
        {";x", "http://a/b/c/;x"},
        {"g;x", "http://a/b/c/g;x"},
        {"g;x?y#s", "http://a/b/c/g;x?y#s"},
        {"", "http://a/b/c/d;p?q"},
        {".", "http://a/b/c/"},
        {"./", "http://a/b/c/"},
        {"..", "http://a/b/"},
        {"../", "http://a/b/"},
        {"../g", "http://a/b/g"},
        {"../..", "http://a/"},
        {"../../", "http://a/"},
        {"../../g", "http://a/g"},
    };
    for (const auto& row : rows) {
        CAPTURE(row.first);
        CHECK(url::resolve(base, row.first).to_string() == row.second);
    }
}

TEST_CASE("references resolve as in RFC 3986 section 5.4.2 (abnormal examples)") {
    const auto base = url::parse("http://a/b/c/d;p?q");
    const std::pair<std::string_view, std::string_view> rows[] = {
        {"../../../g", "http://a/g"},
        {"../../../../g", "http://a/g"},
        {"/./g", "http://a/g"},
        {"/../g", "http://a/g"},
        {"g.", "http://a/b/c/g."},
        {".g", "http://a/b/c/.g"},
        {"g..", "http://a/b/c/g.."},
        {"..g", "http://a/b/c/..g"},
        {"./../g", "http://a/b/g"},
        {"./g/.", "http://a/b/c/g/"},
        {"g/./h", "http://a/b/c/g/h"},
        {"g/../h", "http://a/b/c/h"},
        {"g;x=1/./y", "http://a/b/c/g;x=1/y"},
        {"g;x=1/../y", "http://a/b/c/y"},
        {"g?y/./x", "http://a/b/c/g?y/./x"},
        {"g?y/../x", "http://a/b/c/g?y/../x"},
        {"g#s/./x", "http://a/b/c/g#s/./x"},
        {"g#s/../x", "http://a/b/c/g#s/../x"},
        {"http:g", "http:g"}, // strict parsers take a reference with a scheme as is
    };
    for (const auto& row : rows) {
        CAPTURE(row.first);
        CHECK(url::resolve(base, row.first).to_string() == row.second);
    }
}

TEST_CASE("a reference resolves against a base whose path is empty") {
    CHECK(url::resolve(url::parse("http://h"), "x").to_string() == "http://h/x");
    CHECK(url::resolve(url::parse("http://h?q"), "?r").to_string() == "http://h?r");
    CHECK(url::resolve(url::parse("http://u@h:8/a"), "b").to_string() == "http://u@h:8/b");
}

TEST_CASE("a resolved path starting with two slashes is not printed as an authority") {
    auto r = url::resolve(url::parse("x:/a"), "x:/.//host/p");
    CHECK(r.path() == "//host/p");
    CHECK_FALSE(r.has_authority());
    CHECK(r.to_string() == "x:/.//host/p");
    CHECK(url::resolve(url::parse("x:/a"), r.to_string()) == r);
}

TEST_CASE("resolving against a relative base throws") {
    CHECK_THROWS_AS(url::resolve(url::parse_reference("a/b"), "c"), url_error);
}

TEST_CASE("remove_dot_segments follows RFC 3986 section 5.2.4") {
    CHECK(remove_dot_segments("/a/b/c/./../../g") == "/a/g");
    CHECK(remove_dot_segments("mid/content=5/../6") == "mid/6");
    CHECK(remove_dot_segments("/..") == "/");
    CHECK(remove_dot_segments("/.") == "/");
    CHECK(remove_dot_segments("..") == "");
    CHECK(remove_dot_segments("../../x") == "x");
    CHECK(remove_dot_segments("/a/..") == "/");
    CHECK(remove_dot_segments("/a/b/..") == "/a/");
    CHECK(remove_dot_segments("") == "");
}

TEST_CASE("percent_decode decodes escapes and rejects bad ones") {
    CHECK(percent_decode("a%20b%2Fc%2f") == "a b/c/");
    CHECK(percent_decode("%00").size() == 1);
    CHECK(percent_decode("a+b") == "a+b");
    CHECK(percent_decode("a+b", true) == "a b");
    CHECK(percent_decode("%E2%82%AC") == "\xe2\x82\xac");
    CHECK_THROWS_AS(percent_decode("%"), url_error);
    CHECK_THROWS_AS(percent_decode("%a"), url_error);
    CHECK_THROWS_AS(percent_decode("%ag"), url_error);
    CHECK_THROWS_WITH(percent_decode("ab%zz"), doctest::Contains("at offset 2"));
}

TEST_CASE("percent_encode keeps what each component allows") {
    CHECK(percent_encode("a b&c=d/e", url_component::query_value) == "a%20b%26c%3Dd%2Fe");
    CHECK(percent_encode("a b&c=d/e?", url_component::query) == "a%20b&c=d/e?");
    CHECK(percent_encode("a b/c?#", url_component::path) == "a%20b/c%3F%23");
    CHECK(percent_encode("a/b", url_component::path_segment) == "a%2Fb");
    CHECK(percent_encode("u:p@x", url_component::userinfo) == "u:p%40x");
    CHECK(percent_encode("a b+c", url_component::form) == "a+b%2Bc");
    CHECK(percent_encode("-._~AZaz09", url_component::query_value) == "-._~AZaz09");
    CHECK(percent_encode("\xe2\x82\xac", url_component::path) == "%E2%82%AC");
    CHECK(percent_encode("#", url_component::fragment) == "%23");
}

TEST_CASE("percent_encode then percent_decode is the identity for every byte") {
    std::string all;
    for (int c = 0; c < 256; ++c) all += static_cast<char>(c);
    for (auto comp : {url_component::userinfo, url_component::path, url_component::path_segment,
                      url_component::query, url_component::query_value, url_component::fragment}) {
        CHECK(percent_decode(percent_encode(all, comp)) == all);
    }
    CHECK(percent_decode(percent_encode(all, url_component::form), true) == all);
    // and what path encoding produces is a valid path
    CHECK(url::parse("http://h/" + percent_encode(all, url_component::path)).host() == "h");
}

} // TEST_SUITE
