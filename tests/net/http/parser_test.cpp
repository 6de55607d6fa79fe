// SPDX-License-Identifier: MIT
//
// Why: a parser that frames messages differently depending on how the bytes
// arrived is a smuggling bug waiting for the right packet boundary. So every
// message here, valid or not, goes through `drive`, which behaves like a real
// connection (append what was read, feed, drop what was consumed, so the
// buffer moves under the parser), and is fed whole, split in two at every
// byte boundary, and byte by byte; each run must give the same transcript.
//
// A transcript is one line per event: the head as the parser saw it, the
// de-chunked body and trailers at message_complete, the error code, and what
// finish() said when the case ends with the peer closing. Tables hold valid
// and invalid requests and responses; each invalid one names its exact error
// code. The remaining cases check the buffer contract, lookups, limits and
// misuse one at a time.
#include <corio/net/http/parser.hpp>

#include "parser_feed.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>
#include <vector>

using namespace corio::http;
using namespace std::string_literals;

namespace {

struct options {
    message_kind kind = message_kind::request;
    std::string_view method = "GET"; // the request a response answers
    bool eof = false;                // the peer closes after the input
    bool fields = false;             // show header fields in the transcript
    parser_limits limits = {};
};

bool inside(std::string_view view, const std::string& buf) {
    return view.empty() || (view.data() >= buf.data() && view.data() + view.size() <= buf.data() + buf.size());
}

// Appends the parts; builds strings without `"literal" + std::string&&`,
// which GCC 12 at -O3 flags with a false -Wrestrict (GCC bug 105651).
template <typename... Parts>
std::string cat(const Parts&... parts) {
    std::string s;
    (s.append(std::string_view(parts)), ...);
    return s;
}

std::string describe_fields(headers_view fields) {
    std::string s;
    for (const auto& h : fields) s += cat("{", h.name, "=", h.value, "}");
    return s;
}

std::string describe_head(const parser& p, bool fields) {
    std::string s;
    if (p.kind() == message_kind::request)
        s = cat("req ", p.method(), " ", p.target());
    else
        s = cat("res ", std::to_string(p.status()), " ", p.reason());
    s += cat(" 1.", std::to_string(p.version().minor));
    s += p.keep_alive() ? " keep" : " close";
    switch (p.framing()) {
    case body_framing::none: s += " none"; break;
    case body_framing::length: s += cat(" len=", std::to_string(*p.content_length())); break;
    case body_framing::chunked: s += " chunked"; break;
    case body_framing::close: s += " until-close"; break;
    }
    if (p.upgrade()) s += " upgrade";
    if (p.is_interim()) s += " interim";
    if (fields && !p.headers().empty()) s += cat(" ", describe_fields(p.headers()));
    return s;
}

// Feeds `input` cut at `cuts` (increasing offsets) the way a connection would,
// resetting between messages, and returns the transcript.
std::string drive(std::string_view input, const std::vector<std::size_t>& cuts, const options& o) {
    parser p(o.kind, o.limits);
    if (o.kind == message_kind::response) p.set_request_method(o.method);
    std::string buf, out, body;
    bool views_ok = true;

    auto on_event = [&](const parse_result& r, const std::string&) {
        switch (r.event) {
        case parse_event::need_more: return true;
        case parse_event::headers_complete:
            views_ok = views_ok && inside(p.method(), buf) && inside(p.target(), buf) && inside(p.reason(), buf);
            for (const auto& h : p.headers()) views_ok = views_ok && inside(h.name, buf) && inside(h.value, buf);
            out += describe_head(p, o.fields) + "\n";
            return true;
        case parse_event::body:
            views_ok = views_ok && inside(r.body, buf) && !r.body.empty();
            body += r.body;
            return true;
        case parse_event::message_complete:
            out += "done[" + body + "]" + describe_fields(p.trailers()) + "\n";
            body.clear();
            if (p.upgrade()) {
                out += "switched protocols\n";
                return false;
            }
            p.reset();
            if (o.kind == message_kind::response) p.set_request_method(o.method);
            return true;
        case parse_event::error:
            out += "error " + std::string(to_string(p.error())) + "\n";
            return false;
        case parse_event::end_of_stream:
            out += "feed returned end_of_stream\n";
            return false;
        }
        return false;
    };

    auto outcome = corio::http::testing::feed_pieces(p, input, cuts, buf, on_event);
    if (outcome == corio::http::testing::feed_outcome::no_progress) out += "no progress\n";
    const bool stopped = outcome != corio::http::testing::feed_outcome::fed;
    if (!stopped) {
        if (o.eof) {
            auto r = p.finish();
            if (r.event == parse_event::message_complete) out += "eof: done[" + body + "]\n";
            else if (r.event == parse_event::error) out += "eof: error " + std::string(to_string(p.error())) + "\n";
            else if (r.event == parse_event::end_of_stream) out += "eof: end\n";
            else out += "eof: unexpected event\n";
        } else {
            if (!body.empty()) out += "partial[" + body + "]\n";
            if (!buf.empty()) out += "unconsumed " + std::to_string(buf.size()) + "\n";
        }
    }
    if (!views_ok) out += "a view pointed outside the caller's buffer\n";
    return out;
}

// Drives `input` whole, split in two at every byte boundary and byte by byte;
// checks that every run agrees and returns the transcript.
std::string drive_all_splits(std::string_view input, const options& o = {}) {
    const std::string whole = drive(input, {}, o);
    for (std::size_t i = 1; i < input.size(); ++i) {
        std::string split = drive(input, {i}, o);
        if (split != whole) {
            CAPTURE(i);
            CHECK(split == whole);
        }
    }
    std::vector<std::size_t> every;
    for (std::size_t i = 1; i < input.size(); ++i) every.push_back(i);
    CHECK(drive(input, every, o) == whole);
    return whole;
}

options response(std::string_view method = "GET", bool eof = false) {
    options o;
    o.kind = message_kind::response;
    o.method = method;
    o.eof = eof;
    return o;
}

options with_limits(parser_limits l, message_kind kind = message_kind::request) {
    options o;
    o.kind = kind;
    o.limits = l;
    return o;
}

struct valid_case {
    std::string_view name;
    std::string input;
    std::string transcript;
    options opts = {};
};

struct invalid_case {
    std::string_view name;
    std::string input;
    parse_errc code;
    options opts = {};
};

void check_invalid(const invalid_case& c) {
    CAPTURE(c.name);
    std::string t = drive_all_splits(c.input, c.opts);
    CHECK(t.ends_with("error " + std::string(to_string(c.code)) + "\n"));
    CHECK(t.find("no progress") == std::string::npos);
    // The error comes with a message, and the parser says the same code.
    parser p(c.opts.kind, c.opts.limits);
    if (c.opts.kind == message_kind::response) p.set_request_method(c.opts.method);
    std::string buf = c.input;
    for (int i = 0; i < 1000; ++i) {
        auto r = p.feed(buf);
        buf.erase(0, r.consumed);
        if (r.event == parse_event::error || r.event == parse_event::need_more) break;
        if (r.event == parse_event::message_complete) {
            p.reset();
            if (c.opts.kind == message_kind::response) p.set_request_method(c.opts.method);
        }
    }
    if (p.error() == parse_errc::none && c.opts.eof) (void)p.finish();
    CHECK(p.error() == c.code);
    CHECK_FALSE(p.error_message().empty());
}

const std::string host = "Host: example.com\r\n";

} // namespace

TEST_SUITE("http_parser") {

TEST_CASE("valid requests give the same transcript at every split") {
    const valid_case cases[] = {
        {"minimal GET", "GET / HTTP/1.1\r\n" + host + "\r\n",
         "req GET / 1.1 keep none {Host=example.com}\ndone[]\n", {.fields = true}},
        {"POST with Content-Length", "POST /submit HTTP/1.1\r\n" + host + "Content-Length: 11\r\n\r\nhello world",
         "req POST /submit 1.1 keep len=11\ndone[hello world]\n"},
        {"Content-Length 0", "POST /x HTTP/1.1\r\n" + host + "Content-Length: 0\r\n\r\n",
         "req POST /x 1.1 keep len=0\ndone[]\n"},
        {"chunked with extensions and trailers",
         "POST /up HTTP/1.1\r\n" + host +
             "Transfer-Encoding: chunked\r\n\r\n"
             "5;name=val;q=\"a \\\"b\\\" c\"\r\nhello\r\n"
             "6 ; x ; y = z\r\n world\r\n"
             "000A\r\n0123456789\r\n"
             "0;last\r\nX-Sum: 1\r\nX-Other:  two \r\n\r\n",
         "req POST /up 1.1 keep chunked\ndone[hello world0123456789]{X-Sum=1}{X-Other=two}\n"},
        {"chunked without trailers", "POST / HTTP/1.1\r\n" + host + "transfer-encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
         "req POST / 1.1 keep chunked\ndone[abc]\n"},
        {"Transfer-Encoding split over two lines with an empty first",
         "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding:\r\nTransfer-Encoding: , chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
         "req POST / 1.1 keep chunked\ndone[a]\n"},
        {"HTTP/1.0 defaults to close", "GET / HTTP/1.0\r\n\r\n", "req GET / 1.0 close none\ndone[]\n"},
        {"HTTP/1.0 with keep-alive", "GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n",
         "req GET / 1.0 keep none\ndone[]\n"},
        {"HTTP/1.1 with Connection: close", "GET / HTTP/1.1\r\n" + host + "Connection: foo, close\r\n\r\n",
         "req GET / 1.1 close none\ndone[]\n"},
        {"blank lines before the request line are ignored", "\r\n\r\nGET /a HTTP/1.1\r\n" + host + "\r\n",
         "req GET /a 1.1 keep none\ndone[]\n"},
        {"identical Content-Lengths are folded",
         "PUT /f HTTP/1.1\r\n" + host + "Content-Length: 3\r\nContent-Length: 3, 3\r\n\r\nabc",
         "req PUT /f 1.1 keep len=3\ndone[abc]\n"},
        {"values are trimmed and may be empty or hold obs-text",
         "GET / HTTP/1.1\r\n" + host + "A:  x y \t\r\nB:\r\nC:\t\r\nD: caf\xc3\xa9\r\n\r\n",
         "req GET / 1.1 keep none {Host=example.com}{A=x y}{B=}{C=}{D=caf\xc3\xa9}\ndone[]\n", {.fields = true}},
        {"websocket upgrade", "GET /ws HTTP/1.1\r\n" + host + "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x05hello",
         "req GET /ws 1.1 keep none upgrade\ndone[]\nswitched protocols\n"},
        {"CONNECT", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n\x16\x03\x01",
         "req CONNECT example.com:443 1.1 keep none upgrade\ndone[]\nswitched protocols\n"},
        {"OPTIONS *", "OPTIONS * HTTP/1.1\r\n" + host + "\r\n", "req OPTIONS * 1.1 keep none\ndone[]\n"},
        {"absolute-form target", "GET http://example.com/a?b HTTP/1.1\r\n" + host + "\r\n",
         "req GET http://example.com/a?b 1.1 keep none\ndone[]\n"},
        {"a higher minor version is read as 1.x", "GET / HTTP/1.9\r\n" + host + "\r\n",
         "req GET / 1.9 keep none\ndone[]\n"},
        {"three pipelined requests",
         "GET /1 HTTP/1.1\r\n" + host + "\r\nPOST /2 HTTP/1.1\r\n" + host +
             "Content-Length: 2\r\n\r\nhiPOST /3 HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n2\r\nyo\r\n0\r\n\r\n",
         "req GET /1 1.1 keep none\ndone[]\nreq POST /2 1.1 keep len=2\ndone[hi]\nreq POST /3 1.1 keep chunked\ndone[yo]\n"},
        {"an incomplete request stays unconsumed", "GET / HTTP/1.1\r\n" + host, "unconsumed 35\n"},
        {"an incomplete body is handed out as it comes", "POST / HTTP/1.1\r\n" + host + "Content-Length: 9\r\n\r\nabc",
         "req POST / 1.1 keep len=9\npartial[abc]\n"},
        {"a clean close between requests", "GET / HTTP/1.1\r\n" + host + "\r\n\r\n",
         "req GET / 1.1 keep none\ndone[]\neof: end\n", {.eof = true}},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        CHECK(drive_all_splits(c.input, c.opts) == c.transcript);
    }
}

TEST_CASE("invalid requests fail with their own code at every split") {
    auto lim = [](auto set) {
        parser_limits l;
        set(l);
        return with_limits(l);
    };
    const std::string te = "Transfer-Encoding: chunked\r\n";
    const invalid_case cases[] = {
        {"bad method char", "G@T / HTTP/1.1\r\n" + host + "\r\n", parse_errc::invalid_method},
        {"leading space", " GET / HTTP/1.1\r\n" + host + "\r\n", parse_errc::invalid_method},
        {"tab after method", "GET\t/ HTTP/1.1\r\n" + host + "\r\n", parse_errc::invalid_method},
        {"method only", "GET\r\n" + host + "\r\n", parse_errc::invalid_method},
        {"two spaces", "GET  / HTTP/1.1\r\n" + host + "\r\n", parse_errc::invalid_target},
        {"control char in target", "GET /\x01 HTTP/1.1\r\n" + host + "\r\n", parse_errc::invalid_target},
        {"non-ASCII target", "GET /\xff HTTP/1.1\r\n" + host + "\r\n", parse_errc::invalid_target},
        {"HTTP/0.9", "GET /\r\n\r\n", parse_errc::invalid_version},
        {"HTTP/2.0", "GET / HTTP/2.0\r\n" + host + "\r\n", parse_errc::invalid_version},
        {"lowercase http", "GET / http/1.1\r\n" + host + "\r\n", parse_errc::invalid_version},
        {"junk after version", "GET / HTTP/1.1x\r\n" + host + "\r\n", parse_errc::invalid_version},
        {"two-digit minor", "GET / HTTP/1.10\r\n" + host + "\r\n", parse_errc::invalid_version},
        {"trailing space after version", "GET / HTTP/1.1 \r\n" + host + "\r\n", parse_errc::invalid_version},
        {"bare CR in the request line", "GET / HTTP/1.1\rHost: a\r\n\r\n", parse_errc::bare_cr},
        {"bare CR in the target", "GET /a\rb HTTP/1.1\r\n" + host + "\r\n", parse_errc::bare_cr},
        {"bare CR in a value", "GET / HTTP/1.1\r\n" + host + "X: a\rb\r\n\r\n", parse_errc::bare_cr},
        {"bare CR before CRLF", "GET / HTTP/1.1\r\n" + host + "X: a\r\r\n\r\n", parse_errc::bare_cr},
        {"bare CR in a name", "GET / HTTP/1.1\r\n" + host + "X\r: a\r\n\r\n", parse_errc::bare_cr},
        {"bare CR as the blank line", "GET / HTTP/1.1\r\n" + host + "\rX: a\r\n\r\n", parse_errc::bare_cr},
        {"bare LF line endings", "GET / HTTP/1.1\nHost: a\n\n", parse_errc::bare_lf},
        {"bare LF ending the head", "GET / HTTP/1.1\r\n" + host + "\n", parse_errc::bare_lf},
        {"obs-fold", "GET / HTTP/1.1\r\n" + host + "X: a\r\n  b\r\n\r\n", parse_errc::obs_fold},
        {"whitespace before the first field", "GET / HTTP/1.1\r\n " + host + "\r\n", parse_errc::obs_fold},
        {"space before colon", "GET / HTTP/1.1\r\nHost : a\r\n\r\n", parse_errc::whitespace_before_colon},
        {"tab before colon", "GET / HTTP/1.1\r\n" + host + "X\t: a\r\n\r\n", parse_errc::whitespace_before_colon},
        {"missing colon", "GET / HTTP/1.1\r\n" + host + "Xyz\r\n\r\n", parse_errc::missing_colon},
        {"space inside a name", "GET / HTTP/1.1\r\n" + host + "X y: a\r\n\r\n", parse_errc::invalid_header_name},
        {"bad name char", "GET / HTTP/1.1\r\n" + host + "X(y): a\r\n\r\n", parse_errc::invalid_header_name},
        {"empty name", "GET / HTTP/1.1\r\n" + host + ": a\r\n\r\n", parse_errc::invalid_header_name},
        {"NUL in value", "GET / HTTP/1.1\r\n" + host + "X: a\0b\r\n\r\n"s, parse_errc::invalid_header_value},
        {"DEL in value", "GET / HTTP/1.1\r\n" + host + "X: \x7f\r\n\r\n", parse_errc::invalid_header_value},
        {"no Host", "GET / HTTP/1.1\r\n\r\n", parse_errc::invalid_host},
        {"two Hosts", "GET / HTTP/1.1\r\n" + host + host + "\r\n", parse_errc::invalid_host},
        {"two Hosts in HTTP/1.0", "GET / HTTP/1.0\r\n" + host + host + "\r\n", parse_errc::invalid_host},
        {"Content-Length not a number", "POST / HTTP/1.1\r\n" + host + "Content-Length: abc\r\n\r\n", parse_errc::invalid_content_length},
        {"Content-Length negative", "POST / HTTP/1.1\r\n" + host + "Content-Length: -1\r\n\r\n", parse_errc::invalid_content_length},
        {"Content-Length with sign", "POST / HTTP/1.1\r\n" + host + "Content-Length: +1\r\n\r\n", parse_errc::invalid_content_length},
        {"Content-Length with inner space", "POST / HTTP/1.1\r\n" + host + "Content-Length: 1 2\r\n\r\n", parse_errc::invalid_content_length},
        {"Content-Length hex", "POST / HTTP/1.1\r\n" + host + "Content-Length: 0x10\r\n\r\n", parse_errc::invalid_content_length},
        {"Content-Length empty", "POST / HTTP/1.1\r\n" + host + "Content-Length: \r\n\r\n", parse_errc::invalid_content_length},
        {"Content-Length overflow", "POST / HTTP/1.1\r\n" + host + "Content-Length: 18446744073709551616\r\n\r\n", parse_errc::invalid_content_length},
        {"two Content-Lengths", "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", parse_errc::conflicting_content_length},
        {"a Content-Length list", "POST / HTTP/1.1\r\n" + host + "Content-Length: 3, 4\r\n\r\nabcd", parse_errc::conflicting_content_length},
        {"Content-Length and Transfer-Encoding", "POST / HTTP/1.1\r\n" + host + "Content-Length: 3\r\n" + te + "\r\n0\r\n\r\n", parse_errc::content_length_with_transfer_encoding},
        {"Transfer-Encoding and Content-Length", "POST / HTTP/1.1\r\n" + host + te + "Content-Length: 3\r\n\r\n0\r\n\r\n", parse_errc::content_length_with_transfer_encoding},
        {"chunked not last", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked, gzip\r\n\r\n", parse_errc::invalid_transfer_encoding},
        {"no chunked at all", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip\r\n\r\n", parse_errc::invalid_transfer_encoding},
        {"chunked twice", "POST / HTTP/1.1\r\n" + host + te + te + "\r\n", parse_errc::invalid_transfer_encoding},
        {"chunked look-alike", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\x0b\r\n\r\n", parse_errc::invalid_header_value},
        {"quoted chunked", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: \"chunked\"\r\n\r\n", parse_errc::invalid_transfer_encoding},
        {"Transfer-Encoding empty", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: \r\n\r\n", parse_errc::invalid_transfer_encoding},
        {"Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\n" + te + "\r\n0\r\n\r\n", parse_errc::invalid_transfer_encoding},
        {"gzip then chunked", "POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: gzip, chunked\r\n\r\n", parse_errc::unsupported_transfer_encoding},
        {"chunk size not hex", "POST / HTTP/1.1\r\n" + host + te + "\r\nzz\r\n", parse_errc::invalid_chunk_size},
        {"chunk size negative", "POST / HTTP/1.1\r\n" + host + te + "\r\n-1\r\n", parse_errc::invalid_chunk_size},
        {"chunk size 0x", "POST / HTTP/1.1\r\n" + host + te + "\r\n0x5\r\nhello\r\n0\r\n\r\n", parse_errc::invalid_chunk_size},
        {"chunk size empty", "POST / HTTP/1.1\r\n" + host + te + "\r\n\r\n", parse_errc::invalid_chunk_size},
        {"chunk size overflow", "POST / HTTP/1.1\r\n" + host + te + "\r\n10000000000000000\r\n", parse_errc::invalid_chunk_size},
        {"chunk size too long without LF", "POST / HTTP/1.1\r\n" + host + te + "\r\n" + std::string(40, 'f'), parse_errc::invalid_chunk_size},
        {"extension without name", "POST / HTTP/1.1\r\n" + host + te + "\r\n5;\r\nhello\r\n0\r\n\r\n", parse_errc::invalid_chunk_extension},
        {"extension without value", "POST / HTTP/1.1\r\n" + host + te + "\r\n5;a=\r\nhello\r\n0\r\n\r\n", parse_errc::invalid_chunk_extension},
        {"extension unterminated quote", "POST / HTTP/1.1\r\n" + host + te + "\r\n5;a=\"x\r\nhello\r\n0\r\n\r\n", parse_errc::invalid_chunk_extension},
        {"space after size without extension", "POST / HTTP/1.1\r\n" + host + te + "\r\n5 \r\nhello\r\n0\r\n\r\n", parse_errc::invalid_chunk_extension},
        {"extension with two names", "POST / HTTP/1.1\r\n" + host + te + "\r\n5;a b\r\nhello\r\n0\r\n\r\n", parse_errc::invalid_chunk_extension},
        {"extensions over the limit", "POST / HTTP/1.1\r\n" + host + te + "\r\n5;" + std::string(5000, 'a') + "\r\nhello\r\n0\r\n\r\n", parse_errc::chunk_extension_too_large},
        {"bare CR in a chunk line", "POST / HTTP/1.1\r\n" + host + te + "\r\n5\rx\r\nhello\r\n0\r\n\r\n", parse_errc::bare_cr},
        {"bare LF after a chunk size", "POST / HTTP/1.1\r\n" + host + te + "\r\n5\nhello\r\n0\r\n\r\n", parse_errc::bare_lf},
        {"bare LF after chunk data", "POST / HTTP/1.1\r\n" + host + te + "\r\n5\r\nhello\n0\r\n\r\n", parse_errc::bare_lf},
        {"chunk longer than its size", "POST / HTTP/1.1\r\n" + host + te + "\r\n3\r\nhello\r\n0\r\n\r\n", parse_errc::missing_chunk_crlf},
        {"CR then junk after chunk data", "POST / HTTP/1.1\r\n" + host + te + "\r\n5\r\nhello\rX0\r\n\r\n", parse_errc::missing_chunk_crlf},
        {"obs-fold in trailers", "POST / HTTP/1.1\r\n" + host + te + "\r\n0\r\nA: b\r\n c\r\n\r\n", parse_errc::obs_fold},
        {"bad trailer name", "POST / HTTP/1.1\r\n" + host + te + "\r\n0\r\nA b: c\r\n\r\n", parse_errc::invalid_header_name},
        {"an error in the second pipelined request", "GET / HTTP/1.1\r\n" + host + "\r\nGET / HTTP/1.1\r\nHost : x\r\n\r\n", parse_errc::whitespace_before_colon},
        {"start line over the limit", "GET /" + std::string(100, 'a') + " HTTP/1.1\r\n" + host + "\r\n", parse_errc::start_line_too_long,
         lim([](auto& l) { l.max_start_line = 64; })},
        {"start line over the limit without LF", "GET /" + std::string(100, 'a'), parse_errc::start_line_too_long,
         lim([](auto& l) { l.max_start_line = 64; })},
        {"head over the limit", "GET / HTTP/1.1\r\n" + host + "X: " + std::string(100, 'a') + "\r\n\r\n", parse_errc::headers_too_large,
         lim([](auto& l) { l.max_header_bytes = 100; })},
        {"head over the limit without blank line", "GET / HTTP/1.1\r\n" + host + "X: " + std::string(200, 'a'), parse_errc::headers_too_large,
         lim([](auto& l) { l.max_header_bytes = 100; })},
        {"bare CRs before the request line", std::string(10, '\r') + "GET / HTTP/1.1\r\n" + host + "\r\n", parse_errc::bare_cr},
        {"CRLFs over the limit", [] { std::string s; for (int i = 0; i < 30; ++i) s += "\r\n"; return s; }() + "GET / HTTP/1.1\r\n",
         parse_errc::headers_too_large, lim([](auto& l) { l.max_header_bytes = 50; })},
        {"too many headers", "GET / HTTP/1.1\r\n" + host + "A: 1\r\nB: 2\r\nC: 3\r\n\r\n", parse_errc::too_many_headers,
         lim([](auto& l) { l.max_headers = 3; })},
        {"too many trailers", "POST / HTTP/1.1\r\n" + host + te + "\r\n0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", parse_errc::too_many_headers,
         lim([](auto& l) { l.max_headers = 2; })},
        {"trailers over the limit", "POST / HTTP/1.1\r\n" + host + te + "\r\n0\r\nA: " + std::string(80, 'x') + "\r\n\r\n", parse_errc::headers_too_large,
         lim([](auto& l) { l.max_header_bytes = 64; })},
        {"Content-Length over max_body", "POST / HTTP/1.1\r\n" + host + "Content-Length: 11\r\n\r\nhello world", parse_errc::body_too_large,
         lim([](auto& l) { l.max_body = 10; })},
        {"chunked over max_body", "POST / HTTP/1.1\r\n" + host + te + "\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", parse_errc::body_too_large,
         lim([](auto& l) { l.max_body = 10; })},
    };
    for (const auto& c : cases) check_invalid(c);
}

TEST_CASE("a truncated request is an error at eof") {
    options eof;
    eof.eof = true;
    CHECK(drive_all_splits("GET / HTTP/1.1\r\nHo", eof) == "eof: error truncated_headers\n");
    CHECK(drive_all_splits("POST / HTTP/1.1\r\n" + host + "Content-Length: 5\r\n\r\nabc", eof) ==
          "req POST / 1.1 keep len=5\neof: error truncated_body\n");
    CHECK(drive_all_splits("POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n5\r\nab", eof) ==
          "req POST / 1.1 keep chunked\neof: error truncated_chunk\n");
    CHECK(drive_all_splits("POST / HTTP/1.1\r\n" + host + "Transfer-Encoding: chunked\r\n\r\n0\r\nX: y\r\n", eof) ==
          "req POST / 1.1 keep chunked\neof: error truncated_chunk\n");
    CHECK(drive_all_splits("", eof) == "eof: end\n");
    CHECK(drive_all_splits("\r\n", eof) == "eof: end\n");
}

TEST_CASE("valid responses give the same transcript at every split") {
    const valid_case cases[] = {
        {"200 with Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
         "res 200 OK 1.1 keep len=5\ndone[hello]\n", response()},
        {"empty reason", "HTTP/1.1 200 \r\nContent-Length: 0\r\n\r\n", "res 200  1.1 keep len=0\ndone[]\n", response()},
        {"missing reason", "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n", "res 404  1.1 keep len=0\ndone[]\n", response()},
        {"reason with spaces and obs-text", "HTTP/1.1 599 Very \tBad \xe9\r\nContent-Length: 0\r\n\r\n",
         "res 599 Very \tBad \xe9 1.1 keep len=0\ndone[]\n", response()},
        {"HEAD response has no body", "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n",
         "res 200 OK 1.1 keep none\ndone[]\nres 200 OK 1.1 keep none\ndone[]\n", response("HEAD")},
        {"204 has no body", "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
         "res 204 No Content 1.1 keep none\ndone[]\nres 200 OK 1.1 keep len=1\ndone[x]\n", response()},
        {"304 has no body even with Content-Length", "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
         "res 304 Not Modified 1.1 keep none\ndone[]\n", response()},
        {"100 Continue then the final response",
         "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
         "res 100 Continue 1.1 keep none interim\nres 201 Created 1.1 keep len=2\ndone[ok]\n", response("POST")},
        {"two interim responses",
         "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\nLink: </b.js>\r\n\r\n"
         "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
         "res 100 Continue 1.1 keep none interim\nres 103 Early Hints 1.1 keep none interim {Link=</a.css>; rel=preload}{Link=</b.js>}\n"
         "res 200 OK 1.1 keep len=0 {Content-Length=0}\ndone[]\n",
         [] { auto o = response(); o.fields = true; return o; }()},
        {"101 switches protocols", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x02hi",
         "res 101 Switching Protocols 1.1 keep none upgrade\ndone[]\nswitched protocols\n", response()},
        {"2xx to CONNECT opens a tunnel", "HTTP/1.1 200 Connection established\r\n\r\n\x16\x03\x01",
         "res 200 Connection established 1.1 keep none upgrade\ndone[]\nswitched protocols\n", response("CONNECT")},
        {"body delimited by close", "HTTP/1.1 200 OK\r\n\r\nall of this\r\n\r\nis body",
         "res 200 OK 1.1 close until-close\neof: done[all of this\r\n\r\nis body]\n", response("GET", true)},
        {"HTTP/1.0 body delimited by close", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\nold",
         "res 200 OK 1.0 close until-close\neof: done[old]\n", response("GET", true)},
        {"HTTP/1.0 keep-alive with length", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nab",
         "res 200 OK 1.0 keep len=2\ndone[ab]\n", response()},
        {"HTTP/1.0 without keep-alive", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nab",
         "res 200 OK 1.0 close len=2\ndone[ab]\n", response()},
        {"chunked response with trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5\r\npedia\r\n0\r\nExpires: never\r\n\r\n",
         "res 200 OK 1.1 keep chunked\ndone[Wikipedia]{Expires=never}\n", response()},
        {"Transfer-Encoding overrides Content-Length in a response and forbids reuse",
         "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
         "res 200 OK 1.1 close chunked\ndone[ab]\n", response()},
        {"a response coding without chunked is read until close", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n\x1f\x8b",
         "res 200 OK 1.1 close until-close\neof: done[\x1f\x8b]\n", response("GET", true)},
        {"gzip then chunked in a response", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n",
         "res 200 OK 1.1 keep chunked\ndone[z]\n", response()},
        {"a response needs no Host", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", "res 200 OK 1.1 keep len=0\ndone[]\n", response()},
        {"pipelined responses", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 404 Not Found\r\nContent-Length: 1\r\n\r\nb",
         "res 200 OK 1.1 keep len=1\ndone[a]\nres 404 Not Found 1.1 keep len=1\ndone[b]\n", response()},
    };
    for (const auto& c : cases) {
        CAPTURE(c.name);
        CHECK(drive_all_splits(c.input, c.opts) == c.transcript);
    }
}

TEST_CASE("invalid responses fail with their own code at every split") {
    const invalid_case cases[] = {
        {"two-digit status", "HTTP/1.1 20 OK\r\n\r\n", parse_errc::invalid_status, response()},
        {"four-digit status", "HTTP/1.1 2000 OK\r\n\r\n", parse_errc::invalid_status, response()},
        {"status starting with 0", "HTTP/1.1 099 X\r\n\r\n", parse_errc::invalid_status, response()},
        {"status not a number", "HTTP/1.1 abc\r\n\r\n", parse_errc::invalid_status, response()},
        {"no status", "HTTP/1.1 \r\n\r\n", parse_errc::invalid_status, response()},
        {"HTTP/2", "HTTP/2 200 OK\r\n\r\n", parse_errc::invalid_version, response()},
        {"no space after version", "HTTP/1.1200 OK\r\n\r\n", parse_errc::invalid_version, response()},
        {"not HTTP", "ICY 200 OK\r\n\r\n", parse_errc::invalid_version, response()},
        {"version only", "HTTP/1.1\r\n\r\n", parse_errc::invalid_version, response()},
        {"control char in reason", "HTTP/1.1 200 O\x01K\r\n\r\n", parse_errc::invalid_reason, response()},
        {"bare CR in reason", "HTTP/1.1 200 O\rK\r\n\r\n", parse_errc::bare_cr, response()},
        {"two Content-Lengths", "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", parse_errc::conflicting_content_length, response()},
        {"bad Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 1.0\r\n\r\na", parse_errc::invalid_content_length, response()},
        {"Transfer-Encoding in HTTP/1.0", "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", parse_errc::invalid_transfer_encoding, response()},
        {"body shorter than declared", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", parse_errc::truncated_body, response("GET", true)},
        {"connection closed mid-chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", parse_errc::truncated_chunk, response("GET", true)},
        {"connection closed before the last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", parse_errc::truncated_chunk, response("GET", true)},
        {"connection closed in the head", "HTTP/1.1 200 OK\r\nContent-Len", parse_errc::truncated_headers, response("GET", true)},
        {"connection closed after 100 Continue", "HTTP/1.1 100 Continue\r\n\r\n", parse_errc::truncated_headers, response("GET", true)},
        {"close-delimited body over max_body", "HTTP/1.1 200 OK\r\n\r\n0123456789abcdef", parse_errc::body_too_large,
         [] { auto o = response("GET", true); o.limits.max_body = 10; return o; }()},
    };
    for (const auto& c : cases) check_invalid(c);
}

TEST_CASE("a close-delimited body stops at max_body after handing out the allowed bytes") {
    auto o = response("GET", true);
    o.limits.max_body = 10;
    auto t = drive_all_splits("HTTP/1.1 200 OK\r\n\r\n0123456789abcdef", o);
    CHECK(t == "res 200 OK 1.1 close until-close\nerror body_too_large\n");
}

TEST_CASE("need_more consumes none of a partial head and headers view the caller's buffer") {
    parser p(message_kind::request);
    std::string buf = "GET /x HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n";
    auto r = p.feed(buf);
    CHECK(r.event == parse_event::need_more);
    CHECK(r.consumed == 0);
    buf += "\r\nnext";
    r = p.feed(buf);
    REQUIRE(r.event == parse_event::headers_complete);
    CHECK(r.consumed == buf.size() - 4);
    CHECK(p.target().data() == buf.data() + 4);
    CHECK(p.headers()[1].value.data() == buf.data() + buf.find("*/*"));
    CHECK(p.headers().size() == 2);
    r = p.feed(std::string_view(buf).substr(r.consumed));
    CHECK(r.event == parse_event::message_complete);
    CHECK(r.consumed == 0);
}

TEST_CASE("body pieces are views into the input and consumed counts the framing") {
    parser p(message_kind::request);
    std::string buf = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\n\r\n";
    auto r = p.feed(buf);
    REQUIRE(r.event == parse_event::headers_complete);
    std::string_view rest = std::string_view(buf).substr(r.consumed);
    r = p.feed(rest);
    REQUIRE(r.event == parse_event::body);
    CHECK(r.body == "abc");
    CHECK(r.body.data() == rest.data() + 7);
    CHECK(r.consumed == 10);
    rest.remove_prefix(r.consumed);
    r = p.feed(rest);
    CHECK(r.event == parse_event::message_complete);
    CHECK(r.consumed == rest.size());
    CHECK(p.body_bytes() == 3);
}

TEST_CASE("header lookup is case-insensitive and keeps repeated fields") {
    parser p(message_kind::response);
    std::string buf =
        "HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\ncontent-type: text/plain\r\nSET-COOKIE: b=2\r\nContent-Length: 0\r\n\r\n";
    REQUIRE(p.feed(buf).event == parse_event::headers_complete);
    auto h = p.headers();
    CHECK(h.find("Content-Type") == "text/plain");
    CHECK(h.find("set-cookie") == "a=1");
    CHECK_FALSE(h.find("x-missing").has_value());
    CHECK(h.contains("CONTENT-LENGTH"));
    std::vector<std::string_view> cookies(h.find_all("Set-Cookie").begin(), h.find_all("Set-Cookie").end());
    REQUIRE(cookies.size() == 2);
    CHECK(cookies[0] == "a=1");
    CHECK(cookies[1] == "b=2");
    CHECK(h.find_all("nope").begin() == h.find_all("nope").end());
    CHECK(p.content_length() == 0u);
}

TEST_CASE("keep_alive follows the version and Connection") {
    struct row {
        std::string head;
        bool keep;
    };
    const row rows[] = {
        {"GET / HTTP/1.1\r\nHost: a\r\n\r\n", true},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", false},
        {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", false},
        {"GET / HTTP/1.0\r\n\r\n", false},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n", false},
    };
    for (const auto& r : rows) {
        CAPTURE(r.head);
        parser p(message_kind::request);
        REQUIRE(p.feed(r.head).event == parse_event::headers_complete);
        CHECK(p.keep_alive() == r.keep);
    }
}

TEST_CASE("errors are sticky until reset") {
    parser p(message_kind::request);
    auto r = p.feed("GET / HTTP/1.1\r\nHost : a\r\n\r\n");
    CHECK(r.event == parse_event::error);
    CHECK(p.error() == parse_errc::whitespace_before_colon);
    CHECK(p.error_message().find("Host") != std::string_view::npos);
    CHECK(p.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n").event == parse_event::error);
    CHECK(p.finish().event == parse_event::error);
    p.reset();
    CHECK(p.error() == parse_errc::none);
    CHECK(p.feed("GET / HTTP/1.1\r\nHost: a\r\n\r\n").event == parse_event::headers_complete);
}

TEST_CASE("feeding after message_complete without reset is a logic error") {
    parser p(message_kind::request);
    std::string_view req = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    CHECK(p.feed(req).event == parse_event::headers_complete);
    CHECK(p.feed({}).event == parse_event::message_complete);
    CHECK_THROWS_AS(p.feed(req), std::logic_error);
    CHECK(p.finish().event == parse_event::end_of_stream);
    CHECK_THROWS_AS(p.feed(req), std::logic_error);
}

TEST_CASE("limits are enforced before the blank line arrives") {
    parser p(message_kind::request); // default 64 KiB
    std::string buf = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
    parse_result r{parse_event::need_more, 0};
    while (r.event == parse_event::need_more && buf.size() < 200 * 1024) {
        buf.append(4096, 'a');
        r = p.feed(buf);
    }
    CHECK(r.event == parse_event::error);
    CHECK(p.error() == parse_errc::headers_too_large);
    CHECK(status_for(p.error()) == 431);
    CHECK(buf.size() <= 64 * 1024 + 4096);
}

TEST_CASE("the default header count limit is 100") {
    std::string head = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 99; ++i) head += "X-" + std::to_string(i) + ": v\r\n";
    parser ok(message_kind::request);
    CHECK(ok.feed(head + "\r\n").event == parse_event::headers_complete);
    CHECK(ok.headers().size() == 100);
    parser too_many(message_kind::request);
    CHECK(too_many.feed(head + "X-last: v\r\n\r\n").event == parse_event::error);
    CHECK(too_many.error() == parse_errc::too_many_headers);
    CHECK(status_for(too_many.error()) == 431);
}

TEST_CASE("a Content-Length over max_body is refused at the head with 413") {
    parser_limits l;
    l.max_body = 1000;
    parser p(message_kind::request, l);
    CHECK(p.feed("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1001\r\n\r\n").event == parse_event::error);
    CHECK(p.error() == parse_errc::body_too_large);
    CHECK(status_for(p.error()) == 413);
}

TEST_CASE("allow_bare_lf accepts LF line endings everywhere") {
    options o;
    o.limits.allow_bare_lf = true;
    CHECK(drive_all_splits("POST / HTTP/1.1\nHost: a\nTransfer-Encoding: chunked\n\n3\nabc\n0\nT: 1\n\n", o) ==
          "req POST / 1.1 keep chunked\ndone[abc]{T=1}\n");
    // bare CR stays an error
    CHECK(drive_all_splits("GET / HTTP/1.1\nHost: a\rb\n\n", o) == "error bare_cr\n");
}

TEST_CASE("a huge chunk is handed out in pieces without overflow") {
    parser p(message_kind::response);
    std::string buf = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc";
    auto r = p.feed(buf);
    REQUIRE(r.event == parse_event::headers_complete);
    r = p.feed(std::string_view(buf).substr(r.consumed));
    CHECK(r.event == parse_event::body);
    CHECK(r.body == "abc");
    CHECK(p.finish().event == parse_event::error);
    CHECK(p.error() == parse_errc::truncated_chunk);
}

TEST_CASE("every error code has a name and a status") {
    CHECK(to_string(parse_errc::bare_cr) == "bare_cr");
    CHECK(to_string(parse_errc::truncated_chunk) == "truncated_chunk");
    CHECK(to_string(static_cast<parse_errc>(200)) == "unknown");
    CHECK(status_for(parse_errc::none) == 0);
    CHECK(status_for(parse_errc::start_line_too_long) == 414);
    CHECK(status_for(parse_errc::unsupported_transfer_encoding) == 501);
    CHECK(status_for(parse_errc::invalid_version) == 505);
    CHECK(status_for(parse_errc::content_length_with_transfer_encoding) == 400);
    parse_error e(parse_errc::obs_fold, "folded");
    CHECK(e.code() == parse_errc::obs_fold);
    CHECK(std::string(e.what()) == "folded");
}

TEST_CASE("has_token reads comma lists case-insensitively") {
    CHECK(has_token("keep-alive, Upgrade", "upgrade"));
    CHECK(has_token(" , close ,", "close"));
    CHECK(has_token("gzip;q=1, chunked", "gzip"));
    CHECK_FALSE(has_token("closed", "close"));
    CHECK_FALSE(has_token("", "close"));
}

} // TEST_SUITE
